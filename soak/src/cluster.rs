//! The cluster as the driver sees it: the harness's state (pods, IPs, the proxies' pids) and
//! readiness read through its library, and the commands that change it (`apply`,
//! `delete-pod`) run as the harness's own binary, so that the pods it starts are not this
//! process's children. Their output goes to a log file.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use l7mp_localcluster::cluster::observe;
use l7mp_localcluster::state::{ContainerRef, Dirs, State};

/// A running local cluster.
pub struct Harness {
    /// The `l7mp-localcluster` binary.
    pub bin: PathBuf,
    /// Its `--state-dir`.
    pub state_dir: PathBuf,
    /// Its `--cluster`.
    pub cluster: String,
    /// Where the commands' output is appended.
    pub log: PathBuf,
}

/// A long-lived proxy process: a pod's container running `l7mp`.
#[derive(Clone, Debug)]
pub struct Proxy {
    /// `pod/container`.
    pub name: String,
    /// Its pid.
    pub pid: i32,
    /// Its pod's IP (the node IP for the host-network gateway), where its metrics are.
    pub ip: Ipv4Addr,
}

impl Harness {
    /// The cluster's state now.
    pub fn state(&self) -> Result<State, String> {
        let dirs = Dirs::new(&self.state_dir, &self.cluster);
        State::load(&dirs)
            .map_err(|e| format!("{e:#}"))?
            .ok_or_else(|| format!("cluster {} is not up", self.cluster))
    }

    /// Each pod's readiness, as `status` reports it.
    pub fn readiness(&self) -> Result<BTreeMap<String, bool>, String> {
        let state = self.state()?;
        let dirs = Dirs::new(&self.state_dir, &self.cluster);
        let seen = observe(&state, &dirs).map_err(|e| format!("{e:#}"))?;
        Ok(seen.into_iter().map(|(k, v)| (k, v.ready)).collect())
    }

    /// The `l7mp` processes of pods whose names do not start with `except`: the proxies that
    /// live through the run.
    pub fn long_lived_proxies(&self, except: &str) -> Result<Vec<Proxy>, String> {
        let state = self.state()?;
        let mut out = Vec::new();
        for pod in state.pods.values().filter(|p| !p.name.starts_with(except)) {
            for (container, c) in &pod.containers {
                let ContainerRef::Process(proc) = c else {
                    continue;
                };
                let comm = std::fs::read_to_string(format!("/proc/{}/comm", proc.pid));
                if comm.is_ok_and(|c| c.trim() == "l7mp") {
                    out.push(Proxy {
                        name: format!("{}/{container}", pod.name),
                        pid: proc.pid,
                        ip: pod.ip,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Pod names starting with `prefix`.
    pub fn pods(&self, prefix: &str) -> Result<Vec<String>, String> {
        Ok(self
            .state()?
            .pods
            .keys()
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect())
    }

    /// `l7mp-localcluster apply -f FILE`.
    pub fn apply(&self, file: &Path) -> Result<(), String> {
        self.run(&["apply".as_ref(), "-f".as_ref(), file.as_os_str()])
    }

    /// `l7mp-localcluster delete-pod NAME`.
    pub fn delete_pod(&self, name: &str) -> Result<(), String> {
        self.run(&["delete-pod".as_ref(), name.as_ref()])
    }

    fn run(&self, args: &[&std::ffi::OsStr]) -> Result<(), String> {
        let out = Command::new(&self.bin)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--cluster")
            .arg(&self.cluster)
            .args(args)
            .output()
            .map_err(|e| format!("running {}: {e}", self.bin.display()))?;
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        if let Ok(mut log) = OpenOptions::new().create(true).append(true).open(&self.log) {
            let _ = writeln!(log, "$ l7mp-localcluster {}", shown.join(" "));
            let _ = log.write_all(&out.stderr);
        }
        if out.status.success() {
            Ok(())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().last().unwrap_or_default();
            Err(format!(
                "`l7mp-localcluster {}` failed: {last}",
                shown.join(" ")
            ))
        }
    }
}
