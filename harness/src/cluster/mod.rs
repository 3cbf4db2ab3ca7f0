//! The commands: `up`, `apply`, `down`, `run`, `status`, `exec`, `logs`.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::manifest::{self, Manifests, Object};
use crate::net;
use crate::pod::{self, MARKER};
use crate::process::{self, Proc};
use crate::state::{Dirs, Lock, Pod, Resource, State};
use crate::{Context, Result, dns, err, kubelet};

/// Options shared by the commands.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where cluster state directories live.
    pub state_root: PathBuf,
    /// Cluster name.
    pub cluster: String,
    /// Namespace of objects that name none.
    pub namespace: String,
}

/// Options of `up` and `run`.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// Bridge name.
    pub bridge: String,
    /// Pod network, `A.B.C.D/N`.
    pub subnet: String,
    /// Directory put first on the containers' PATH.
    pub bin_dir: PathBuf,
    /// Extra image → program mappings.
    pub images: Vec<(String, String)>,
    /// Give host-network pods cluster DNS whatever their dnsPolicy.
    pub hostnet_cluster_dns: bool,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Makes SIGINT, SIGTERM and SIGHUP set a flag that the commands check between steps (so an
/// interrupted `up` tears down what it made, and `run` tears everything down).
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Whether a signal asked the harness to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

fn check_interrupted() -> Result<()> {
    if interrupted() {
        Err(err!("interrupted"))
    } else {
        Ok(())
    }
}

fn say(msg: impl AsRef<str>) {
    eprintln!("l7mp-localcluster: {}", msg.as_ref());
}

fn require_root_and_tools(tools: &[&str]) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(err!(
            "must run as root (it creates network namespaces and mounts)"
        ));
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !path.split(':').any(|d| Path::new(d).join(t).is_file()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(err!(
            "missing programs: {} (apt-get install -y iproute2 dnsmasq-base)",
            missing.join(", ")
        ))
    }
}

/// `up`: creates the bridge, starts DNS, runs every workload of the manifests. On any failure
/// (or a signal) everything made so far is torn down again.
pub fn up(opts: &Options, up: &UpOptions, paths: &[PathBuf]) -> Result<()> {
    require_root_and_tools(&["ip", "dnsmasq"])?;
    let manifests = manifest::read_paths(paths, &opts.namespace)?;
    let _lock = Lock::take(&opts.state_root, &opts.cluster)?;
    let dirs = Dirs::new(&opts.state_root, &opts.cluster);
    if State::load(&dirs)?.is_some() {
        return Err(err!(
            "cluster {} is already up (state in {}); run `down` first",
            opts.cluster,
            dirs.root.display()
        ));
    }
    let (network, prefix) = net::parse_subnet(&up.subnet)?;
    let node_ip = net::host_addr(network, prefix, 1).expect("prefix <= 29");
    if net::link_exists(&up.bridge) {
        return Err(err!(
            "a link named {} exists already (another cluster?); pick another --bridge",
            up.bridge
        ));
    }
    let mut images = pod::default_images();
    images.extend(up.images.iter().cloned());
    let mut state = State {
        cluster: opts.cluster.clone(),
        bridge: up.bridge.clone(),
        network,
        prefix,
        node_ip,
        bin_dir: fs::canonicalize(&up.bin_dir).unwrap_or_else(|_| up.bin_dir.clone()),
        images,
        hostnet_cluster_dns: up.hostnet_cluster_dns,
        created: Vec::new(),
        configmaps: BTreeMap::new(),
        services: BTreeMap::new(),
        workloads: BTreeMap::new(),
        pods: BTreeMap::new(),
        dnsmasq: None,
        dns_hosts: String::new(),
    };
    fs::create_dir_all(&dirs.root).context(|| format!("creating {}", dirs.root.display()))?;
    state.save(&dirs)?;
    let result = (|| -> Result<()> {
        state.record(
            None,
            Resource::Bridge {
                name: up.bridge.clone(),
            },
        );
        state.save(&dirs)?;
        net::create_bridge(&up.bridge, node_ip, prefix)?;
        check_interrupted()?;
        let dnsmasq = dns::start(&dirs, node_ip)?;
        state.record(
            None,
            Resource::Process {
                proc: dnsmasq.clone(),
                what: "dnsmasq".into(),
            },
        );
        state.dnsmasq = Some(dnsmasq);
        state.save(&dirs)?;
        say(format!(
            "cluster {}: bridge {} node IP {node_ip}/{prefix}, DNS on {node_ip}:53",
            opts.cluster, up.bridge
        ));
        apply_manifests(&mut state, &dirs, &manifests)
    })();
    if let Err(e) = result {
        say(format!("up failed: {e}; tearing down"));
        if let Err(t) = teardown(&mut state, &dirs) {
            say(format!("teardown incomplete: {t}"));
        }
        return Err(e);
    }
    Ok(())
}

