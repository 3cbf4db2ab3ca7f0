//! Running podman as the project runs it: `podman --runtime runc` (crun cannot run on the
//! machines this targets: "cgroups in hybrid mode not supported") with the project's
//! containers.conf (no default ulimits, the cgroupfs cgroup manager), each invocation in a
//! process group of its own so that a Ctrl-C meant for the harness does not cut it short.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, anyhow};

use crate::state::Dirs;

/// The project's podman settings (scripts/podman/containers.conf), written into the cluster's
/// state directory unless `CONTAINERS_CONF` names another file.
const CONTAINERS_CONF: &str = include_str!("../../../scripts/podman/containers.conf");

/// How to invoke podman for one cluster.
#[derive(Clone, Debug)]
pub struct Podman {
    conf: PathBuf,
}

impl Podman {
    /// Podman for the cluster in `dirs`, its containers.conf written there when missing.
    pub fn new(dirs: &Dirs) -> Result<Podman> {
        if let Some(conf) = std::env::var_os("CONTAINERS_CONF") {
            return Ok(Podman { conf: conf.into() });
        }
        let conf = dirs.root.join("containers.conf");
        if fs::read_to_string(&conf).ok().as_deref() != Some(CONTAINERS_CONF) {
            fs::create_dir_all(&dirs.root)?;
            fs::write(&conf, CONTAINERS_CONF)
                .map_err(|e| anyhow!("writing {}: {e}", conf.display()))?;
        }
        Ok(Podman { conf })
    }

    /// `podman --runtime runc ARGS`.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf)
            .args(["--runtime", "runc"])
            .args(args)
            .process_group(0);
        c
    }
}

/// Runs a podman command; its stdout on success, else an error with its stderr.
pub fn output(mut cmd: Command) -> Result<String> {
    let out = cmd
        .output()
        .map_err(|e| anyhow!("running podman: {e} (install it: scripts/setup.sh)"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        Err(anyhow!(
            "`podman {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
