//! Passive health checking over real loopback sockets: an endpoint that dies is left out of
//! load balancing as soon as one session sees it fail (an ICMP port unreachable for UDP, a
//! refused connect for TCP), without waiting for DNS re-resolution, and counted on
//! `/metrics`; when every endpoint is ejected, sessions still try them (panic mode).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::common::netns::{Netns, run};
use crate::common::*;
use l7mp::proxy::Proxy;
use serde_json::json;
use tokio::net::UdpSocket;

/// A UDP echo on `addr` answering with `prefix` + the datagram, until the handle is aborted
/// (which closes its socket).
async fn udp_echo_until_aborted(
    addr: SocketAddr,
    prefix: &'static str,
) -> tokio::task::JoinHandle<()> {
    let socket = UdpSocket::bind(addr).await.expect("bind");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let reply = [prefix.as_bytes(), &buf[..n]].concat();
            let _ = socket.send_to(&reply, from).await;
        }
    })
}

/// A proxy whose listener `in` (of `protocol`) routes everything to cluster `pool` of
/// `protocol` over 127.0.0.1 and 127.0.0.2 at `port`, round robin, under `retry`.
async fn round_robin_pool(
    protocol: &str,
    port: u16,
    retry: serde_json::Value,
) -> (Proxy, SocketAddr) {
    let listen = reserved_port();
    let proxy = start_json(json!({
        "listeners": [route_all_listener(
            "in", protocol, listen, json!({"destination": "pool", "retry": retry}),
        )],
        "clusters": [{
            "name": "pool",
            "spec": {"protocol": protocol, "port": port},
            "endpoints": [
                {"name": "e0", "spec": {"address": "127.0.0.1"}},
                {"name": "e1", "spec": {"address": "127.0.0.2"}},
            ],
            "loadbalancer": {"policy": "RoundRobin"},
        }],
    }))
    .await;
    (proxy, local(listen))
}

/// The `/metrics` text of `proxy`, as the admin endpoint renders it.
/// A UDP echo answering `prefix` + the datagram on `addr` inside `ns`, on a thread of its own
/// that ends when no datagram came for a minute.
fn udp_echo_in(ns: &Netns, addr: SocketAddr, prefix: &'static str) {
    let socket = ns.enter(|| std::net::UdpSocket::bind(addr).expect("bind in namespace"));
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let reply = [prefix.as_bytes(), &buf[..n]].concat();
            let _ = socket.send_to(&reply, from);
        }
    });
}

/// Waits until the UDP echo at `addr` answers a host socket: a veth pair just set up may
/// drop the first datagrams (while its link comes up), and the test must not take that for
/// the proxy's doing. The test fails if it never answers within [`WAIT`].
async fn until_answering(addr: SocketAddr) {
    let probe = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .await
        .expect("bind");
    probe.connect(addr).await.expect("connect");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut buf = [0u8; 64];
    loop {
        probe.send(b"probe").await.expect("send");
        let reply = tokio::time::timeout(Duration::from_millis(200), probe.recv(&mut buf)).await;
        if reply.is_ok_and(|r| r.is_ok()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} never answered"
        );
    }
}

fn metrics(proxy: &Proxy) -> String {
    let registry = l7mp::admin::metrics::registry(Arc::default(), proxy.view());
    l7mp::admin::metrics::render(&registry)
}

fn ejections(proxy: &Proxy) -> u64 {
    proxy
        .cluster("pool")
        .expect("cluster")
        .stats
        .ejections
        .get()
}

