//! What the runtime needs of an image: whether it is present (images are never pulled) and its
//! entrypoint and command, against which a container's `command` and `args` apply.

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::{Result, anyhow};
use serde_json::Value;

use super::cli::Podman;

/// The parts of an image's config that decide what a container runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `ENTRYPOINT`.
    pub entrypoint: Vec<String>,
    /// `CMD`.
    pub cmd: Vec<String>,
    /// `USER`.
    pub user: String,
}

impl ImageConfig {
    /// What a container runs, by Kubernetes' rules: `command` replaces the entrypoint and drops
    /// the image's CMD; `args` alone replaces the CMD.
    pub fn argv(&self, command: Option<&[String]>, args: Option<&[String]>) -> Vec<String> {
        let (entrypoint, cmd) = match (command, args) {
            (Some(c), a) => (c, a.unwrap_or_default()),
            (None, Some(a)) => (self.entrypoint.as_slice(), a),
            (None, None) => (self.entrypoint.as_slice(), self.cmd.as_slice()),
        };
        entrypoint.iter().chain(cmd).cloned().collect()
    }
}

/// The config of a local image, `None` when podman has no such image. Each image is inspected
/// once per invocation of the harness (a pod template's images are shared by all its replicas).
pub fn image_config(podman: &Podman, image: &str) -> Result<Option<ImageConfig>> {
    static SEEN: Mutex<BTreeMap<String, Option<ImageConfig>>> = Mutex::new(BTreeMap::new());
    let seen = |m: &BTreeMap<String, Option<ImageConfig>>| m.get(image).cloned();
    if let Some(known) = seen(&SEEN.lock().unwrap_or_else(|p| p.into_inner())) {
        return Ok(known);
    }
    let config = inspect(podman, image)?;
    SEEN.lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(image.to_string(), config.clone());
    Ok(config)
}

fn inspect(podman: &Podman, image: &str) -> Result<Option<ImageConfig>> {
    let out = podman
        .command(["image", "inspect", "--format", "json", image])
        .output()
        .map_err(|e| anyhow!("running podman: {e} (install it: scripts/setup.sh)"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("image not known") || stderr.contains("no such image") {
            return Ok(None);
        }
        return Err(anyhow!(
            "`podman image inspect {image}` failed: {}",
            stderr.trim()
        ));
    }
    let all: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| anyhow!("`podman image inspect {image}`: unreadable output: {e}"))?;
    let config = &all[0]["Config"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    Ok(Some(ImageConfig {
        entrypoint: strings(&config["Entrypoint"]),
        cmd: strings(&config["Cmd"]),
        user: config["User"].as_str().unwrap_or_default().to_string(),
    }))
}

/// The message of a container whose image is not present, as the kubelet words it for the pull
/// policy Never, plus how to build the project's images.
pub fn never_pull(image: &str) -> String {
    format!(
        "Container image \"{image}\" is not present with pull policy of Never (the harness never \
         pulls): build it, for this project's images with scripts/image.sh \
         (localhost/l7mp-rs:*: `scripts/image.sh l7mp`; localhost/example-apps/*: \
         `scripts/image.sh examples`)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_and_args_follow_kubernetes() {
        let image = ImageConfig {
            entrypoint: v(&["ep"]),
            cmd: v(&["c1", "c2"]),
            user: String::new(),
        };
        assert_eq!(image.argv(None, None), v(&["ep", "c1", "c2"]));
        assert_eq!(image.argv(None, Some(&v(&["a"]))), v(&["ep", "a"]));
        assert_eq!(image.argv(Some(&v(&["x"])), None), v(&["x"]));
        assert_eq!(
            image.argv(Some(&v(&["x"])), Some(&v(&["a"]))),
            v(&["x", "a"])
        );
    }
}
