//! The `l7mp` binary as a process: `--validate` on valid and invalid files (exit codes and the
//! diagnostic naming file, line, object and field), `--config` with an invalid file (exit 2
//! before binding anything), with a port already in use (exit 1 naming the listener), a file
//! over the size limit (refused alike by `--validate` and at start), and a valid config that
//! serves and stops cleanly on SIGTERM;
//! `--version` with the commit.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Runs `cmd` to completion, killing it (and failing) after [`WAIT`].
fn run(cmd: &mut Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("L7MP_LOG")
        .spawn()
        .expect("spawn l7mp");
    wait_output(child)
}

fn wait_output(mut child: Child) -> Output {
    let deadline = Instant::now() + WAIT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("l7mp did not exit in time: {:?}", child.wait_with_output());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write config");
    path
}

fn udp_echo_config(port: u16, listener: &str) -> String {
    format!(
        "listeners:\n  - name: {listener}\n    spec: {{protocol: UDP, port: {port}, address: 127.0.0.1}}\n    \
         rules:\n      - action: {{route: {{destination: echo}}}}\n\
         clusters:\n  - name: echo\n    spec: {{protocol: Echo}}\n"
    )
}

/// A config with a bad value on line 5, in listener "web".
const INVALID: &str = "listeners:\n  - name: web\n    spec: {protocol: TCP, port: 8080}\n    \
     options:\n      idle_timeout: soon\n    rules:\n      - action: {route: {destination: echo}}\n\
     clusters:\n  - name: echo\n    spec: {protocol: Echo}\n";

/// `--version` names the commit built from: `git rev-parse --short HEAD` in a checkout,
/// `$L7MP_COMMIT` when set, else `unknown` (the build script's rules, seen from outside).
#[test]
fn version_names_the_commit() {
    let out = run(l7mp_binary().arg("--version"));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let commit = std::env::var("L7MP_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let git = Command::new("git")
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args(["rev-parse", "--short", "HEAD"])
                .output()
                .ok()?;
            git.status
                .success()
                .then(|| text(&git.stdout).trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let expected = format!("l7mp {} (commit {commit})\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn validate_accepts_a_valid_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "good.yaml",
        &udp_echo_config(reserved_port(), "in"),
    );
    let out = run(l7mp_binary().arg("--validate").arg(&file));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("{}: valid (sha256 ", file.display())),
        "{stdout}"
    );
}

#[test]
fn validate_rejects_an_invalid_file_naming_file_line_object_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "bad.yaml", INVALID);
    let out = run(l7mp_binary().arg("--validate").arg(&file));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = text(&out.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!(
            "{}:5:21: error: listener \"web\": field `/listeners/0/options/idle_timeout`: \
             invalid type: string \"soon\", expected u64",
            file.display()
        ),
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn validate_names_a_reference_to_a_missing_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        udp_echo_config(reserved_port(), "in").replace("destination: echo", "destination: nowhere");
    let file = write(dir.path(), "dangling.yaml", &config);
    let out = run(l7mp_binary().arg("--validate").arg(&file));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = text(&out.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{}:5:39:", file.display())),
        "{stderr}"
    );
    assert!(
        first.contains(": error: route \"in-rules-rule-0-route\": field `/listeners/0/rules/0/action/route/destination`: there is no cluster named \"nowhere\""),
        "{stderr}"
    );
}

