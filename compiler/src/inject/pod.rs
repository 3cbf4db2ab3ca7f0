//! One workload's injection plan: what its pod lacks of the sidecar, checked against what it
//! already has. A part that is present and identical is left alone (so injecting twice changes
//! nothing); a part that is present and different is an error, never overwritten.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, PodSpec, VolumeMount};
use l7mp_config::yaml::child_pointer;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::sidecar::{self, CONFIG_VOLUME, CONTAINER};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::load::Object;
use crate::workload::{PROXY_CONTAINER_ANNOTATION, covering_mount, proxy_container};

/// The annotation naming the app container whose volumes hold the Unix sockets the sidecar
/// shares, for pods where several app containers mount different volumes there.
pub const APP_CONTAINER_ANNOTATION: &str = "l7mp.io/app-container";

/// What to add to one pod (template); None for a part it already has.
#[derive(Debug)]
pub struct Plan {
    /// The JSON pointer of the pod (template) within the object.
    pub pod: &'static str,
    /// The sidecar container, to append to `spec.containers`.
    pub container: Option<Value>,
    /// The config volume, to append to `spec.volumes`.
    pub volume: Option<Value>,
    /// The annotations to add to the pod's `metadata.annotations`.
    pub annotations: Vec<(&'static str, String)>,
}

/// Plans the injection of `object` (a workload) with `image`, sharing the volumes that hold
/// `sockets`; None when it cannot be injected, with the reasons in `diags`.
pub fn plan(
    object: &Object,
    sockets: &BTreeSet<String>,
    image: &str,
    diags: &mut Diagnostics,
) -> Option<Plan> {
    let pod_pointer = object.kind.pod_pointer()?;
    let pod = object.value().pointer(pod_pointer).unwrap_or(&Value::Null);
    let raw_spec = pod.get("spec").unwrap_or(&Value::Null);
    let spec = match PodSpec::deserialize(raw_spec) {
        Ok(spec) => spec,
        Err(e) => {
            let message = match raw_spec {
                Value::Null => format!("there is no pod spec at {pod_pointer}/spec to inject"),
                _ => format!("this is not a pod spec inject can read: {e}"),
            };
            let hint = "fix the pod spec; `kubectl apply --dry-run=server` says what is wrong";
            let at = format!("{pod_pointer}/spec");
            diags.push(object.diag(Code::NotInjectable, &at, message).hint(hint));
            return None;
        }
    };
    let annotations = pod
        .pointer("/metadata/annotations")
        .and_then(Value::as_object);
    let annotation = |key: &str| annotations.and_then(|a| a.get(key)).and_then(Value::as_str);
    let site = Site {
        object,
        pod: pod_pointer,
    };
    let proxy = site.proxy(&spec, annotation(PROXY_CONTAINER_ANNOTATION), diags)?;
    let apps: Vec<(usize, &Container)> = spec
        .containers
        .iter()
        .enumerate()
        .filter(|(i, c)| Some(*i) != proxy && c.name != CONTAINER)
        .collect();
    let apps = site.app_containers(apps, annotation(APP_CONTAINER_ANNOTATION), diags)?;
    let mut shared = BTreeSet::new();
    let mut placed = true;
    for path in sockets {
        match site.place(path, &apps) {
            Ok(Some(mount)) => {
                shared.insert(mount);
            }
            Ok(None) => diags.push(site.not_placed(path)),
            Err(diag) => {
                diags.push(*diag);
                placed = false;
            }
        }
    }
    let shared = shared.into_iter().map(SharedMount::volume_mount).collect();
    let want = to_json(&sidecar::container(image, shared));
    let container = site.container(raw_spec, proxy, want, diags);
    let volume = site.volume(raw_spec, diags);
    let (Some(container), Some(volume), true) = (container, volume, placed) else {
        return None;
    };
    let mut add = Vec::new();
    for (key, value) in sidecar::scrape_annotations() {
        match annotation(key) {
            None => add.push((key, value)),
            Some(have) if have == value => {}
            Some(have) => diags.push(site.kept_annotation(key, have, &value)),
        }
    }
    Some(Plan {
        pod: pod_pointer,
        container,
        volume,
        annotations: add,
    })
}

/// A typed Kubernetes value as JSON; these plain data types always serialize.
fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// An app volume mount the sidecar repeats, ordered by path so the output is stable.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SharedMount {
    mount_path: String,
    name: String,
    sub_path: Option<String>,
    sub_path_expr: Option<String>,
}

