//! The host directories behind a pod's volumes: ConfigMaps written in the kubelet's layout,
//! emptyDirs created, hostPaths used as they are.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use super::containers;
use crate::kubelet;
use crate::state::{Dirs, Pod, State};

/// Host directories behind the pod's volumes, by volume name. Writes ConfigMap volumes in the
/// kubelet's layout and creates emptyDirs.
pub fn prepare_volumes(state: &State, dirs: &Dirs, pod: &Pod) -> Result<BTreeMap<String, PathBuf>> {
    let out = volume_dirs(dirs, pod);
    for vol in containers(&pod.spec, "volumes") {
        let name = vol.get("name").and_then(Value::as_str).unwrap_or_default();
        let dir = out[name].clone();
        if let Some(cm) = vol.get("configMap") {
            let cm_name = cm.get("name").and_then(Value::as_str).unwrap_or_default();
            let optional = cm.get("optional").and_then(Value::as_bool).unwrap_or(false);
            let key = format!("{}/{cm_name}", pod.namespace);
            let payload = match state.configmaps.get(&key) {
                Some(obj) => kubelet::payload(obj, cm.get("items"))
                    .with_context(|| format!("pod {} volume {name}: ConfigMap {key}", pod.name))?,
                None if optional => kubelet::Payload::new(),
                None => {
                    return Err(anyhow!(
                        "pod {} mounts ConfigMap {key} (volume {name}), which is in none of the \
                         manifests: apply it with the workloads (e.g. l7mpc's output) or mark it optional",
                        pod.name
                    ));
                }
            };
            kubelet::write(&dir, &payload)?;
        } else if vol.get("emptyDir").is_some() {
            fs::create_dir_all(&dir)?;
            // World-writable, as the kubelet makes it: containers may run as any user.
            fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
        } else if vol.get("hostPath").is_some() {
            continue;
        } else {
            return Err(anyhow!(
                "pod {} volume {name}: only configMap, emptyDir and hostPath volumes are supported",
                pod.name
            ));
        }
    }
    Ok(out)
}

/// Host directories behind the pod's volumes, by name, without touching them.
pub fn volume_dirs(dirs: &Dirs, pod: &Pod) -> BTreeMap<String, PathBuf> {
    let base = dirs.pod(&pod.name).join("volumes");
    containers(&pod.spec, "volumes")
        .into_iter()
        .map(|vol| {
            let name = vol.get("name").and_then(Value::as_str).unwrap_or_default();
            let dir = match vol.pointer("/hostPath/path").and_then(Value::as_str) {
                Some(p) => PathBuf::from(p),
                None => base.join(name),
            };
            (name.to_string(), dir)
        })
        .collect()
}