#[test]
fn validate_names_each_field_with_an_address_that_does_not_parse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = "listeners:\n  - name: in\n    spec: {protocol: UDP, port: 9, address: 127.0.0.1, \
         connect: {address: peer.example}}\n    rules:\n      - action: {route: {destination: out}}\n\
         clusters:\n  - name: out\n    spec: {protocol: UDP, port: 9, bind: {address: 10.0.0}}\n    \
         endpoints:\n      - spec: {address: 127.0.0.1}\n";
    let file = write(dir.path(), "addresses.yaml", config);
    let out = run(l7mp_binary().arg("--validate").arg(&file));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = text(&out.stderr);
    for (line, object, field, value) in [
        (
            3,
            "listener \"in\"",
            "/listeners/0/spec/connect/address",
            "peer.example",
        ),
        (
            8,
            "cluster \"out\"",
            "/clusters/0/spec/bind/address",
            "10.0.0",
        ),
    ] {
        let at = format!("{}:{line}:", file.display());
        let says = format!(": error: {object}: field `{field}`: `{value}` is not an IP address");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&at) && l.ends_with(&says)),
            "{at}...{says} in:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("hint: write an IPv4 or IPv6 address such as 127.0.0.1"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn config_with_an_invalid_file_exits_2_before_binding() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Hold the port: a proxy that bound before validating would fail with 1, not 2.
    let held = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = held.local_addr().expect("addr").port();
    // A valid listener on `port`, and an error elsewhere in the file.
    let config = udp_echo_config(port, "in").replace("destination: echo", "destination: nowhere");
    let file = write(dir.path(), "bad.yaml", &config);
    let out = run(l7mp_binary()
        .arg("--config")
        .arg(&file)
        .args(["--workers", "1"]));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.yaml:"), "{stderr}");
    assert!(stderr.contains("nowhere"), "{stderr}");
    drop(held);
    let out = run(l7mp_binary()
        .arg("--config")
        .arg(&file)
        .args(["--workers", "1"]));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).expect("the port stays free");
}

#[test]
fn config_with_a_port_in_use_exits_1_naming_the_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    let held = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = held.local_addr().expect("addr").port();
    let config = format!(
        "listeners:\n  - name: web\n    spec: {{protocol: TCP, port: {port}, address: 127.0.0.1}}\n    \
         rules:\n      - action: {{route: {{destination: echo}}}}\n\
         clusters:\n  - name: echo\n    spec: {{protocol: Echo}}\n"
    );
    let file = write(dir.path(), "busy.yaml", &config);
    let out = run(l7mp_binary()
        .arg("--config")
        .arg(&file)
        .args(["--workers", "1"]));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("listener \"web\": cannot bind"), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
}

#[tokio::test]
async fn config_serves_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = reserved_port();
    let file = write(dir.path(), "good.yaml", &udp_echo_config(port, "in"));
    let child = l7mp_binary()
        .arg("--config")
        .arg(&file)
        // The UDP session below lives until its idle timeout: a short drain.
        .args(["--workers", "1", "--drain-timeout", "0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("L7MP_LOG")
        .spawn()
        .expect("spawn l7mp");
    let client = udp_client(local(port)).await;
    // The process binds soon after start; datagrams sent before then are lost, so resend.
    let mut buf = [0u8; 64];
    let deadline = tokio::time::Instant::now() + WAIT;
    let n = loop {
        client.send(b"up?").await.expect("send");
        match tokio::time::timeout(Duration::from_millis(50), client.recv(&mut buf)).await {
            Ok(Ok(n)) => break n,
            _ if tokio::time::Instant::now() < deadline => continue,
            other => panic!("no reply from the l7mp process: {other:?}"),
        }
    };
    assert_eq!(&buf[..n], b"up?");
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: plain kill(2) on the child we spawned.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = tokio::task::spawn_blocking(move || wait_output(child))
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_file_over_the_size_limit_is_refused_by_validate_and_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A valid config padded with comments to 50 MB: had it been read, it would be valid.
    let mut big = udp_echo_config(reserved_port(), "in");
    let line = format!("# {}\n", "x".repeat(97));
    while big.len() < 50_000_000 {
        big.push_str(&line);
    }
    let file = write(dir.path(), "big.yaml", &big);
    let expected = format!(
        "big.yaml:1:1: error: the file is {} bytes, more than the {} (16 MiB) a config may have",
        big.len(),
        l7mp_config::load::MAX_CONFIG_BYTES
    );
    let out = run(l7mp_binary().arg("--validate").arg(&file));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains(&expected), "{out:?}");
    let out = run(l7mp_binary()
        .arg("--config")
        .arg(&file)
        .args(["--workers", "1"]));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains(&expected), "{out:?}");
}
