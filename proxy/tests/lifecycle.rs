//! Session lifecycle over real loopback sockets: the idle timeout (UDP and TCP), sockets
//! released when a session ends, the per-listener session limit, and the byte and packet
//! counters of listeners and clusters after a known exchange. Timeouts are real (1 s).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use l7mp::proxy::Proxy;
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// Starts a proxy whose listener `in` of `protocol` (on a reserved port, with listener `options`)
/// routes everything to cluster `out`, one endpoint at 127.0.0.1:`upstream_port`; returns it
/// and the listener's address.
async fn start_to_out(protocol: &str, options: Value, upstream_port: u16) -> (Proxy, SocketAddr) {
    let port = reserved_port();
    let mut listener = route_all_listener("in", protocol, port, json!({"destination": "out"}));
    listener["options"] = options;
    let proxy = start_json(json!({
        "listeners": [listener],
        "clusters": [one_endpoint_cluster("out", protocol, upstream_port)],
    }))
    .await;
    (proxy, local(port))
}

/// What a [`udp_recorder`] has received: each datagram with its source.
type Received = Arc<Mutex<Vec<(SocketAddr, Vec<u8>)>>>;

/// A UDP server on 127.0.0.1 that records every datagram with its source and, given a
/// `reply_prefix`, answers it with that prefix + the datagram (else it never replies).
async fn udp_recorder(reply_prefix: Option<&str>) -> (SocketAddr, Received) {
    let socket = UdpSocket::bind((loopback(1), 0)).await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let seen = Received::default();
    let log = seen.clone();
    let prefix = reply_prefix.map(|p| p.as_bytes().to_vec());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            log.lock().expect("lock").push((from, buf[..n].to_vec()));
            if let Some(prefix) = &prefix {
                let _ = socket
                    .send_to(&[&prefix[..], &buf[..n]].concat(), from)
                    .await;
            }
        }
    });
    (addr, seen)
}

/// Whether the UDP port of `addr` is free again (the proxy binds its upstream sockets to the
/// wildcard address, so a specific bind on the same port fails while one is open).
fn udp_port_free(addr: SocketAddr) -> bool {
    std::net::UdpSocket::bind(addr).is_ok()
}

