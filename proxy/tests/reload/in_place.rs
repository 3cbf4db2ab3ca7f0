//! Changes that keep a listener's socket: its rules, route, idle timeout and session limit, and
//! the endpoints of the cluster it routes to. Sessions that started before keep what they got;
//! sessions that start after get the new settings.

use std::net::Ipv4Addr;

use l7mp::proxy::ReloadSummary;
use tokio::net::UdpSocket;

use super::*;

/// A UDP echo on `ip:port` answering with `prefix` + the datagram; `None` if the port is taken.
fn udp_echo_on(ip: Ipv4Addr, port: u16, prefix: &'static str) -> Option<SocketAddr> {
    let socket = std::net::UdpSocket::bind((ip, port)).ok()?;
    socket.set_nonblocking(true).unwrap();
    let socket = UdpSocket::from_std(socket).unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let mut reply = prefix.as_bytes().to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = socket.send_to(&reply, from).await;
        }
    });
    Some(addr)
}

/// Waits a little for a datagram that must not come.
async fn no_reply(socket: &UdpSocket) {
    let mut buf = [0u8; 1500];
    let r = tokio::time::timeout(Duration::from_millis(300), socket.recv(&mut buf)).await;
    assert!(r.is_err(), "unexpected reply: {r:?}");
}

