//! In-proxy transforms over real loopback sockets: JSONEncap and JSONDecap (a round trip as
//! ingress and egress hops to a UDP echo, what JSONEncap makes, undecodable messages dropped
//! and counted), Metric counters on `/metrics` (named, shared between clusters, kept across a
//! reload), and Stdio through the `l7mp` binary's stdin and stdout.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use base64::Engine;
use l7mp::admin::{Admin, Scope};
use l7mp::proxy::Proxy;
use l7mp::reload::ReloadStatus;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((loopback(1), port))
}

/// A UDP listener `name` on `port` with one route.
fn listener(name: &str, port: u16, route: Value) -> Value {
    json!({
        "name": name,
        "spec": {"protocol": "UDP", "port": port},
        "rules": [{"action": {"route": route}}],
    })
}

fn cluster_of(name: &str, spec: Value) -> Value {
    json!({"name": name, "spec": spec})
}

/// The proxy's `/metrics` page, fetched over HTTP from its admin endpoint.
async fn scrape(proxy: &Proxy) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let admin = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let server = Admin::new(Arc::new(ReloadStatus::default()), proxy.view());
    let task = tokio::spawn(server.serve(listener, Scope::Metrics, stop.clone().cancelled_owned()));
    let mut conn = TcpStream::connect(admin).await.expect("connect");
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let text = String::from_utf8(read_to_close(&mut conn).await).expect("utf-8");
    stop.cancel();
    task.await.expect("admin stops");
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// The value of `series` (name and labels exactly as exposed) on a metrics page.
fn sample(metrics: &str, series: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn encap_then_decap_round_trips_to_a_udp_echo_both_ways() {
    let port = reserved_port();
    let echo = udp_echo("echo: ").await;
    let route = json!({
        "destination": "echo",
        "ingress": ["encap", "decap"],
        "egress": ["encap", "decap"],
    });
    let proxy = start_json(json!({
        "listeners": [listener("in", port, route)],
        "clusters": [
            {"name": "echo", "spec": {"protocol": "UDP", "port": echo.port()},
             "endpoints": [{"spec": {"address": "127.0.0.1"}}]},
            cluster_of("encap", json!({"protocol": "JSONEncap"})),
            cluster_of("decap", json!({"protocol": "JSONDecap"})),
        ],
    }))
    .await;
    let client = udp_client(addr(port)).await;
    assert_eq!(udp_ask(&client, "hello").await, "echo: hello");
    let binary = [0u8, 255, 10, 13, 34, 92];
    let mut want = b"echo: ".to_vec();
    want.extend_from_slice(&binary);
    assert_eq!(udp_roundtrip(&client, &binary).await, want);
    let decap = cluster(&proxy, "in", "decap");
    assert_eq!(decap.stats.dropped_undecodable.get(), 0);
    // Both directions went through the decoder: two messages each way.
    assert_eq!(decap.stats.traffic.tx_packets.get(), 4);
    proxy.stop().await;
}

#[tokio::test]
async fn encap_shows_the_session_metadata_and_a_base64_payload() {
    let port = reserved_port();
    let proxy = start_json(json!({
        "listeners": [listener("in", port, json!({"destination": "encap"}))],
        "clusters": [cluster_of("encap", json!({"protocol": "JSONEncap"}))],
    }))
    .await;
    let client = udp_client(addr(port)).await;
    let reply = udp_roundtrip(&client, b"test").await;
    let v: Value = serde_json::from_slice(&reply).expect("JSON");
    assert_eq!(v["payload"], "dGVzdA==");
    let local = client.local_addr().expect("addr");
    assert_eq!(v["metadata"]["UDP"]["src_port"], local.port());
    assert_eq!(v["metadata"]["UDP"]["dst_port"], port);
    assert_eq!(v["metadata"]["IP"]["src_addr"], "127.0.0.1");
    proxy.stop().await;
}

#[tokio::test]
async fn decap_drops_and_counts_what_does_not_decode_without_an_empty_datagram() {
    let port = reserved_port();
    let proxy = start_json(json!({
        "listeners": [listener("in", port, json!({"destination": "decap"}))],
        "clusters": [cluster_of("decap", json!({"protocol": "JSONDecap"}))],
    }))
    .await;
    let client = udp_client(addr(port)).await;
    for bad in [
        &b"not json"[..],
        br#"{"payload": "!!not base64"}"#,
        br#"{"payload": 42}"#,
        br#"{"no": "payload"}"#,
    ] {
        client.send(bad).await.expect("send");
    }
    let ok = base64::engine::general_purpose::STANDARD.encode("ok");
    let reply = udp_roundtrip(&client, json!({"payload": ok}).to_string().as_bytes()).await;
    // Datagrams on one loopback session keep their order: nothing came before "ok".
    assert_eq!(reply, "ok");
    let decap = cluster(&proxy, "in", "decap");
    assert_eq!(decap.stats.dropped_undecodable.get(), 4);
    let metrics = scrape(&proxy).await;
    let series = r#"l7mp_cluster_messages_dropped_total{cluster="decap",reason="undecodable"}"#;
    assert_eq!(sample(&metrics, series), Some(4), "{metrics}");
    assert_no_datagram(&client, Duration::from_millis(100)).await;
    proxy.stop().await;
}

fn metric_config(port: u16, shared_port: u16, extra: Option<Value>) -> Value {
    let shared = json!({"protocol": "Metric", "byte_counter_name": "shared",
                        "packet_counter_name": "shared"});
    let mut clusters = vec![
        cluster_of("m", json!({"protocol": "Metric"})),
        cluster_of("a", shared.clone()),
        cluster_of("b", shared),
    ];
    clusters.extend(extra);
    json!({
        "listeners": [
            listener("plain", port, json!({"destination": "m"})),
            listener("twice", shared_port, json!({"ingress": ["a"], "destination": "b"})),
        ],
        "clusters": clusters,
    })
}

#[tokio::test]
async fn metric_counters_are_named_shared_exported_and_kept_across_a_reload() {
    let (port, shared_port) = (reserved_port(), reserved_port());
    let mut proxy = start_json(metric_config(port, shared_port, None)).await;
    let plain = udp_client(addr(port)).await;
    for m in ["ab", "cd", "ef"] {
        assert_eq!(
            udp_ask(&plain, m).await,
            m,
            "Metric passes messages on unchanged"
        );
    }
    let twice = udp_client(addr(shared_port)).await;
    assert_eq!(udp_ask(&twice, "xy").await, "xy");
    let metrics = scrape(&proxy).await;
    let value = |metrics: &str, family: &str, counter: &str| {
        sample(
            metrics,
            &format!("l7mp_metric_{family}_total{{counter=\"{counter}\"}}"),
        )
    };
    assert_eq!(value(&metrics, "packets", "m"), Some(3), "{metrics}");
    assert_eq!(value(&metrics, "bytes", "m"), Some(6), "{metrics}");
    // Clusters a and b both count into "shared", and each message passes both.
    assert_eq!(value(&metrics, "packets", "shared"), Some(2), "{metrics}");
    assert_eq!(value(&metrics, "bytes", "shared"), Some(4), "{metrics}");

    // A reload that changes a cluster but keeps the names keeps counting on.
    let extra = cluster_of("extra", json!({"protocol": "Echo"}));
    let mut config = metric_config(port, shared_port, Some(extra));
    config["clusters"][0]["spec"]["packet_counter_name"] = json!("m");
    config["clusters"][0]["spec"]["byte_counter_name"] = json!("m");
    let loaded = l7mp_config::load_str("reload.yaml", &config.to_string()).expect("valid");
    let summary = proxy
        .apply(loaded.config, Duration::ZERO)
        .await
        .expect("applies");
    assert_eq!(summary.clusters_changed, 1);
    assert_eq!(udp_ask(&plain, "gh").await, "gh");
    let metrics = scrape(&proxy).await;
    assert_eq!(value(&metrics, "packets", "m"), Some(4), "{metrics}");
    assert_eq!(value(&metrics, "bytes", "m"), Some(8), "{metrics}");
    proxy.stop().await;
}

/// Reads the child's stdout on a thread and forwards every chunk.
fn pipe_reader(mut out: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                return;
            }
        }
    });
    rx
}

