//! The `podman run` command line of one container: the pod's network namespace, its volumes
//! as bind mounts, the manifest's environment, user and read-only root, `command` as the
//! entrypoint and `args` after the image, and the labels teardown finds it by.

use std::path::PathBuf;

use crate::pod::Mount;

/// Everything `podman run` needs for one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSpec {
    /// The podman container name.
    pub name: String,
    /// Labels (cluster, pod, container).
    pub labels: Vec<(String, String)>,
    /// The pod's network namespace; none: the host's.
    pub netns: Option<String>,
    /// The hostname (the pod's name; none on the host network).
    pub hostname: Option<String>,
    /// Bind mounts.
    pub mounts: Vec<Mount>,
    /// The manifest's environment (the image's own is kept, as in Kubernetes).
    pub env: Vec<(String, String)>,
    /// `runAsUser[:runAsGroup]`.
    pub user: Option<String>,
    /// `readOnlyRootFilesystem`.
    pub read_only: bool,
    /// `workingDir`.
    pub workdir: Option<String>,
    /// `command`, replacing the image's entrypoint (and its CMD).
    pub command: Option<Vec<String>>,
    /// `args`, replacing the image's CMD.
    pub args: Option<Vec<String>>,
    /// The image.
    pub image: String,
    /// The container's log file (podman's k8s-file driver; `podman logs` reads it).
    pub log: PathBuf,
}

/// The arguments of `podman run -d` for `spec` (after `run`).
pub fn run_args(spec: &RunSpec) -> Vec<String> {
    let mut a: Vec<String> = ["run", "-d", "--pull=never", "--name", &spec.name]
        .into_iter()
        .map(str::to_string)
        .collect();
    for (k, v) in &spec.labels {
        a.extend(["--label".into(), format!("{k}={v}")]);
    }
    match &spec.netns {
        Some(ns) => a.extend(["--network".into(), format!("ns:/run/netns/{ns}")]),
        None => a.extend(["--network=host".into(), "--uts=host".into()]),
    }
    if let Some(h) = &spec.hostname {
        a.extend(["--hostname".into(), h.clone()]);
    }
    a.extend(["--log-driver=k8s-file".into(), "--log-opt".into()]);
    a.push(format!("path={}", spec.log.display()));
    for m in &spec.mounts {
        let ro = if m.read_only { ":ro" } else { "" };
        a.push("-v".into());
        a.push(format!("{}:{}{ro}", m.source.display(), m.target.display()));
    }
    for (k, v) in &spec.env {
        a.extend(["-e".into(), format!("{k}={v}")]);
    }
    if let Some(u) = &spec.user {
        a.extend(["--user".into(), u.clone()]);
    }
    if spec.read_only {
        a.push("--read-only".into());
    }
    if let Some(w) = &spec.workdir {
        a.extend(["--workdir".into(), w.clone()]);
    }
    if let Some(c) = &spec.command {
        a.push("--entrypoint".into());
        a.push(serde_json::to_string(c).expect("strings serialize"));
    }
    a.push(spec.image.clone());
    a.extend(spec.args.iter().flatten().cloned());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_the_entrypoint_and_args_follow_the_image() {
        let spec = RunSpec {
            name: "n".into(),
            labels: vec![("io.l7mp.localcluster".into(), "/run/x/c".into())],
            netns: Some("l7lc-c-p".into()),
            hostname: Some("p".into()),
            mounts: vec![Mount {
                source: "/s/config".into(),
                target: "/etc/l7mp".into(),
                read_only: true,
            }],
            env: vec![("POD_NAME".into(), "p".into())],
            user: Some("65532".into()),
            read_only: true,
            workdir: None,
            command: Some(vec!["l7mp".into()]),
            args: Some(vec!["--config".into(), "/etc/l7mp/config.yaml".into()]),
            image: "localhost/l7mp-rs:0.1.0".into(),
            log: "/s/logs/p_c.log".into(),
        };
        let a = run_args(&spec).join(" ");
        assert!(
            a.starts_with("run -d --pull=never --name n --label io.l7mp.localcluster=/run/x/c")
        );
        assert!(
            a.contains("--network ns:/run/netns/l7lc-c-p --hostname p"),
            "{a}"
        );
        assert!(a.contains("-v /s/config:/etc/l7mp:ro -e POD_NAME=p --user 65532 --read-only"));
        assert!(
            a.ends_with(
                r#"--entrypoint ["l7mp"] localhost/l7mp-rs:0.1.0 --config /etc/l7mp/config.yaml"#
            ),
            "{a}"
        );
        let host = RunSpec {
            netns: None,
            hostname: None,
            command: None,
            args: None,
            ..spec
        };
        let a = run_args(&host).join(" ");
        assert!(a.contains("--network=host --uts=host"), "{a}");
        assert!(a.ends_with(" localhost/l7mp-rs:0.1.0"), "{a}");
    }
}
