//! The container images `scripts/image.sh` builds, run with podman as a cluster would run them.
//!
//! The proxy image is built from the `l7mp` and `l7mpc` binaries next to the harness (the ones
//! `cargo test --workspace` builds) under its own tag, so a user's `localhost/l7mp-rs:dev` is left
//! alone; the script skips the build when the image already holds these binaries. Its tests
//! run the binaries inside it, validate the seed's compiled configs there, and serve UDP from a
//! config directory in the kubelet's ConfigMap layout that is then swapped live. The examples'
//! app image is built by `scripts/image.sh examples` (from the Debian mirror, once; later runs
//! find it up to date) and runs the examples' app commands exactly as their manifests write
//! them. Containers run in network namespaces the tests make. Root, podman, runc and mmdebstrap
//! are needed (`scripts/setup.sh` installs them).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::images::*;
use crate::common::*;
use l7mp_localcluster::{kubelet, manifest};

fn image_id(image: &str) -> String {
    let out = ok({
        let mut c = podman();
        c.args(["image", "inspect", "--format", "{{.Id}}", image]);
        c
    });
    String::from_utf8(out.stdout).unwrap()
}

/// A network namespace with only loopback, and the containers started in it; all removed on
/// drop, even when the test fails.
struct Netns {
    name: String,
    containers: Vec<String>,
    /// The turn the cluster tests take too, given back after the containers are removed.
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        preflight();
        let turn = one_at_a_time();
        let name = format!("l7mp-img-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ok({
            let mut c = Command::new("ip");
            c.args(["netns", "add", &name]);
            c
        });
        ok({
            let mut c = Command::new("ip");
            c.args(["-n", &name, "link", "set", "lo", "up"]);
            c
        });
        Netns {
            name,
            containers: Vec::new(),
            _turn: turn,
        }
    }

    /// Starts a detached container named `name` in this namespace: `run_args` are podman's
    /// options, then the image and its arguments.
    fn run(&mut self, name: &str, run_args: &[String]) {
        let name = format!("{}-{name}", self.name);
        let _ = podman().args(["rm", "-f", "-t", "0", &name]).output();
        self.containers.push(name.clone());
        ok({
            let mut c = podman();
            c.args(["run", "-d", "--name", &name, "--network"])
                .arg(format!("ns:/run/netns/{}", self.name))
                .args(run_args);
            c
        });
    }

    fn running(&self, name: &str) -> bool {
        let out = podman()
            .args(["inspect", "--format", "{{.State.Running}}"])
            .arg(format!("{}-{name}", self.name))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "true"
    }

    fn logs(&self, name: &str) -> String {
        let out = podman()
            .arg("logs")
            .arg(format!("{}-{name}", self.name))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// One UDP exchange from inside the namespace: `line` to 127.0.0.1:`port`, and what comes
    /// back within a second (empty when nothing does).
    fn udp(&self, port: u16, line: &str) -> String {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "socat", "-t", "1", "-"])
            .arg(format!("udp4:127.0.0.1:{port}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    }

    /// `udp` until something answers (a container takes a moment to start) or `deadline`.
    fn udp_until_reply(&self, port: u16, line: &str, deadline: Duration) -> String {
        let end = Instant::now() + deadline;
        loop {
            let reply = self.udp(port, line);
            if !reply.is_empty() || Instant::now() > end {
                return reply;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = podman().args(["rm", "-f", "-t", "0", c]).output();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A ConfigMap volume in the kubelet's layout holding `config.yaml`, world-readable as a
/// ConfigMap volume is, so the image's nonroot user reads it.
fn config_volume(dir: &Path, config: &str) -> PathBuf {
    let payload = kubelet::Payload::from([("config.yaml".to_string(), config.as_bytes().to_vec())]);
    kubelet::write(dir, &payload).unwrap();
    dir.to_path_buf()
}

/// Lets the image's nonroot user into `dir` (the test's temporary directories are private).
fn open_to_all(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
}

/// The proxy config the live test serves: UDP listeners on `ports`, each routed to Echo.
fn echo_config(ports: &[u16]) -> String {
    let mut text = String::from("listeners:\n");
    for port in ports {
        text += &format!(
            "  - name: udp-{port}\n    spec: {{protocol: UDP, port: {port}}}\n    rules:\n      \
             - action: {{route: {{destination: echo}}}}\n"
        );
    }
    text + "clusters:\n  - name: echo\n    spec: {protocol: Echo}\n"
}

#[test]
fn the_proxy_image_runs_its_binaries_as_nonroot() {
    let image = proxy_image();
    let inspect = ok({
        let mut c = podman();
        c.args([
            "image",
            "inspect",
            "--format",
            "{{.Config.User}} {{json .Config.Entrypoint}}",
            image,
        ]);
        c
    });
    assert_eq!(
        String::from_utf8_lossy(&inspect.stdout).trim(),
        r#"65532:65532 ["/usr/local/bin/l7mp"]"#
    );
    let version = ok({
        let mut c = podman();
        c.args(["run", "--rm", "--network", "none", image, "--version"]);
        c
    });
    // `l7mp 0.1.0 (commit 1a2b3c4)`: the version, then the commit it was built from.
    let expected = format!("l7mp {} (commit ", env!("CARGO_PKG_VERSION"));
    let printed = String::from_utf8_lossy(&version.stdout);
    assert!(printed.starts_with(&expected), "{printed}");
    let compiler = ok({
        let mut c = podman();
        c.args(["run", "--rm", "--network", "none", "--entrypoint", "l7mpc"])
            .args([image, "--version"]);
        c
    });
    let expected = format!("l7mpc {} (commit ", env!("CARGO_PKG_VERSION"));
    let printed = String::from_utf8_lossy(&compiler.stdout);
    assert!(printed.starts_with(&expected), "{printed}");
    // Built again from the same binaries, it is the same image, not a new one.
    let before = image_id(image);
    build_proxy_image();
    assert_eq!(image_id(image), before);
    // The image's /etc/passwd names the user: podman resolves `nonroot` through it.
    let named = ok({
        let mut c = podman();
        c.args(["run", "--rm", "--network", "none", "--user", "nonroot"])
            .args([image, "--version"]);
        c
    });
    assert!(named.status.success());
}

#[test]
fn the_proxy_image_validates_the_seed_configs_from_configmap_volumes() {
    let image = proxy_image();
    let work = tempfile::tempdir().unwrap();
    let task1 = repo().join("examples/task1");
    let compiled = compile(
        &work.path().join("compiled"),
        &[
            task1.join("mesh"),
            task1.join("gateway"),
            task1.join("workloads"),
        ],
        None,
    );
    let manifests = manifest::read_paths(&[compiled], "default").unwrap();
    assert_eq!(manifests.configmaps.len(), 3, "one per pod template");
    for (i, cm) in manifests.configmaps.iter().enumerate() {
        let volume = work.path().join(format!("volume-{i}"));
        kubelet::write(&volume, &kubelet::payload(&cm.value, None).unwrap()).unwrap();
        let out = ok({
            let mut c = podman();
            c.args(["run", "--rm", "--network", "none", "-v"])
                .arg(format!("{}:/etc/l7mp:ro", volume.display()))
                .args([image, "--validate", "/etc/l7mp/config.yaml"]);
            c
        });
        eprintln!("{}: {}", cm.name, String::from_utf8_lossy(&out.stderr));
    }
    // A broken config is refused in the image too, naming the file.
    let broken = config_volume(&work.path().join("broken"), "listeners: 7\n");
    let out = podman()
        .args(["run", "--rm", "--network", "none", "-v"])
        .arg(format!("{}:/etc/l7mp:ro", broken.display()))
        .args([image, "--validate", "/etc/l7mp/config.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/etc/l7mp/config.yaml"), "{stderr}");
}

#[test]
fn the_proxy_image_serves_udp_and_follows_a_configmap_swap() {
    let image = proxy_image();
    let work = tempfile::tempdir().unwrap();
    let volume = config_volume(&work.path().join("config"), &echo_config(&[7001]));
    let mut ns = Netns::new("proxy");
    ns.run(
        "l7mp",
        &[
            "-v".to_string(),
            format!("{}:/etc/l7mp:ro", volume.display()),
            image.to_string(),
            "--config".to_string(),
            "/etc/l7mp/config.yaml".to_string(),
        ],
    );
    let first = ns.udp_until_reply(7001, "through the image", Duration::from_secs(20));
    assert_eq!(first, "through the image\n", "{}", ns.logs("l7mp"));
    assert_eq!(ns.udp(7002, "not yet"), "", "7002 answers before the swap");

    // The kubelet's atomic swap of `..data` to a config with a second listener.
    config_volume(&volume, &echo_config(&[7001, 7002]));
    let added = ns.udp_until_reply(7002, "after the swap", Duration::from_secs(20));
    assert_eq!(added, "after the swap\n", "{}", ns.logs("l7mp"));
    assert_eq!(ns.udp(7001, "still here"), "still here\n");
    assert!(ns.running("l7mp"), "{}", ns.logs("l7mp"));
}

/// Every example container that names the app image, as `podman run` options and arguments
/// that mean what its manifest says: `command` as the entrypoint, `args` after the image,
/// `metadata.name` as `pod_name`, `/tmp` (the only volume the apps mount) from `tmp`.
fn example_app_containers(image: &str, pod_name: &str, tmp: &Path) -> Vec<(String, Vec<String>)> {
    let paths = [
        repo().join("examples/task1/workloads"),
        repo().join("examples/call/workloads"),
    ];
    let manifests = manifest::read_paths(&paths, "default").unwrap();
    let mut apps = Vec::new();
    for obj in &manifests.workloads {
        let (_, spec) = manifest::pod_template(obj).unwrap();
        for container in spec["containers"].as_array().unwrap() {
            if container["image"] != image {
                continue;
            }
            let mut run = Vec::new();
            for env in container["env"].as_array().into_iter().flatten() {
                let value = match env["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                    Some("metadata.name") => pod_name.to_string(),
                    Some(other) => panic!("{}: env from {other} is not emulated here", obj.name),
                    None => env["value"].as_str().unwrap_or_default().to_string(),
                };
                run.extend([
                    "-e".to_string(),
                    format!("{}={value}", env["name"].as_str().unwrap()),
                ]);
            }
            for mount in container["volumeMounts"].as_array().into_iter().flatten() {
                assert_eq!(mount["mountPath"], "/tmp", "{}: unexpected mount", obj.name);
                run.extend(["-v".to_string(), format!("{}:/tmp", tmp.display())]);
            }
            if let Some(command) = container.get("command") {
                run.extend(["--entrypoint".to_string(), command.to_string()]);
            }
            run.push(image.to_string());
            let args = container["args"].as_array().into_iter().flatten();
            run.extend(args.map(|a| a.as_str().unwrap().to_string()));
            apps.push((obj.name.clone(), run));
        }
    }
    apps
}

#[test]
fn the_example_app_image_runs_the_examples_app_commands() {
    let image = app_image();
    let work = tempfile::tempdir().unwrap();
    let tmp = work.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    open_to_all(&tmp);
    let apps = example_app_containers(&image, "pod-under-test", &tmp);
    let names: Vec<&str> = apps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["transcoder-deployment", "worker-deployment"]);
    let mut ns = Netns::new("apps");
    for (name, run) in &apps {
        ns.run(name, run);
    }

    // The worker: a UDP line filter on 9999.
    let reply = ns.udp_until_reply(9999, "to the worker", Duration::from_secs(20));
    assert_eq!(
        reply,
        "Echo on pod-under-test: \nto the worker\n",
        "{}",
        ns.logs("worker-deployment")
    );

    // The transcoder: a line filter on the Unix socket in the shared /tmp.
    let socket = tmp.join("uds-echo.sock");
    let end = Instant::now() + Duration::from_secs(20);
    let mut conn = loop {
        match UnixStream::connect(&socket) {
            Ok(conn) => break conn,
            Err(e) => {
                assert!(
                    Instant::now() < end,
                    "{}: {e}: {}",
                    socket.display(),
                    ns.logs("transcoder-deployment")
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"to the transcoder\n").unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert_eq!(
        reply,
        "Transcoded on pod-under-test: to the transcoder\n",
        "{}",
        ns.logs("transcoder-deployment")
    );
    for (name, _) in &apps {
        assert!(ns.running(name), "{name} exited: {}", ns.logs(name));
    }
}
