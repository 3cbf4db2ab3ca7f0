//! Stopping and removing containers: SIGTERM with the pod's grace period, then SIGKILL
//! (`podman stop -t`), then removal; and a sweep by label for whatever the state lost.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};

use super::cli::{Podman, output};

/// Stops the named containers (those sharing a grace period in parallel, in one `podman stop`),
/// then removes them. Containers that do not exist are not an error.
pub fn stop_and_remove(podman: &Podman, containers: &[(String, u64)]) -> Result<()> {
    let mut by_grace: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for (name, grace) in containers {
        by_grace.entry(*grace).or_default().push(name);
    }
    let mut errors = Vec::new();
    for (grace, names) in by_grace {
        let stop = podman.command(
            ["stop", "--ignore", "-t", &grace.to_string()]
                .into_iter()
                .chain(names.iter().copied()),
        );
        if let Err(e) = output(stop) {
            errors.push(format!("{e:#}"));
        }
        let rm = podman.command(
            ["rm", "--ignore", "-f", "-t", "0"]
                .into_iter()
                .chain(names.iter().copied()),
        );
        if let Err(e) = output(rm) {
            errors.push(format!("{e:#}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("; ")))
    }
}

/// Removes (SIGKILL) every container carrying all of `labels`: what a crash left unrecorded.
pub fn remove_labelled(podman: &Podman, labels: &[(&str, &str)]) -> Result<()> {
    let mut args: Vec<String> = ["ps", "-a", "-q"].map(str::to_string).to_vec();
    for (k, v) in labels {
        args.extend(["--filter".into(), format!("label={k}={v}")]);
    }
    let ids: Vec<String> = output(podman.command(&args))?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    output(
        podman.command(
            ["rm", "--ignore", "-f", "-t", "0"]
                .into_iter()
                .map(String::from)
                .chain(ids),
        ),
    )
    .map(|_| ())
}
