//! Bad input on the wire: garbage and plain HTTP on a WebSocket port, the largest UDP datagram
//! and stream bursts larger than any datagram, a half-closed TCP peer, Unix peers that vanish
//! mid-session, and endpoints that refuse (ICMP port unreachable, TCP connection refused). Each
//! case checks what the proxy does, that it counts it where it counts such things, and that the
//! proxy goes on serving a good session afterwards.

use std::net::SocketAddr;

use crate::common::*;
use futures_util::SinkExt;
use l7mp::proxy::Proxy;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UnixStream};
use tokio_tungstenite::tungstenite::Message;

fn one_listener(spec: &str, clusters: &str) -> String {
    format!(
        "listeners:\n  - name: in\n    spec: {spec}\n    rules:\n      \
         - action: {{route: {{destination: out}}}}\nclusters:\n{clusters}"
    )
}

fn inet_cluster(name: &str, proto: &str, port: u16) -> String {
    format!(
        "  - name: {name}\n    spec: {{protocol: {proto}, port: {port}}}\n    \
         endpoints: [{{spec: {{address: 127.0.0.1}}}}]\n"
    )
}

/// Starts a proxy whose listener `in` of `protocol` (on a reserved port) routes everything to
/// cluster `out` of `clusters`; returns it and the listener's address.
async fn start_inet(protocol: &str, clusters: &str) -> (Proxy, SocketAddr) {
    let port = reserved_port();
    let spec = format!("{{protocol: {protocol}, port: {port}}}");
    (
        start_proxy(&one_listener(&spec, clusters)).await,
        local(port),
    )
}

/// A TCP connection to `to` that has sent `data`.
async fn tcp_sent(to: SocketAddr, data: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(to).await.expect("connect");
    s.write_all(data).await.expect("write");
    s
}

const ECHO: &str = "  - name: out\n    spec: {protocol: Echo}\n";

