//! Workloads: in each pod template an `l7mp.io` object is placed on, the proxy container, its
//! config file and the ConfigMap volume that provides it.
//!
//! The compiler's output for a workload is that ConfigMap, so the mount must exist and must be
//! one the kubelet updates: a `subPath` mount never sees a new ConfigMap version.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMapVolumeSource, Container, PodSpec, VolumeMount};
use serde::Deserialize;
use serde_json::Value;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::load::Object;
use crate::select::Placement;

/// The annotation that names the proxy container when it cannot be recognised.
pub const PROXY_CONTAINER_ANNOTATION: &str = "l7mp.io/proxy-container";

/// The ConfigMap that holds the proxy config of the workload `name` when `l7mpc inject` wrote
/// its pod: the one naming rule for it. `compile` reads the ConfigMap's name from the mount, so
/// whatever inject mounts is what compile emits.
pub fn config_map_name(name: &str) -> String {
    format!("{name}-l7mp")
}

/// The index of the proxy container among `containers`: the one `annotation` (the value of
/// [`PROXY_CONTAINER_ANNOTATION`]) names, else the one whose command or args run `l7mp`, else the
/// one whose image contains `l7mp`. `compile` and `inject` must agree on it.
pub fn proxy_container(containers: &[Container], annotation: Option<&str>) -> Option<usize> {
    match annotation {
        Some(name) => containers.iter().position(|c| c.name == name),
        None => containers
            .iter()
            .position(|c| argv(c).iter().any(|w| is_l7mp(w)))
            .or_else(|| containers.iter().position(image_is_l7mp)),
    }
}

/// Where a workload's proxy reads its config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyMount {
    /// Index of the workload.
    pub workload: usize,
    /// Name of the proxy container.
    pub container: String,
    /// The `--config` path.
    pub config_path: String,
    /// The ConfigMap mounted over it.
    pub config_map: String,
    /// The ConfigMap key that holds the file.
    pub key: String,
}

/// Finds the proxy mount of every placed workload, reporting the workloads where it fails, and
/// of every unplaced workload that runs a proxy anyway: its pod needs a config file to start,
/// even an empty one.
pub fn inspect(
    objects: &[Object],
    placements: &[Placement],
    diags: &mut Diagnostics,
) -> Vec<ProxyMount> {
    let mut placed_by: BTreeMap<usize, usize> = BTreeMap::new();
    for placement in placements {
        for &workload in &placement.workloads {
            placed_by.entry(workload).or_insert(placement.object);
        }
    }
    let mut mounts = Vec::new();
    for (workload, object) in objects.iter().enumerate() {
        let Some(base) = object.kind.pod_pointer() else {
            continue;
        };
        let pod = match Pod::new(object, base) {
            Ok(pod) => pod,
            Err(diag) => {
                diags.push(*diag);
                continue;
            }
        };
        let by = match placed_by.get(&workload) {
            Some(&by) => &objects[by],
            None if pod.has_proxy() => object,
            None => continue,
        };
        match pod.proxy_mount(workload, by, diags) {
            Ok(mount) => mounts.push(mount),
            Err(diag) => diags.push(*diag),
        }
    }
    mounts
}

/// A workload's pod (template): its spec, annotations, and where it sits in the object.
struct Pod<'o> {
    object: &'o Object,
    base: &'static str,
    spec: PodSpec,
    annotation: Option<&'o str>,
}

