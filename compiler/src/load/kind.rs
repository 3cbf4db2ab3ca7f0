//! The kinds of Kubernetes object the compiler reads, and how they are named.

/// The kinds of object the compiler reads; everything else is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `l7mp.io/v1` VirtualService: a listener.
    VirtualService,
    /// `l7mp.io/v1` Target: a cluster.
    Target,
    /// `l7mp.io/v1` Rule: a rule added to a rule list.
    Rule,
    /// `apps/v1` Deployment: a pod template.
    Deployment,
    /// `apps/v1` DaemonSet: a pod template.
    DaemonSet,
    /// `apps/v1` StatefulSet: a pod template.
    StatefulSet,
    /// `v1` Pod.
    Pod,
    /// `v1` Service, for `matchService` selectors.
    Service,
}

impl Kind {
    /// Each kind with its apiVersion, kind name and plural resource name; row `i` is the kind
    /// with discriminant `i`.
    pub(super) const TABLE: [(Kind, &'static str, &'static str, &'static str); 8] = [
        (
            Kind::VirtualService,
            "l7mp.io/v1",
            "VirtualService",
            "virtualservices",
        ),
        (Kind::Target, "l7mp.io/v1", "Target", "targets"),
        (Kind::Rule, "l7mp.io/v1", "Rule", "rules"),
        (Kind::Deployment, "apps/v1", "Deployment", "deployments"),
        (Kind::DaemonSet, "apps/v1", "DaemonSet", "daemonsets"),
        (Kind::StatefulSet, "apps/v1", "StatefulSet", "statefulsets"),
        (Kind::Pod, "v1", "Pod", "pods"),
        (Kind::Service, "v1", "Service", "services"),
    ];

    /// The kind of a document with this `apiVersion` and `kind`, if the compiler reads it.
    pub(super) fn from_type(api_version: &str, kind: &str) -> Option<Kind> {
        Self::TABLE
            .iter()
            .find(|row| row.1 == api_version && row.2 == kind)
            .map(|row| row.0)
    }

    /// The kind whose plural resource name (as in a self link) is `plural`.
    pub fn from_plural(plural: &str) -> Option<Kind> {
        Self::TABLE
            .iter()
            .find(|row| row.3 == plural)
            .map(|row| row.0)
    }

    /// The kind's name, as in `kind:`.
    pub fn name(self) -> &'static str {
        Self::TABLE[self as usize].2
    }

    /// Whether the kind is one of the `l7mp.io/v1` resources.
    pub fn is_l7mp(self) -> bool {
        matches!(self, Kind::VirtualService | Kind::Target | Kind::Rule)
    }

    /// Where objects of this kind keep their pod (template): `/spec/template` for workload
    /// controllers, the object itself for a Pod, None for kinds without pods.
    pub fn pod_pointer(self) -> Option<&'static str> {
        match self {
            Kind::Deployment | Kind::DaemonSet | Kind::StatefulSet => Some("/spec/template"),
            Kind::Pod => Some(""),
            _ => None,
        }
    }
}
