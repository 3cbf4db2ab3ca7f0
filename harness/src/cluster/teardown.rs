//! Removing what the harness recorded: podman containers and processes first (and strays: the
//! containers carrying the cluster's labels, the processes carrying its marker), then links,
//! namespaces and mount points in reverse creation order.

use std::fs;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

use crate::net;
use crate::pod::{MARKER, mount_points};
use crate::podman::{self, CLUSTER_LABEL, POD_LABEL, Podman};
use crate::process::{self, Proc};
use crate::state::{Dirs, Resource, Runtime, State};

/// The podman containers to sweep by label besides the recorded ones: all of the cluster's,
/// or one pod's.
pub(super) struct Sweep<'a> {
    /// Podman for the cluster.
    pub podman: Podman,
    /// The cluster directory, and the pod when only its containers go.
    pub labels: Vec<(&'static str, &'a str)>,
}

impl<'a> Sweep<'a> {
    /// The sweep of the cluster in `dirs` (`pod`: only that pod's), none for the process
    /// runtime (which must not need podman).
    pub(super) fn of(
        state: &State,
        dirs: &Dirs,
        root: &'a str,
        pod: Option<&'a str>,
    ) -> Result<Option<Sweep<'a>>> {
        if state.runtime != Runtime::Podman {
            return Ok(None);
        }
        let mut labels = vec![(CLUSTER_LABEL, root)];
        labels.extend(pod.map(|p| (POD_LABEL, p)));
        Ok(Some(Sweep {
            podman: Podman::new(dirs)?,
            labels,
        }))
    }
}

/// Removes resources: first every container (SIGTERM, its pod's grace period, SIGKILL; then
/// removed, and any other carrying the sweep's labels) and every process (SIGTERM, then
/// SIGKILL) and any stray process carrying `marker`, then the rest in reverse creation order.
/// Best effort: every step is tried; the error lists what failed.
pub(super) fn remove_resources(
    resources: &[Resource],
    marker: &str,
    sweep: Option<&Sweep<'_>>,
) -> Result<()> {
    let mut errors = Vec::new();
    let containers: Vec<(String, u64)> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::Container { name, grace } => Some((name.clone(), *grace)),
            _ => None,
        })
        .collect();
    if let Some(s) = sweep {
        if let Err(e) = podman::stop_and_remove(&s.podman, &containers) {
            errors.push(format!("{e:#}"));
        }
        if let Err(e) = podman::remove_labelled(&s.podman, &s.labels) {
            errors.push(format!("{e:#}"));
        }
    } else if !containers.is_empty() {
        errors.push(format!(
            "containers {containers:?} are recorded but the cluster does not run podman"
        ));
    }
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
    // Mount points are shared by every cluster (and the host): one that another cluster's
    // container still has a volume on must stay, as removing it would unmount that volume.
    let in_use = if resources
        .iter()
        .any(|r| matches!(r, Resource::Dir { .. } | Resource::File { .. }))
    {
        mount_points()
    } else {
        Default::default()
    };
    for r in resources.iter().rev() {
        let res = match r {
            Resource::Process { proc, what } => {
                if proc.alive() {
                    Err(anyhow!("process {what} (pid {}) did not exit", proc.pid))
                } else {
                    Ok(())
                }
            }
            Resource::Link { name } => net::delete_link(name),
            Resource::Netns { name } => net::delete_netns(name),
            Resource::Bridge { name } => net::delete_link(name),
            Resource::Dir { path } | Resource::File { path } if in_use.contains(path) => Ok(()),
            Resource::Dir { path } => match fs::remove_dir(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                // Not empty: something else put files there; leave it.
                Err(_) => Ok(()),
            },
            Resource::Container { .. } => Ok(()),
            Resource::File { path } => {
                if fs::metadata(path).is_ok_and(|m| m.len() == 0) {
                    let _ = fs::remove_file(path);
                }
                Ok(())
            }
        };
        if let Err(e) = res {
            errors.push(format!("{e:#}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("; ")))
    }
}

/// Tears the whole cluster down; on success removes the state directory.
pub(super) fn teardown(state: &mut State, dirs: &Dirs) -> Result<()> {
    let all: Vec<Resource> = state.created.iter().map(|c| c.resource.clone()).collect();
    let marker = format!("{MARKER}={}/", dirs.root.display());
    let root = dirs.root.display().to_string();
    let result = Sweep::of(state, dirs, &root, None)
        .and_then(|sweep| remove_resources(&all, &marker, sweep.as_ref()));
    match result {
        Ok(()) => {
            fs::remove_dir_all(&dirs.root)
                .with_context(|| format!("removing {}", dirs.root.display()))?;
            Ok(())
        }
        Err(e) => {
            state.save(dirs)?;
            Err(anyhow!(
                "{e:#} (state kept in {}; run `down` again)",
                dirs.root.display()
            ))
        }
    }
}
