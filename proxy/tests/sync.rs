//! The Sync cluster over real loopback sockets: UDP sessions with the same label meet and each
//! message reaches every other member (not its sender) with its boundaries, early data waits for
//! the first joiner, a member leaving leaves the others connected, the domain is freed when the
//! last one leaves (and the label is not poisoned), a reload that keeps the cluster keeps its
//! domains, and a session without the label is refused and counted.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;
use l7mp::proxy::Proxy;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

/// A config whose listener `in` (of `protocol`, on `port`) sets `/room` to `room` and routes
/// to the Sync cluster `sync`, which meets on `query`.
fn sync_config(protocol: &str, port: u16, room: &str, query: &str) -> Value {
    json!({
        "listeners": [{
            "name": "in",
            "spec": {"protocol": protocol, "port": port},
            "rules": [{"action": {
                "rewrite": [{"path": "/room", "value": room}],
                "route": {"destination": "sync"},
            }}],
        }],
        "clusters": [{"name": "sync", "spec": {"protocol": "Sync", "query": query}}],
    })
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((loopback(1), port))
}

/// Messages the `sync` cluster has taken from sessions so far.
fn published(proxy: &Proxy) -> u64 {
    cluster(proxy, "in", "sync").stats.traffic.tx_packets.get()
}

fn domains(proxy: &Proxy) -> usize {
    cluster(proxy, "in", "sync")
        .sync_domains()
        .expect("a Sync cluster")
}

/// Sends `message` from `client` and waits until the Sync cluster took it, so that the
/// order of arrivals across sessions is the order of the test.
async fn say(proxy: &Proxy, client: &UdpSocket, message: &str) {
    let before = published(proxy);
    client.send(message.as_bytes()).await.expect("send");
    eventually(&format!("Sync took {message:?}"), || {
        published(proxy) > before
    })
    .await;
}

async fn hear(client: &UdpSocket) -> String {
    String::from_utf8(udp_recv(client).await.to_vec()).expect("utf-8")
}

#[tokio::test]
async fn three_udp_members_hear_each_other_but_not_themselves() {
    let port = reserved_port();
    let proxy = start_json(sync_config("UDP", port, "lobby", "/room")).await;
    let a = udp_client(addr(port)).await;
    let b = udp_client(addr(port)).await;
    let c = udp_client(addr(port)).await;
    say(&proxy, &a, "early from a").await;
    say(&proxy, &b, "hello from b").await;
    assert_eq!(hear(&b).await, "early from a", "held for the first joiner");
    assert_eq!(hear(&a).await, "hello from b");
    say(&proxy, &c, "hello from c").await;
    assert_eq!(hear(&a).await, "hello from c");
    assert_eq!(hear(&b).await, "hello from c");
    say(&proxy, &a, "x").await;
    assert_eq!(hear(&b).await, "x");
    assert_eq!(hear(&c).await, "x");
    assert_eq!(domains(&proxy), 1);
    // Every member has had every message meant for it; a sender never hears itself.
    assert_no_datagram(&a, Duration::from_millis(100)).await;
    udp_assert_silent(&b);
    udp_assert_silent(&c);
    proxy.stop().await;
}

#[tokio::test]
async fn two_udp_members_keep_datagram_boundaries_both_ways() {
    let port = reserved_port();
    let proxy = start_json(sync_config("UDP", port, "pair", "/room")).await;
    let a = udp_client(addr(port)).await;
    let b = udp_client(addr(port)).await;
    say(&proxy, &a, "join").await;
    say(&proxy, &b, "join").await;
    assert_eq!(hear(&a).await, "join");
    assert_eq!(hear(&b).await, "join");
    for m in ["1", "22", "333"] {
        a.send(m.as_bytes()).await.expect("send");
    }
    for m in ["1", "22", "333"] {
        assert_eq!(hear(&b).await, m);
    }
    b.send(b"back").await.expect("send");
    assert_eq!(hear(&a).await, "back");
    proxy.stop().await;
}

#[tokio::test]
async fn different_labels_do_not_meet() {
    let port = reserved_port();
    // The label is the client's source port: every client is alone in its domain.
    let proxy = start_json(sync_config("UDP", port, "unused", "/UDP/src_port")).await;
    let a = udp_client(addr(port)).await;
    let b = udp_client(addr(port)).await;
    say(&proxy, &a, "from a").await;
    say(&proxy, &b, "from b").await;
    assert_eq!(domains(&proxy), 2);
    assert_no_datagram(&a, Duration::from_millis(100)).await;
    udp_assert_silent(&b);
    proxy.stop().await;
}

