//! Load balancing at run time over real loopback sockets: consistent hashing on the source
//! address (sticky and spread), keyless hashing, round robin, trivial, endpoint weights, the
//! drained endpoint as a last resort, and endpoints given as DNS names.
//!
//! A cluster's endpoints share its port, so each test puts its echo servers on 127.0.0.1,
//! 127.0.0.2, ... at one port; every echo prefixes its replies with its own name.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::UdpSocket;

use crate::common::*;
use serde_json::{Value, json};

/// UDP echo servers named `e0`, `e1`, ... on 127.0.0.1, 127.0.0.2, ... at one port, with the
/// `weights` given; returns that port, the endpoints as config and as (address, weight).
async fn udp_endpoints(weights: &[u32]) -> (u16, Vec<Value>, Vec<(SocketAddr, u32)>) {
    let ips: Vec<Ipv4Addr> = (1..=weights.len() as u8).map(loopback).collect();
    let port = reserved_port();
    let mut config = Vec::new();
    let mut addrs = Vec::new();
    for (i, (ip, weight)) in ips.iter().zip(weights).enumerate() {
        let addr = udp_echo_on((*ip, port).into(), &format!("e{i}: ")).await;
        config.push(json!({
            "name": format!("e{i}"),
            "spec": {"address": ip.to_string()},
            "weight": weight,
        }));
        addrs.push((addr, *weight));
    }
    (port, config, addrs)
}

/// A proxy with UDP listener `in` routing everything to UDP cluster `pool` under
/// `loadbalancer` (`null`: the default policy).
async fn udp_pool(
    echo_port: u16,
    endpoints: Vec<Value>,
    loadbalancer: Value,
) -> (l7mp::proxy::Proxy, SocketAddr) {
    let port = reserved_port();
    let mut cluster = json!({
        "name": "pool",
        "spec": {"protocol": "UDP", "port": echo_port},
        "endpoints": endpoints,
    });
    if !loadbalancer.is_null() {
        cluster["loadbalancer"] = loadbalancer;
    }
    let proxy = start_json(json!({
        "listeners": [route_all_listener("in", "UDP", port, json!({"destination": "pool"}))],
        "clusters": [cluster],
    }))
    .await;
    (proxy, local(port))
}

/// [`udp_pool`] over fresh [`udp_endpoints`] with `weights`; returns the proxy, its address and
/// the endpoints as (address, weight).
async fn weighted_pool(
    weights: &[u32],
    loadbalancer: Value,
) -> (l7mp::proxy::Proxy, SocketAddr, Vec<(SocketAddr, u32)>) {
    let (echo_port, endpoints, addrs) = udp_endpoints(weights).await;
    let (proxy, to) = udp_pool(echo_port, endpoints, loadbalancer).await;
    (proxy, to, addrs)
}

/// Which endpoint a new session from `from` (a fresh source port) lands on.
async fn land(from: Ipv4Addr, proxy: SocketAddr) -> String {
    open(from, proxy).await.1
}

/// A new session from `from`: its client socket and the endpoint that answered.
async fn open(from: Ipv4Addr, proxy: SocketAddr) -> (UdpSocket, String) {
    let client = udp_client_from(from, proxy).await;
    let reply = udp_ask(&client, "hi").await;
    assert!(reply.ends_with(": hi"), "unexpected reply {reply:?}");
    let endpoint = who(&reply).to_string();
    (client, endpoint)
}

