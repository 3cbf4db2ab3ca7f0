//! Routes and the clusters on them.
//!
//! A route written with a `name` becomes a named route, `NAMESPACE/NAME`, that its own rule and
//! every `routeRef` to it refer to; routes without a name stay inline. Each route and cluster is
//! lowered once.

use l7mp_config::model::{self, Ref};

use super::rules::RulePlan;
use super::{HopPlan, Lowering, Origin};
use crate::crd::{ClusterOrRef, Route};
use crate::diagnostics::Diagnostics;
use crate::load::Kind;

/// A named route, lowered once where it is defined.
#[derive(Clone, Debug)]
pub struct RoutePlan {
    /// The proxy route, named.
    pub route: model::Route,
    /// Its hops in traffic order.
    pub hops: Vec<HopPlan>,
}

impl Lowering<'_> {
    /// Puts `route`, written in `object` at `pointer`, into `plan`: by name when it has one
    /// (lowered once), else inline.
    pub(super) fn route_at(
        &mut self,
        object: usize,
        pointer: &str,
        route: &Route,
        plan: &mut RulePlan,
        diags: &mut Diagnostics,
    ) -> Option<()> {
        let key = (object, pointer.to_string());
        if let Some(named) = self.routes.get(&key) {
            let named = named.as_ref()?;
            let name = named.route.name.clone()?;
            plan.rule.action.route = Some(Ref::Name(name.clone()));
            plan.route = Some(name);
            return Some(());
        }
        let lowered = self.route(object, pointer, route, diags);
        let Some(name) = &route.name else {
            let (route, hops) = lowered?;
            plan.rule.action.route = Some(Ref::Inline(route));
            plan.hops = hops;
            return Some(());
        };
        let namespace = &self.objects[object].namespace;
        let name = format!("{namespace}/{name}");
        let named = lowered.map(|(mut route, hops)| {
            route.name = Some(name.clone());
            RoutePlan { route, hops }
        });
        let ok = named.is_some();
        self.routes.insert(key, named);
        ok.then_some(())?;
        plan.rule.action.route = Some(Ref::Name(name.clone()));
        plan.route = Some(name);
        Some(())
    }

    /// The route at `at` in `owner` and its hops in traffic order.
    fn route(
        &mut self,
        owner: usize,
        at: &str,
        route: &Route,
        diags: &mut Diagnostics,
    ) -> Option<(model::Route, Vec<HopPlan>)> {
        let mut hops = Vec::new();
        let mut ingress = Vec::new();
        for (j, hop) in route.ingress.iter().flatten().enumerate() {
            let at = format!("{at}/ingress/{j}");
            ingress.push(self.hop(owner, &at, &format!("ingress {j}"), hop, &mut hops, diags)?);
        }
        let destination = ClusterOrRef {
            cluster: route.destination.as_deref().cloned(),
            cluster_ref: route.destination_ref.clone(),
        };
        let destination = self.hop(owner, at, "destination", &destination, &mut hops, diags)?;
        let mut egress = Vec::new();
        for (j, hop) in route.egress.iter().flatten().enumerate() {
            let at = format!("{at}/egress/{j}");
            egress.push(self.hop(owner, &at, &format!("egress {j}"), hop, &mut hops, diags)?);
        }
        let route = model::Route {
            name: None,
            destination,
            ingress,
            egress,
            retry: route.retry.as_ref().map(|r| model::Retry {
                retry_on: Some(r.retry_on),
                num_retries: r.num_retries,
                timeout: r.timeout,
            }),
        };
        Some((route, hops))
    }

    /// One hop at `at` (a ClusterOrRef, or the route itself for its destination): the cluster's
    /// name, its plan lowered on the way.
    fn hop(
        &mut self,
        owner: usize,
        at: &str,
        role: &str,
        hop: &ClusterOrRef,
        hops: &mut Vec<HopPlan>,
        diags: &mut Diagnostics,
    ) -> Option<Ref<model::Cluster>> {
        let (field, suffix) = if role == "destination" {
            ("destinationRef", "destination")
        } else {
            ("clusterRef", "cluster")
        };
        let (name, origin) = if let Some(text) = &hop.cluster_ref {
            let pointer = format!("{at}/{field}");
            let target = *self.refs.get(&(owner, pointer.clone()))?;
            let origin = Origin::new(owner, &pointer);
            let name = if self.objects[target].kind == Kind::Service {
                self.add_service(target, text, &origin, diags)?
            } else {
                self.add_target(target, diags)
            };
            (name, origin)
        } else {
            let cluster = hop.cluster.as_ref()?;
            let object = &self.objects[owner];
            let name = format!(
                "{}/{}/{}/{}",
                object.namespace,
                object.name,
                rule_label(at),
                role.replace(' ', "-")
            );
            let origin = Origin::new(owner, &format!("{at}/{suffix}"));
            if !self.clusters.contains_key(&name) {
                let plan = self.cluster(&name, origin.clone(), cluster, diags);
                self.clusters.insert(name.clone(), plan);
            }
            (name, origin)
        };
        self.clusters.get(&name)?.as_ref()?;
        hops.push(HopPlan {
            role: role.to_string(),
            cluster: name.clone(),
            origin,
        });
        Some(Ref::Name(name))
    }
}

/// `rule-N` for a route in rule N of a VirtualService (`/spec/listener/rules/N/...`), `rule`
/// for the one rule of a Rule object: the part of an inline cluster's name saying which rule.
fn rule_label(at: &str) -> String {
    match at.strip_prefix("/spec/listener/rules/") {
        Some(rest) => format!("rule-{}", rest.split('/').next().unwrap_or_default()),
        None => "rule".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::rule_label;

    #[test]
    fn inline_clusters_are_named_after_their_rule() {
        assert_eq!(rule_label("/spec/listener/rules/3/action/route"), "rule-3");
        assert_eq!(
            rule_label("/spec/listener/rules/12/action/route/ingress/0"),
            "rule-12"
        );
        assert_eq!(rule_label("/spec/rule/action/route"), "rule");
    }
}
