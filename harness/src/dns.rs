//! Cluster DNS: one dnsmasq in the host namespace, listening on the node IP only, answering from
//! a hosts file the harness writes (`--no-resolv --no-hosts --addn-hosts`), re-read on SIGHUP.
//! Nothing is forwarded anywhere: names it does not know get no answer from upstream.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use crate::manifest::{selects, string_map};
use crate::process::{self, Proc};
use crate::state::{Dirs, Pod, State};

/// The cluster domain.
pub const DOMAIN: &str = "cluster.local";

/// The hosts file for the cluster's Services and pods:
/// - `<svc>.<ns>.svc.cluster.local` → every ready pod the Service selects (headless or not: the
///   harness has no virtual IPs);
/// - `<hostname>.<subdomain>.<ns>.svc.cluster.local` for pods with both (StatefulSet pods);
/// - `<a-b-c-d>.<ns>.pod.cluster.local` for every pod.
pub fn hosts_file(state: &State, ready: &dyn Fn(&Pod) -> bool) -> String {
    let mut lines = BTreeSet::new();
    for (key, svc) in &state.services {
        let (ns, name) = key.split_once('/').unwrap_or(("default", key));
        let selector = string_map(svc, "/spec/selector");
        let not_ready_too = svc
            .pointer("/spec/publishNotReadyAddresses")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        for pod in state.pods.values() {
            if pod.namespace == ns
                && selects(&selector, &pod.labels)
                && (not_ready_too || ready(pod))
            {
                lines.insert(format!("{} {name}.{ns}.svc.{DOMAIN}", pod.ip));
                if let (Some(h), Some(s)) = (&pod.hostname, &pod.subdomain)
                    && s == name
                {
                    lines.insert(format!("{} {h}.{name}.{ns}.svc.{DOMAIN}", pod.ip));
                }
            }
        }
    }
    for pod in state.pods.values() {
        if !pod.host_network {
            let dashed = pod.ip.to_string().replace('.', "-");
            lines.insert(format!(
                "{} {dashed}.{}.pod.{DOMAIN}",
                pod.ip, pod.namespace
            ));
        }
    }
    let mut out = String::from("# written by l7mp-localcluster\n");
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// A pod's resolv.conf pointing at cluster DNS.
pub fn resolv_conf(namespace: &str, nameserver: Ipv4Addr) -> String {
    format!(
        "search {namespace}.svc.{DOMAIN} svc.{DOMAIN} {DOMAIN}\nnameserver {nameserver}\noptions ndots:5\n"
    )
}

/// The resolv.conf of a host-network pod without `dnsPolicy: ClusterFirstWithHostNet`: in
/// Kubernetes it gets the node's resolver, which knows no cluster names. Here that resolver is
/// loopback, where nothing answers (so no query ever leaves the machine).
pub fn node_resolv_conf() -> String {
    "# the node's resolver (l7mp-localcluster): cluster names do not resolve here; set\n\
     # dnsPolicy: ClusterFirstWithHostNet on a hostNetwork pod to use cluster DNS\n\
     nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
        .to_string()
}

/// Starts dnsmasq on `listen` answering from the hosts file; waits until it reports started.
pub fn start(dirs: &Dirs, listen: Ipv4Addr) -> Result<Proc> {
    let hosts = dirs.dns_hosts();
    fs::create_dir_all(hosts.parent().expect("has parent"))?;
    if !hosts.exists() {
        fs::write(&hosts, "")?;
    }
    fs::create_dir_all(dirs.logs())?;
    let log = dirs.logs().join("dnsmasq.log");
    let stdout = fs::File::create(dirs.logs().join("dnsmasq.out"))?;
    let mut cmd = Command::new("dnsmasq");
    cmd.args([
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        "--bind-interfaces",
        "--user=root",
        "--group=root",
        "--log-queries",
        "--local=/cluster.local/",
    ])
    .arg(format!("--listen-address={listen}"))
    .arg(format!("--addn-hosts={}", hosts.display()))
    .arg(format!("--log-facility={}", log.display()))
    .arg(format!(
        "--pid-file={}",
        dirs.root.join("dnsmasq.pid").display()
    ))
    .stdin(Stdio::null())
    .stdout(stdout.try_clone()?)
    .stderr(stdout);
    crate::pod::detach(&mut cmd);
    let child = cmd.spawn().map_err(|e| {
        anyhow!("starting dnsmasq: {e} (install it: apt-get install -y dnsmasq-base)")
    })?;
    let proc = Proc::of(child.id() as i32);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if text.contains("started, version") {
            return Ok(proc);
        }
        if !proc.alive() || Instant::now() > deadline {
            let out = fs::read_to_string(dirs.logs().join("dnsmasq.out")).unwrap_or_default();
            process::stop_all(std::slice::from_ref(&proc), Duration::from_secs(1));
            return Err(anyhow!(
                "dnsmasq did not start on {listen}: {}{}",
                out.trim(),
                text.trim()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Rewrites the hosts file if it changed and makes dnsmasq re-read it (SIGHUP).
pub fn update(state: &mut State, dirs: &Dirs, ready: &dyn Fn(&Pod) -> bool) -> Result<bool> {
    let text = hosts_file(state, ready);
    if text == state.dns_hosts && dirs.dns_hosts().exists() {
        return Ok(false);
    }
    let path = dirs.dns_hosts();
    write_atomic(&path, &text)?;
    state.dns_hosts = text;
    if let Some(p) = &state.dnsmasq
        && p.alive()
    {
        process::signal(p.pid, rustix::process::Signal::HUP);
    }
    Ok(true)
}

/// Writes a file through a temporary file and a rename.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// For status output: Service name → the addresses its name resolves to.
pub fn records(hosts: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in hosts.lines().filter(|l| !l.starts_with('#')) {
        if let Some((ip, name)) = line.split_once(' ') {
            out.entry(name.to_string())
                .or_default()
                .push(ip.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn pod(name: &str, ip: [u8; 4], app: &str) -> Pod {
        Pod {
            name: name.into(),
            namespace: "default".into(),
            owner: "Deployment/default/x".into(),
            template_hash: "h".into(),
            labels: BTreeMap::from([("app".into(), app.into())]),
            annotations: BTreeMap::new(),
            ip: ip.into(),
            host_network: false,
            netns: None,
            hostname: None,
            subdomain: None,
            spec: Value::Null,
            containers: BTreeMap::new(),
        }
    }

    #[test]
    fn services_resolve_to_ready_selected_pods() {
        let mut state: State = serde_json::from_value(serde_json::json!({
            "cluster": "c", "bridge": "b", "network": "10.244.0.0", "prefix": 24,
            "node_ip": "10.244.0.1", "bin_dir": "/x", "images": {}, "created": [],
            "configmaps": {}, "services": {}, "workloads": {}, "pods": {}, "dnsmasq": null
        }))
        .unwrap();
        state.services.insert(
            "default/worker".into(),
            serde_json::json!({"spec": {"clusterIP": "None", "selector": {"app": "worker"}}}),
        );
        state
            .pods
            .insert("w1".into(), pod("w1", [10, 244, 0, 2], "worker"));
        state
            .pods
            .insert("w2".into(), pod("w2", [10, 244, 0, 3], "worker"));
        state
            .pods
            .insert("o".into(), pod("o", [10, 244, 0, 4], "other"));
        let all = hosts_file(&state, &|_| true);
        let recs = records(&all);
        assert_eq!(
            recs["worker.default.svc.cluster.local"],
            ["10.244.0.2", "10.244.0.3"]
        );
        assert!(recs.contains_key("10-244-0-4.default.pod.cluster.local"));
        let some = hosts_file(&state, &|p| p.name != "w1");
        assert_eq!(
            records(&some)["worker.default.svc.cluster.local"],
            ["10.244.0.3"]
        );
    }

    #[test]
    fn resolv_conf_search_path() {
        let text = resolv_conf("ns1", Ipv4Addr::new(10, 244, 0, 1));
        assert!(text.starts_with("search ns1.svc.cluster.local svc.cluster.local cluster.local\n"));
        assert!(text.contains("nameserver 10.244.0.1\n"));
    }
}
