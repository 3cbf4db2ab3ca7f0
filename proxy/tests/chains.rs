//! Routes with more than one hop: the seed's UDP → WebSocket transcoder → UDP worker chain
//! (within one proxy and across two), and the in-proxy clusters Echo, Discard and Logger both
//! as the destination (where they turn messages around or swallow them) and as ingress or egress
//! hops (where they pass messages on, or swallow them, in that direction only).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::common::*;

/// The seed's transcoder side: a WebSocket listener routed to a Unix stream server.
fn transcoder_yaml(ws_port: u16, uds: &Path) -> String {
    format!(
        "listeners:\n  - name: transcoder\n    spec: {{protocol: WebSocket, port: {ws_port}}}\n    \
         rules:\n      - action: {{route: {{destination: uds}}}}\n\
         clusters:\n  - name: uds\n    spec: {{protocol: UnixDomainSocket}}\n    \
         endpoints: [{{spec: {{address: \"{}\"}}}}]\n",
        uds.display()
    )
}

/// The seed's gateway side: UDP in, through the WebSocket transcoder, on to the UDP worker.
fn gateway_yaml(udp_port: u16, ws_port: u16, worker: SocketAddr) -> String {
    format!(
        "listeners:\n  - name: gateway\n    spec: {{protocol: UDP, port: {udp_port}}}\n    \
         rules:\n      - action: {{route: {{destination: worker, ingress: [transcoder-ws]}}}}\n\
         clusters:\n  - name: worker\n    spec: {{protocol: UDP, port: {}}}\n    \
         endpoints: [{{spec: {{address: 127.0.0.1}}}}]\n  \
         - name: transcoder-ws\n    spec: {{protocol: WebSocket, port: {ws_port}}}\n    \
         endpoints: [{{spec: {{address: 127.0.0.1}}}}]\n",
        worker.port()
    )
}

/// Joins two configs' `listeners:` and `clusters:` sections into one file.
fn merge(a: &str, b: &str) -> String {
    let split = |s: &str| {
        let (l, c) = s.split_once("clusters:\n").expect("clusters section");
        (
            l.trim_start_matches("listeners:\n").to_string(),
            c.to_string(),
        )
    };
    let (la, ca) = split(a);
    let (lb, cb) = split(b);
    format!("listeners:\n{la}{lb}clusters:\n{ca}{cb}")
}

#[tokio::test]
async fn seed_chain_in_one_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let uds = dir.path().join("transcoder.sock");
    unix_echo(&uds, "Transcoded: ");
    let worker = udp_echo("Echo: ").await;
    let (udp_port, ws_port) = (reserved_port(), reserved_port());
    let proxy = start_proxy(&merge(
        &gateway_yaml(udp_port, ws_port, worker),
        &transcoder_yaml(ws_port, &uds),
    ))
    .await;
    let client = udp_client(local(udp_port)).await;
    for msg in ["This is a test!", "Hurray it's working!"] {
        assert_eq!(
            udp_roundtrip(&client, msg.as_bytes()).await,
            format!("Echo: Transcoded: {msg}")
        );
    }
    let gateway = &proxy.listener("gateway").expect("gateway").stats;
    let transcoder = &proxy.listener("transcoder").expect("transcoder").stats;
    assert_eq!(gateway.sessions_total.get(), 1);
    assert_eq!(transcoder.sessions_total.get(), 1);
    assert_eq!(transcoder.traffic.rx_packets.get(), 2);
    proxy.stop().await;
}

#[tokio::test]
async fn seed_chain_across_two_proxies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let uds = dir.path().join("transcoder.sock");
    unix_echo(&uds, "Transcoded: ");
    let worker = udp_echo("Echo: ").await;
    let (udp_port, ws_port) = (reserved_port(), reserved_port());
    let sidecar = start_proxy(&transcoder_yaml(ws_port, &uds)).await;
    let gateway = start_proxy(&gateway_yaml(udp_port, ws_port, worker)).await;
    let client = udp_client(local(udp_port)).await;
    assert_eq!(
        udp_roundtrip(&client, b"This is a test!").await,
        "Echo: Transcoded: This is a test!"
    );
    gateway.stop().await;
    sidecar.stop().await;
}

/// A proxy with one UDP listener `in` whose route is `route` (flow YAML), plus `clusters`.
async fn udp_proxy(route: &str, clusters: &str) -> (l7mp::proxy::Proxy, tokio::net::UdpSocket) {
    let port = reserved_port();
    let proxy = start_proxy(&format!(
        "listeners:\n  - name: in\n    spec: {{protocol: UDP, port: {port}}}\n    \
         rules:\n      - action: {{route: {route}}}\nclusters:\n{clusters}"
    ))
    .await;
    let client = udp_client(local(port)).await;
    (proxy, client)
}

fn udp_cluster(name: &str, at: SocketAddr) -> String {
    format!(
        "  - name: {name}\n    spec: {{protocol: UDP, port: {}}}\n    \
         endpoints: [{{spec: {{address: 127.0.0.1}}}}]\n",
        at.port()
    )
}

fn logger(name: &str, file: &Path, prefix: &str) -> String {
    format!(
        "  - name: {name}\n    spec: {{protocol: Logger, log_file: \"{}\", log_prefix: \"{prefix}\"}}\n",
        file.display()
    )
}