/// Deterministic bytes that are no HTTP request.
fn garbage(n: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A proxy whose listener of `protocol` routes to a UDP echo that answers verbatim; returns it
/// and the listener's address.
async fn start_to_udp_echo(protocol: &str) -> (Proxy, SocketAddr) {
    let echo = udp_echo("").await;
    start_inet(protocol, &inet_cluster("out", "UDP", echo.port())).await
}

/// A good WebSocket session on `addr` through an Echo destination.
async fn good_ws_session(addr: SocketAddr) {
    let mut ws = ws_client(addr, "/").await;
    ws.send(Message::Binary(b"still here".to_vec().into()))
        .await
        .expect("send");
    assert_eq!(
        ws_recv(&mut ws).await,
        Message::Binary(b"still here".to_vec().into())
    );
}

/// Sends `chunks` (written one after another) to a WebSocket listener in front of an Echo
/// destination and checks what every failed handshake must do: no reply, the connection
/// closed, one session error counted, and the next good session served. Returns the proxy
/// for the caller's further checks.
async fn failed_ws_handshake(chunks: &[&[u8]], what: &str) -> Proxy {
    let (proxy, to) = start_inet("WebSocket", ECHO).await;
    let mut s = TcpStream::connect(to).await.expect("connect");
    for chunk in chunks {
        s.write_all(chunk).await.expect("write");
    }
    let reply = read_to_close(&mut s).await;
    assert!(reply.is_empty(), "no reply to {what}, got {reply:?}");
    let stats = listener_stats(&proxy, "in");
    eventually("the failed handshake is counted", || {
        stats.session_errors.get() == 1
    })
    .await;
    good_ws_session(to).await;
    assert_eq!(stats.sessions_total.get(), 1);
    proxy
}

#[tokio::test]
async fn random_bytes_on_the_websocket_port_are_an_error_and_closed() {
    let proxy = failed_ws_handshake(&[&garbage(4096), b"\r\n\r\n"], "garbage").await;
    assert_eq!(listener_stats(&proxy, "in").session_errors.get(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn plain_http_on_the_websocket_port_is_an_error_and_closed() {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let proxy = failed_ws_handshake(&[request], "plain HTTP").await;
    proxy.stop().await;
}

/// 65,507 bytes is the most an IPv4 UDP datagram carries; it goes through a UDP hop and back
/// whole, as one datagram.
#[tokio::test]
async fn largest_udp_datagram_is_forwarded_whole() {
    let (proxy, to) = start_to_udp_echo("UDP").await;
    let client = udp_client(to).await;
    let big = garbage(65_507);
    assert_eq!(udp_roundtrip(&client, &big).await, big);
    assert_eq!(udp_roundtrip(&client, b"small").await, "small");
    let stats = listener_stats(&proxy, "in");
    assert_eq!(stats.traffic.rx_bytes.get(), 65_507 + 5);
    assert_eq!(stats.session_errors.get(), 0);
    proxy.stop().await;
}

/// A byte stream read in chunks larger than a datagram can carry must still reach a UDP hop:
/// a 100,000-byte burst on TCP comes back whole through a UDP echo.
#[tokio::test]
async fn stream_burst_larger_than_a_datagram_reaches_a_udp_hop() {
    let (proxy, to) = start_to_udp_echo("TCP").await;
    let burst = garbage(100_000);
    let mut s = tcp_sent(to, &burst).await;
    assert_eq!(tcp_read_exact(&mut s, burst.len()).await, burst);
    let stats = listener_stats(&proxy, "in");
    assert_eq!(stats.session_errors.get(), 0);
    proxy.stop().await;
}

/// A TCP client that shuts down its write side still gets the reply, then the connection
/// closes; the session ends cleanly.
#[tokio::test]
async fn half_closed_tcp_peer_gets_the_reply_then_eof() {
    let upstream = tcp_echo("tcp: ").await;
    let (proxy, to) = start_inet("TCP", &inet_cluster("out", "TCP", upstream.port())).await;
    let mut s = tcp_sent(to, b"last words").await;
    s.shutdown().await.expect("shutdown");
    assert_eq!(read_to_close(&mut s).await, b"tcp: last words");
    let stats = listener_stats(&proxy, "in");
    eventually("the session ends", || stats.sessions_active.get() == 0).await;
    assert_eq!(stats.session_errors.get(), 0);
    let mut s = tcp_sent(to, b"next").await;
    assert_eq!(tcp_read_exact(&mut s, 9).await, b"tcp: next");
    proxy.stop().await;
}

/// The same with an Echo destination: the echo of what was sent before the half-close arrives.
#[tokio::test]
async fn half_closed_tcp_peer_to_echo_gets_the_reply_then_eof() {
    let (proxy, to) = start_inet("TCP", ECHO).await;
    let mut s = tcp_sent(to, b"last words").await;
    s.shutdown().await.expect("shutdown");
    assert_eq!(read_to_close(&mut s).await, b"last words");
    let stats = listener_stats(&proxy, "in");
    eventually("the session ends", || stats.sessions_active.get() == 0).await;
    assert_eq!(stats.session_errors.get(), 0);
    proxy.stop().await;
}

async fn unix_proxy(dir: &std::path::Path) -> (Proxy, std::path::PathBuf) {
    let upstream = dir.join("up.sock");
    unix_echo(&upstream, "uds: ");
    let path = dir.join("in.sock");
    let proxy = start_proxy(&one_listener(
        &format!(
            "{{protocol: UnixDomainSocket, filename: \"{}\"}}",
            path.display()
        ),
        &format!(
            "  - name: out\n    spec: {{protocol: UnixDomainSocket}}\n    \
             endpoints: [{{spec: {{address: \"{}\"}}}}]\n",
            upstream.display()
        ),
    ))
    .await;
    (proxy, path)
}

async fn unix_roundtrip(path: &std::path::Path, msg: &str) {
    let mut s = UnixStream::connect(path).await.expect("connect");
    s.write_all(msg.as_bytes()).await.expect("write");
    let want = format!("uds: {msg}");
    let buf = read_exact_in_time(&mut s, want.len()).await;
    assert_eq!(String::from_utf8_lossy(&buf), want);
}

/// A Unix client that goes away between messages ends its session without an error.
#[tokio::test]
async fn unix_peer_vanishing_between_messages_ends_the_session_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (proxy, path) = unix_proxy(dir.path()).await;
    unix_roundtrip(&path, "hello").await;
    let stats = listener_stats(&proxy, "in");
    eventually("the session ends", || stats.sessions_active.get() == 0).await;
    assert_eq!(stats.session_errors.get(), 0);
    unix_roundtrip(&path, "next").await;
    assert_eq!(stats.sessions_total.get(), 2);
    proxy.stop().await;
}

/// A Unix client that goes away with its reply on the way: the reply cannot be delivered, the
/// session fails and is counted, and the listener serves the next client.
#[tokio::test]
async fn unix_peer_vanishing_with_a_reply_in_flight_is_a_session_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (proxy, path) = unix_proxy(dir.path()).await;
    let mut s = UnixStream::connect(&path).await.expect("connect");
    s.write_all(b"bye").await.expect("write");
    drop(s);
    let stats = listener_stats(&proxy, "in");
    eventually("the session ends", || {
        stats.sessions_total.get() == 1 && stats.sessions_active.get() == 0
    })
    .await;
    assert_eq!(stats.session_errors.get(), 1);
    unix_roundtrip(&path, "next").await;
    proxy.stop().await;
}

/// A UDP endpoint whose port is closed answers with ICMP port unreachable: the session fails
/// and is counted; the proxy's other listener keeps serving.
#[tokio::test]
async fn udp_endpoint_port_closed_fails_the_session() {
    let (bad, good, closed) = (reserved_port(), reserved_port(), reserved_port());
    let worker = udp_echo("Echo: ").await;
    let proxy = start_proxy(&format!(
        "listeners:\n  - name: bad\n    spec: {{protocol: UDP, port: {bad}}}\n    rules:\n      \
         - action: {{route: {{destination: closed}}}}\n  \
         - name: good\n    spec: {{protocol: UDP, port: {good}}}\n    rules:\n      \
         - action: {{route: {{destination: worker}}}}\nclusters:\n{}{}",
        inet_cluster("closed", "UDP", closed),
        inet_cluster("worker", "UDP", worker.port()),
    ))
    .await;
    let client = udp_client(local(bad)).await;
    client.send(b"anyone?").await.expect("send");
    let stats = listener_stats(&proxy, "bad");
    eventually("the refused session is counted", || {
        stats.session_errors.get() == 1
    })
    .await;
    eventually("the session ends", || stats.sessions_active.get() == 0).await;
    assert_eq!(
        cluster(&proxy, "bad", "closed")
            .stats
            .traffic
            .tx_packets
            .get(),
        1
    );
    let other = udp_client(local(good)).await;
    assert_eq!(udp_roundtrip(&other, b"ok").await, "Echo: ok");
    proxy.stop().await;
}

/// A TCP endpoint that refuses the connection: the session never starts, the source connection
/// is closed, the failure is counted on the listener and the cluster, and the proxy serves on.
#[tokio::test]
async fn tcp_endpoint_refusing_fails_the_session_setup() {
    let (bad, good, closed) = (reserved_port(), reserved_port(), reserved_port());
    let proxy = start_proxy(&format!(
        "listeners:\n  - name: bad\n    spec: {{protocol: TCP, port: {bad}}}\n    rules:\n      \
         - action: {{route: {{destination: closed}}}}\n  \
         - name: good\n    spec: {{protocol: TCP, port: {good}}}\n    rules:\n      \
         - action: {{route: {{destination: echo}}}}\nclusters:\n{}  \
         - name: echo\n    spec: {{protocol: Echo}}\n",
        inet_cluster("closed", "TCP", closed),
    ))
    .await;
    let mut s = tcp_sent(local(bad), b"anyone?").await;
    assert!(read_to_close(&mut s).await.is_empty());
    let stats = listener_stats(&proxy, "bad");
    eventually("the failure is counted", || stats.session_errors.get() == 1).await;
    let closed = cluster(&proxy, "bad", "closed");
    assert_eq!(closed.stats.connect_failures.get(), 1);
    assert_eq!(closed.stats.connects.get(), 0);
    let mut s = tcp_sent(local(good), b"ok").await;
    assert_eq!(tcp_read_exact(&mut s, 2).await, b"ok");
    proxy.stop().await;
}