/// Writes `message` on a TCP member and waits until the Sync cluster took it.
async fn tcp_say(proxy: &Proxy, stream: &mut TcpStream, message: &str) {
    let before = published(proxy);
    stream.write_all(message.as_bytes()).await.expect("write");
    eventually(&format!("Sync took {message:?}"), || {
        published(proxy) > before
    })
    .await;
}

async fn tcp_hear(stream: &mut TcpStream, want: &str) {
    let got = tcp_read_exact(stream, want.len()).await;
    assert_eq!(String::from_utf8_lossy(&got), want);
}

#[tokio::test]
async fn a_member_leaving_keeps_the_others_and_the_last_one_frees_the_domain() {
    let port = reserved_port();
    let proxy = start_json(sync_config("TCP", port, "room", "/room")).await;
    let connect = || async { tcp_client_from("127.0.0.1:0".parse().unwrap(), addr(port)).await };
    let mut a = connect().await;
    let mut b = connect().await;
    tcp_say(&proxy, &mut a, "a1").await;
    tcp_say(&proxy, &mut b, "b1").await;
    tcp_hear(&mut a, "b1").await;
    tcp_hear(&mut b, "a1").await;

    drop(a);
    let mut c = connect().await;
    tcp_say(&proxy, &mut c, "c1").await;
    tcp_hear(&mut b, "c1").await;
    tcp_say(&proxy, &mut b, "b2").await;
    tcp_hear(&mut c, "b2").await;
    assert_eq!(domains(&proxy), 1);

    drop(b);
    drop(c);
    eventually("the domain is freed", || domains(&proxy) == 0).await;
    let ctx = proxy.listener("in").expect("listener");
    eventually("every session ended", || {
        ctx.stats.sessions_active.get() == 0
    })
    .await;

    // The label is not poisoned: a new pair meets in a fresh domain.
    let mut d = connect().await;
    tcp_say(&proxy, &mut d, "d1").await;
    let mut e = connect().await;
    tcp_say(&proxy, &mut e, "e1").await;
    tcp_hear(&mut e, "d1").await;
    tcp_hear(&mut d, "e1").await;
    proxy.stop().await;
}

#[tokio::test]
async fn a_reload_that_keeps_the_cluster_keeps_its_domains() {
    let port = reserved_port();
    let config = sync_config("UDP", port, "lobby", "/room");
    let mut proxy = start_json(config.clone()).await;
    let a = udp_client(addr(port)).await;
    say(&proxy, &a, "before").await;

    let mut reloaded = config;
    reloaded["clusters"]
        .as_array_mut()
        .expect("clusters")
        .push(json!({"name": "extra", "spec": {"protocol": "Echo"}}));
    let loaded = l7mp_config::load_str("reload.yaml", &reloaded.to_string()).expect("valid");
    let summary = proxy
        .apply(loaded.config, Duration::ZERO)
        .await
        .expect("applies");
    assert_eq!(summary.clusters_added, 1);
    assert_eq!(summary.clusters_changed, 0);

    let b = udp_client(addr(port)).await;
    say(&proxy, &b, "after").await;
    assert_eq!(hear(&b).await, "before", "b joined a's domain");
    assert_eq!(hear(&a).await, "after");
    proxy.stop().await;
}

#[tokio::test]
async fn a_session_without_the_label_is_refused_and_counted() {
    let port = reserved_port();
    let proxy = start_json(sync_config("UDP", port, "lobby", "/labels/missing")).await;
    let a = udp_client(addr(port)).await;
    a.send(b"anyone?").await.expect("send");
    let ctx = proxy.listener("in").expect("listener");
    eventually("the session failed", || ctx.stats.session_errors.get() == 1).await;
    let sync = cluster(&proxy, "in", "sync");
    assert_eq!(sync.stats.connect_failures.get(), 1);
    assert_eq!(sync.sync_domains(), Some(0));
    eventually("no session is left", || {
        ctx.stats.sessions_active.get() == 0
    })
    .await;
    udp_assert_silent(&a);
    proxy.stop().await;
}
