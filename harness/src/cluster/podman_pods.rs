//! Starting a pod's containers under podman (`--runtime podman`): each from its image, in the
//! pod's network namespace, with the pod's volumes, the manifest's environment, user and
//! read-only root. An image that is not present is never pulled: the container is recorded as
//! waiting with `ErrImageNeverPull`, and one that podman cannot start (an entrypoint missing
//! from the image) as terminated with `StartError`, so `status` and `describe` report them as
//! kubectl would.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use super::say;
use super::signals::check_interrupted;
use crate::pod::{self, container_mounts, expand_list, manifest_env};
use crate::podman::{
    self, CLUSTER_LABEL, CONTAINER_LABEL, ImageConfig, POD_LABEL, Podman, RunSpec, image_config,
    never_pull, output, run_args,
};
use crate::state::{ContainerRef, Dirs, Pod, PodmanRef, Reason, Resource, State};

/// Seconds between SIGTERM and SIGKILL when the pod sets no `terminationGracePeriodSeconds`
/// (the process runtime's grace too; Kubernetes' 30 s would make every teardown of an app that
/// runs as PID 1 without a SIGTERM handler, like socat or perl, last that long).
pub const DEFAULT_GRACE: u64 = 3;

/// The pod's grace period in seconds.
pub fn grace_period(spec: &Value) -> u64 {
    spec.get("terminationGracePeriodSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_GRACE)
}

/// `securityContext.runAsUser[:runAsGroup]`, the container's overriding the pod's.
fn user(pod_spec: &Value, container: &Value) -> Option<String> {
    let field = |f: &str| {
        container
            .pointer(&format!("/securityContext/{f}"))
            .or_else(|| pod_spec.pointer(&format!("/securityContext/{f}")))
            .and_then(Value::as_u64)
    };
    let uid = field("runAsUser")?;
    Some(match field("runAsGroup") {
        Some(gid) => format!("{uid}:{gid}"),
        None => uid.to_string(),
    })
}

/// The `podman run` spec of one container of a pod whose volumes are prepared.
fn plan(
    state: &State,
    dirs: &Dirs,
    pod: &Pod,
    container: &Value,
    volumes: &BTreeMap<String, PathBuf>,
) -> Result<RunSpec> {
    let cname = container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("container");
    let what = || format!("pod {} container {cname}", pod.name);
    let image = container
        .get("image")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())
        .ok_or_else(|| anyhow!("{}: no image (the podman runtime runs images)", what()))?;
    let env = manifest_env(state, pod, container, Vec::new()).with_context(what)?;
    let vars: BTreeMap<String, String> = env.iter().cloned().collect();
    let root = dirs.root.display().to_string();
    Ok(RunSpec {
        name: podman::container_name(&root, &pod.name, cname),
        labels: vec![
            (CLUSTER_LABEL.into(), root),
            (POD_LABEL.into(), pod.name.clone()),
            (CONTAINER_LABEL.into(), cname.to_string()),
        ],
        netns: pod.netns.clone(),
        hostname: (!pod.host_network).then(|| pod.name.clone()),
        mounts: container_mounts(dirs, pod, container, volumes, false).with_context(what)?,
        env,
        user: user(&pod.spec, container),
        read_only: container
            .pointer("/securityContext/readOnlyRootFilesystem")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        workdir: container
            .get("workingDir")
            .and_then(Value::as_str)
            .map(str::to_string),
        command: expand_list(container, "command", &vars).filter(|c| !c.is_empty()),
        args: expand_list(container, "args", &vars),
        image: image.to_string(),
        log: dirs.log(&pod.name, cname),
    })
}