#[tokio::test]
async fn a_dead_udp_endpoint_is_ejected_on_its_icmp_error_and_sessions_go_to_the_live_one() {
    let ips: [Ipv4Addr; 2] = [loopback(1), loopback(2)];
    let port = reserved_port();
    let _live = udp_echo_until_aborted((ips[0], port).into(), "e0: ").await;
    let dying = udp_echo_until_aborted((ips[1], port).into(), "e1: ").await;
    let (proxy, to) = round_robin_pool("UDP", port, json!({"retry_on": "never"})).await;
    // Both endpoints take turns while both live.
    let mut seen = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..2 {
        let client = udp_client(to).await;
        seen.push(who(&udp_ask(&client, "hi").await).to_string());
        clients.push(client);
    }
    seen.sort();
    assert_eq!(seen, ["e0", "e1"]);
    dying.abort();
    let _ = dying.await;
    // The next two sessions: one lands on the dead endpoint, whose port answers with ICMP
    // port unreachable; that session fails and the endpoint is ejected.
    for _ in 0..2 {
        let client = udp_client(to).await;
        client.send(b"probe").await.expect("send");
        clients.push(client);
    }
    eventually("the dead endpoint's ejection", || ejections(&proxy) == 1).await;
    // Round robin would send every other session to the dead endpoint; now all go to e0.
    for i in 0..6 {
        let client = udp_client(to).await;
        assert_eq!(
            udp_ask(&client, &format!("s{i}")).await,
            format!("e0: s{i}")
        );
        assert_eq!(udp_ask(&client, "again").await, "e0: again");
        clients.push(client);
    }
    assert_eq!(ejections(&proxy), 1);
    let text = metrics(&proxy);
    assert!(
        text.contains("l7mp_cluster_endpoint_ejections_total{cluster=\"pool\"} 1\n"),
        "{text}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_refusing_tcp_endpoint_is_tried_once_then_left_out() {
    let ips = [loopback(1), loopback(2)];
    let port = reserved_port();
    // Only 127.0.0.1 listens; 127.0.0.2 refuses.
    tcp_echo_on((ips[0], port).into(), "e0: ").await;
    let retry = json!({"retry_on": "connect-failure", "num_retries": 1, "timeout": 500});
    let (proxy, to) = round_robin_pool("TCP", port, retry).await;
    for i in 0..6 {
        let mut client = tcp_client(to).await;
        let message = format!("s{i}");
        assert_eq!(
            tcp_ask(&mut client, "e0: ", &message).await,
            format!("e0: {message}")
        );
    }
    let cluster = proxy.cluster("pool").expect("cluster");
    // Without ejection round robin would try the refusing endpoint for every other session.
    assert_eq!(cluster.stats.connect_failures.get(), 1);
    assert_eq!(cluster.stats.connects.get(), 6);
    assert_eq!(ejections(&proxy), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn with_every_endpoint_ejected_sessions_still_try_them() {
    let upstream = reserved_addr();
    let listen = reserved_port();
    let proxy = start_json(json!({
        "listeners": [route_all_listener("in", "TCP", listen, json!({"destination": "pool"}))],
        "clusters": [one_endpoint_cluster("pool", "TCP", upstream.port())],
    }))
    .await;
    // Nothing listens yet: the first session fails and ejects the only endpoint.
    let mut first = tcp_client(local(listen)).await;
    tcp_expect_eof(&mut first).await;
    assert_eq!(ejections(&proxy), 1);
    // The endpoint comes back while still ejected: panic mode tries it anyway.
    tcp_echo_on(upstream, "up: ").await;
    let mut second = tcp_client(local(listen)).await;
    assert_eq!(tcp_ask(&mut second, "up: ", "hi").await, "up: hi");
    let cluster = proxy.cluster("pool").expect("cluster");
    assert_eq!(cluster.stats.connects.get(), 1);
    assert_eq!(ejections(&proxy), 1);
    proxy.stop().await;
}

/// A pod that is deleted takes its address with it: nothing answers ARP for it any more, and
/// the kernel reports "host unreachable", never "port unreachable". A session pinned to it
/// must fail on that report and its client's next datagram must reach a live endpoint, rather
/// than vanish until the session's idle timeout.
#[tokio::test]
async fn a_udp_session_whose_endpoint_host_vanishes_fails_and_its_client_moves_on() {
    // A second host, 198.18.7.2 (a benchmarking range), behind a veth pair.
    let ns = Netns::new();
    let (outer, inner) = (format!("{}o", ns.name()), format!("{}i", ns.name()));
    run(&[
        "ip",
        "link",
        "add",
        &outer,
        "type",
        "veth",
        "peer",
        "name",
        &inner,
        "netns",
        ns.name(),
    ]);
    run(&["ip", "addr", "add", "198.18.7.1/30", "dev", &outer]);
    run(&["ip", "link", "set", &outer, "up"]);
    ns.ip(&["addr", "add", "198.18.7.2/30", "dev", &inner]);
    ns.ip(&["link", "set", &inner, "up"]);
    let port = reserved_port();
    let _near = udp_echo_until_aborted(local(port), "near: ").await;
    let far = SocketAddr::from((Ipv4Addr::new(198, 18, 7, 2), port));
    udp_echo_in(&ns, far, "far: ");
    until_answering(far).await;

    let listen = reserved_port();
    let proxy = start_json(json!({
        "listeners": [route_all_listener(
            "in", "UDP", listen, json!({"destination": "pool", "retry": {"retry_on": "never"}}),
        )],
        "clusters": [{
            "name": "pool",
            "spec": {"protocol": "UDP", "port": port},
            "endpoints": [
                {"name": "near", "spec": {"address": "127.0.0.1"}},
                {"name": "far", "spec": {"address": "198.18.7.2"}},
            ],
            "loadbalancer": {"policy": "RoundRobin"},
        }],
    }))
    .await;
    let to = local(listen);
    // Round robin: of two new sessions, one lands on the far host.
    let mut pinned = None;
    let mut others = Vec::new();
    for _ in 0..2 {
        let client = udp_client(to).await;
        if who(&udp_ask(&client, "hi").await) == "far" {
            pinned = Some(client);
        } else {
            others.push(client);
        }
    }
    let pinned = pinned.expect("one session on the far host");
    let active = listener_stats(&proxy, "in").sessions_active.get();

    // The far host goes away: its address is gone and the gateway forgets its MAC.
    ns.ip(&["addr", "flush", "dev", &inner]);
    run(&["ip", "neigh", "flush", "dev", &outer]);
    pinned.send(b"anyone?").await.expect("send");
    // ARP gives up after three probes a second apart; allow for a loaded machine.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ejections(&proxy) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session on the vanished host never failed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eventually("the failed session's end", || {
        listener_stats(&proxy, "in").sessions_active.get() == active - 1
    })
    .await;
    // The same client, the same source port: a new session, on the live endpoint.
    assert_eq!(udp_ask(&pinned, "again").await, "near: again");
    assert_eq!(ejections(&proxy), 1);
    proxy.stop().await;
}

/// A pod that is deleted leaves DNS before anything else tells the proxy: a quiet UDP session
/// pinned to it must not wait for its next datagram to fail (and a new client that reuses its
/// source port must not inherit it). Here the name `pool.l7mp.test` resolves through a hosts
/// file the proxy sees in a mount namespace of its own; the test takes one address out of it,
/// while that endpoint's echo server keeps answering, so only the proxy's own check can move
/// the session.
#[tokio::test]
async fn a_udp_session_whose_endpoint_leaves_dns_moves_to_one_that_remains() {
    let ips: [Ipv4Addr; 2] = [loopback(1), loopback(2)];
    let port = reserved_port();
    let _e1 = udp_echo_until_aborted((ips[0], port).into(), "e1: ").await;
    let _e2 = udp_echo_until_aborted((ips[1], port).into(), "e2: ").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let hosts = dir.path().join("hosts");
    let both = format!("{} pool.l7mp.test\n{} pool.l7mp.test\n", ips[0], ips[1]);
    std::fs::write(&hosts, &both).expect("hosts");
    let listen = reserved_port();
    let config = dir.path().join("l7mp.yaml");
    std::fs::write(
        &config,
        format!(
            "listeners:\n\
             - name: in\n  spec: {{protocol: UDP, port: {listen}}}\n  \
             options: {{idle_timeout: 60}}\n  \
             rules: [{{action: {{route: {{destination: pool, retry: {{retry_on: never}}}}}}}}]\n\
             clusters:\n\
             - name: pool\n  spec: {{protocol: UDP, port: {port}}}\n  \
             endpoints: [{{spec: {{address: pool.l7mp.test}}}}]\n"
        ),
    )
    .expect("config");
    // The hosts file is bind-mounted over /etc/hosts for the proxy only; writing it in place
    // (same inode) changes what the proxy resolves next.
    let script = format!(
        "mount --bind {} /etc/hosts && exec {} --config {} --admin-address none \
         --metrics-address none --workers 1",
        hosts.display(),
        env!("CARGO_BIN_EXE_l7mp"),
        config.display()
    );
    let _proxy = KillOnDrop(
        std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .spawn()
            .expect("spawn l7mp in a mount namespace"),
    );
    let client = udp_client(local(listen)).await;
    // Answered once the proxy is up (a datagram before that draws a refusal).
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut buf = [0u8; 64];
    loop {
        client.send(b"ready?").await.expect("send");
        let answer = tokio::time::timeout(Duration::from_millis(200), client.recv(&mut buf));
        if matches!(answer.await, Ok(Ok(_))) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the proxy never answered"
        );
    }
    let first = udp_ask(&client, "who").await;
    let (gone, stays) = match who(&first) {
        "e1" => (ips[0], "e2"),
        _ => (ips[1], "e1"),
    };
    let remaining = both
        .lines()
        .filter(|l| !l.starts_with(&format!("{gone} ")))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    std::fs::write(&hosts, remaining).expect("hosts");
    // Re-resolution every 5 s, the session's check every 5 s: the move takes up to 10 s. The
    // session is quiet meanwhile; then every datagram is answered, by the endpoint that stays.
    tokio::time::sleep(Duration::from_secs(11)).await;
    for i in 0..3 {
        assert_eq!(
            udp_ask(&client, &format!("after {i}")).await,
            format!("{stays}: after {i}")
        );
    }
}