/// How many of `sessions` new sessions from 127.0.0.1 land on each endpoint.
async fn spread(proxy: SocketAddr, sessions: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    // Every client stays open until the end: a closed one's port could come back for a later
    // client, whose datagram would then join the old session instead of opening a new one.
    let mut clients = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let (client, endpoint) = open(loopback(1), proxy).await;
        *counts.entry(endpoint).or_default() += 1;
        clients.push(client);
    }
    counts
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn consistent_hash_on_source_address_is_sticky_and_spreads() {
    let (proxy, to, addrs) = weighted_pool(
        &[1, 1, 1],
        json!({"policy": "ConsistentHash", "key": "/IP/src_addr"}),
    )
    .await;
    // Source addresses until every endpoint is somebody's choice, as the balancer predicts.
    let mut sources = Vec::new();
    let mut covered = [false; 3];
    for n in 2..=250u8 {
        let expected = consistent_hash_choice(&addrs, &loopback(n).to_string());
        if !covered[expected] || sources.len() < 4 {
            covered[expected] = true;
            sources.push((loopback(n), expected));
        }
        if covered == [true; 3] && sources.len() >= 4 {
            break;
        }
    }
    assert_eq!(covered, [true; 3], "some endpoint is nobody's choice");
    for (source, expected) in &sources {
        // Many sessions per address, each from a different source port.
        for _ in 0..5 {
            assert_eq!(
                land(*source, to).await,
                format!("e{expected}"),
                "from {source}"
            );
        }
    }
    let stats = listener_stats(&proxy, "in");
    assert_eq!(stats.sessions_total.get(), 5 * sources.len() as u64);
    proxy.stop().await;
}

#[tokio::test]
async fn consistent_hash_without_key_uses_every_endpoint() {
    let (proxy, to, _) = weighted_pool(&[1, 1, 1], json!({"policy": "ConsistentHash"})).await;
    let seen = spread(to, 40).await;
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        ["e0", "e1", "e2"],
        "{seen:?}"
    );
    assert_eq!(seen.values().sum::<usize>(), 40);
    proxy.stop().await;
}

#[tokio::test]
async fn round_robin_gives_each_endpoint_its_turn() {
    let (proxy, to, _) = weighted_pool(&[1, 1, 1], json!({"policy": "RoundRobin"})).await;
    assert_eq!(
        spread(to, 30).await,
        counts(&[("e0", 10), ("e1", 10), ("e2", 10)])
    );
    proxy.stop().await;
}

#[tokio::test]
async fn trivial_always_picks_the_first() {
    let (proxy, to, _) = weighted_pool(&[1, 1, 1], json!({"policy": "Trivial"})).await;
    assert_eq!(spread(to, 10).await, counts(&[("e0", 10)]));
    for n in 2..5 {
        assert_eq!(land(loopback(n), to).await, "e0");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn the_default_policy_is_trivial() {
    let (echo_port, mut endpoints, _) = udp_endpoints(&[1, 1]).await;
    for e in &mut endpoints {
        e.as_object_mut().expect("object").remove("weight");
    }
    let (proxy, to) = udp_pool(echo_port, endpoints, Value::Null).await;
    assert_eq!(spread(to, 10).await, counts(&[("e0", 10)]));
    proxy.stop().await;
}

#[tokio::test]
async fn weight_zero_is_never_chosen_while_others_are_up() {
    let (echo_port, endpoints, _) = udp_endpoints(&[0, 1, 1]).await;
    let (hash, to) = udp_pool(
        echo_port,
        endpoints.clone(),
        json!({"policy": "ConsistentHash"}),
    )
    .await;
    let seen = spread(to, 40).await;
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["e1", "e2"], "{seen:?}");
    hash.stop().await;

    let (rr, to) = udp_pool(
        echo_port,
        endpoints.clone(),
        json!({"policy": "RoundRobin"}),
    )
    .await;
    let seen = spread(to, 30).await;
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["e1", "e2"], "{seen:?}");
    rr.stop().await;

    let (trivial, to) = udp_pool(echo_port, endpoints, json!({"policy": "Trivial"})).await;
    assert_eq!(spread(to, 10).await, counts(&[("e1", 10)]));
    trivial.stop().await;
}

#[tokio::test]
async fn keyed_consistent_hash_honours_weights() {
    // A drained endpoint gets no key at all; the others split them as the balancer predicts.
    let (proxy, to, addrs) = weighted_pool(
        &[0, 1, 3],
        json!({"policy": "ConsistentHash", "key": "/IP/src_addr"}),
    )
    .await;
    let mut seen = BTreeMap::new();
    for n in 2..=31u8 {
        let expected = consistent_hash_choice(&addrs, &loopback(n).to_string());
        assert_ne!(expected, 0);
        let got = land(loopback(n), to).await;
        assert_eq!(got, format!("e{expected}"), "from {}", loopback(n));
        *seen.entry(got).or_insert(0usize) += 1;
    }
    assert_eq!(seen.get("e0"), None);
    proxy.stop().await;
}