/// Starts the pod's init containers (each waited for), then its containers side by side (as
/// the kubelet does), under podman; each is recorded before it is created.
pub(super) fn start_containers(
    state: &mut State,
    dirs: &Dirs,
    pod: &Pod,
    volumes: &BTreeMap<String, PathBuf>,
) -> Result<()> {
    let podman = Podman::new(dirs)?;
    let grace = grace_period(&pod.spec);
    // Plan every container first: a bad manifest fails before anything starts.
    let mut inits = Vec::new();
    let mut mains = Vec::new();
    for (field, list) in [("initContainers", &mut inits), ("containers", &mut mains)] {
        for c in pod::containers(&pod.spec, field) {
            let cname = c.get("name").and_then(Value::as_str).unwrap_or("container");
            let spec = plan(state, dirs, pod, c, volumes)?;
            let config = image_config(&podman, &spec.image)?;
            list.push((cname.to_string(), spec, config));
        }
    }
    let record = |state: &mut State, containers: &[(String, RunSpec, Option<ImageConfig>)]| {
        for (_, spec, config) in containers {
            if config.is_some() {
                let name = spec.name.clone();
                state.record(Some(&pod.name), Resource::Container { name, grace });
            }
        }
        state.save(dirs)
    };
    for init in inits {
        check_interrupted()?;
        record(state, std::slice::from_ref(&init))?;
        let (cname, spec, config) = init;
        let code = match start(&podman, &pod.name, &cname, &spec, config.is_some()) {
            Some(r) => Err(format!("{}: {}", r.reason, r.message)),
            None => match wait(&podman, &spec.name)? {
                0 => Ok(()),
                code => Err(format!("exit code {code}")),
            },
        };
        if let Err(why) = code {
            return Err(anyhow!(
                "pod {} init container {cname} failed ({why}); see `logs {} -c {cname}`",
                pod.name,
                pod.name
            ));
        }
    }
    check_interrupted()?;
    record(state, &mains)?;
    let failures: Vec<Option<Reason>> = std::thread::scope(|s| {
        let starts: Vec<_> = mains
            .iter()
            .map(|(cname, spec, config)| {
                let podman = &podman;
                s.spawn(move || start(podman, &pod.name, cname, spec, config.is_some()))
            })
            .collect();
        starts
            .into_iter()
            .map(|h| h.join().expect("starting a container does not panic"))
            .collect()
    });
    let recorded = state
        .pods
        .get_mut(&pod.name)
        .expect("the pod is recorded before its containers");
    for ((cname, spec, config), failed) in mains.into_iter().zip(failures) {
        let config = config.unwrap_or_default();
        let entry = ContainerRef::Podman(PodmanRef {
            argv: config.argv(spec.command.as_deref(), spec.args.as_deref()),
            user: spec.user.unwrap_or(config.user),
            container: spec.name,
            image: spec.image,
            failed,
        });
        recorded.containers.insert(cname, entry);
    }
    state.save(dirs)
}

/// Creates and starts one container (`present`: its image is); why it did not start, if it did
/// not, said on stderr too.
fn start(podman: &Podman, pod: &str, cname: &str, spec: &RunSpec, present: bool) -> Option<Reason> {
    let (reason, message) = if !present {
        ("ErrImageNeverPull", never_pull(&spec.image))
    } else {
        match output(podman.command(run_args(spec))) {
            Ok(_) => return None,
            Err(e) => ("StartError", format!("{e:#}")),
        }
    };
    say(format!("pod/{pod} container {cname}: {reason}: {message}"));
    Some(Reason {
        reason: reason.into(),
        message,
    })
}

/// Waits for an init container to exit (polling, so that a signal to the harness still stops
/// the wait); its exit code.
fn wait(podman: &Podman, name: &str) -> Result<i64> {
    loop {
        let format = "{{.State.Status}} {{.State.ExitCode}}";
        let out = output(podman.command(["inspect", "--format", format, name]))?;
        if let Some(("exited" | "stopped", code)) = out.trim().split_once(' ') {
            return code
                .parse()
                .map_err(|_| anyhow!("podman inspect {name}: exit code {code:?}"));
        }
        check_interrupted()?;
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_grace_come_from_the_spec() {
        let spec = serde_json::json!({"securityContext": {"runAsUser": 1000, "runAsGroup": 5}});
        let c = serde_json::json!({"securityContext": {"runAsUser": 65532}});
        assert_eq!(user(&spec, &c).as_deref(), Some("65532:5"));
        assert_eq!(user(&serde_json::json!({}), &serde_json::json!({})), None);
        assert_eq!(grace_period(&spec), DEFAULT_GRACE);
        assert_eq!(
            grace_period(&serde_json::json!({"terminationGracePeriodSeconds": 7})),
            7
        );
    }
}
