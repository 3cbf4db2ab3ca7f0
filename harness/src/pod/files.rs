//! The files every pod gets from the harness: its private `/tmp`, its `resolv.conf` (cluster DNS
//! or the node's, by dnsPolicy) and its `hosts`.

use std::fs;

use anyhow::Result;
use serde_json::Value;

use crate::dns;
use crate::state::{Dirs, Pod, State};

/// Writes the pod's resolv.conf and hosts files and its private /tmp.
pub fn prepare_files(state: &State, dirs: &Dirs, pod: &Pod) -> Result<()> {
    let dir = dirs.pod(&pod.name);
    fs::create_dir_all(dir.join("tmp"))?;
    fs::set_permissions(
        dir.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )?;
    let policy = pod
        .spec
        .get("dnsPolicy")
        .and_then(Value::as_str)
        .unwrap_or("ClusterFirst");
    let resolv =
        if pod.host_network && policy != "ClusterFirstWithHostNet" && !state.hostnet_cluster_dns
            || policy == "Default"
        {
            dns::node_resolv_conf()
        } else {
            dns::resolv_conf(&pod.namespace, state.node_ip)
        };
    fs::write(dir.join("resolv.conf"), resolv)?;
    let hosts = format!(
        "# Kubernetes-managed hosts file (l7mp-localcluster).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{}\t{}\n",
        pod.ip, pod.name
    );
    fs::write(dir.join("hosts"), hosts)?;
    Ok(())
}