#[tokio::test]
async fn echo_as_destination_returns_each_message() {
    let (proxy, client) = udp_proxy(
        "{destination: echo}",
        "  - name: echo\n    spec: {protocol: Echo}\n",
    )
    .await;
    assert_eq!(udp_roundtrip(&client, b"one").await, "one");
    assert_eq!(udp_roundtrip(&client, b"two").await, "two");
    let echo = cluster(&proxy, "in", "echo");
    assert_eq!(echo.stats.traffic.tx_packets.get(), 2);
    assert_eq!(echo.stats.traffic.rx_packets.get(), 2);
    proxy.stop().await;
}

#[tokio::test]
async fn discard_as_destination_swallows_every_message() {
    let (proxy, client) = udp_proxy(
        "{destination: hole}",
        "  - name: hole\n    spec: {protocol: Discard}\n",
    )
    .await;
    client.send(b"gone").await.expect("send");
    client.send(b"gone too").await.expect("send");
    let hole = cluster(&proxy, "in", "hole");
    eventually("both messages reach the Discard cluster", || {
        hole.stats.traffic.tx_packets.get() == 2
    })
    .await;
    assert_no_datagram(&client, Duration::from_millis(200)).await;
    assert_eq!(hole.stats.traffic.rx_packets.get(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn logger_as_destination_logs_to_its_file_and_echoes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log.txt");
    let (proxy, client) = udp_proxy("{destination: log}", &logger("log", &log, "prefix")).await;
    assert_eq!(udp_roundtrip(&client, b"msg").await, "msg");
    assert_eq!(
        std::fs::read_to_string(&log).expect("log file"),
        "prefix: msg"
    );
    assert_eq!(udp_roundtrip(&client, b"more").await, "more");
    assert_eq!(
        std::fs::read_to_string(&log).expect("log file"),
        "prefix: msgprefix: more"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn logger_in_ingress_logs_and_passes_on_to_the_destination() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("in.txt");
    let worker = udp_echo("Echo: ").await;
    let clusters = udp_cluster("worker", worker) + &logger("log", &log, "in");
    let (proxy, client) = udp_proxy("{destination: worker, ingress: [log]}", &clusters).await;
    assert_eq!(udp_roundtrip(&client, b"msg").await, "Echo: msg");
    assert_eq!(std::fs::read_to_string(&log).expect("log file"), "in: msg");
    proxy.stop().await;
}

#[tokio::test]
async fn logger_in_egress_logs_the_replies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("out.txt");
    let worker = udp_echo("Echo: ").await;
    let clusters = udp_cluster("worker", worker) + &logger("log", &log, "out");
    let (proxy, client) = udp_proxy("{destination: worker, egress: [log]}", &clusters).await;
    assert_eq!(udp_roundtrip(&client, b"msg").await, "Echo: msg");
    assert_eq!(
        std::fs::read_to_string(&log).expect("log file"),
        "out: Echo: msg"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn echo_as_a_hop_passes_messages_on() {
    let worker = udp_echo("Echo: ").await;
    let clusters = udp_cluster("worker", worker) + "  - name: echo\n    spec: {protocol: Echo}\n";
    let (proxy, client) = udp_proxy(
        "{destination: worker, ingress: [echo], egress: [echo]}",
        &clusters,
    )
    .await;
    assert_eq!(udp_roundtrip(&client, b"msg").await, "Echo: msg");
    let echo = cluster(&proxy, "in", "echo");
    assert_eq!(echo.stats.traffic.tx_packets.get(), 2, "one hop each way");
    proxy.stop().await;
}

#[tokio::test]
async fn discard_in_egress_swallows_the_replies() {
    let worker = udp_echo("Echo: ").await;
    let clusters =
        udp_cluster("worker", worker) + "  - name: hole\n    spec: {protocol: Discard}\n";
    let (proxy, client) = udp_proxy("{destination: worker, egress: [hole]}", &clusters).await;
    client.send(b"msg").await.expect("send");
    let hole = cluster(&proxy, "in", "hole");
    let worker = cluster(&proxy, "in", "worker");
    eventually("the reply reaches the Discard hop", || {
        hole.stats.traffic.tx_packets.get() == 1
    })
    .await;
    assert_eq!(
        worker.stats.traffic.tx_packets.get(),
        1,
        "the request went out"
    );
    assert_eq!(
        worker.stats.traffic.rx_packets.get(),
        1,
        "the reply came back"
    );
    assert_no_datagram(&client, Duration::from_millis(200)).await;
    proxy.stop().await;
}

#[tokio::test]
async fn discard_in_ingress_keeps_messages_from_the_destination() {
    let worker = udp_echo("Echo: ").await;
    let clusters =
        udp_cluster("worker", worker) + "  - name: hole\n    spec: {protocol: Discard}\n";
    let (proxy, client) = udp_proxy("{destination: worker, ingress: [hole]}", &clusters).await;
    client.send(b"msg").await.expect("send");
    let hole = cluster(&proxy, "in", "hole");
    eventually("the message reaches the Discard hop", || {
        hole.stats.traffic.tx_packets.get() == 1
    })
    .await;
    assert_no_datagram(&client, Duration::from_millis(200)).await;
    assert_eq!(
        cluster(&proxy, "in", "worker")
            .stats
            .traffic
            .tx_packets
            .get(),
        0
    );
    proxy.stop().await;
}
