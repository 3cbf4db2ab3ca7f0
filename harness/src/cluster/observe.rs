//! What the pods are doing now, as `kubectl get pods` and `describe` would say: each container
//! running, waiting or terminated (with the reason and message), whether its probes pass, and
//! from that each pod's readiness (which decides its DNS records) and STATUS column.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::podman::{self, Observed, Podman};
use crate::probe;
use crate::process::exit_code_within;
use crate::state::{ContainerRef, Dirs, Pod, PodmanRef, Reason, Runtime, State};
use crate::{dns, pod};

/// A container's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerState {
    /// Running.
    Running,
    /// Not started, for `reason`.
    Waiting(Reason),
    /// Exited (or never ran): the reason, and the exit code when known.
    Terminated(Reason, Option<i64>),
}

/// One container of a pod, observed.
#[derive(Clone, Debug)]
pub struct ContainerStatus {
    /// Its name in the pod.
    pub name: String,
    /// The image (podman runtime).
    pub image: Option<String>,
    /// Running, waiting or terminated.
    pub state: ContainerState,
    /// Running and its startup and readiness probes (if any) pass.
    pub ready: bool,
    /// Why a probe failed.
    pub probe_failure: Option<String>,
}

/// One pod, observed.
#[derive(Clone, Debug)]
pub struct PodStatus {
    /// Every container ready.
    pub ready: bool,
    /// kubectl's STATUS column: `Running`, or the first waiting or terminated container's
    /// reason (`ErrImageNeverPull`, `StartError`, `Error`, `Completed`...).
    pub status: String,
    /// Its containers, by name.
    pub containers: Vec<ContainerStatus>,
}

/// Observes every pod: one `podman ps` for the podman runtime, then the probes of the running
/// containers.
pub fn observe(state: &State, dirs: &Dirs) -> Result<BTreeMap<String, PodStatus>> {
    let podman = match state.runtime {
        Runtime::Podman => Some(Podman::new(dirs)?),
        Runtime::Process => None,
    };
    let listed = match &podman {
        Some(p) => podman::list(p, &dirs.root.display().to_string())?,
        None => BTreeMap::new(),
    };
    Ok(state
        .pods
        .values()
        .map(|p| {
            let status = observe_pod(state, dirs, p, podman.as_ref(), &listed);
            (p.name.clone(), status)
        })
        .collect())
}

fn observe_pod(
    state: &State,
    dirs: &Dirs,
    pod: &Pod,
    podman: Option<&Podman>,
    listed: &BTreeMap<String, Observed>,
) -> PodStatus {
    let mut containers = Vec::new();
    for spec in pod::containers(&pod.spec, "containers") {
        let name = spec.get("name").and_then(Value::as_str).unwrap_or_default();
        let Some(running) = pod.containers.get(name) else {
            continue;
        };
        let (image, state_now) = match running {
            ContainerRef::Process(p) if p.alive() => (None, ContainerState::Running),
            ContainerRef::Process(_) => (None, exited_process()),
            ContainerRef::Podman(r) => (Some(r.image.clone()), podman_state(r, listed)),
        };
        let exec = |argv: &[String], timeout: Duration| -> std::result::Result<i32, String> {
            // The process runtime's command holds the pod's network namespace open until it runs.
            let mut cmd = match (running, podman) {
                (ContainerRef::Podman(r), Some(p)) => {
                    let exec = ["exec", r.container.as_str()].into_iter().map(String::from);
                    p.command(exec.chain(argv.iter().cloned()))
                }
                _ => {
                    let volumes = pod::volume_dirs(dirs, pod);
                    let plan = pod::plan_container(state, dirs, pod, spec, &volumes, Some(argv))
                        .map_err(|e| format!("{e:#}"))?;
                    pod::command(&plan, false).map_err(|e| format!("{e:#}"))?
                }
            };
            exit_code_within(&mut cmd, timeout)
                .map_err(|e| format!("running {argv:?}: {e}"))?
                .ok_or_else(|| format!("command {argv:?} timed out after {timeout:?}"))
        };
        let probe_failure = match state_now {
            ContainerState::Running => probes(spec, IpAddr::V4(pod.ip), &exec).err(),
            _ => None,
        };
        containers.push(ContainerStatus {
            name: name.to_string(),
            image,
            ready: state_now == ContainerState::Running && probe_failure.is_none(),
            state: state_now,
            probe_failure,
        });
    }
    PodStatus {
        ready: !containers.is_empty() && containers.iter().all(|c| c.ready),
        status: pod_status(&containers),
        containers,
    }
}