/// `apply`: applies ConfigMaps (kubelet-style swap in every pod that mounts them), Services
/// (DNS) and workloads (new, scaled, or rolled to a changed template), leaving the rest running.
pub fn apply(opts: &Options, paths: &[PathBuf]) -> Result<()> {
    let manifests = manifest::read_paths(paths, &opts.namespace)?;
    let _lock = Lock::take(&opts.state_root, &opts.cluster)?;
    let dirs = Dirs::new(&opts.state_root, &opts.cluster);
    let mut state = State::load(&dirs)?.ok_or_else(|| {
        err!(
            "cluster {} is not up (no state in {})",
            opts.cluster,
            dirs.root.display()
        )
    })?;
    let result = apply_manifests(&mut state, &dirs, &manifests);
    state.save(&dirs)?;
    result
}

fn apply_manifests(state: &mut State, dirs: &Dirs, m: &Manifests) -> Result<()> {
    for s in &m.skipped {
        say(format!("skipped {s} (not a kind the harness runs)"));
    }
    for cm in &m.configmaps {
        let key = cm.key();
        let old = state.configmaps.insert(key.clone(), cm.value.clone());
        let verb = match &old {
            None => "created",
            Some(o)
                if o.get("data") == cm.value.get("data")
                    && o.get("binaryData") == cm.value.get("binaryData") =>
            {
                "unchanged"
            }
            Some(_) => "configured",
        };
        let mut swapped = 0;
        if verb != "unchanged" {
            swapped = update_configmap_volumes(state, dirs, &cm.namespace, &cm.name)?;
        }
        say(format!(
            "configmap/{} {verb}{}",
            cm.name,
            if swapped > 0 {
                format!(" ({swapped} volumes swapped)")
            } else {
                String::new()
            }
        ));
    }
    state.save(dirs)?;
    for svc in &m.services {
        let old = state.services.insert(svc.key(), svc.value.clone());
        if svc.value.pointer("/spec/clusterIP").and_then(Value::as_str) != Some("None") {
            say(format!(
                "service/{}: not headless; without virtual IPs its name resolves to the pod IPs",
                svc.name
            ));
        }
        let verb = match old {
            None => "created",
            Some(o) if o == svc.value => "unchanged",
            Some(_) => "configured",
        };
        say(format!("service/{} {verb}", svc.name));
    }
    state.save(dirs)?;
    for w in &m.workloads {
        check_interrupted()?;
        reconcile(state, dirs, w)?;
    }
    dns::update(state, dirs, &pod_ready)?;
    state.save(dirs)
}

