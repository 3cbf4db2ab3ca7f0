//! Workloads: in each pod template an `l7mp.io` object is placed on, the proxy container, its
//! config file and the ConfigMap volume that provides it.
//!
//! The compiler's output for a workload is that ConfigMap, so the mount must exist and must be
//! one the kubelet updates: a `subPath` mount never sees a new ConfigMap version.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::diagnostics::{Code, Diagnostics};
use crate::load::Object;
use crate::select::Placement;

/// The annotation that names the proxy container when it cannot be recognised.
pub const PROXY_CONTAINER_ANNOTATION: &str = "l7mp.io/proxy-container";

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

/// Finds the proxy mount of every placed workload, reporting the workloads where it fails.
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
    placed_by
        .into_iter()
        .filter_map(|(workload, by)| {
            let pod = Pod::new(&objects[workload], workload)?;
            pod.proxy_mount(&objects[by], diags)
        })
        .collect()
}

/// A workload's pod (template) and where it sits in the object.
struct Pod<'o> {
    object: &'o Object,
    index: usize,
    base: &'static str,
    value: &'o Value,
}

impl<'o> Pod<'o> {
    fn new(object: &'o Object, index: usize) -> Option<Self> {
        let base = object.kind.pod_pointer()?;
        let value = object.value().pointer(base)?;
        Some(Self {
            object,
            index,
            base,
            value,
        })
    }

    fn list(&self, pointer: &str) -> &'o [Value] {
        self.value
            .pointer(pointer)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    fn proxy_mount(&self, placed_by: &Object, diags: &mut Diagnostics) -> Option<ProxyMount> {
        let (i, container) = self.proxy_container(placed_by, diags)?;
        let at = format!("{}/spec/containers/{i}", self.base);
        let name = container
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(config_path) = config_path(&argv(container)) else {
            let message = format!("proxy container `{name}` has no `--config` argument");
            let hint = "run the proxy as `l7mp --config /etc/l7mp/config.yaml`";
            diags.push(
                self.object
                    .diag(Code::NoConfigPath, &at, message)
                    .hint(hint),
            );
            return None;
        };
        let (config_map, key) = self.config_map(&at, container, &config_path, diags)?;
        Some(ProxyMount {
            workload: self.index,
            container: name.to_string(),
            config_path,
            config_map,
            key,
        })
    }

    /// The annotated container, else the one running `l7mp`, else the one whose image says l7mp.
    fn proxy_container(
        &self,
        placed_by: &Object,
        diags: &mut Diagnostics,
    ) -> Option<(usize, &'o Value)> {
        let containers = self.list("/spec/containers");
        let named = |c: &Value, n: &str| c.get("name").and_then(Value::as_str) == Some(n);
        let annotation = self
            .value
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(PROXY_CONTAINER_ANNOTATION))
            .and_then(Value::as_str);
        let found = match annotation {
            Some(name) => containers.iter().position(|c| named(c, name)),
            None => containers
                .iter()
                .position(|c| argv(c).iter().any(|t| is_l7mp(t)))
                .or_else(|| containers.iter().position(image_is_l7mp)),
        };
        if let Some(i) = found {
            return Some((i, &containers[i]));
        }
        diags.push(match annotation {
            Some(name) => {
                let at = format!("{}/metadata/annotations/l7mp.io~1proxy-container", self.base);
                let message = format!("annotation {PROXY_CONTAINER_ANNOTATION} names no container `{name}`");
                self.object.diag(Code::UnknownProxyContainer, &at, message)
            }
            None => {
                let message = format!("selected by {} but has no l7mp proxy container", placed_by.id());
                let hint = format!("add a container running `l7mp --config ...`, or name it with the annotation {PROXY_CONTAINER_ANNOTATION}");
                self.object.diag(Code::NoProxyContainer, &format!("{}/spec/containers", self.base), message).hint(hint)
            }
        });
        None
    }

    /// The ConfigMap name and key behind `path`, from the container's mounts and the volumes.
    fn config_map(
        &self,
        at: &str,
        container: &Value,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<(String, String)> {
        let mounts = container
            .get("volumeMounts")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let covering = |m: &&Value| {
            let dir = m
                .get("mountPath")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim_end_matches('/');
            !dir.is_empty()
                && (path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/')))
        };
        let longest = |m: &&Value| {
            m.get("mountPath")
                .and_then(Value::as_str)
                .map_or(0, str::len)
        };
        let Some((m, mount)) = mounts
            .iter()
            .enumerate()
            .filter(|(_, m)| covering(m))
            .max_by_key(|(_, m)| longest(m))
        else {
            let message = format!("no volume is mounted over the config path {path}");
            diags.push(
                self.object
                    .diag(Code::NoConfigMapVolume, at, message)
                    .hint("mount a ConfigMap volume on the config file's directory"),
            );
            return None;
        };
        let mount_ptr = format!("{at}/volumeMounts/{m}");
        let volume_name = mount
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let volume = self
            .list("/spec/volumes")
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(volume_name));
        let Some(config_map) = volume.and_then(|v| v.get("configMap")) else {
            let message =
                format!("volume `{volume_name}` mounted over {path} is not a ConfigMap volume");
            diags.push(
                self.object
                    .diag(Code::NoConfigMapVolume, &mount_ptr, message),
            );
            return None;
        };
        let dir = mount
            .get("mountPath")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim_end_matches('/');
        let relative = match mount.get("subPath").and_then(Value::as_str) {
            Some(sub) => {
                let message = format!(
                    "the config ConfigMap is mounted with subPath `{sub}`, so the proxy never sees updates"
                );
                let hint = "mount the ConfigMap on the config file's directory instead";
                diags.push(
                    self.object
                        .diag(Code::SubPathMount, &format!("{mount_ptr}/subPath"), message)
                        .hint(hint),
                );
                sub.to_string()
            }
            None => path[dir.len()..].trim_start_matches('/').to_string(),
        };
        let name = config_map
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Some((name, projected_key(config_map, &relative)))
    }
}

/// The ConfigMap key of the file at `relative` in the volume: renamed by `items` or the same.
fn projected_key(config_map: &Value, relative: &str) -> String {
    config_map
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|item| item.get("path").and_then(Value::as_str) == Some(relative))
        .and_then(|item| item.get("key").and_then(Value::as_str))
        .unwrap_or(relative)
        .to_string()
}

/// The container's command and args as words (shell scripts in one argument are split too).
fn argv(container: &Value) -> Vec<&str> {
    ["command", "args"]
        .iter()
        .filter_map(|key| container.get(*key).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .flat_map(str::split_whitespace)
        .collect()
}

fn is_l7mp(word: &str) -> bool {
    word.rsplit('/').next() == Some("l7mp")
}

fn image_is_l7mp(container: &Value) -> bool {
    container
        .get("image")
        .and_then(Value::as_str)
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
