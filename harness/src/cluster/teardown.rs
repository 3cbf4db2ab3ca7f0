//! Removing what the harness recorded: processes first (and strays carrying the cluster's
//! marker), then links, namespaces and mount points in reverse creation order.

use std::fs;
use std::time::Duration;

use crate::pod::MARKER;
use crate::process::{self, Proc};
use crate::state::{Dirs, Resource, State};
use crate::{Context, Result, err, net};

/// Removes resources: first every process (SIGTERM, then SIGKILL) and any stray process
/// carrying `marker`, then the rest in reverse creation order. Best effort: every step is
/// tried; the error lists what failed.
pub(super) fn remove_resources(resources: &[Resource], marker: &str) -> Result<()> {
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
pub(super) fn teardown(state: &mut State, dirs: &Dirs) -> Result<()> {
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
