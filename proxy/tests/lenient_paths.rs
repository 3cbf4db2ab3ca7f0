//! The original's lenient paths over real loopback sockets: where the original read paths
//! without the leading `/` (rewrites, load-balancer keys, Sync queries, JSONSocket headers), a
//! config written that way behaves exactly as with the JSON pointer it meant, and a trailing
//! `/` in a JSONSocket header key names the member before it, not an empty-named one.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::common::*;
use serde_json::{Value, json};
use tokio::net::UdpSocket;

#[tokio::test]
async fn a_rewrite_and_a_sync_query_without_leading_slash_meet_sessions() {
    let port = reserved_port();
    let proxy = start_json(json!({
        "listeners": [{
            "name": "in",
            "spec": {"protocol": "UDP", "port": port},
            "rules": [{"action": {
                "rewrite": [{"path": "labels/room", "value": "lobby"}],
                "route": {"destination": "sync"},
            }}],
        }],
        "clusters": [{"name": "sync", "spec": {"protocol": "Sync", "query": "labels/room"}}],
    }))
    .await;
    let a = udp_client(local(port)).await;
    let b = udp_client(local(port)).await;
    a.send(b"from a").await.expect("send");
    // `a` is alone: its message waits for the first joiner, who hears it on joining.
    b.send(b"from b").await.expect("send");
    assert_eq!(&udp_recv(&b).await[..], b"from a");
    assert_eq!(&udp_recv(&a).await[..], b"from b");
    b.send(b"again from b").await.expect("send");
    assert_eq!(&udp_recv(&a).await[..], b"again from b");
    assert_eq!(
        cluster(&proxy, "in", "sync").sync_domains(),
        Some(1),
        "both sessions are in the room the rewrite named"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_hash_key_without_leading_slash_balances_on_the_source_address() {
    let ips: Vec<_> = (1..=3).map(loopback).collect();
    let echo_port = reserved_port();
    let mut endpoints = Vec::new();
    let mut addrs = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        let addr = udp_echo_on((*ip, echo_port).into(), &format!("e{i}: ")).await;
        endpoints.push(json!({"name": format!("e{i}"), "spec": {"address": ip.to_string()}}));
        addrs.push((addr, 1));
    }
    let port = reserved_port();
    let proxy = start_json(json!({
        "listeners": [route_all_listener("in", "UDP", port, json!({"destination": "pool"}))],
        "clusters": [{
            "name": "pool",
            "spec": {"protocol": "UDP", "port": echo_port},
            "endpoints": endpoints,
            "loadbalancer": {"policy": "HashRing", "key": "IP/src_addr"},
        }],
    }))
    .await;
    let mut chosen = std::collections::BTreeSet::new();
    for n in 2..=40u8 {
        let expected = consistent_hash_choice(&addrs, &loopback(n).to_string());
        chosen.insert(expected);
        // Two sessions from each address (two source ports) land on the same endpoint.
        for _ in 0..2 {
            let client = udp_client_from(loopback(n), local(port)).await;
            let reply = udp_ask(&client, "hi").await;
            assert_eq!(reply, format!("e{expected}: hi"), "from {}", loopback(n));
        }
    }
    assert!(chosen.len() > 1, "the key spreads sources: {chosen:?}");
    proxy.stop().await;
}

/// A JSONSocket server over UDP on 127.0.0.1 (any port), returned with its address, that
/// records each peer's request header, answers 200 and then echoes with `srv: `.
async fn recording_jsonsocket_server() -> (SocketAddr, Arc<Mutex<Vec<Value>>>) {
    let socket = UdpSocket::bind(local(0)).await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let headers = Arc::new(Mutex::new(Vec::new()));
    let seen = headers.clone();
    tokio::spawn(async move {
        let mut peers = std::collections::HashSet::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let reply = if peers.insert(from) {
                let header = serde_json::from_slice(&buf[..n]).unwrap_or(Value::Null);
                seen.lock().expect("lock").push(header);
                br#"{"JSONSocketVersion":1,"JSONSocketStatus":200}"#.to_vec()
            } else {
                [b"srv: ", &buf[..n]].concat()
            };
            let _ = socket.send_to(&reply, from).await;
        }
    });
    (addr, headers)
}

#[tokio::test]
async fn jsonsocket_header_paths_are_read_as_the_original_read_them() {
    let (server, headers) = recording_jsonsocket_server().await;
    let port = reserved_port();
    let proxy = start_json(json!({
        "listeners": [{
            "name": "in",
            "spec": {"protocol": "UDP", "port": port},
            "rules": [{"action": {
                "rewrite": [{"path": "labels/session_id", "value": "s1"}],
                "route": {"destination": "js"},
            }}],
        }],
        "clusters": [{
            "name": "js",
            "spec": {
                "protocol": "JSONSocket",
                "transport": {"protocol": "UDP", "port": server.port()},
                "header": [
                    {"path": "labels"},
                    {"path": {"from": "IP/src_addr", "to": "client/addr/"}},
                    {"set": {"key": "/some/nested/meta/", "value": "data"}},
                ],
            },
            "endpoints": [{"spec": {"address": "127.0.0.1"}}],
        }],
    }))
    .await;
    let client = udp_client(local(port)).await;
    assert_eq!(udp_ask(&client, "hi").await, "srv: hi");
    assert_eq!(udp_ask(&client, "again").await, "srv: again");
    assert_eq!(
        headers.lock().expect("lock").clone(),
        vec![json!({
            "session_id": "s1",
            "client": {"addr": "127.0.0.1"},
            "some": {"nested": {"meta": "data"}},
            "JSONSocketVersion": 1,
        })]
    );
    proxy.stop().await;
}