impl<'o> Pod<'o> {
    /// The pod at `base` in `object`, its spec read as Kubernetes reads it; a diagnostic when
    /// there is none or it does not read, since then nobody can tell whether it runs a proxy.
    fn new(object: &'o Object, base: &'static str) -> Result<Self, Box<Diagnostic>> {
        let pod = object.value().pointer(base).unwrap_or(&Value::Null);
        let raw = pod.get("spec").unwrap_or(&Value::Null);
        let spec = PodSpec::deserialize(raw).map_err(|e| {
            let message = match raw {
                Value::Null => format!("there is no pod spec at {base}/spec"),
                _ => format!("this is not a pod spec Kubernetes accepts: {e}"),
            };
            let hint = "fix the pod spec; `kubectl apply --dry-run=server` says what is wrong";
            let at = format!("{base}/spec");
            Box::new(object.diag(Code::InvalidPodSpec, &at, message).hint(hint))
        })?;
        let annotation = pod
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(PROXY_CONTAINER_ANNOTATION))
            .and_then(Value::as_str);
        Ok(Self {
            object,
            base,
            spec,
            annotation,
        })
    }

    /// Whether the pod runs a proxy container (or names one by annotation).
    fn has_proxy(&self) -> bool {
        self.annotation.is_some() || proxy_container(&self.spec.containers, None).is_some()
    }

    fn proxy_mount(
        &self,
        workload: usize,
        placed_by: &Object,
        diags: &mut Diagnostics,
    ) -> Result<ProxyMount, Box<Diagnostic>> {
        let i = self.proxy_container(placed_by)?;
        let container = &self.spec.containers[i];
        let at = format!("{}/spec/containers/{i}", self.base);
        let config_path = config_path(&argv(container)).ok_or_else(|| {
            let message = format!(
                "proxy container `{}` has no `--config` argument",
                container.name
            );
            let hint = "run the proxy as `l7mp --config /etc/l7mp/config.yaml`";
            self.object
                .diag(Code::NoConfigPath, &at, message)
                .hint(hint)
        })?;
        let (m, mount) = covering_mount(container, &config_path).ok_or_else(|| {
            let message = format!("no volume is mounted over the config path {config_path}");
            let hint = "mount a ConfigMap volume on the config file's directory";
            self.object
                .diag(Code::NoConfigMapVolume, &at, message)
                .hint(hint)
        })?;
        let mount_at = format!("{at}/volumeMounts/{m}");
        let source = self.config_map_volume(&mount.name).ok_or_else(|| {
            let message = format!(
                "volume `{}` mounted over {config_path} is not a ConfigMap volume",
                mount.name
            );
            self.object
                .diag(Code::NoConfigMapVolume, &mount_at, message)
        })?;
        let relative = match &mount.sub_path {
            Some(sub) => {
                diags.push(self.sub_path_warning(&mount_at, sub));
                sub.clone()
            }
            None => relative_path(&mount.mount_path, &config_path),
        };
        Ok(ProxyMount {
            workload,
            container: container.name.clone(),
            config_path,
            config_map: source.name.clone(),
            key: projected_key(source, &relative),
        })
    }

    /// The annotated container, else the one running `l7mp`, else the one whose image says l7mp.
    fn proxy_container(&self, placed_by: &Object) -> Result<usize, Box<Diagnostic>> {
        let found = proxy_container(&self.spec.containers, self.annotation);
        found.ok_or_else(|| match self.annotation {
            Some(name) => {
                let at = format!(
                    "{}/metadata/annotations/l7mp.io~1proxy-container",
                    self.base
                );
                let message =
                    format!("annotation {PROXY_CONTAINER_ANNOTATION} names no container `{name}`");
                Box::new(self.object.diag(Code::UnknownProxyContainer, &at, message))
            }
            None => {
                let at = format!("{}/spec/containers", self.base);
                let message = format!(
                    "selected by {} but has no l7mp proxy container",
                    placed_by.id()
                );
                let hint = format!(
                    "add a container running `l7mp --config ...`, or name it with the \
                     annotation {PROXY_CONTAINER_ANNOTATION}"
                );
                let diag = self.object.diag(Code::NoProxyContainer, &at, message);
                Box::new(diag.hint(hint))
            }
        })
    }

    fn config_map_volume(&self, name: &str) -> Option<&ConfigMapVolumeSource> {
        let volumes = self.spec.volumes.iter().flatten();
        volumes
            .into_iter()
            .find(|v| v.name == name)?
            .config_map
            .as_ref()
    }

    fn sub_path_warning(&self, mount_at: &str, sub_path: &str) -> Diagnostic {
        let message = format!(
            "the config ConfigMap is mounted with subPath `{sub_path}`, so the proxy never sees \
             updates"
        );
        let hint = "mount the ConfigMap on the config file's directory instead";
        let at = format!("{mount_at}/subPath");
        self.object
            .diag(Code::SubPathMount, &at, message)
            .hint(hint)
    }
}

/// The container's mount that holds `path`: the deepest whose mountPath is `path` or a parent
/// directory of it.
pub fn covering_mount<'c>(
    container: &'c Container,
    path: &str,
) -> Option<(usize, &'c VolumeMount)> {
    let covers = |m: &VolumeMount| {
        let dir = m.mount_path.trim_end_matches('/');
        !dir.is_empty()
            && (path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/')))
    };
    let mounts = container.volume_mounts.iter().flatten().enumerate();
    mounts
        .filter(|(_, m)| covers(m))
        .max_by_key(|(_, m)| m.mount_path.trim_end_matches('/').len())
}

/// `path` relative to the directory `mount_path` that holds it.
fn relative_path(mount_path: &str, path: &str) -> String {
    let dir = mount_path.trim_end_matches('/');
    path.strip_prefix(dir)
        .unwrap_or(path)
        .trim_start_matches('/')
        .to_string()
}

/// The ConfigMap key of the file at `relative` in the volume: renamed by `items` or the same.
fn projected_key(source: &ConfigMapVolumeSource, relative: &str) -> String {
    let items = source.items.iter().flatten();
    items
        .into_iter()
        .find(|item| item.path == relative)
        .map_or(relative, |item| item.key.as_str())
        .to_string()
}

/// The container's command and args as words (shell scripts in one argument are split too).
fn argv(container: &Container) -> Vec<&str> {
    let command = container.command.iter().flatten();
    let args = container.args.iter().flatten();
    command
        .chain(args)
        .flat_map(|a| a.split_whitespace())
        .collect()
}

fn is_l7mp(word: &str) -> bool {
    word.rsplit('/').next() == Some("l7mp")
}

fn image_is_l7mp(container: &Container) -> bool {
    container
        .image
        .as_deref()
        .is_some_and(|i| i.contains("l7mp"))
}

/// The value of `--config`/`-c` (also `--config=PATH`) after the `l7mp` word, if there is one.
fn config_path(argv: &[&str]) -> Option<String> {
    let start = argv.iter().position(|w| is_l7mp(w)).map_or(0, |i| i + 1);
    let words = &argv[start..];
    words.iter().enumerate().find_map(|(i, w)| match *w {
        "--config" | "-c" => words
            .get(i + 1)
            .map(|p| p.trim_matches(['"', '\'']).to_string()),
        _ => w.strip_prefix("--config=").map(str::to_string),
    })
}

#[cfg(test)]
mod tests;