impl SharedMount {
    /// Writable even if the app's is not: a proxy listener creates its socket file there.
    fn volume_mount(self) -> VolumeMount {
        VolumeMount {
            name: self.name,
            mount_path: self.mount_path,
            sub_path: self.sub_path,
            sub_path_expr: self.sub_path_expr,
            ..VolumeMount::default()
        }
    }
}

/// The workload and where its pod is in it, for diagnostics.
struct Site<'o> {
    object: &'o Object,
    pod: &'static str,
}

impl Site<'_> {
    fn diag(&self, code: Code, at: &str, message: String) -> Diagnostic {
        self.object
            .diag(code, &format!("{}{at}", self.pod), message)
    }

    fn annotation_at(key: &str) -> String {
        child_pointer("/metadata/annotations", key)
    }

    /// The index of the existing proxy container, if any; Err when the proxy annotation names a
    /// container that is neither there nor the sidecar.
    fn proxy(
        &self,
        spec: &PodSpec,
        annotation: Option<&str>,
        diags: &mut Diagnostics,
    ) -> Option<Option<usize>> {
        let found = proxy_container(&spec.containers, annotation);
        match annotation {
            Some(name) if found.is_none() && name != CONTAINER => {
                let message = format!(
                    "annotation {PROXY_CONTAINER_ANNOTATION} names no container `{name}`, and \
                     inject adds `{CONTAINER}`"
                );
                let hint = format!("remove the annotation or set it to `{CONTAINER}`");
                let at = Self::annotation_at(PROXY_CONTAINER_ANNOTATION);
                diags.push(self.diag(Code::SidecarConflict, &at, message).hint(hint));
                None
            }
            _ => Some(found),
        }
    }

    /// The app containers whose volumes may hold sockets: the annotated one, else all.
    fn app_containers<'c>(
        &self,
        apps: Vec<(usize, &'c Container)>,
        annotation: Option<&str>,
        diags: &mut Diagnostics,
    ) -> Option<Vec<(usize, &'c Container)>> {
        let Some(name) = annotation else {
            return Some(apps);
        };
        let chosen: Vec<_> = apps.into_iter().filter(|(_, c)| c.name == name).collect();
        if chosen.is_empty() {
            let message =
                format!("annotation {APP_CONTAINER_ANNOTATION} names no app container `{name}`");
            let hint = "name one of the pod's containers other than the proxy";
            let at = Self::annotation_at(APP_CONTAINER_ANNOTATION);
            diags.push(
                self.diag(Code::AmbiguousAppContainer, &at, message)
                    .hint(hint),
            );
            return None;
        }
        Some(chosen)
    }

    /// The app volume mount that holds the directory of the socket at `path`: None when no app
    /// container mounts one, Err when app containers mount different ones.
    fn place(
        &self,
        path: &str,
        apps: &[(usize, &Container)],
    ) -> Result<Option<SharedMount>, Box<Diagnostic>> {
        let Some((dir, _)) = path.rsplit_once('/') else {
            return Ok(None); // a relative path: no telling where it is
        };
        let mut found: Vec<(&str, SharedMount)> = Vec::new();
        for (_, container) in apps {
            if let Some((_, mount)) = covering_mount(container, dir) {
                let shared = SharedMount {
                    mount_path: mount.mount_path.clone(),
                    name: mount.name.clone(),
                    sub_path: mount.sub_path.clone(),
                    sub_path_expr: mount.sub_path_expr.clone(),
                };
                if !found.iter().any(|(_, s)| *s == shared) {
                    found.push((&container.name, shared));
                }
            }
        }
        match found.as_slice() {
            [] => Ok(None),
            [(_, one)] => Ok(Some(one.clone())),
            [(a, _), (b, _), ..] => {
                let message = format!(
                    "containers `{a}` and `{b}` mount different volumes over {dir}, where the \
                     mesh puts the Unix socket {path}; the sidecar can share only one"
                );
                let hint = format!(
                    "name the container whose volume the proxy shares with the pod annotation \
                     {APP_CONTAINER_ANNOTATION}"
                );
                let diag = self.diag(Code::AmbiguousAppContainer, "/spec/containers", message);
                Err(Box::new(diag.hint(hint)))
            }
        }
    }

    fn not_placed(&self, path: &str) -> Diagnostic {
        let dir = path.rsplit_once('/').map_or(path, |(d, _)| d);
        let message = format!(
            "the mesh puts the Unix socket {path} on this workload's proxy, but no app container \
             mounts a volume over {dir}, so the sidecar cannot share it"
        );
        let hint = format!(
            "mount a shared volume (an emptyDir) on {dir} in the app container, then inject again"
        );
        self.diag(Code::SocketNotPlaced, "/spec/containers", message)
            .hint(hint)
    }

    /// The sidecar to append, None when the pod has it already; Err (None, reported) when the
    /// pod has a different proxy or another container of its name.
    fn container(
        &self,
        raw_spec: &Value,
        proxy: Option<usize>,
        want: Value,
        diags: &mut Diagnostics,
    ) -> Option<Option<Value>> {
        let containers = raw_spec.get("containers").and_then(Value::as_array);
        let named = |i: usize| containers.and_then(|c| c.get(i));
        let taken = containers
            .into_iter()
            .flatten()
            .position(|c| c.get("name").and_then(Value::as_str) == Some(CONTAINER));
        let (i, have) = match (proxy, taken) {
            (Some(i), _) => (i, named(i)?),
            (None, Some(i)) => {
                let message =
                    format!("a container is named `{CONTAINER}` but does not run the l7mp proxy");
                let hint = format!("rename it: inject adds the proxy as `{CONTAINER}`");
                let at = format!("/spec/containers/{i}/name");
                diags.push(self.diag(Code::SidecarConflict, &at, message).hint(hint));
                return None;
            }
            (None, None) => return Some(Some(want)),
        };
        if *have == want {
            return Some(None);
        }
        let name = have.get("name").and_then(Value::as_str).unwrap_or_default();
        let field = first_difference(have, &want);
        let message = format!(
            "container `{name}` already runs the l7mp proxy, but differs from the sidecar inject \
             writes (in `{field}`)"
        );
        let hint = format!(
            "remove that container and the `{CONFIG_VOLUME}` volume to let inject write them, or \
             leave this workload out of inject"
        );
        let at = child_pointer(&format!("/spec/containers/{i}"), &field);
        diags.push(self.diag(Code::SidecarConflict, &at, message).hint(hint));
        None
    }

    /// The config volume to append, None when the pod has it; reported when it differs.
    fn volume(&self, raw_spec: &Value, diags: &mut Diagnostics) -> Option<Option<Value>> {
        let want = to_json(&sidecar::config_volume(&self.object.name));
        let volumes = raw_spec.get("volumes").and_then(Value::as_array);
        let existing = volumes
            .into_iter()
            .flatten()
            .enumerate()
            .find(|(_, v)| v.get("name").and_then(Value::as_str) == Some(CONFIG_VOLUME));
        match existing {
            None => Some(Some(want)),
            Some((_, have)) if *have == want => Some(None),
            Some((i, have)) => {
                let field = first_difference(have, &want);
                let message = format!(
                    "volume `{CONFIG_VOLUME}` differs from the one inject writes (in `{field}`): \
                     it must be ConfigMap {}",
                    crate::workload::config_map_name(&self.object.name)
                );
                let hint = format!("rename or remove the pod's `{CONFIG_VOLUME}` volume");
                let at = child_pointer(&format!("/spec/volumes/{i}"), &field);
                diags.push(self.diag(Code::SidecarConflict, &at, message).hint(hint));
                None
            }
        }
    }

    fn kept_annotation(&self, key: &str, have: &str, want: &str) -> Diagnostic {
        let message = format!(
            "annotation {key} is `{have}`, not `{want}`: inject keeps it, so Prometheus does not \
             scrape the proxy's metrics"
        );
        let hint = "scrape the proxy with a PodMonitor on its `metrics` port instead";
        let at = Self::annotation_at(key);
        self.diag(Code::MetricsAnnotationKept, &at, message)
            .hint(hint)
    }
}

/// The first top-level key in which two JSON objects differ (empty if they are not both
/// objects), to point the user at it.
fn first_difference(have: &Value, want: &Value) -> String {
    let empty = Map::new();
    let (a, b) = (
        have.as_object().unwrap_or(&empty),
        want.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .find(|k| a.get(*k) != b.get(*k))
        .cloned()
        .unwrap_or_default()
}