#[tokio::test]
async fn a_drained_endpoint_is_the_last_resort_when_the_others_fail() {
    // The only weighted endpoint refuses connections (nothing listens on 127.0.0.2).
    let echo_port = reserved_port();
    tcp_echo_on((loopback(1), echo_port).into(), "drained: ").await;
    let port = reserved_port();
    let proxy = start_json(json!({
        "listeners": [route_all_listener("in", "TCP", port, json!({
            "destination": "pool",
            "retry": {"retry_on": "connect-failure", "num_retries": 1, "timeout": 500},
        }))],
        "clusters": [{
            "name": "pool",
            "spec": {"protocol": "TCP", "port": echo_port},
            "endpoints": [
                {"name": "drained", "spec": {"address": "127.0.0.1"}, "weight": 0},
                {"name": "dead", "spec": {"address": "127.0.0.2"}, "weight": 1},
            ],
            "loadbalancer": {"policy": "ConsistentHash"},
        }],
    }))
    .await;
    let mut client = tcp_client(local(port)).await;
    assert_eq!(tcp_ask(&mut client, "drained: ", "hi").await, "drained: hi");
    let pool = proxy.cluster("pool").expect("cluster");
    assert_eq!(pool.stats.connect_failures.get(), 1);
    assert_eq!(pool.stats.connects.get(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn a_dns_name_endpoint_resolves_and_carries_traffic() {
    let udp = udp_echo("udp: ").await;
    let tcp = tcp_echo("tcp: ").await;
    let (udp_port, tcp_port) = (reserved_port(), reserved_port());
    let proxy = start_json(json!({
        "listeners": [
            route_all_listener("udp-in", "UDP", udp_port, json!({"destination": "udp-by-name"})),
            route_all_listener("tcp-in", "TCP", tcp_port, json!({"destination": "tcp-by-name"})),
        ],
        "clusters": [
            {"name": "udp-by-name", "spec": {"protocol": "UDP", "port": udp.port()},
             "endpoints": [{"name": "local", "spec": {"address": "localhost"}}]},
            {"name": "tcp-by-name", "spec": {"protocol": "TCP", "port": tcp.port()},
             "endpoints": [{"name": "local", "spec": {"address": "localhost"}}]},
        ],
    }))
    .await;
    let client = udp_client(local(udp_port)).await;
    assert_eq!(udp_ask(&client, "by name").await, "udp: by name");
    let mut stream = tcp_client(local(tcp_port)).await;
    assert_eq!(
        tcp_ask(&mut stream, "tcp: ", "by name").await,
        "tcp: by name"
    );
    let cluster = proxy.cluster("udp-by-name").expect("cluster");
    let targets: Vec<SocketAddr> = cluster
        .endpoints()
        .targets
        .iter()
        .filter_map(|t| match t.address {
            l7mp::cluster::endpoints::Address::Inet(a) => Some(a),
            l7mp::cluster::endpoints::Address::Unix(_) => None,
        })
        .collect();
    assert!(targets.contains(&udp), "localhost resolved to {targets:?}");
    assert_eq!(cluster.stats.connects.get(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn consistent_hash_on_a_numeric_key_hashes_its_json_text() {
    let (proxy, to, addrs) = weighted_pool(
        &[1, 1, 1],
        json!({"policy": "ConsistentHash", "key": "/UDP/src_port"}),
    )
    .await;
    for _ in 0..3 {
        let source = reserved_port();
        let expected = format!("e{}", consistent_hash_choice(&addrs, &source.to_string()));
        // The same source port from different addresses: the key is the port alone.
        for n in [1, 2, 3] {
            let client = udp_client_at((loopback(n), source).into(), to).await;
            assert_eq!(who(&udp_ask(&client, "hi").await), expected);
        }
    }
    proxy.stop().await;
}