/// Writes the ConfigMap into every pod volume that shows it; returns how many changed.
fn update_configmap_volumes(state: &State, dirs: &Dirs, ns: &str, name: &str) -> Result<usize> {
    let mut n = 0;
    let Some(cm) = state.configmaps.get(&format!("{ns}/{name}")) else {
        return Ok(0);
    };
    for pod in state.pods.values().filter(|p| p.namespace == ns) {
        for vol in pod::containers(&pod.spec, "volumes") {
            let Some(src) = vol.get("configMap") else {
                continue;
            };
            if src.get("name").and_then(Value::as_str) != Some(name) {
                continue;
            }
            let vname = vol.get("name").and_then(Value::as_str).unwrap_or_default();
            let payload = kubelet::payload(cm, src.get("items"))?;
            let dir = dirs.pod(&pod.name).join("volumes").join(vname);
            if kubelet::write(&dir, &payload)? {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Brings a workload's pods in line with it.
fn reconcile(state: &mut State, dirs: &Dirs, obj: &Object) -> Result<()> {
    let key = obj.kind_key();
    let hash = manifest::template_hash(obj);
    let want = manifest::replicas(obj);
    state.workloads.insert(key.clone(), obj.value.clone());
    let mine: Vec<(String, String)> = state
        .pods
        .values()
        .filter(|p| p.owner == key)
        .map(|p| (p.name.clone(), p.template_hash.clone()))
        .collect();
    let kind = obj.kind.to_lowercase();
    let mut created = 0;
    let mut deleted = 0;
    match obj.kind.as_str() {
        "StatefulSet" => {
            for ordinal in 0..want {
                let name = manifest::pod_name(obj, &hash, ordinal);
                match mine.iter().find(|(n, _)| *n == name) {
                    Some((_, h)) if *h == hash => continue,
                    Some(_) => {
                        delete_pod(state, dirs, &name)?;
                        deleted += 1;
                    }
                    None => {}
                }
                create_pod(state, dirs, obj, &name, &hash, Some(ordinal))?;
                created += 1;
            }
            for (name, _) in &mine {
                let ordinal = name.rsplit('-').next().and_then(|o| o.parse::<u64>().ok());
                if ordinal.is_none_or(|o| o >= want) {
                    delete_pod(state, dirs, name)?;
                    deleted += 1;
                }
            }
        }
        _ => {
            let current: Vec<&String> = mine
                .iter()
                .filter(|(_, h)| *h == hash)
                .map(|(n, _)| n)
                .collect();
            for _ in current.len() as u64..want {
                let name = loop {
                    let n = manifest::pod_name(obj, &hash, 0);
                    if !state.pods.contains_key(&n) || obj.kind == "Pod" {
                        break n;
                    }
                };
                if obj.kind == "Pod" && state.pods.contains_key(&name) {
                    // A changed bare Pod: replaced (Kubernetes would refuse the update).
                    delete_pod(state, dirs, &name)?;
                    deleted += 1;
                }
                check_interrupted()?;
                create_pod(state, dirs, obj, &name, &hash, None)?;
                created += 1;
            }
            for name in current.iter().skip(want as usize) {
                delete_pod(state, dirs, name)?;
                deleted += 1;
            }
            for (name, h) in &mine {
                if *h != hash && state.pods.contains_key(name) {
                    delete_pod(state, dirs, name)?;
                    deleted += 1;
                }
            }
        }
    }
    let verb = match (mine.is_empty(), created + deleted) {
        (true, _) => "created".to_string(),
        (false, 0) => "unchanged".to_string(),
        _ => format!("configured ({created} pods started, {deleted} stopped)"),
    };
    let group = if obj.kind == "Pod" { "" } else { ".apps" };
    say(format!("{kind}{group}/{} {verb}", obj.name));
    Ok(())
}

fn alloc_ip(state: &State) -> Result<Ipv4Addr> {
    let used: Vec<Ipv4Addr> = state.pods.values().map(|p| p.ip).collect();
    (2..)
        .map_while(|n| net::host_addr(state.network, state.prefix, n))
        .find(|ip| !used.contains(ip))
        .ok_or_else(|| err!("the pod network is full"))
}

fn create_pod(
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
    // Plan every container first: a missing program fails before anything starts.
    let mut plans = Vec::new();
    for (field, init) in [("initContainers", true), ("containers", false)] {
        for c in pod::containers(&spec, field) {
            let plan = pod::plan_container(state, dirs, &pod, c, &volumes, None)?;
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
            .open(dirs.log(name, &plan.name))?;
        let (mut cmd, _netns) = pod::command(&plan, true)?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut child = cmd
            .spawn()
            .context(|| format!("starting pod {name} container {}", plan.name))?;
        let proc = Proc::of(child.id() as i32);
        state.record(
            Some(name),
            Resource::Process {
                proc: proc.clone(),
                what: format!("{name}/{}", plan.name),
            },
        );
        state.save(dirs)?;
        if init {
            let status = child.wait()?;
            if !status.success() {
                return Err(err!(
                    "pod {name} init container {} failed ({status}); see {}",
                    plan.name,
                    dirs.log(name, &plan.name).display()
                ));
            }
        } else {
            state
                .pods
                .get_mut(name)
                .expect("inserted")
                .containers
                .insert(plan.name.clone(), proc);
            state.save(dirs)?;
        }
    }
    let shown = if host_network {
        format!("{ip} (host network)")
    } else {
        ip.to_string()
    };
    say(format!("pod/{name} started at {shown}"));
    Ok(())
}

/// A pod is ready when every container is running.
pub fn pod_ready(pod: &Pod) -> bool {
    !pod.containers.is_empty() && pod.containers.values().all(Proc::alive)
}

fn delete_pod(state: &mut State, dirs: &Dirs, name: &str) -> Result<()> {
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
    let result = remove_resources(&mine, &marker);
    state.pods.remove(name);
    let _ = fs::remove_dir_all(dirs.pod(name));
    state.save(dirs)?;
    if result.is_ok() {
        say(format!("pod/{name} deleted"));
    }
    result
}

/// Removes resources: first every process (SIGTERM, then SIGKILL) and any stray process
/// carrying `marker`, then the rest in reverse creation order. Best effort: every step is
/// tried; the error lists what failed.
fn remove_resources(resources: &[Resource], marker: &str) -> Result<()> {
    let procs: Vec<Proc> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::Process { proc, .. } => Some(proc.clone()),
            _ => None,
        })
        .collect();
    process::stop_all(&procs, Duration::from_secs(3));
    let strays = process::find_by_env(marker);
    if !strays.is_empty() {
        process::kill_pids(&strays);
    }
    let mut errors = Vec::new();
    for r in resources.iter().rev() {
        let res = match r {
            Resource::Process { proc, what } => {
                if proc.alive() {
                    Err(err!("process {what} (pid {}) did not exit", proc.pid))
                } else {
                    Ok(())
                }
            }
            Resource::Link { name } => net::delete_link(name),
            Resource::Netns { name } => net::delete_netns(name),
            Resource::Bridge { name } => net::delete_link(name),
            Resource::Dir { path } => match fs::remove_dir(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                // Not empty: something else put files there; leave it.
                Err(_) => Ok(()),
            },
            Resource::File { path } => {
                if fs::metadata(path).is_ok_and(|m| m.len() == 0) {
                    let _ = fs::remove_file(path);
                }
                Ok(())
            }
        };
        if let Err(e) = res {
            errors.push(e.0);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(err!("{}", errors.join("; ")))
    }
}

/// Tears the whole cluster down; on success removes the state directory.
fn teardown(state: &mut State, dirs: &Dirs) -> Result<()> {
    let all: Vec<Resource> = state.created.iter().map(|c| c.resource.clone()).collect();
    let marker = format!("{MARKER}={}/", dirs.root.display());
    // The processes in the pods' network namespaces, whatever their environment.
    let result = remove_resources(&all, &marker);
    match result {
        Ok(()) => {
            fs::remove_dir_all(&dirs.root)
                .context(|| format!("removing {}", dirs.root.display()))?;
            Ok(())
        }
        Err(e) => {
            state.save(dirs)?;
            Err(err!(
                "{e} (state kept in {}; run `down` again)",
                dirs.root.display()
            ))
        }
    }
}

/// `down`: stops every process and removes every namespace, link, mount point and the state
/// directory. Idempotent: a cluster that is not up is not an error.
pub fn down(opts: &Options) -> Result<()> {
    let lock = Lock::take(&opts.state_root, &opts.cluster)?;
    let dirs = Dirs::new(&opts.state_root, &opts.cluster);
    let Some(mut state) = State::load(&dirs)? else {
        if dirs.root.exists() {
            // A state directory without state: an `up` that died before writing any.
            fs::remove_dir_all(&dirs.root)?;
        }
        say(format!("cluster {}: nothing to tear down", opts.cluster));
        drop(lock);
        let _ = fs::remove_file(opts.state_root.join(format!("{}.lock", opts.cluster)));
        return Ok(());
    };
    teardown(&mut state, &dirs)?;
    drop(lock);
    let _ = fs::remove_file(opts.state_root.join(format!("{}.lock", opts.cluster)));
    say(format!("cluster {}: down", opts.cluster));
    Ok(())
}

/// `run`: `up`, then keep DNS in step with the pods' readiness until SIGINT/SIGTERM, then
/// `down`. Other invocations (`apply`, `exec`, `status`) work meanwhile.
pub fn run(opts: &Options, up_opts: &UpOptions, paths: &[PathBuf]) -> Result<()> {
    install_signal_handlers();
    up(opts, up_opts, paths)?;
    say("running; Ctrl-C (SIGINT) or SIGTERM tears the cluster down");
    let dirs = Dirs::new(&opts.state_root, &opts.cluster);
    let mut last = Instant::now();
    let mut result = Ok(());
    while !interrupted() {
        std::thread::sleep(Duration::from_millis(100));
        process::reap_children();
        if last.elapsed() < Duration::from_secs(1) {
            continue;
        }
        last = Instant::now();
        let step = (|| -> Result<bool> {
            let _lock = Lock::take(&opts.state_root, &opts.cluster)?;
            let Some(mut state) = State::load(&dirs)? else {
                return Ok(false);
            };
            if dns::update(&mut state, &dirs, &pod_ready)? {
                state.save(&dirs)?;
            }
            Ok(true)
        })();
        match step {
            Ok(true) => {}
            Ok(false) => {
                say("the cluster was taken down by another invocation");
                return Ok(());
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    say("tearing down");
    let down_result = down(opts);
    result.and(down_result)
}

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
