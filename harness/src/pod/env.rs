//! A container's environment as Kubernetes builds it: the harness's variables, `envFrom`, and
//! `env` with `$(VAR)` references and `valueFrom` (downward API, ConfigMap keys).

use std::collections::BTreeMap;
use std::fs;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use super::expand::expand;
use super::{MARKER, containers};
use crate::state::{Dirs, Pod, State};

/// The container's environment: PATH (the bin dir first), HOSTNAME, HOME, the cluster marker,
/// then `envFrom`, then `env` (values with `$(VAR)` references expanded, `valueFrom` from the
/// downward API or a ConfigMap).
pub fn container_env(
    state: &State,
    dirs: &Dirs,
    pod: &Pod,
    container: &Value,
) -> Result<Vec<(String, String)>> {
    let host_path = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let mut env: Vec<(String, String)> = Vec::new();
    set(
        &mut env,
        "PATH".into(),
        format!("{}:{host_path}", state.bin_dir.display()),
    );
    let hostname = if pod.host_network {
        fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    } else {
        pod.name.clone()
    };
    set(&mut env, "HOSTNAME".into(), hostname);
    set(&mut env, "HOME".into(), "/root".into());
    set(
        &mut env,
        MARKER.into(),
        format!("{}/{}", dirs.root.display(), pod.name),
    );
    manifest_env(state, pod, container, env)
}

/// `envFrom`, then `env` (values with `$(VAR)` references expanded, `valueFrom` from the downward
/// API or a ConfigMap), on top of `env`. The podman runtime starts from nothing: the image's
/// own environment stays, as in Kubernetes.
pub fn manifest_env(
    state: &State,
    pod: &Pod,
    container: &Value,
    mut env: Vec<(String, String)>,
) -> Result<Vec<(String, String)>> {
    for from in containers(container, "envFrom") {
        let prefix = from
            .get("prefix")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(r) = from.get("configMapRef") {
            let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
            let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
            match state.configmaps.get(&format!("{}/{name}", pod.namespace)) {
                Some(cm) => {
                    for (k, v) in cm
                        .get("data")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                    {
                        set(
                            &mut env,
                            format!("{prefix}{k}"),
                            v.as_str().unwrap_or_default().into(),
                        );
                    }
                }
                None if optional => {}
                None => {
                    return Err(anyhow!(
                        "envFrom: ConfigMap {name} is in none of the manifests"
                    ));
                }
            }
        } else {
            return Err(anyhow!("envFrom: only configMapRef is supported"));
        }
    }
    for e in containers(container, "env") {
        let name = e
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let vars: BTreeMap<String, String> = env.iter().cloned().collect();
        let value = if let Some(v) = e.get("value") {
            expand(v.as_str().unwrap_or_default(), &vars)
        } else if let Some(from) = e.get("valueFrom") {
            value_from(state, pod, from).with_context(|| format!("env {name}"))?
        } else {
            String::new()
        };
        set(&mut env, name, value);
    }
    Ok(env)
}

/// Sets `k` to `v`, in place when it is set already (a later definition wins, keeping the order).
fn set(env: &mut Vec<(String, String)>, k: String, v: String) {
    if let Some(slot) = env.iter_mut().find(|(n, _)| *n == k) {
        slot.1 = v;
    } else {
        env.push((k, v));
    }
}

fn value_from(state: &State, pod: &Pod, from: &Value) -> Result<String> {
    if let Some(f) = from.get("fieldRef") {
        let path = f
            .get("fieldPath")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let bracket = |prefix: &str| -> Option<String> {
            let rest = path
                .strip_prefix(prefix)?
                .strip_prefix("['")?
                .strip_suffix("']")?;
            Some(rest.to_string())
        };
        return Ok(match path {
            "metadata.name" => pod.name.clone(),
            "metadata.namespace" => pod.namespace.clone(),
            "metadata.uid" => format!("{:08x}", crate::net::fnv32a(pod.name.as_bytes())),
            "status.podIP" | "status.podIPs" => pod.ip.to_string(),
            "status.hostIP" | "status.hostIPs" => state.node_ip.to_string(),
            "spec.nodeName" => format!("{}-node", state.cluster),
            "spec.serviceAccountName" => pod
                .spec
                .get("serviceAccountName")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string(),
            _ => {
                if let Some(k) = bracket("metadata.labels") {
                    pod.labels.get(&k).cloned().unwrap_or_default()
                } else if let Some(k) = bracket("metadata.annotations") {
                    pod.annotations.get(&k).cloned().unwrap_or_default()
                } else {
                    return Err(anyhow!("fieldRef {path:?} is not supported"));
                }
            }
        });
    }
    if let Some(r) = from.get("configMapKeyRef") {
        let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
        let key = r.get("key").and_then(Value::as_str).unwrap_or_default();
        let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
        let v = state
            .configmaps
            .get(&format!("{}/{name}", pod.namespace))
            .and_then(|cm| cm.pointer(&l7mp_config::yaml::child_pointer("/data", key)))
            .and_then(Value::as_str);
        return match (v, optional) {
            (Some(v), _) => Ok(v.to_string()),
            (None, true) => Ok(String::new()),
            (None, false) => Err(anyhow!("configMapKeyRef {name}/{key} not found")),
        };
    }
    Err(anyhow!(
        "only fieldRef and configMapKeyRef are supported in valueFrom"
    ))
}