#[tokio::test]
async fn udp_idle_timeout_ends_the_session_and_releases_its_socket() {
    let (echo, seen) = udp_recorder(Some("e: ")).await;
    let (proxy, to) = start_to_out("UDP", json!({"idle_timeout": 1}), echo.port()).await;
    let stats = listener_stats(&proxy, "in");
    let client = udp_client(to).await;
    let start = Instant::now();
    assert_eq!(udp_ask(&client, "one").await, "e: one");
    assert_eq!(stats.sessions_total.get(), 1);
    assert_eq!(stats.sessions_active.get(), 1);
    let upstream = seen.lock().expect("lock")[0].0;
    assert!(
        !udp_port_free(upstream),
        "the session holds its upstream socket"
    );

    eventually("the idle session to end", || {
        stats.sessions_active.get() == 0
    })
    .await;
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "ended after {:?}",
        start.elapsed()
    );
    eventually("the upstream socket to be released", || {
        udp_port_free(upstream)
    })
    .await;
    assert_eq!(stats.session_errors.get(), 0);

    // The next datagram from the same peer opens a new session.
    assert_eq!(udp_ask(&client, "two").await, "e: two");
    assert_eq!(stats.sessions_total.get(), 2);
    assert_eq!(stats.sessions_active.get(), 1);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    assert_ne!(
        seen[1].0, upstream,
        "a new session has a new upstream socket"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn udp_traffic_keeps_the_session_alive() {
    let echo = udp_echo("e: ").await;
    let (proxy, to) = start_to_out("UDP", json!({"idle_timeout": 1}), echo.port()).await;
    let stats = listener_stats(&proxy, "in");
    let client = udp_client(to).await;
    // Nine messages 200 ms apart: 1.6 s in all (more than the 1.5 s a session can last
    // after its last message), never 1 s of silence, with room for a slow machine.
    for i in 0..9 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let message = format!("tick {i}");
        assert_eq!(udp_ask(&client, &message).await, format!("e: {message}"));
    }
    assert_eq!(stats.sessions_total.get(), 1);
    assert_eq!(stats.sessions_active.get(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn closing_a_tcp_client_closes_the_upstream_connection() {
    let (echo, log) = tcp_echo_tracked((loopback(1), 0).into(), "e: ", None).await;
    let (proxy, to) = start_to_out("TCP", json!({}), echo.port()).await;
    let stats = listener_stats(&proxy, "in");
    let mut client = tcp_client(to).await;
    assert_eq!(tcp_ask(&mut client, "e: ", "hi").await, "e: hi");
    assert_eq!(stats.sessions_active.get(), 1);
    assert_eq!(log.closed(), 0);
    drop(client);
    eventually("the upstream to see EOF", || log.closed() == 1).await;
    eventually("the session to end", || stats.sessions_active.get() == 0).await;
    assert_eq!(log.accepted(), 1);
    assert_eq!(stats.session_errors.get(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn tcp_idle_timeout_closes_both_sides() {
    let (echo, log) = tcp_echo_tracked((loopback(1), 0).into(), "e: ", None).await;
    let (proxy, to) = start_to_out("TCP", json!({"idle_timeout": 1}), echo.port()).await;
    let stats = listener_stats(&proxy, "in");
    let mut client = tcp_client(to).await;
    let start = Instant::now();
    assert_eq!(tcp_ask(&mut client, "e: ", "hi").await, "e: hi");
    tcp_expect_eof(&mut client).await;
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "closed after {:?}",
        start.elapsed()
    );
    eventually("the upstream to see EOF", || log.closed() == 1).await;
    eventually("the session to end", || stats.sessions_active.get() == 0).await;
    assert_eq!(stats.session_errors.get(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn stopping_the_proxy_closes_every_session_socket() {
    let (echo, log) = tcp_echo_tracked((loopback(1), 0).into(), "e: ", None).await;
    let (proxy, to) = start_to_out("TCP", json!({}), echo.port()).await;
    let mut clients = Vec::new();
    for i in 0..3 {
        let mut c = tcp_client(to).await;
        assert_eq!(
            tcp_ask(&mut c, "e: ", &format!("c{i}")).await,
            format!("e: c{i}")
        );
        clients.push(c);
    }
    let listener = proxy.listener("in").expect("listener").clone();
    assert_eq!(listener.stats.sessions_active.get(), 3);
    proxy.stop().await;
    for c in &mut clients {
        tcp_expect_eof(c).await;
    }
    eventually("every upstream to see EOF", || log.closed() == 3).await;
    eventually("no active session", || {
        listener.stats.sessions_active.get() == 0
    })
    .await;
}

#[tokio::test]
async fn tcp_session_limit_refuses_the_extra_session_until_one_ends() {
    let echo = tcp_echo("e: ").await;
    let (proxy, to) = start_to_out("TCP", json!({"max_sessions": 2}), echo.port()).await;
    let stats = listener_stats(&proxy, "in");
    let mut first = tcp_client(to).await;
    let mut second = tcp_client(to).await;
    assert_eq!(tcp_ask(&mut first, "e: ", "1").await, "e: 1");
    assert_eq!(tcp_ask(&mut second, "e: ", "2").await, "e: 2");

    let mut third = tcp_client(to).await;
    tcp_expect_eof(&mut third).await;
    assert_eq!(stats.sessions_refused.get(), 1);
    assert_eq!(stats.sessions_total.get(), 2);
    assert_eq!(stats.sessions_active.get(), 2);

    drop(first);
    eventually("a slot to free up", || stats.sessions_active.get() == 1).await;
    let mut fourth = tcp_client(to).await;
    assert_eq!(tcp_ask(&mut fourth, "e: ", "4").await, "e: 4");
    assert_eq!(tcp_ask(&mut second, "e: ", "2 again").await, "e: 2 again");
    assert_eq!(stats.sessions_refused.get(), 1);
    assert_eq!(stats.sessions_total.get(), 3);
    assert_eq!(stats.sessions_active.get(), 2);
    proxy.stop().await;
}

#[tokio::test]
async fn udp_session_limit_refuses_the_extra_peer_until_sessions_end() {
    let echo = udp_echo("e: ").await;
    let (proxy, to) = start_to_out(
        "UDP",
        json!({"max_sessions": 2, "idle_timeout": 1}),
        echo.port(),
    )
    .await;
    let stats = listener_stats(&proxy, "in");
    let first = udp_client(to).await;
    let second = udp_client(to).await;
    let third = udp_client(to).await;
    assert_eq!(udp_ask(&first, "1").await, "e: 1");
    assert_eq!(udp_ask(&second, "2").await, "e: 2");
    third.send(b"3").await.expect("send");
    eventually("the refusal", || stats.sessions_refused.get() == 1).await;
    // The admitted sessions still work while the third peer waits.
    assert_eq!(udp_ask(&first, "1 again").await, "e: 1 again");
    udp_assert_silent(&third);
    assert_eq!(stats.sessions_total.get(), 2);

    eventually("the idle sessions to end", || {
        stats.sessions_active.get() == 0
    })
    .await;
    assert_eq!(udp_ask(&third, "3 again").await, "e: 3 again");
    assert_eq!(stats.sessions_total.get(), 3);
    assert_eq!(stats.sessions_active.get(), 1);
    assert_eq!(stats.sessions_refused.get(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn udp_byte_and_packet_counters_per_listener_and_cluster() {
    let echo = udp_echo("e: ").await;
    let (proxy, to) = start_to_out("UDP", json!({}), echo.port()).await;
    let one = udp_client(to).await;
    let two = udp_client_from(loopback(2), to).await;
    assert_eq!(udp_ask(&one, "hello").await, "e: hello");
    assert_eq!(udp_ask(&one, "hi!").await, "e: hi!");
    assert_eq!(udp_ask(&two, "abcdefgh").await, "e: abcdefgh");
    // In: 5 + 3 + 8 = 16 bytes in 3 datagrams; out: 16 + 3 * 3 prefix bytes = 25.
    let listener = &listener_stats(&proxy, "in").traffic;
    let cluster = proxy.cluster("out").expect("cluster");
    let cluster = &cluster.stats.traffic;
    eventually("the last reply counted", || listener.tx_packets.get() == 3).await;
    assert_eq!(listener.rx_packets.get(), 3);
    assert_eq!(listener.rx_bytes.get(), 16);
    assert_eq!(listener.tx_packets.get(), 3);
    assert_eq!(listener.tx_bytes.get(), 25);
    // The cluster sees the same exchange from the other side.
    assert_eq!(cluster.tx_packets.get(), 3);
    assert_eq!(cluster.tx_bytes.get(), 16);
    assert_eq!(cluster.rx_packets.get(), 3);
    assert_eq!(cluster.rx_bytes.get(), 25);
    let stats = listener_stats(&proxy, "in");
    assert_eq!(stats.sessions_total.get(), 2);
    assert_eq!(
        proxy.cluster("out").expect("cluster").stats.connects.get(),
        2
    );
    proxy.stop().await;
}

#[tokio::test]
async fn tcp_byte_counters_per_listener_and_cluster() {
    let echo = tcp_echo("echo: ").await;
    let (proxy, to) = start_to_out("TCP", json!({}), echo.port()).await;
    let mut client = tcp_client(to).await;
    assert_eq!(tcp_ask(&mut client, "echo: ", "hello").await, "echo: hello");
    assert_eq!(
        tcp_ask(&mut client, "echo: ", "0123456789").await,
        "echo: 0123456789"
    );
    // In: 5 + 10 = 15 bytes; out: 15 + 2 * 6 prefix bytes = 27.
    let listener = &listener_stats(&proxy, "in").traffic;
    let cluster = proxy.cluster("out").expect("cluster");
    let cluster = &cluster.stats.traffic;
    eventually("the last reply counted", || listener.tx_bytes.get() == 27).await;
    assert_eq!(listener.rx_bytes.get(), 15);
    assert_eq!(cluster.tx_bytes.get(), 15);
    assert_eq!(cluster.rx_bytes.get(), 27);
    // Chunking is up to TCP, but each direction had at least one chunk per message exchange.
    assert!(listener.rx_packets.get() >= 2 && cluster.rx_packets.get() >= 2);
    assert_eq!(listener.rx_packets.get(), cluster.tx_packets.get());
    assert_eq!(cluster.rx_packets.get(), listener.tx_packets.get());
    proxy.stop().await;
}

#[tokio::test]
async fn one_way_udp_traffic_keeps_the_session_alive_and_counted() {
    // A single UDP hop: the listener sends the client's datagrams upstream itself, so the
    // session's task never sees them; they must still count as activity and as traffic.
    let (sink, seen) = udp_recorder(None).await;
    let (proxy, to) = start_to_out("UDP", json!({"idle_timeout": 1}), sink.port()).await;
    let stats = listener_stats(&proxy, "in");
    let client = udp_client(to).await;
    for i in 0..10 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        client
            .send(format!("tick {i}").as_bytes())
            .await
            .expect("send");
    }
    eventually("all 10 datagrams upstream", || {
        seen.lock().expect("lock").len() == 10
    })
    .await;
    assert_eq!(
        stats.sessions_total.get(),
        1,
        "1.8 s of traffic, never 1 s idle"
    );
    assert_eq!(stats.sessions_active.get(), 1);
    let seen = seen.lock().expect("lock").clone();
    assert!(
        seen.iter().all(|(from, _)| *from == seen[0].0),
        "one session, one upstream socket: {seen:?}"
    );
    assert_eq!(stats.traffic.rx_packets.get(), 10);
    assert_eq!(stats.traffic.rx_bytes.get(), 10 * 6);
    let cluster = proxy.cluster("out").expect("cluster");
    assert_eq!(cluster.stats.traffic.tx_packets.get(), 10);
    eventually("the session to end once the client is silent", || {
        stats.sessions_active.get() == 0
    })
    .await;
    proxy.stop().await;
}

#[tokio::test]
async fn a_burst_from_a_new_peer_arrives_in_order() {
    // The first datagrams wait in the session's inbox while it connects; later ones take the
    // listener's shortcut. None may overtake another.
    let (sink, seen) = udp_recorder(None).await;
    let (proxy, to) = start_to_out("UDP", json!({}), sink.port()).await;
    let client = udp_client(to).await;
    for i in 0u32..300 {
        client.send(&i.to_be_bytes()).await.expect("send");
        if i % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    client.send(b"end").await.expect("send");
    eventually("the last datagram upstream", || {
        seen.lock()
            .expect("lock")
            .last()
            .is_some_and(|(_, d)| d == b"end")
    })
    .await;
    let seen = seen.lock().expect("lock").clone();
    let numbers: Vec<u32> = seen[..seen.len() - 1]
        .iter()
        .map(|(_, d)| u32::from_be_bytes(d[..4].try_into().expect("4 bytes")))
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "out of order: {numbers:?}"
    );
    assert!(numbers.len() >= 64, "only {} arrived", numbers.len());
    proxy.stop().await;
}
