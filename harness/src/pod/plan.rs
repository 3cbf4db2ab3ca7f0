//! A container's plan: everything needed to start it (program, argv, environment, mounts,
//! namespaces), worked out from the manifest before anything runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use super::env::container_env;
use super::expand::expand_list;
use super::mounts::{Mount, container_mounts};
use super::program::{image_base, resolve_program, stage_program};
use crate::state::{Dirs, Pod, State};

/// Everything needed to start one container.
#[derive(Clone, Debug)]
pub struct ContainerPlan {
    /// Container name.
    pub name: String,
    /// Program (absolute host path) and arguments.
    pub argv: Vec<String>,
    /// The environment, complete.
    pub env: Vec<(String, String)>,
    /// Bind mounts, parents first.
    pub mounts: Vec<Mount>,
    /// The pod's network namespace (none: the host's).
    pub netns: Option<String>,
    /// Hostname in a UTS namespace of its own (none for host-network pods).
    pub hostname: Option<String>,
    /// Working directory.
    pub workdir: PathBuf,
    /// The pod's host directory: mount sources under it are bound through a relative path from
    /// it, so that a mount over `/tmp` cannot hide the sources of the next ones.
    pub pod_dir: PathBuf,
}

/// Plans a container of a pod whose volumes are prepared.
pub fn plan_container(
    state: &State,
    dirs: &Dirs,
    pod: &Pod,
    container: &Value,
    volumes: &BTreeMap<String, PathBuf>,
    override_argv: Option<&[String]>,
) -> Result<ContainerPlan> {
    let cname = container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("container")
        .to_string();
    let what = || format!("pod {} container {cname}", pod.name);
    let env = container_env(state, dirs, pod, container).with_context(what)?;
    let vars: BTreeMap<String, String> = env.iter().cloned().collect();
    let strings = |field: &str| expand_list(container, field, &vars);
    let mut argv = match override_argv {
        Some(a) if !a.is_empty() => a.to_vec(),
        _ => container_argv(state, container, &strings, &what)?,
    };
    let path_var = vars.get("PATH").cloned().unwrap_or_default();
    argv[0] = resolve_program(&argv[0], &path_var).ok_or_else(|| {
        anyhow!(
            "{}: program {:?} is not on the host (PATH {path_var}){}",
            what(),
            argv[0],
            if argv[0] == "l7mp" {
                "; build it (cargo build -p l7mp) or point --bin-dir at it"
            } else {
                ""
            }
        )
    })?;
    if Path::new(&argv[0]).starts_with(&state.bin_dir) {
        argv[0] = stage_program(dirs, &argv[0]).with_context(what)?;
    }
    let mounts = container_mounts(dirs, pod, container, volumes, true).with_context(what)?;
    let workdir = container
        .get("workingDir")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    Ok(ContainerPlan {
        name: cname,
        argv,
        env,
        mounts,
        netns: pod.netns.clone(),
        hostname: (!pod.host_network).then(|| pod.name.clone()),
        workdir,
        pod_dir: dirs.pod(&pod.name),
    })
}

/// `command` (or the image's program) followed by `args`, references expanded.
fn container_argv(
    state: &State,
    container: &Value,
    strings: &dyn Fn(&str) -> Option<Vec<String>>,
    what: &dyn Fn() -> String,
) -> Result<Vec<String>> {
    let mut argv = match strings("command") {
        Some(c) if !c.is_empty() => c,
        _ => {
            let image = container
                .get("image")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let base = image_base(image);
            match state.images.get(base).or_else(|| state.images.get(image)) {
                Some(p) => p.split_whitespace().map(str::to_string).collect(),
                None => {
                    return Err(anyhow!(
                        "{}: no command, and image {image:?} has no known program; give the \
                         container a command or map the image with --image {base}=PROGRAM",
                        what()
                    ));
                }
            }
        }
    };
    argv.extend(strings("args").unwrap_or_default());
    Ok(argv)
}
