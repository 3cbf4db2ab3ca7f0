//! The podman runtime (`up --runtime podman`) on manifests written to go wrong and to show what
//! a container gets: a missing image, an entrypoint the image lacks, containers that exit at once
//! are each reported by `status` and `describe` with kubectl's reason, and `up` returns (probes
//! that never pass: `tests/probes.rs`); containers see the pod's volumes (a ConfigMap swapped live, a shared emptyDir
//! writable by a nonroot user), its downward-API environment, their user and read-only root, and
//! the image's entrypoint running their `args`; `down` sends SIGTERM, then SIGKILL after the
//! pod's grace period; a container the state lost is still removed by `down` (found by its
//! label); Ctrl-C during `up` leaves nothing behind. The examples' app image (socat and perl) is
//! built by scripts/image.sh when absent or stale. Root, podman, runc and mmdebstrap are needed.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::common::*;

const BAD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: missing-image}
spec:
  containers:
    - {name: app, image: "localhost/example-apps/no-such-image:0.1.0"}
---
apiVersion: v1
kind: Pod
metadata: {name: no-entrypoint}
spec:
  containers:
    - {name: app, image: APP, command: ["/no/such/program"]}
---
apiVersion: v1
kind: Pod
metadata: {name: fails-at-once}
spec:
  containers:
    - {name: app, image: APP, command: ["perl", "-e", "exit 3"]}
---
apiVersion: v1
kind: Pod
metadata: {name: completes}
spec:
  containers:
    - {name: app, image: APP, command: ["perl", "-e", "exit 0"]}
"#;

#[test]
fn bad_input_is_reported_with_kubectls_reasons_and_up_returns() {
    let work = tempfile::tempdir().unwrap();
    let c = Cluster::with_runtime("pmbad", 40, Runtime::Podman);
    let file = c.manifest(work.path(), "bad.yaml", BAD);
    let out = c.run(c.up_args("up", &file));
    assert!(out.status.success(), "up failed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ErrImageNeverPull")
            && stderr.contains("localhost/example-apps/no-such-image:0.1.0")
            && stderr.contains("scripts/image.sh"),
        "{stderr}"
    );

    // A missing image: never pulled, the image and the command that builds it named.
    let missing = c.pod("missing-image");
    assert_eq!(missing["status"], "ErrImageNeverPull", "{missing:#}");
    assert_eq!(missing["ready"], false);
    let app = container_status(&missing, "app");
    assert_eq!(app["state"], "waiting");
    let message = app["message"].as_str().unwrap();
    assert!(
        message.contains("\"localhost/example-apps/no-such-image:0.1.0\" is not present")
            && message.contains("scripts/image.sh"),
        "{message}"
    );
    let text = c.describe("missing-image");
    assert!(text.contains("Reason:       ErrImageNeverPull"), "{text}");
    assert!(text.contains("scripts/image.sh"), "{text}");

    // An entrypoint the image does not have.
    let no_entrypoint = c.pod("no-entrypoint");
    assert_eq!(no_entrypoint["status"], "StartError", "{no_entrypoint:#}");
    let message = container_status(&no_entrypoint, "app")["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("/no/such/program"), "{message}");

    // Containers that exit at once: Error with the exit code, or Completed.
    let failed = c.wait_for("fails-at-once", "failed", |p| p["status"] == "Error");
    assert_eq!(
        container_status(&failed, "app")["exitCode"],
        3,
        "{failed:#}"
    );
    let done = c.wait_for("completes", "completed", |p| p["status"] == "Completed");
    assert_eq!(container_status(&done, "app")["exitCode"], 0, "{done:#}");
    assert!(c.describe("fails-at-once").contains("Exit Code:    3"));

    let inventory = c.inventory();
    c.down();
    c.assert_clean(&inventory);
}

/// A pod whose containers show what they get. The app container writes to the shared emptyDir
/// at start and records a SIGTERM in the host directory `SIGNALS`; the stubborn one ignores
/// SIGTERM.
const SHARED: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: greeting}
data: {greeting: hello}
---
apiVersion: v1
kind: Pod
metadata: {name: shared}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 65532}
  volumes:
    - {name: config, configMap: {name: greeting}}
    - {name: scratch, emptyDir: {}}
    - {name: signals, hostPath: {path: SIGNALS}}
  containers:
    - name: echo
      image: APP
      args: ["udp-l:9999,fork", "exec:cat"]
    - name: app
      image: APP
      command: ["perl", "-e"]
      args:
        - |
          $SIG{TERM} = sub {
            open my $f, ">", "/signals/term" or die "signals: $!";
            print $f "SIGTERM in $ENV{POD_NAME}\n";
            close $f;
            exit 0;
          };
          open my $f, ">", "/scratch/from-app" or die "scratch: $!";
          print $f "written by $<\n";
          close $f;
          sleep 1 while 1;
      env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: WHO, value: "$(POD_NAME) at $(POD_IP)"}
      securityContext: {readOnlyRootFilesystem: true}
      volumeMounts:
        - {name: config, mountPath: /config}
        - {name: scratch, mountPath: /scratch}
        - {name: signals, mountPath: /signals}
    - name: stubborn
      image: APP
      command: ["perl", "-e", "$SIG{TERM} = 'IGNORE'; sleep 1 while 1"]
      volumeMounts:
        - {name: scratch, mountPath: /scratch}
"#;

/// Runs perl code in a container of pod `shared`: what it prints.
fn perl(c: &Cluster, container: &str, code: &str) -> String {
    c.exec("shared", Some(container), "", &["perl", "-e", code])
}

