//! The Unix sockets the mesh puts on each workload's proxy, found by lowering the mesh as
//! `compile` does (so the answer follows every placement, reference, `apply` and inline
//! cluster exactly), with each injected workload's proxy assumed to be the sidecar.
//!
//! The mesh's own problems are `check`'s and `compile`'s to report: inject only needs the
//! paths, so the stages' diagnostics are dropped here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::sidecar::{CONFIG_KEY, CONTAINER, config_path};
use crate::diagnostics::Diagnostics;
use crate::load::Object;
use crate::workload::{ProxyMount, config_map_name};
use crate::{lower, resolve, schema, select};

/// The socket paths of each of `workloads` (object indexes) that has any. Every socket comes
/// from a `UnixDomainSocket` spec of an `l7mp.io` object, so a mesh without one is not lowered;
/// one with them is read into types (the schema stage) first, as `compile` does.
pub fn socket_paths(
    objects: &mut [Object],
    workloads: &[usize],
) -> BTreeMap<usize, BTreeSet<String>> {
    let mut mesh = objects.iter().filter(|o| o.kind.is_l7mp());
    if !mesh.any(|o| !o.spec_fields(&["UnixDomainSocket"]).is_empty()) {
        return BTreeMap::new();
    }
    let mut ignored = Diagnostics::default();
    schema::check(objects, &mut ignored);
    let objects = &*objects;
    let resolutions = resolve::resolve(objects, &mut ignored);
    let placements = select::select(objects, &mut ignored);
    let mounts: Vec<ProxyMount> = workloads
        .iter()
        .map(|&workload| ProxyMount {
            workload,
            container: CONTAINER.into(),
            config_path: config_path(),
            config_map: config_map_name(&objects[workload].name),
            key: CONFIG_KEY.into(),
        })
        .collect();
    let lowered = lower::lower(
        objects,
        &resolutions,
        &placements,
        &mounts,
        None,
        &mut ignored,
    );
    let mut found = BTreeMap::new();
    for proxy in &lowered.proxies {
        let Ok(config) = serde_json::to_value(proxy.config(objects)) else {
            continue; // plain data: serializing it cannot fail
        };
        let mut paths = BTreeSet::new();
        collect(&config, &mut paths);
        if !paths.is_empty() {
            found.insert(proxy.mount.workload, paths);
        }
    }
    found
}

/// Every socket path in a proxy config: the `filename` of each Unix socket spec (listeners,
/// clusters, a JSONSocket's transport) and the endpoint addresses of Unix socket clusters.
fn collect(value: &Value, paths: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            let file = map.get("filename").and_then(Value::as_str);
            if let (true, Some(file)) = (is_unix(value), file) {
                paths.insert(file.to_string());
            }
            if map.get("spec").is_some_and(is_unix) {
                let endpoints = map.get("endpoints").and_then(Value::as_array);
                let addresses = endpoints
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.pointer("/spec/address").and_then(Value::as_str));
                paths.extend(addresses.map(str::to_string));
            }
            map.values().for_each(|v| collect(v, paths));
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, paths)),
        _ => {}
    }
}

/// Whether a listener or cluster spec is a Unix socket, directly or as a JSONSocket's transport.
fn is_unix(spec: &Value) -> bool {
    match spec.get("protocol").and_then(Value::as_str) {
        Some("UnixDomainSocket") => true,
        Some("JSONSocket") => spec.get("transport").is_some_and(is_unix),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_of_listeners_clusters_and_transports() {
        let config = json!({
            "listeners": [{"spec": {"protocol": "UnixDomainSocket", "filename": "/a/l.sock"}}],
            "clusters": [
                {"spec": {"protocol": "JSONSocket", "transport": {"protocol": "UnixDomainSocket"}},
                 "endpoints": [{"spec": {"address": "/b/e.sock"}}]},
                {"spec": {"protocol": "UDP", "port": 1}, "endpoints": [{"spec": {"address": "w"}}]}
            ]
        });
        let mut paths = BTreeSet::new();
        collect(&config, &mut paths);
        assert_eq!(
            paths.into_iter().collect::<Vec<_>>(),
            ["/a/l.sock", "/b/e.sock"]
        );
    }
}
