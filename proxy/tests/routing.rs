//! Rule evaluation and route retries over real loopback sockets: rules matching on the source
//! address and port (first match wins, no match refuses), `apply` into named rule lists,
//! rewrites that later stages depend on, connect-failure retries and disconnect reconnects.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;
use l7mp::proxy::Proxy;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// Three echo clusters `a`, `b` and `c` of `protocol` (UDP or TCP), each answering with its
/// own name.
async fn abc(protocol: &str) -> Vec<Value> {
    let mut clusters = Vec::new();
    for name in ["a", "b", "c"] {
        let prefix = format!("{name}: ");
        let echo = match protocol {
            "UDP" => udp_echo(&prefix).await,
            _ => tcp_echo(&prefix).await,
        };
        clusters.push(one_endpoint_cluster(name, protocol, echo.port()));
    }
    clusters
}

fn route_to(cluster: &str) -> Value {
    json!({"route": {"destination": cluster}})
}

fn listener(protocol: &str, port: u16, rules: Value) -> Value {
    json!({"name": "in", "spec": {"protocol": protocol, "port": port}, "rules": rules})
}

/// The rules of a listener that routes everything to `destination` under `retry`.
fn retrying_route(destination: &str, retry: Value) -> Value {
    json!([{"action": {"route": {"destination": destination, "retry": retry}}}])
}

/// Starts a proxy whose listener `in` of `protocol` (on a reserved port) has `rules`, with the
/// rest of the config (clusters, rule lists) from `rest`; returns it and the listener's port.
async fn start_with_rules(protocol: &str, rules: Value, mut rest: Value) -> (Proxy, u16) {
    let port = reserved_port();
    rest["listeners"] = json!([listener(protocol, port, rules)]);
    (start_json(rest).await, port)
}

/// [`start_with_rules`] over the clusters [`abc`] of the listener's `protocol`.
async fn start_abc(protocol: &str, rules: Value) -> (Proxy, u16) {
    let clusters = abc(protocol).await;
    start_with_rules(protocol, rules, json!({"clusters": clusters})).await
}

/// Which cluster answered a UDP session from `from`.
async fn udp_answer_from(from: std::net::Ipv4Addr, port: u16) -> String {
    let client = udp_client_from(from, local(port)).await;
    who(&udp_ask(&client, "hi").await).to_string()
}

