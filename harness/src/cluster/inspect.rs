//! Looking into a running cluster: `status`, `exec` in a pod's container, its `logs`.

use std::fs;

use serde_json::Value;

use super::Options;
use super::pods::pod_ready;
use crate::pod;
use crate::process::Proc;
use crate::state::{Dirs, State};
use crate::{Context, Result, dns, err};

/// `status`: pods, their IPs and readiness, and what the Services resolve to.
pub fn status(opts: &Options, json: bool) -> Result<()> {
    let dirs = Dirs::new(&opts.state_root, &opts.cluster);
    let Some(state) = State::load(&dirs)? else {
        return Err(err!("cluster {} is not up", opts.cluster));
    };
    if json {
        let pods: Vec<Value> = state
            .pods
            .values()
            .map(|p| {
                serde_json::json!({
                    "name": p.name, "namespace": p.namespace, "ip": p.ip.to_string(),
                    "hostNetwork": p.host_network, "ready": pod_ready(p), "owner": p.owner,
                    "labels": p.labels, "netns": p.netns,
                    "containers": p.containers.iter().map(|(n, c)| (n.clone(), Value::Bool(c.alive()))).collect::<serde_json::Map<_, _>>(),
                    "dir": dirs.pod(&p.name),
                })
            })
            .collect();
        let out = serde_json::json!({
            "cluster": state.cluster, "bridge": state.bridge, "nodeIP": state.node_ip.to_string(),
            "stateDir": dirs.root, "pods": pods, "dns": dns::records(&state.dns_hosts),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serializes")
        );
        return Ok(());
    }
    println!(
        "cluster {}: bridge {}, node IP {}, DNS {}, state {}",
        state.cluster,
        state.bridge,
        state.node_ip,
        if state.dnsmasq.as_ref().is_some_and(Proc::alive) {
            "running"
        } else {
            "NOT RUNNING"
        },
        dirs.root.display()
    );
    println!(
        "{:<45} {:<12} {:<16} {:<6} CONTAINERS",
        "POD", "NAMESPACE", "IP", "READY"
    );
    for p in state.pods.values() {
        let up = p.containers.values().filter(|c| c.alive()).count();
        let names: Vec<String> = p
            .containers
            .iter()
            .map(|(n, c)| format!("{n}{}", if c.alive() { "" } else { "(exited)" }))
            .collect();
        println!(
            "{:<45} {:<12} {:<16} {:<6} {}",
            p.name,
            p.namespace,
            format!("{}{}", p.ip, if p.host_network { "*" } else { "" }),
            format!("{up}/{}", p.containers.len()),
            names.join(",")
        );
    }
    for (name, ips) in dns::records(&state.dns_hosts) {
        if name.contains(".svc.") {
            println!("{name} -> {}", ips.join(" "));
        }
    }
    Ok(())
}

/// `exec`: runs a command in a pod, as its container `container` (default: the first) sees the
/// world: network, mounts, environment. Returns the command's exit code.
pub fn exec(
    opts: &Options,
    pod_name: &str,
    container: Option<&str>,
    argv: &[String],
) -> Result<i32> {
    let dirs = Dirs::new(&opts.state_root, &opts.cluster);
    let state = State::load(&dirs)?.ok_or_else(|| err!("cluster {} is not up", opts.cluster))?;
    let pod = state
        .pods
        .get(pod_name)
        .ok_or_else(|| err!("no pod {pod_name} (see `status`)"))?;
    let cs = pod::containers(&pod.spec, "containers");
    let c = match container {
        Some(n) => cs
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(n))
            .ok_or_else(|| err!("pod {pod_name} has no container {n}"))?,
        None => cs
            .first()
            .ok_or_else(|| err!("pod {pod_name} has no containers"))?,
    };
    let volumes = pod::volume_dirs(&dirs, pod);
    let plan = pod::plan_container(&state, &dirs, pod, c, &volumes, Some(argv))?;
    let (mut cmd, _netns) = pod::command(&plan, false)?;
    let status = cmd.status().context(|| format!("running {}", argv[0]))?;
    Ok(status.code().unwrap_or(128 + 9))
}

/// `logs`: a container's output so far.
pub fn logs(opts: &Options, pod_name: &str, container: Option<&str>) -> Result<String> {
    let dirs = Dirs::new(&opts.state_root, &opts.cluster);
    let state = State::load(&dirs)?.ok_or_else(|| err!("cluster {} is not up", opts.cluster))?;
    let pod = state
        .pods
        .get(pod_name)
        .ok_or_else(|| err!("no pod {pod_name}"))?;
    let c = match container {
        Some(c) => c.to_string(),
        None => pod
            .containers
            .keys()
            .next()
            .cloned()
            .ok_or_else(|| err!("pod {pod_name} has no containers"))?,
    };
    let path = dirs.log(pod_name, &c);
    fs::read_to_string(&path).context(|| format!("reading {}", path.display()))
}