#[tokio::test]
async fn stdio_prints_what_sessions_send_and_sends_them_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = reserved_port();
    let config = json!({
        "listeners": [listener("in", port, json!({"destination": "stdio"}))],
        "clusters": [cluster_of("stdio", json!({"protocol": "Stdio"}))],
    });
    let file = dir.path().join("stdio.yaml");
    std::fs::write(&file, config.to_string()).expect("write config");
    let mut child = KillOnDrop(
        l7mp_binary()
            .arg("--config")
            .arg(&file)
            .args(["--workers", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env_remove("L7MP_LOG")
            .spawn()
            .expect("spawn l7mp"),
    );
    let stdout = pipe_reader(child.0.stdout.take().expect("stdout"));
    let mut stdin = child.0.stdin.take().expect("stdin");
    let client = udp_client(addr(port)).await;
    // The process binds soon after start; datagrams sent before then are lost, so resend
    // until one shows up on its stdout.
    let mut printed = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !String::from_utf8_lossy(&printed).contains("ping\n") {
        assert!(tokio::time::Instant::now() < deadline, "nothing on stdout");
        // Refused (ICMP) until the process has bound its port.
        let _ = client.send(b"ping\n").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        printed.extend(stdout.try_iter().flatten());
    }
    stdin.write_all(b"pong\n").expect("write stdin");
    stdin.flush().expect("flush");
    assert_eq!(udp_recv(&client).await, "pong\n");
    drop(child);
    assert!(
        String::from_utf8_lossy(&printed).starts_with("ping\n"),
        "stdout is exactly what the session sent: {:?}",
        String::from_utf8_lossy(&printed)
    );
}
