//! Connections still in their WebSocket handshake hold a slot under the listener's
//! `max_sessions`, and however many clients connect, the process keeps descriptors for its
//! admin endpoint.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use futures_util::SinkExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn pending_handshakes_count_against_max_sessions() {
    let port = reserved_port();
    let proxy = start_proxy(&format!(
        "listeners:\n  - name: ws\n    spec: {{protocol: WebSocket, port: {port}}}\n    \
         options: {{max_sessions: 5}}\n    \
         rules: [{{action: {{route: {{destination: {{spec: {{protocol: Echo}}}}}}}}}}]\n"
    ))
    .await;
    // 50 connections that never send their upgrade request.
    let mut pending = Vec::new();
    for _ in 0..50 {
        pending.push(TcpStream::connect(local(port)).await.expect("connect"));
    }
    let stats = listener_stats(&proxy, "ws");
    eventually("45 of the 50 refused", || {
        stats.sessions_refused.get() == 45
    })
    .await;
    // While the five hold their slots, a real client is refused too.
    let url = format!("ws://127.0.0.1:{port}/");
    let refused = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(&url))
        .await
        .expect("an answer in time");
    assert!(refused.is_err(), "a sixth session got in");
    // Once they go, the slots are free again.
    drop(pending);
    let deadline = tokio::time::Instant::now() + WAIT;
    let (mut ws, _) = loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok(c) => break c,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "still refused: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    ws.send(Message::Binary("hi".into())).await.expect("send");
    assert_eq!(ws_recv(&mut ws).await.into_data().as_ref(), b"hi");
    proxy.stop().await;
}

/// `GET path` on the admin endpoint at `port`: the status line, or the error.
fn admin_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(WAIT))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    Ok(answer)
}

#[tokio::test]
async fn the_admin_endpoint_answers_when_clients_take_every_descriptor() {
    const LIMIT: u64 = 256;
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, admin) = (reserved_port(), reserved_port());
    let file = dir.path().join("ws.yaml");
    std::fs::write(
        &file,
        format!(
            "listeners:\n  - name: ws\n    spec: {{protocol: WebSocket, port: {port}, address: 127.0.0.1}}\n    \
             rules: [{{action: {{route: {{destination: {{spec: {{protocol: Echo}}}}}}}}}}]\n"
        ),
    )
    .expect("write");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_l7mp"));
    cmd.arg("--config")
        .arg(&file)
        .args([
            "--workers",
            "2",
            "--admin-address",
            &format!("127.0.0.1:{admin}"),
            "--metrics-address",
            "none",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setrlimit(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| rlimit::setrlimit(rlimit::Resource::NOFILE, LIMIT, LIMIT));
    }
    let _proxy = KillOnDrop(cmd.spawn().expect("spawn l7mp"));
    eventually("the proxy is up", || {
        admin_get(admin, "/readyz").is_ok_and(|a| a.starts_with("HTTP/1.1 200"))
    })
    .await;
    // More pending handshakes than the process may open descriptors, far below its
    // max_sessions (10,000).
    let mut pending = Vec::new();
    for _ in 0..2 * LIMIT {
        pending.push(TcpStream::connect(local(port)).await.expect("connect"));
    }
    let refused = "l7mp_listener_sessions_refused_total{listener=\"ws\"} ";
    let mut metrics = String::new();
    eventually("connections beyond the descriptors are refused", || {
        metrics = admin_get(admin, "/metrics").unwrap_or_default();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(refused)?.parse::<u64>().ok())
            .is_some_and(|n| n > LIMIT / 2)
    })
    .await;
    for _ in 0..20 {
        let answer = admin_get(admin, "/healthz").expect("the admin endpoint answers");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    drop(pending);
}
