//! One pod's life: its IP, network namespace and link, files, volumes and containers on
//! creation; all of that removed again on deletion.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use super::podman_pods::start_containers;
use super::say;
use super::signals::check_interrupted;
use super::teardown::{Sweep, remove_resources};
use crate::manifest::{self, Object};
use crate::net;
use crate::pod::{self, MARKER};
use crate::process::Proc;
use crate::state::{ContainerRef, Dirs, Pod, Resource, Runtime, State};

/// The first free pod IP after the one handed out last, wrapping around (the node has the
/// first address), as a CNI's host-local IPAM hands them out: a pod that replaces a deleted one
/// gets a new address, so a session still aimed at the old one fails rather than reaching the
/// newcomer.
fn alloc_ip(state: &mut State) -> Result<Ipv4Addr> {
    let used: Vec<Ipv4Addr> = state.pods.values().map(|p| p.ip).collect();
    // Pod addresses are host numbers 2..size-1 (1 is the node, size-1 the broadcast).
    let pods = (1u32 << (32 - state.prefix)) - 3;
    let after = state
        .last_ip
        .map(|ip| u32::from(ip).wrapping_sub(u32::from(state.network)))
        .filter(|n| (2..2 + pods).contains(n))
        .unwrap_or(1);
    let ip = (0..pods)
        .map(|k| 2 + (after - 1 + k) % pods)
        .filter_map(|n| net::host_addr(state.network, state.prefix, n))
        .find(|ip| !used.contains(ip))
        .ok_or_else(|| anyhow!("the pod network is full"))?;
    state.last_ip = Some(ip);
    Ok(ip)
}

/// Creates a workload's pod `name`: IP, network namespace and link, files and volumes, then its
/// init containers (waited for) and containers, each recorded in the state as it starts.
pub(super) fn create_pod(
    state: &mut State,
    dirs: &Dirs,
    obj: &Object,
    name: &str,
    hash: &str,
    ordinal: Option<u64>,
) -> Result<()> {
    let (meta, spec) = manifest::pod_template(obj)?;
    let mut labels = manifest::string_map(&meta, "/labels");
    if obj.kind == "Deployment" {
        labels.insert("pod-template-hash".into(), hash.to_string());
    }
    if obj.kind == "StatefulSet" {
        labels.insert(
            "statefulset.kubernetes.io/pod-name".into(),
            name.to_string(),
        );
    }
    let host_network = spec
        .get("hostNetwork")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ip = if host_network {
        state.node_ip
    } else {
        alloc_ip(state)?
    };
    let (hostname, subdomain) = match ordinal {
        Some(_) => (
            Some(name.to_string()),
            obj.value
                .pointer("/spec/serviceName")
                .and_then(Value::as_str)
                .map(str::to_string),
        ),
        None => (
            spec.get("hostname")
                .and_then(Value::as_str)
                .map(str::to_string),
            spec.get("subdomain")
                .and_then(Value::as_str)
                .map(str::to_string),
        ),
    };
    let pod = Pod {
        name: name.to_string(),
        namespace: obj.namespace.clone(),
        owner: obj.kind_key(),
        template_hash: hash.to_string(),
        labels,
        annotations: manifest::string_map(&meta, "/annotations"),
        ip,
        host_network,
        netns: (!host_network).then(|| format!("l7lc-{}-{name}", state.cluster)),
        hostname,
        subdomain,
        spec: spec.clone(),
        containers: BTreeMap::new(),
    };
    state.pods.insert(name.to_string(), pod.clone());
    if let Some(ns) = &pod.netns {
        state.record(Some(name), Resource::Netns { name: ns.clone() });
        state.save(dirs)?;
        net::create_netns(ns)?;
        let veth = net::veth_name(&dirs.root.display().to_string(), name);
        state.record(Some(name), Resource::Link { name: veth.clone() });
        state.save(dirs)?;
        net::create_pod_link(ns, &veth, &state.bridge, ip, state.prefix, state.node_ip)?;
    }
    pod::prepare_files(state, dirs, &pod)?;
    let volumes = pod::prepare_volumes(state, dirs, &pod)?;
    fs::create_dir_all(dirs.logs())?;
    match state.runtime {
        Runtime::Process => start_processes(state, dirs, &pod, &volumes)?,
        Runtime::Podman => start_containers(state, dirs, &pod, &volumes)?,
    }
    let shown = if host_network {
        format!("{ip} (host network)")
    } else {
        ip.to_string()
    };
    say(format!("pod/{name} started at {shown}"));
    Ok(())
}

/// Starts the pod's init containers (each waited for) and containers as host processes, each
/// recorded in the state as it starts.
fn start_processes(
    state: &mut State,
    dirs: &Dirs,
    pod: &Pod,
    volumes: &BTreeMap<String, PathBuf>,
) -> Result<()> {
    // Plan every container first: a missing program fails before anything starts.
    let mut plans = Vec::new();
    for (field, init) in [("initContainers", true), ("containers", false)] {
        for c in pod::containers(&pod.spec, field) {
            let plan = pod::plan_container(state, dirs, pod, c, volumes, None)?;
            pod::ensure_targets(state, &plan.mounts)?;
            plans.push((plan, init));
        }
    }
    state.save(dirs)?;
    for (plan, init) in plans {
        check_interrupted()?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dirs.log(&pod.name, &plan.name))?;
        let mut cmd = pod::command(&plan, true)?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting pod {} container {}", pod.name, plan.name))?;
        let proc = Proc::of(child.id() as i32);
        state.record(
            Some(&pod.name),
            Resource::Process {
                proc: proc.clone(),
                what: format!("{}/{}", pod.name, plan.name),
            },
        );
        state.save(dirs)?;
        if init {
            let status = child.wait()?;
            if !status.success() {
                return Err(anyhow!(
                    "pod {} init container {} failed ({status}); see {}",
                    pod.name,
                    plan.name,
                    dirs.log(&pod.name, &plan.name).display()
                ));
            }
        } else {
            state
                .pods
                .get_mut(&pod.name)
                .expect("inserted")
                .containers
                .insert(plan.name.clone(), ContainerRef::Process(proc));
            state.save(dirs)?;
        }
    }
    Ok(())
}

/// Deletes pod `name`: stops its processes, removes what was recorded for it and its directory,
/// and makes the node forget its address's neighbour entry.
pub(super) fn delete_pod(state: &mut State, dirs: &Dirs, name: &str) -> Result<()> {
    let own_ip = state
        .pods
        .get(name)
        .filter(|p| !p.host_network)
        .map(|p| p.ip);
    let mut mine = Vec::new();
    state.created.retain(|c| {
        if c.pod.as_deref() == Some(name) {
            mine.push(c.resource.clone());
            false
        } else {
            true
        }
    });
    let marker = format!("{MARKER}={}/{name}", dirs.root.display());
    let root = dirs.root.display().to_string();
    let result = Sweep::of(state, dirs, &root, Some(name))
        .and_then(|sweep| remove_resources(&mine, &marker, sweep.as_ref()));
    state.pods.remove(name);
    let _ = fs::remove_dir_all(dirs.pod(name));
    state.save(dirs)?;
    let result = match own_ip {
        Some(ip) => result.and(net::forget_neighbour(&state.bridge, ip)),
        None => result,
    };
    if result.is_ok() {
        say(format!("pod/{name} deleted"));
    }
    result
}