#[test]
fn containers_get_the_pods_volumes_environment_user_and_signals() {
    let work = tempfile::tempdir().unwrap();
    let signals = work.path().join("signals");
    std::fs::create_dir(&signals).unwrap();
    std::fs::set_permissions(
        &signals,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let yaml = SHARED.replace("SIGNALS", signals.to_str().unwrap());
    let c = Cluster::with_runtime("pmpod", 41, Runtime::Podman);
    let file = c.manifest(work.path(), "shared.yaml", &yaml);
    c.up(&file);
    let p = c.wait_for("shared", "became ready", |p| p["ready"] == true);
    let ip = p["ip"].as_str().unwrap().to_string();

    // `args` alone: the image's entrypoint (socat) runs them, in the pod's network namespace.
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 64];
    let end = Instant::now() + Duration::from_secs(30);
    let n = loop {
        socket.send_to(b"ping\n", (ip.as_str(), 9999)).unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            break n;
        }
        assert!(
            Instant::now() < end,
            "socat in the echo container never answered"
        );
    };
    assert_eq!(&buf[..n], b"ping\n");
    let text = c.describe("shared");
    assert!(
        text.contains("Command:        socat udp-l:9999,fork exec:cat"),
        "{text}"
    );
    assert!(
        text.contains("Command:        perl -e $SIG{TERM}"),
        "{text}"
    );
    assert!(text.contains("User:           65532"), "{text}");

    // The user, the downward API with $(VAR) references, a read-only root.
    let who = perl(&c, "app", r#"print "$< $ENV{POD_NAME} [$ENV{WHO}]""#);
    assert_eq!(who, format!("65532 shared [shared at {ip}]"));
    let root = perl(
        &c,
        "app",
        r#"print open(my $f, ">", "/x") ? "writable" : "read-only""#,
    );
    assert_eq!(root, "read-only");
    // The emptyDir: written by one nonroot container, read by another.
    let end = Instant::now() + Duration::from_secs(30);
    let read_back = r#"open my $f, "<", "/scratch/from-app" or exit 1; print <$f>"#;
    while perl_status(&c, "stubborn", read_back) != 0 {
        assert!(Instant::now() < end, "the app never wrote to the emptyDir");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(perl(&c, "stubborn", read_back), "written by 65532\n");

    // A changed ConfigMap reaches the running container by the kubelet's swap.
    let greeting = r#"open my $f, "<", "/config/greeting" or die $!; print <$f>"#;
    assert_eq!(perl(&c, "app", greeting), "hello");
    let before = c.containers();
    let changed = c.manifest(
        work.path(),
        "changed.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: greeting}\ndata: {greeting: changed}\n",
    );
    c.apply(&[&changed]);
    assert_eq!(perl(&c, "app", greeting), "changed");
    let data = perl(&c, "app", r#"print readlink("/config/..data")"#);
    assert!(data.starts_with(".."), "the kubelet's layout: {data}");
    assert_eq!(c.containers(), before);
    assert_eq!(c.pod("shared")["ready"], true);

    // down: SIGTERM reaches the app; the stubborn container is killed after the grace period.
    let inventory = c.inventory();
    c.down();
    c.assert_clean(&inventory);
    let term = std::fs::read_to_string(signals.join("term")).unwrap();
    assert_eq!(term, "SIGTERM in shared\n");
}

/// Like [`perl`], but only the exit code.
fn perl_status(c: &Cluster, container: &str, code: &str) -> i32 {
    let mut cmd = c.cmd();
    cmd.args(["exec", "shared", "-c", container, "--", "perl", "-e", code]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd.status().unwrap().code().unwrap_or(-1)
}

const ONE_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  terminationGracePeriodSeconds: 1
  INIT
  containers:
    - {name: app, image: APP, command: ["perl", "-e", "sleep 1 while 1"]}
"#;

#[test]
fn a_container_the_state_lost_is_removed_by_down() {
    let work = tempfile::tempdir().unwrap();
    let c = Cluster::with_runtime("pmlost", 42, Runtime::Podman);
    let file = c.manifest(work.path(), "one.yaml", &ONE_POD.replace("INIT", ""));
    c.up(&file);
    let inventory = c.inventory();
    assert_eq!(c.containers().len(), 1);
    // As if the harness had died between starting the container and recording it.
    let mut state = c.state();
    let created = state["created"].as_array_mut().unwrap();
    created.retain(|r| r["kind"] != "container");
    std::fs::write(
        c.dir().join("state.json"),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
    c.down();
    c.assert_clean(&inventory);
}

#[test]
fn ctrl_c_during_up_leaves_nothing_behind() {
    let work = tempfile::tempdir().unwrap();
    // The init container never ends, so `up` is still starting the pod when the signal comes.
    let init = "initContainers:\n    - {name: init, image: APP, command: [\"perl\", \"-e\", \"sleep 1 while 1\"]}";
    let c = Cluster::with_runtime("pmint", 43, Runtime::Podman);
    let file = c.manifest(work.path(), "init.yaml", &ONE_POD.replace("INIT", init));
    let mut up = c.up_args("up", &file);
    let child = up.stderr(Stdio::piped()).spawn().unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    while c.containers().is_empty() {
        assert!(Instant::now() < end, "the init container never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let netns = format!("l7lc-{}-sleeper", c.name);
    assert!(Path::new("/run/netns").join(&netns).exists());
    rustix::process::kill_process(Pid::from_child(&child), Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(c.containers(), Vec::<String>::new(), "{stderr}");
    assert!(!Path::new("/run/netns").join(&netns).exists(), "{stderr}");
    assert!(!c.dir().exists(), "{stderr}");
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&format!("l7lc-{}-", c.name)));
}
