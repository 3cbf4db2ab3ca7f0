//! A dead upstream fails every session the same way; the `l7mp` process logs the first
//! failure of each listener and cluster, then one summary per interval with how many it held
//! back, while `/metrics` still counts every one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

/// The value of the metric line that starts with `series`.
fn metric(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{metrics}"))
}

fn get_metrics(admin: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", admin)).expect("admin endpoint");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("answer");
    out
}

/// The WARN lines (JSON) that mention `field` = `name`: (full lines, sum of `suppressed`).
fn warnings(lines: &[Value], field: &str, name: &str) -> (u64, u64) {
    let mine = lines
        .iter()
        .filter(|l| l["level"] == "WARN" && l[field].as_str() == Some(name));
    let (mut full, mut held) = (0, 0);
    for l in mine {
        match l["suppressed"].as_u64() {
            Some(n) => held += n,
            None => full += 1,
        }
    }
    (full, held)
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_sessions_log_a_line_and_a_summary_not_one_line_each() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (udp_in, tcp_in, admin) = (reserved_port(), reserved_port(), reserved_port());
    // Nothing listens on `dead`, for UDP or TCP.
    let dead = reserved_port();
    let config = format!(
        "listeners:\n\
         \x20 - name: u\n    spec: {{protocol: UDP, port: {udp_in}, address: 127.0.0.1}}\n    \
         rules: [{{action: {{route: {{destination: dead-udp}}}}}}]\n\
         \x20 - name: t\n    spec: {{protocol: TCP, port: {tcp_in}, address: 127.0.0.1}}\n    \
         rules: [{{action: {{route: {{destination: dead-tcp, retry: {{retry_on: never}}}}}}}}]\n\
         clusters:\n\
         \x20 - name: dead-udp\n    spec: {{protocol: UDP, port: {dead}}}\n    \
         endpoints: [{{spec: {{address: 127.0.0.1}}}}]\n\
         \x20 - name: dead-tcp\n    spec: {{protocol: TCP, port: {dead}}}\n    \
         endpoints: [{{spec: {{address: 127.0.0.1}}}}]\n"
    );
    let file = dir.path().join("dead.yaml");
    std::fs::write(&file, config).expect("write");
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_l7mp"))
            .arg("--config")
            .arg(&file)
            .args(["--workers", "2", "--log-format", "json"])
            .args(["--admin-address", &format!("127.0.0.1:{admin}")])
            .args(["--metrics-address", "none"])
            .env_remove("L7MP_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn l7mp"),
    );
    let lines = Arc::new(Mutex::new(Vec::<Value>::new()));
    let stderr = child.0.stderr.take().expect("stderr");
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    lines.lock().unwrap().push(v);
                }
            }
        })
    };
    eventually("the proxy is up", || {
        TcpStream::connect(("127.0.0.1", tcp_in)).is_ok()
            && TcpStream::connect(("127.0.0.1", admin)).is_ok()
    })
    .await;
    // 2,000 datagrams from 20 peers, each failing sessions on the dead UDP upstream, and 200
    // connections that each fail to connect to the dead TCP upstream.
    let mut peers = Vec::new();
    for _ in 0..20 {
        let c = udp_client(local(udp_in)).await;
        for i in 0..100u8 {
            c.send(&[i]).await.expect("send");
        }
        peers.push(c);
    }
    for _ in 0..200 {
        let _ = tokio::net::TcpStream::connect(("127.0.0.1", tcp_in)).await;
    }
    // Every failure is either logged in full or counted in a summary, which comes within an
    // interval of the last failure.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (udp_errors, tcp_errors) = loop {
        let m = get_metrics(admin);
        let active = metric(&m, "l7mp_listener_sessions_active{listener=\"u\"}")
            + metric(&m, "l7mp_listener_sessions_active{listener=\"t\"}");
        let udp_errors = metric(&m, "l7mp_listener_session_errors_total{listener=\"u\"}");
        let tcp_errors = metric(
            &m,
            "l7mp_cluster_connect_failures_total{cluster=\"dead-tcp\"}",
        );
        let logged = lines.lock().unwrap().clone();
        let (u_full, u_held) = warnings(&logged, "listener", "u");
        let (t_full, t_held) = warnings(&logged, "cluster", "dead-tcp");
        // No session running is a moment, not the end: on a loaded machine the proxy may not
        // have read the later peers' datagrams yet, or the kernel dropped them from a full
        // receive queue. So it is the end only once at least as many sessions as there are
        // peers have failed, and each poll short of that gives every peer one more datagram.
        if active == 0
            && udp_errors >= 20
            && u_full + u_held == udp_errors
            && t_full + t_held == tcp_errors
        {
            break (udp_errors, tcp_errors);
        }
        if udp_errors < 20 {
            for c in &peers {
                c.send(b"again").await.expect("send");
            }
        }
        assert!(
            Instant::now() < deadline,
            "fewer than 20 failed UDP sessions, or logs and metrics disagree: \
             udp {u_full}+{u_held} vs {udp_errors}, \
             tcp {t_full}+{t_held} vs {tcp_errors}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The 200 connections, and those that probed whether the proxy was up.
    assert!(tcp_errors >= 200, "{tcp_errors}");
    let logged = lines.lock().unwrap().clone();
    let warn_lines = logged.iter().filter(|l| l["level"] == "WARN").count();
    // The flood took less than a few intervals: a handful of lines, not one per failure.
    assert!(
        warn_lines <= 8,
        "{warn_lines} warning lines for {udp_errors} + {tcp_errors} failures: {logged:#?}"
    );
    drop(child);
    reader.join().expect("reader");
}