/// The startup probe, then the readiness probe; the first failure.
fn probes(spec: &Value, ip: IpAddr, exec: probe::Exec<'_>) -> std::result::Result<(), String> {
    for (field, what) in [("startupProbe", "Startup"), ("readinessProbe", "Readiness")] {
        if let Some(p) = probe::parse(spec, field)? {
            probe::run(&p, ip, exec).map_err(|e| format!("{what} probe failed: {e}"))?;
        }
    }
    Ok(())
}

/// A host process that is gone: its exit code is not known (it was not the observer's child).
fn exited_process() -> ContainerState {
    ContainerState::Terminated(
        Reason {
            reason: "Exited".into(),
            message: "the process exited (see `logs`)".into(),
        },
        None,
    )
}

fn podman_state(r: &PodmanRef, listed: &BTreeMap<String, Observed>) -> ContainerState {
    if let Some(failed) = &r.failed {
        return match failed.reason.as_str() {
            "ErrImageNeverPull" => ContainerState::Waiting(failed.clone()),
            _ => ContainerState::Terminated(failed.clone(), None),
        };
    }
    let Some(seen) = listed.get(&r.container) else {
        let message = format!(
            "podman has no container {} (removed behind the harness?)",
            r.container
        );
        let reason = Reason {
            reason: "ContainerStatusUnknown".into(),
            message,
        };
        return ContainerState::Terminated(reason, None);
    };
    match seen.state.as_str() {
        "running" => ContainerState::Running,
        "exited" | "stopped" => {
            let (reason, message) = match seen.exit_code {
                0 => ("Completed", "exited with code 0".to_string()),
                code => ("Error", format!("exited with code {code} (see `logs`)")),
            };
            let reason = Reason {
                reason: reason.into(),
                message,
            };
            ContainerState::Terminated(reason, Some(seen.exit_code))
        }
        other => ContainerState::Waiting(Reason {
            reason: "ContainerCreating".into(),
            message: format!("podman reports the container {other}"),
        }),
    }
}

/// kubectl's STATUS column for a pod's containers.
fn pod_status(containers: &[ContainerStatus]) -> String {
    if let Some(r) = containers.iter().find_map(|c| match &c.state {
        ContainerState::Waiting(r) => Some(r),
        _ => None,
    }) {
        return r.reason.clone();
    }
    let terminated: Vec<&Reason> = containers
        .iter()
        .filter_map(|c| match &c.state {
            ContainerState::Terminated(r, _) => Some(r),
            _ => None,
        })
        .collect();
    match terminated.iter().find(|r| r.reason != "Completed") {
        Some(r) => r.reason.clone(),
        None if !terminated.is_empty() && terminated.len() == containers.len() => {
            "Completed".into()
        }
        None => "Running".into(),
    }
}

/// Observes the pods and rewrites DNS to hold exactly the ready ones; whether it changed.
pub fn refresh_dns(state: &mut State, dirs: &Dirs) -> Result<bool> {
    let seen = observe(state, dirs)?;
    dns::update(state, dirs, &|p| seen.get(&p.name).is_some_and(|s| s.ready))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(state: ContainerState) -> ContainerStatus {
        ContainerStatus {
            name: "c".into(),
            image: None,
            ready: state == ContainerState::Running,
            state,
            probe_failure: None,
        }
    }

    fn reason(r: &str) -> Reason {
        Reason {
            reason: r.into(),
            message: String::new(),
        }
    }

    #[test]
    fn the_status_column_is_kubectls() {
        use ContainerState::*;
        assert_eq!(pod_status(&[c(Running), c(Running)]), "Running");
        let waiting = Waiting(reason("ErrImageNeverPull"));
        assert_eq!(pod_status(&[c(Running), c(waiting)]), "ErrImageNeverPull");
        let error = Terminated(reason("Error"), Some(1));
        let done = Terminated(reason("Completed"), Some(0));
        assert_eq!(pod_status(&[c(done.clone()), c(error)]), "Error");
        assert_eq!(pod_status(&[c(done.clone())]), "Completed");
        assert_eq!(pod_status(&[c(done), c(Running)]), "Running");
    }
}