#[tokio::test]
async fn a_listener_whose_settings_change_keeps_its_socket_and_its_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (udp_echo("A: ").await, udp_echo("B: ").await);
    let port = reserved_port();
    let listener = |to: SocketAddr, options: &str| {
        format!(
            "listeners:\n  - name: a\n    spec: {{protocol: UDP, port: {port}}}\n    rules:\n      \
             - action: {{route: {{destination: {{spec: {{protocol: UDP, port: {}}}, \
             endpoints: [{{spec: {{address: 127.0.0.1}}}}]}}}}}}\n    options: {options}\n",
            to.port()
        )
    };
    let mut volume = ConfigMapVolume::new(
        dir.path(),
        "config.yaml",
        &listener(old, "{max_sessions: 10}"),
    );
    let proxy = Reloading::start(volume.path(), Duration::from_secs(1)).await;
    let to = ([127, 0, 0, 1], port).into();
    let c1 = udp_client(to).await;
    assert_eq!(udp_roundtrip(&c1, b"1").await, "A: 1");
    let before = proxy.view.listener("a").unwrap();

    // New route, a 1 s idle timeout, room for 2 sessions.
    volume.update(&listener(new, "{idle_timeout: 1, max_sessions: 2}"));
    proxy.generation_reaches(2).await;
    let summary = proxy.status.last_summary().unwrap();
    assert_eq!(
        ReloadSummary {
            clusters_added: 0,
            clusters_changed: 0,
            clusters_removed: 0,
            ..summary.clone()
        },
        ReloadSummary {
            listeners_kept: 1,
            ..ReloadSummary::default()
        },
        "{summary}"
    );
    let after = proxy.view.listener("a").unwrap();
    assert!(Arc::ptr_eq(&before, &after), "the same listener serves");
    assert_eq!(after.config().max_sessions, 2);
    assert_eq!(after.config().idle_timeout, Some(Duration::from_secs(1)));

    // The old session keeps its route; a new one takes the new route.
    assert_eq!(udp_roundtrip(&c1, b"2").await, "A: 2");
    let c2 = udp_client(to).await;
    assert_eq!(udp_roundtrip(&c2, b"3").await, "B: 3");
    // Two sessions: a third is refused.
    let c3 = udp_client(to).await;
    c3.send(b"4").await.unwrap();
    let stats = &after.stats;
    eventually("a refused session", || stats.sessions_refused.get() == 1).await;
    no_reply(&c3).await;
    // The new session ends after 1 s of silence; the old one has the old (60 s) timeout.
    eventually("the new session's idle timeout", || {
        stats.sessions_active.get() == 1
    })
    .await;
    assert_eq!(udp_roundtrip(&c3, b"5").await, "B: 5");
    assert_eq!(udp_roundtrip(&c1, b"6").await, "A: 6");
    assert_eq!(stats.sessions_total.get(), 3);
    assert_eq!(proxy.status.reloads_ok.get(), 2);
    assert_eq!(proxy.status.reloads_failed.get(), 0);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_cluster_with_new_endpoints_keeps_old_sessions_on_the_old_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    // Two endpoints on the same port, at 127.0.0.1 and 127.0.0.2.
    let (one, two) = loop {
        let one = udp_echo_on(Ipv4Addr::LOCALHOST, 0, "one: ").unwrap();
        if let Some(two) = udp_echo_on(Ipv4Addr::new(127, 0, 0, 2), one.port(), "two: ") {
            break (one, two);
        }
    };
    let port = reserved_port();
    let cluster = |endpoint: SocketAddr| {
        format!(
            "listeners:\n  - name: a\n    spec: {{protocol: UDP, port: {port}}}\n    \
             rules: [{{action: {{route: {{destination: up}}}}}}]\nclusters:\n  - name: up\n    \
             spec: {{protocol: UDP, port: {}}}\n    endpoints: [{{spec: {{address: {}}}}}]\n",
            endpoint.port(),
            endpoint.ip()
        )
    };
    let mut volume = ConfigMapVolume::new(dir.path(), "config.yaml", &cluster(one));
    let proxy = Reloading::start(volume.path(), Duration::from_secs(1)).await;
    let to = ([127, 0, 0, 1], port).into();
    let old = udp_client(to).await;
    assert_eq!(udp_roundtrip(&old, b"1").await, "one: 1");

    volume.update(&cluster(two));
    proxy.generation_reaches(2).await;
    assert_eq!(
        proxy.status.last_summary().unwrap(),
        ReloadSummary {
            listeners_kept: 1,
            clusters_changed: 1,
            ..ReloadSummary::default()
        }
    );
    assert_eq!(udp_roundtrip(&old, b"2").await, "one: 2");
    let new = udp_client(to).await;
    assert_eq!(udp_roundtrip(&new, b"3").await, "two: 3");
    assert_eq!(udp_roundtrip(&old, b"4").await, "one: 4");
    let a = proxy.view.listener("a").unwrap();
    assert_eq!(a.stats.sessions_total.get(), 2);
    assert_eq!(a.stats.sessions_active.get(), 2);
    assert_eq!(proxy.status.reloads_ok.get(), 2);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_changed_connect_filter_applies_to_new_peers_on_the_same_socket() {
    let dir = tempfile::tempdir().unwrap();
    let echo = udp_echo("E: ").await;
    let port = reserved_port();
    let listener = |peer: Ipv4Addr| {
        format!(
            "listeners:\n  - name: a\n    spec: {{protocol: UDP, port: {port}, connect: {{address: {peer}}}}}\n    \
             rules:\n      - action: {{route: {{destination: {{spec: {{protocol: UDP, port: {}}}, \
             endpoints: [{{spec: {{address: 127.0.0.1}}}}]}}}}}}\n",
            echo.port()
        )
    };
    let mut volume = ConfigMapVolume::new(dir.path(), "config.yaml", &listener(loopback(2)));
    let proxy = Reloading::start(volume.path(), Duration::from_secs(1)).await;
    let to = SocketAddr::from((loopback(1), port));
    let from_2 = udp_client_from(loopback(2), to).await;
    let from_3 = udp_client_from(loopback(3), to).await;
    assert_eq!(udp_roundtrip(&from_2, b"a").await, "E: a");
    from_3.send(b"b").await.unwrap();
    no_reply(&from_3).await;

    volume.update(&listener(loopback(3)));
    proxy.generation_reaches(2).await;
    // The filter is re-read for new peers: 127.0.0.3 is let in now.
    let from_3_again = udp_client_from(loopback(3), to).await;
    assert_eq!(udp_roundtrip(&from_3_again, b"c").await, "E: c");
    let new_from_2 = udp_client_from(loopback(2), to).await;
    new_from_2.send(b"d").await.unwrap();
    no_reply(&new_from_2).await;
}
