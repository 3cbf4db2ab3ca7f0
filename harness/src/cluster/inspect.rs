//! Looking into a running cluster: `status`, `describe`, `exec` in a pod's container, its
//! `logs`.

use std::fs;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use super::Options;
use super::observe::{ContainerState, ContainerStatus, observe};
use crate::dns;
use crate::pod;
use crate::podman::Podman;
use crate::process::Proc;
use crate::state::{ContainerRef, Dirs, State};

/// `status`: pods, their IPs, readiness and kubectl's STATUS, and what the Services resolve to.
pub fn status(opts: &Options, json: bool) -> Result<()> {
    let dirs = Dirs::new(&opts.state_root, &opts.cluster);
    let state = State::load_up(&dirs, &opts.cluster)?;
    let seen = observe(&state, &dirs)?;
    if json {
        let pods: Vec<Value> = state
            .pods
            .values()
            .map(|p| {
                let s = &seen[&p.name];
                serde_json::json!({
                    "name": p.name, "namespace": p.namespace, "ip": p.ip.to_string(),
                    "hostNetwork": p.host_network, "ready": s.ready, "status": s.status,
                    "owner": p.owner, "labels": p.labels, "netns": p.netns,
                    "containers": s.containers.iter().map(|c| (c.name.clone(), Value::Bool(c.state == ContainerState::Running))).collect::<serde_json::Map<_, _>>(),
                    "containerStatuses": s.containers.iter().map(container_json).collect::<Vec<_>>(),
                    "dir": dirs.pod(&p.name),
                })
            })
            .collect();
        let out = serde_json::json!({
            "cluster": state.cluster, "bridge": state.bridge, "nodeIP": state.node_ip.to_string(),
            "runtime": state.runtime, "stateDir": dirs.root, "pods": pods,
            "dns": dns::records(&state.dns_hosts),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serializes")
        );
        return Ok(());
    }
    println!(
        "cluster {}: bridge {}, node IP {}, DNS {}, runtime {:?}, state {}",
        state.cluster,
        state.bridge,
        state.node_ip,
        if state.dnsmasq.as_ref().is_some_and(Proc::alive) {
            "running"
        } else {
            "NOT RUNNING"
        },
        state.runtime,
        dirs.root.display()
    );
    println!(
        "{:<45} {:<12} {:<16} {:<6} {:<18} CONTAINERS",
        "POD", "NAMESPACE", "IP", "READY", "STATUS"
    );
    for p in state.pods.values() {
        let s = &seen[&p.name];
        let ready = s.containers.iter().filter(|c| c.ready).count();
        let names: Vec<String> = s
            .containers
            .iter()
            .map(|c| match &c.state {
                ContainerState::Running => c.name.clone(),
                ContainerState::Waiting(r) | ContainerState::Terminated(r, _) => {
                    format!("{}({})", c.name, r.reason)
                }
            })
            .collect();
        println!(
            "{:<45} {:<12} {:<16} {:<6} {:<18} {}",
            p.name,
            p.namespace,
            format!("{}{}", p.ip, if p.host_network { "*" } else { "" }),
            format!("{ready}/{}", s.containers.len()),
            s.status,
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

/// A container's status as `status --json` lists it (kubectl's containerStatuses, flattened).
fn container_json(c: &ContainerStatus) -> Value {
    let (state, reason, exit_code) = match &c.state {
        ContainerState::Running => ("running", None, None),
        ContainerState::Waiting(r) => ("waiting", Some(r), None),
        ContainerState::Terminated(r, code) => ("terminated", Some(r), *code),
    };
    serde_json::json!({
        "name": c.name, "image": c.image, "state": state, "ready": c.ready,
        "reason": reason.map(|r| &r.reason), "message": reason.map(|r| &r.message),
        "exitCode": exit_code, "probeFailure": c.probe_failure,
    })
}

/// `describe`: a pod as `kubectl describe pod` shows it.
pub fn describe(opts: &Options, pod_name: &str) -> Result<()> {
    let dirs = Dirs::new(&opts.state_root, &opts.cluster);
    let state = State::load_up(&dirs, &opts.cluster)?;
    let pod = state.pod(pod_name)?;
    let seen = observe(&state, &dirs)?;
    let s = &seen[pod_name];
    println!("Name:         {}", pod.name);
    println!("Namespace:    {}", pod.namespace);
    println!("Runtime:      {:?}", state.runtime);
    println!("IP:           {}", pod.ip);
    println!("Controlled By: {}", pod.owner);
    println!("Status:       {}", s.status);
    println!("Containers:");
    for c in &s.containers {
        println!("  {}:", c.name);
        if let Some(image) = &c.image {
            println!("    Image:          {image}");
        }
        if let Some(ContainerRef::Podman(r)) = pod.containers.get(&c.name) {
            println!("    Command:        {}", r.argv.join(" "));
            let user = if r.user.is_empty() {
                "root (the image's default)"
            } else {
                &r.user
            };
            println!("    User:           {user}");
        }
        match &c.state {
            ContainerState::Running => println!("    State:          Running"),
            ContainerState::Waiting(r) | ContainerState::Terminated(r, _) => {
                let word = if matches!(c.state, ContainerState::Waiting(_)) {
                    "Waiting"
                } else {
                    "Terminated"
                };
                println!("    State:          {word}");
                println!("      Reason:       {}", r.reason);
                println!("      Message:      {}", r.message);
                if let ContainerState::Terminated(_, Some(code)) = &c.state {
                    println!("      Exit Code:    {code}");
                }
            }
        }
        println!(
            "    Ready:          {}",
            if c.ready { "True" } else { "False" }
        );
        if let Some(f) = &c.probe_failure {
            println!("    Warning  Unhealthy  {f}");
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
    let state = State::load_up(&dirs, &opts.cluster)?;
    let pod = state.pod(pod_name)?;
    let cs = pod::containers(&pod.spec, "containers");
    let c = match container {
        Some(n) => cs
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(n))
            .ok_or_else(|| anyhow!("pod {pod_name} has no container {n}"))?,
        None => cs
            .first()
            .ok_or_else(|| anyhow!("pod {pod_name} has no containers"))?,
    };
    let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
    // The process runtime's command holds the pod's network namespace open until it runs.
    let mut cmd = match pod.containers.get(name) {
        Some(ContainerRef::Podman(r)) => {
            let args = ["exec", "-i", r.container.as_str()];
            let exec = args.iter().map(|a| a.to_string());
            Podman::new(&dirs)?.command(exec.chain(argv.iter().cloned()))
        }
        _ => {
            let volumes = pod::volume_dirs(&dirs, pod);
            let plan = pod::plan_container(&state, &dirs, pod, c, &volumes, Some(argv))?;
            pod::command(&plan, false)?
        }
    };
    let status = cmd
        .status()
        .with_context(|| format!("running {}", argv[0]))?;
    Ok(status.code().unwrap_or(128 + 9))
}

/// `logs`: a container's output so far.
pub fn logs(opts: &Options, pod_name: &str, container: Option<&str>) -> Result<String> {
    let dirs = Dirs::new(&opts.state_root, &opts.cluster);
    let state = State::load_up(&dirs, &opts.cluster)?;
    let pod = state.pod(pod_name)?;
    let c = match container {
        Some(c) => c.to_string(),
        None => pod
            .containers
            .keys()
            .next()
            .cloned()
            .ok_or_else(|| anyhow!("pod {pod_name} has no containers"))?,
    };
    if let Some(ContainerRef::Podman(r)) = pod.containers.get(&c) {
        if let Some(failed) = &r.failed {
            return Err(anyhow!(
                "pod {pod_name} container {c} never started: {}: {}",
                failed.reason,
                failed.message
            ));
        }
        let out = Podman::new(&dirs)?
            .command(["logs", r.container.as_str()])
            .output()
            .with_context(|| format!("podman logs {}", r.container))?;
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr));
    }
    let path = dirs.log(pod_name, &c);
    fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}