#[tokio::test]
async fn first_matching_rule_wins_on_source_address() {
    let (proxy, port) = start_abc(
        "UDP",
        json!([
            {"match": {"op": "test", "path": "/IP/src_addr", "value": "127.0.0.2"}, "action": route_to("a")},
            {"match": {"op": "starts", "path": "/IP/src_addr", "value": "127.0.0."}, "action": route_to("b")},
            {"action": route_to("c")},
        ]),
    )
    .await;
    assert_eq!(udp_answer_from(loopback(2), port).await, "a");
    assert_eq!(udp_answer_from(loopback(3), port).await, "b");
    assert_eq!(udp_answer_from(loopback(1), port).await, "b");
    assert_eq!(udp_answer_from(loopback(2), port).await, "a");
    let stats = listener_stats(&proxy, "in");
    assert_eq!(stats.sessions_total.get(), 4);
    assert_eq!(stats.sessions_refused.get(), 0);
    assert_eq!(proxy.cluster("a").expect("a").stats.connects.get(), 2);
    assert_eq!(proxy.cluster("b").expect("b").stats.connects.get(), 2);
    assert_eq!(proxy.cluster("c").expect("c").stats.connects.get(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn udp_source_port_selects_the_rule() {
    let special = reserved_port();
    let (proxy, port) = start_abc(
        "UDP",
        json!([
            {"match": {"op": "test", "path": "/UDP/src_port", "value": special}, "action": route_to("a")},
            {"action": route_to("b")},
        ]),
    )
    .await;
    let pinned = udp_client_at((loopback(1), special).into(), local(port)).await;
    assert_eq!(udp_ask(&pinned, "hi").await, "a: hi");
    assert_eq!(udp_answer_from(loopback(1), port).await, "b");
    assert_eq!(udp_answer_from(loopback(2), port).await, "b");
    // The same source port from another address matches too: the rule looks at the port only.
    let elsewhere = udp_client_at((loopback(2), special).into(), local(port)).await;
    assert_eq!(udp_ask(&elsewhere, "hi").await, "a: hi");
    proxy.stop().await;
}

#[tokio::test]
async fn tcp_source_port_and_address_select_the_rule() {
    let special = reserved_port();
    let (proxy, port) = start_abc(
        "TCP",
        json!([
            {"match": {"op": "and", "apply": [
                {"op": "test", "path": "/TCP/src_port", "value": special},
                {"op": "test", "path": "/IP/src_addr", "value": "127.0.0.3"},
            ]}, "action": route_to("a")},
            {"match": {"op": "test", "path": "/TCP/src_port", "value": special}, "action": route_to("b")},
            {"action": route_to("c")},
        ]),
    )
    .await;
    let to = local(port);
    let mut both = tcp_client_from((loopback(3), special).into(), to).await;
    assert_eq!(tcp_ask(&mut both, "a: ", "x").await, "a: x");
    let mut port_only = tcp_client_from((loopback(2), special).into(), to).await;
    assert_eq!(tcp_ask(&mut port_only, "b: ", "x").await, "b: x");
    let mut neither = tcp_client_from((loopback(3), 0).into(), to).await;
    assert_eq!(tcp_ask(&mut neither, "c: ", "x").await, "c: x");
    let stats = listener_stats(&proxy, "in");
    assert_eq!(stats.sessions_total.get(), 3);
    assert_eq!(stats.sessions_active.get(), 3);
    proxy.stop().await;
}

#[tokio::test]
async fn udp_session_matching_no_rule_is_refused() {
    let (proxy, port) = start_abc(
        "UDP",
        json!([
            {"match": {"op": "test", "path": "/IP/src_addr", "value": "127.0.0.2"}, "action": route_to("a")},
        ]),
    )
    .await;
    let stats = listener_stats(&proxy, "in");
    let stranger = udp_client_from(loopback(3), local(port)).await;
    stranger.send(b"let me in").await.expect("send");
    eventually("the refusal", || stats.sessions_refused.get() == 1).await;
    // Every datagram from an unroutable peer is a new attempt, refused again.
    stranger.send(b"please").await.expect("send");
    eventually("the second refusal", || stats.sessions_refused.get() == 2).await;
    eventually("no active session", || stats.sessions_active.get() == 0).await;
    udp_assert_silent(&stranger);
    assert_eq!(proxy.cluster("a").expect("a").stats.connects.get(), 0);
    assert_eq!(stats.session_errors.get(), 0);
    // A matching peer is still served.
    assert_eq!(udp_answer_from(loopback(2), port).await, "a");
    assert_eq!(stats.sessions_refused.get(), 2);
    assert_eq!(stats.sessions_active.get(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn tcp_connection_matching_no_rule_is_closed_and_counted() {
    let (proxy, port) = start_abc(
        "TCP",
        json!([
            {"match": {"op": "test", "path": "/IP/src_addr", "value": "127.0.0.2"}, "action": route_to("a")},
        ]),
    )
    .await;
    let mut stranger = tcp_client_from((loopback(4), 0).into(), local(port)).await;
    tcp_expect_eof(&mut stranger).await;
    let stats = listener_stats(&proxy, "in");
    assert_eq!(stats.sessions_refused.get(), 1);
    eventually("no active session", || stats.sessions_active.get() == 0).await;
    assert_eq!(proxy.cluster("a").expect("a").stats.connects.get(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn apply_continues_in_the_named_rule_list() {
    let special = reserved_port();
    let (proxy, port) = start_with_rules(
        "UDP",
        json!([
            {"match": {"op": "test", "path": "/IP/src_addr", "value": "127.0.0.2"}, "action": {"apply": "by-port"}},
            {"action": route_to("b")},
        ]),
        json!({
            "rulelists": [{"name": "by-port", "rules": [
                {"match": {"op": "test", "path": "/UDP/src_port", "value": special}, "action": route_to("a")},
                {"action": route_to("c")},
            ]}],
            "clusters": abc("UDP").await,
        }),
    )
    .await;
    let pinned = udp_client_at((loopback(2), special).into(), local(port)).await;
    assert_eq!(who(&udp_ask(&pinned, "hi").await), "a");
    assert_eq!(udp_answer_from(loopback(2), port).await, "c");
    assert_eq!(udp_answer_from(loopback(3), port).await, "b");
    proxy.stop().await;
}

#[tokio::test]
async fn an_applied_list_that_does_not_match_refuses_the_session() {
    let (proxy, port) = start_with_rules(
        "UDP",
        json!([
            {"match": {"op": "test", "path": "/IP/src_addr", "value": "127.0.0.2"}, "action": {"apply": "nothing"}},
            {"action": route_to("b")},
        ]),
        json!({
            "rulelists": [{"name": "nothing", "rules": [
                {"match": {"op": "test", "path": "/IP/src_addr", "value": "127.0.0.9"}, "action": route_to("a")},
            ]}],
            "clusters": abc("UDP").await,
        }),
    )
    .await;
    let stats = listener_stats(&proxy, "in");
    let applied = udp_client_from(loopback(2), local(port)).await;
    applied.send(b"hi").await.expect("send");
    // The applied list's result is final: the listener's catch-all rule is not tried.
    eventually("the refusal", || stats.sessions_refused.get() == 1).await;
    udp_assert_silent(&applied);
    assert_eq!(udp_answer_from(loopback(3), port).await, "b");
    assert_eq!(proxy.cluster("a").expect("a").stats.connects.get(), 0);
    assert_eq!(proxy.cluster("b").expect("b").stats.connects.get(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn a_rewritten_label_routes_in_the_applied_list() {
    let (proxy, port) = start_with_rules(
        "UDP",
        json!([
            {"match": {"op": "test", "path": "/IP/src_addr", "value": "127.0.0.2"},
             "action": {"rewrite": [{"path": "/labels/tier", "value": "gold"}], "apply": "tiers"}},
            {"action": {"rewrite": [{"path": "/labels/tier", "value": "silver"}], "apply": "tiers"}},
        ]),
        json!({
            "rulelists": [{"name": "tiers", "rules": [
                {"match": {"op": "test", "path": "/labels/tier", "value": "gold"}, "action": route_to("a")},
                {"match": {"op": "test", "path": "/labels/tier", "value": "silver"}, "action": route_to("b")},
                {"action": route_to("c")},
            ]}],
            "clusters": abc("UDP").await,
        }),
    )
    .await;
    assert_eq!(udp_answer_from(loopback(2), port).await, "a");
    assert_eq!(udp_answer_from(loopback(3), port).await, "b");
    assert_eq!(udp_answer_from(loopback(1), port).await, "b");
    assert_eq!(proxy.cluster("c").expect("c").stats.connects.get(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn a_rewritten_label_is_the_consistent_hash_key() {
    let ips = [loopback(1), loopback(2), loopback(3)];
    let echo_port = reserved_port();
    let mut endpoints = Vec::new();
    let mut weighted = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        let addr = udp_echo_on((*ip, echo_port).into(), &format!("e{i}: ")).await;
        endpoints.push(json!({"name": format!("e{i}"), "spec": {"address": ip.to_string()}}));
        weighted.push((addr, 1));
    }
    // Two label values that hash to different endpoints.
    let gold = "k0".to_string();
    let gold_at = consistent_hash_choice(&weighted, &gold);
    let silver = (1..)
        .map(|k| format!("k{k}"))
        .find(|k| consistent_hash_choice(&weighted, k) != gold_at)
        .expect("some key lands elsewhere");
    let silver_at = consistent_hash_choice(&weighted, &silver);
    let (proxy, port) = start_with_rules(
        "UDP",
        json!([
            {"match": {"op": "test", "path": "/IP/src_addr", "value": "127.0.0.2"},
             "action": {"rewrite": [{"path": "/labels/x", "value": gold}], "route": {"destination": "hashed"}}},
            {"action": {"rewrite": [{"path": "/labels/x", "value": silver}], "route": {"destination": "hashed"}}},
        ]),
        json!({
            "clusters": [{
                "name": "hashed",
                "spec": {"protocol": "UDP", "port": echo_port},
                "endpoints": endpoints,
                "loadbalancer": {"policy": "ConsistentHash", "key": "/labels/x"},
            }],
        }),
    )
    .await;
    // Each session has its own source port; only the rewritten label decides the endpoint.
    for _ in 0..10 {
        assert_eq!(
            udp_answer_from(loopback(2), port).await,
            format!("e{gold_at}")
        );
    }
    for n in [1, 3, 4, 5, 6] {
        assert_eq!(
            udp_answer_from(loopback(n), port).await,
            format!("e{silver_at}")
        );
        assert_eq!(
            udp_answer_from(loopback(n), port).await,
            format!("e{silver_at}")
        );
    }
    assert_eq!(
        proxy
            .cluster("hashed")
            .expect("cluster")
            .stats
            .connects
            .get(),
        20
    );
    proxy.stop().await;
}

/// A TCP cluster over a refusing endpoint (127.0.0.2, nothing listens there) and a live echo
/// (127.0.0.1) on the same port, in that order, under `policy` and `retry`.
async fn dead_then_live(policy: &str, retry: Value) -> (Value, SocketAddr) {
    let echo_port = reserved_port();
    let live = tcp_echo_on((loopback(1), echo_port).into(), "live: ").await;
    let cluster = json!({
        "name": "flaky",
        "spec": {"protocol": "TCP", "port": echo_port},
        "endpoints": [
            {"name": "dead", "spec": {"address": "127.0.0.2"}},
            {"name": "live", "spec": {"address": "127.0.0.1"}},
        ],
        "loadbalancer": {"policy": policy},
    });
    let port = reserved_port();
    let config = json!({
        "listeners": [listener("TCP", port, retrying_route("flaky", retry))],
        "clusters": [cluster],
    });
    assert_ne!(live.port(), port);
    (config, local(port))
}

#[tokio::test]
async fn connect_failures_are_retried_on_the_live_endpoint() {
    let retry = json!({"retry_on": "connect-failure", "num_retries": 2, "timeout": 500});
    let (config, to) = dead_then_live("Trivial", retry).await;
    let proxy = start_json(config).await;
    for i in 0..3 {
        let mut client = tcp_client(to).await;
        let message = format!("hello {i}");
        assert_eq!(
            tcp_ask(&mut client, "live: ", &message).await,
            format!("live: {message}")
        );
    }
    let stats = listener_stats(&proxy, "in");
    assert_eq!(stats.sessions_total.get(), 3);
    assert_eq!(stats.session_errors.get(), 0);
    let cluster = proxy.cluster("flaky").expect("cluster");
    // Trivial tries the dead endpoint first, the retry reaches the live one, and the dead
    // one is then left out of balancing (ejected), so later sessions go straight to the live.
    assert_eq!(cluster.stats.connect_failures.get(), 1);
    assert_eq!(cluster.stats.ejections.get(), 1);
    assert_eq!(cluster.stats.connects.get(), 3);
    proxy.stop().await;
}

#[tokio::test]
async fn connect_retries_wait_the_route_timeout_for_an_upstream_that_comes_up_late() {
    // Six attempts spaced by 500 ms span 2.5 s; the upstream appears once two have failed
    // (waiting for the count rather than a fixed time keeps this right on a loaded machine).
    let upstream = reserved_addr();
    let retry = json!({"retry_on": "connect-failure", "num_retries": 5, "timeout": 500});
    let (proxy, port) = start_with_rules(
        "TCP",
        retrying_route("late", retry),
        json!({"clusters": [one_endpoint_cluster("late", "TCP", upstream.port())]}),
    )
    .await;
    let mut client = tcp_client(local(port)).await;
    client.write_all(b"early").await.expect("write");
    let cluster = proxy.cluster("late").expect("cluster");
    eventually("two failed attempts", || {
        cluster.stats.connect_failures.get() >= 2
    })
    .await;
    tcp_echo_on(upstream, "late: ").await;
    assert_eq!(tcp_read_exact(&mut client, 11).await, b"late: early");
    assert_eq!(tcp_ask(&mut client, "late: ", "again").await, "late: again");
    assert!(cluster.stats.connect_failures.get() >= 2);
    assert_eq!(cluster.stats.connects.get(), 1);
    assert_eq!(listener_stats(&proxy, "in").session_errors.get(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn without_retries_a_refused_endpoint_fails_the_session() {
    let (config, to) = dead_then_live("Trivial", json!({"retry_on": "never"})).await;
    let proxy = start_json(config).await;
    let mut client = tcp_client(to).await;
    tcp_expect_eof(&mut client).await;
    let stats = listener_stats(&proxy, "in");
    eventually("the failed session to end", || {
        stats.sessions_active.get() == 0
    })
    .await;
    assert_eq!(stats.sessions_total.get(), 1);
    assert_eq!(stats.session_errors.get(), 1);
    assert_eq!(stats.sessions_refused.get(), 0);
    let cluster = proxy.cluster("flaky").expect("cluster");
    assert_eq!(cluster.stats.connect_failures.get(), 1);
    assert_eq!(cluster.stats.connects.get(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn a_disconnecting_destination_is_reconnected_and_traffic_continues() {
    let ips = [loopback(1), loopback(2)];
    let echo_port = reserved_port();
    // Both endpoints hang up after their first reply.
    let (_, first) = tcp_echo_tracked((ips[0], echo_port).into(), "first: ", Some(1)).await;
    let (_, second) = tcp_echo_tracked((ips[1], echo_port).into(), "second: ", Some(1)).await;
    let (proxy, port) = start_with_rules(
        "TCP",
        retrying_route(
            "closing",
            json!({"retry_on": "disconnect", "num_retries": 2, "timeout": 500}),
        ),
        json!({
            "clusters": [{
                "name": "closing",
                "spec": {"protocol": "TCP", "port": echo_port},
                "endpoints": [
                    {"name": "first", "spec": {"address": "127.0.0.1"}},
                    {"name": "second", "spec": {"address": "127.0.0.2"}},
                ],
            }],
        }),
    )
    .await;
    let cluster = proxy.cluster("closing").expect("cluster");
    let mut client = tcp_client(local(port)).await;
    assert_eq!(tcp_ask(&mut client, "first: ", "one").await, "first: one");
    // The reconnect avoids the endpoint that just hung up...
    eventually("the reconnect", || cluster.stats.connects.get() == 2).await;
    assert_eq!(tcp_ask(&mut client, "second: ", "two").await, "second: two");
    assert_eq!(second.accepted(), 1);
    // ...and once every endpoint has hung up, starts over with the first.
    eventually("the second reconnect", || cluster.stats.connects.get() == 3).await;
    assert_eq!(
        tcp_ask(&mut client, "first: ", "three").await,
        "first: three"
    );
    assert_eq!(first.accepted(), 2);
    let stats = listener_stats(&proxy, "in");
    assert_eq!(stats.sessions_total.get(), 1);
    assert_eq!(stats.sessions_active.get(), 1);
    assert_eq!(stats.session_errors.get(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn without_disconnect_retries_the_hang_up_reaches_the_client() {
    let (echo, log) = tcp_echo_tracked((loopback(1), 0).into(), "once: ", Some(1)).await;
    let (proxy, port) = start_with_rules(
        "TCP",
        retrying_route("closing", json!({"retry_on": "connect-failure"})),
        json!({
            "clusters": [one_endpoint_cluster("closing", "TCP", echo.port())],
        }),
    )
    .await;
    let mut client = tcp_client(local(port)).await;
    assert_eq!(tcp_ask(&mut client, "once: ", "one").await, "once: one");
    tcp_expect_eof(&mut client).await;
    drop(client);
    let stats = listener_stats(&proxy, "in");
    eventually("the session to end", || stats.sessions_active.get() == 0).await;
    assert_eq!(log.accepted(), 1);
    assert_eq!(stats.session_errors.get(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn retries_give_up_when_every_endpoint_refuses() {
    // Nothing listens on either address.
    let dead_port = reserved_port();
    let (proxy, port) = start_with_rules(
        "TCP",
        retrying_route(
            "dead",
            json!({"retry_on": "connect-failure", "num_retries": 2, "timeout": 500}),
        ),
        json!({
            "clusters": [{
                "name": "dead",
                "spec": {"protocol": "TCP", "port": dead_port},
                "endpoints": [
                    {"spec": {"address": "127.0.0.1"}},
                    {"spec": {"address": "127.0.0.2"}},
                ],
                "loadbalancer": {"policy": "RoundRobin"},
            }],
        }),
    )
    .await;
    let mut client = tcp_client(local(port)).await;
    tcp_expect_eof(&mut client).await;
    let stats = listener_stats(&proxy, "in");
    assert_eq!(stats.session_errors.get(), 1);
    let cluster = proxy.cluster("dead").expect("cluster");
    // The first attempt and two retries.
    assert_eq!(cluster.stats.connect_failures.get(), 3);
    assert_eq!(cluster.stats.connects.get(), 0);
    proxy.stop().await;
}

/// A UDP cluster over a refusing endpoint (127.0.0.2: ICMP port unreachable) and a live echo
/// (127.0.0.1), in that order, under Trivial and `retry`.
async fn udp_dead_then_live(retry: Value) -> (Proxy, SocketAddr) {
    let echo_port = reserved_port();
    udp_echo_on((loopback(1), echo_port).into(), "live: ").await;
    let (proxy, port) = start_with_rules(
        "UDP",
        retrying_route("flaky", retry),
        json!({
            "clusters": [{
                "name": "flaky",
                "spec": {"protocol": "UDP", "port": echo_port},
                "endpoints": [
                    {"name": "dead", "spec": {"address": "127.0.0.2"}},
                    {"name": "live", "spec": {"address": "127.0.0.1"}},
                ],
            }],
        }),
    )
    .await;
    (proxy, local(port))
}

/// Sends a probe datagram every 20 ms until `check` holds, failing the test after [`WAIT`].
/// A refusing UDP endpoint answers a datagram with an ICMP error, so a refusal needs traffic to
/// be noticed; probing keeps traffic going until it is.
async fn probe_until(client: &tokio::net::UdpSocket, what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        client.send(b"probe").await.expect("send");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_refusing_udp_endpoint_fails_the_session_without_retries() {
    let (proxy, to) = udp_dead_then_live(json!({"retry_on": "never"})).await;
    let client = udp_client(to).await;
    let stats = listener_stats(&proxy, "in");
    probe_until(&client, "the session to fail", || {
        stats.session_errors.get() == 1
    })
    .await;
    eventually("the session to end", || stats.sessions_active.get() == 0).await;
    assert_eq!(stats.sessions_total.get(), 1);
    udp_assert_silent(&client);
    proxy.stop().await;
}

#[tokio::test]
async fn a_refusing_udp_endpoint_is_replaced_with_disconnect_retries() {
    let retry = json!({"retry_on": "always", "num_retries": 2, "timeout": 500});
    let (proxy, to) = udp_dead_then_live(retry).await;
    let cluster = proxy.cluster("flaky").expect("cluster");
    let client = udp_client(to).await;
    // Probes go to the dead endpoint and are lost until the refusal moves the hop.
    probe_until(&client, "the reconnect", || {
        cluster.stats.connects.get() == 2
    })
    .await;
    client.send(b"now?").await.expect("send");
    let mut reply = udp_recv(&client).await;
    while reply == "live: probe" {
        reply = udp_recv(&client).await;
    }
    assert_eq!(reply, "live: now?");
    let stats = listener_stats(&proxy, "in");
    assert_eq!(stats.sessions_total.get(), 1);
    assert_eq!(stats.session_errors.get(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn a_client_half_close_ends_the_session_despite_disconnect_retries() {
    let (echo, log) = tcp_echo_tracked((loopback(1), 0).into(), "e: ", None).await;
    let (proxy, port) = start_with_rules(
        "TCP",
        retrying_route(
            "out",
            json!({"retry_on": "disconnect", "num_retries": 2, "timeout": 500}),
        ),
        json!({
            "clusters": [one_endpoint_cluster("out", "TCP", echo.port())],
        }),
    )
    .await;
    let mut client = tcp_client(local(port)).await;
    assert_eq!(tcp_ask(&mut client, "e: ", "bye").await, "e: bye");
    // The client is done sending; the upstream answers the half-close by closing, which is the
    // end of the session, not a disconnect to repair.
    AsyncWriteExt::shutdown(&mut client)
        .await
        .expect("shutdown");
    tcp_expect_eof(&mut client).await;
    let stats = listener_stats(&proxy, "in");
    eventually("the session to end", || stats.sessions_active.get() == 0).await;
    assert_eq!(log.accepted(), 1);
    assert_eq!(
        proxy.cluster("out").expect("cluster").stats.connects.get(),
        1
    );
    assert_eq!(stats.session_errors.get(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn a_failed_reconnect_fails_the_session() {
    // An endpoint that serves one connection, answers once, hangs up and stops listening.
    let server = tokio::net::TcpListener::bind((loopback(1), 0))
        .await
        .expect("bind");
    let echo = server.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut s, _) = server.accept().await.expect("accept");
        drop(server);
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.expect("read");
        s.write_all(&[b"gone: ", &buf[..n]].concat())
            .await
            .expect("write");
    });
    let (proxy, port) = start_with_rules(
        "TCP",
        retrying_route(
            "out",
            json!({"retry_on": "always", "num_retries": 2, "timeout": 500}),
        ),
        json!({
            "clusters": [one_endpoint_cluster("out", "TCP", echo.port())],
        }),
    )
    .await;
    let mut client = tcp_client(local(port)).await;
    assert_eq!(tcp_ask(&mut client, "gone: ", "hi").await, "gone: hi");
    tcp_expect_eof(&mut client).await;
    let stats = listener_stats(&proxy, "in");
    eventually("the session to end", || stats.sessions_active.get() == 0).await;
    assert_eq!(stats.session_errors.get(), 1);
    let cluster = proxy.cluster("out").expect("cluster");
    assert_eq!(cluster.stats.connects.get(), 1);
    // The reconnect tried num_retries times.
    assert_eq!(cluster.stats.connect_failures.get(), 2);
    proxy.stop().await;
}
