//! A whole cluster's life: `up` (bridge, DNS, workloads), `down` and `run` (up, keep DNS in
//! step with readiness until a signal, down).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

use super::apply::apply_manifests;
use super::observe::refresh_dns;
use super::signals::{check_interrupted, install_signal_handlers, interrupted};
use super::teardown::teardown;
use super::{Options, UpOptions, say};
use crate::state::{Dirs, Lock, Resource, Runtime, State};
use crate::{dns, manifest, net, pod, process};

/// Fails unless running as root with `tools` on the PATH; `install` says how to get them.
fn require_root_and_tools(tools: &[&str], install: &str) -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        return Err(anyhow!(
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
        Err(anyhow!(
            "missing programs: {} ({install})",
            missing.join(", ")
        ))
    }
}

/// `up`: creates the bridge, starts DNS, runs every workload of the manifests. On any failure
/// (or a signal) everything made so far is torn down again.
pub fn up(opts: &Options, up: &UpOptions, paths: &[PathBuf]) -> Result<()> {
    require_root_and_tools(
        &["ip", "dnsmasq"],
        "apt-get install -y iproute2 dnsmasq-base",
    )?;
    if up.runtime == Runtime::Podman {
        require_root_and_tools(
            &["podman", "runc"],
            "--runtime podman needs them: scripts/setup.sh installs them",
        )?;
    }
    let manifests = manifest::read_paths(paths, &opts.namespace)?;
    let _lock = Lock::take(&opts.state_root, &opts.cluster)?;
    let dirs = Dirs::new(&opts.state_root, &opts.cluster);
    if State::load(&dirs)?.is_some() {
        return Err(anyhow!(
            "cluster {} is already up (state in {}); run `down` first",
            opts.cluster,
            dirs.root.display()
        ));
    }
    let (network, prefix) = net::parse_subnet(&up.subnet)?;
    let node_ip = net::host_addr(network, prefix, 1).expect("prefix <= 29");
    if net::link_exists(&up.bridge) {
        return Err(anyhow!(
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
        runtime: up.runtime,
        created: Vec::new(),
        configmaps: BTreeMap::new(),
        services: BTreeMap::new(),
        workloads: BTreeMap::new(),
        pods: BTreeMap::new(),
        dnsmasq: None,
        dns_hosts: String::new(),
        last_ip: None,
    };
    fs::create_dir_all(&dirs.root).with_context(|| format!("creating {}", dirs.root.display()))?;
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
        say(format!("up failed: {e:#}; tearing down"));
        if let Err(t) = teardown(&mut state, &dirs) {
            say(format!("teardown incomplete: {t:#}"));
        }
        return Err(e);
    }
    Ok(())
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
            if refresh_dns(&mut state, &dirs)? {
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
