//! WebSocket clusters carry the session's HTTP metadata over real loopback sockets, as the
//! original did: a WebSocket client's path, query and headers reach the upstream WebSocket
//! server, and so do `/HTTP/url` and `/HTTP/headers` (with the subprotocol) that a rule
//! rewrote for a session from any listener; hop-by-hop headers and `Host` do not. A client
//! that offers subprotocols gets the first one back, and the upstream is offered only that one.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::common::*;
use futures_util::{SinkExt, StreamExt};
use l7mp::proxy::Proxy;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// What the upstream server saw of one upgrade request.
#[derive(Clone, Debug, Default)]
struct Seen {
    uri: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A WebSocket server on 127.0.0.1 that records each upgrade request, selects the first
/// subprotocol offered, and answers each message with `up: ` + the message.
async fn recording_ws_server() -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                // The signature is tungstenite's handshake callback; its error is a response.
                #[allow(clippy::result_large_err)]
                let callback = |req: &Request, mut resp: Response| {
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                        .collect();
                    seen.lock().expect("lock").push(Seen {
                        uri: req.uri().to_string(),
                        headers,
                    });
                    if let Some(p) = req.headers().get("sec-websocket-protocol") {
                        let first = p.to_str().unwrap_or_default().split(',').next();
                        let chosen = HeaderValue::from_str(first.unwrap_or_default().trim());
                        resp.headers_mut()
                            .insert("sec-websocket-protocol", chosen.expect("value"));
                    }
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(s, callback).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if let Message::Binary(b) = m {
                        let reply = [b"up: ".as_slice(), &b].concat();
                        if ws.send(Message::Binary(reply.into())).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
    });
    (addr, log)
}

fn ws_cluster(upstream: SocketAddr) -> serde_json::Value {
    json!({
        "name": "up",
        "spec": {"protocol": "WebSocket", "port": upstream.port()},
        "endpoints": [{"spec": {"address": "127.0.0.1"}}],
    })
}

/// A proxy whose WebSocket listener on the returned port routes everything to a recording
/// WebSocket upstream, with that upstream's address and log.
async fn websocket_hop() -> (Proxy, u16, SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let (upstream, log) = recording_ws_server().await;
    let port = reserved_port();
    let proxy = start_json(json!({
        "listeners": [route_all_listener("in", "WebSocket", port, json!({"destination": "up"}))],
        "clusters": [ws_cluster(upstream)],
    }))
    .await;
    (proxy, port, upstream, log)
}

#[tokio::test]
async fn a_websocket_clients_path_query_and_headers_reach_the_upstream() {
    let (proxy, port, upstream, log) = websocket_hop().await;
    let mut request = format!("ws://127.0.0.1:{port}/foo/bar?x=1")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("x-user", HeaderValue::from_static("alice"));
    let (mut client, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("handshake in time")
        .expect("handshake");
    client
        .send(Message::Binary(b"hi".to_vec().into()))
        .await
        .expect("send");
    let reply = tokio::time::timeout(WAIT, client.next())
        .await
        .expect("a reply in time")
        .expect("a message")
        .expect("ok");
    assert_eq!(reply.into_data().as_ref(), b"up: hi");
    let seen = log.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].uri, "/foo/bar?x=1");
    assert_eq!(seen[0].header("x-user"), Some("alice"));
    // The upstream's own Host, and a key of this hop's handshake, not the client's.
    assert_eq!(
        seen[0].header("host"),
        Some(format!("127.0.0.1:{}", upstream.port()).as_str())
    );
    assert_eq!(
        seen[0]
            .headers
            .iter()
            .filter(|(n, _)| n == "sec-websocket-key")
            .count(),
        1
    );
    proxy.stop().await;
}

#[tokio::test]
async fn rewritten_http_metadata_builds_the_upstream_request_with_its_subprotocol() {
    let (upstream, log) = recording_ws_server().await;
    let port = reserved_port();
    let proxy = start_json(json!({
        "listeners": [{
            "name": "in",
            "spec": {"protocol": "UDP", "port": port},
            "rules": [{"action": {
                "rewrite": [
                    {"path": "/HTTP/url", "value": {"path": "/rooms/7", "query": "y=2"}},
                    {"path": "/HTTP/headers", "value": {
                        "x-user": "bob",
                        "sec-websocket-protocol": "chat",
                        "connection": "close",
                    }},
                ],
                "route": {"destination": "up"},
            }}],
        }],
        "clusters": [ws_cluster(upstream)],
    }))
    .await;
    let client = udp_client(local(port)).await;
    assert_eq!(udp_ask(&client, "hello").await, "up: hello");
    assert_eq!(udp_ask(&client, "again").await, "up: again");
    let seen = log.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].uri, "/rooms/7?y=2");
    assert_eq!(seen[0].header("x-user"), Some("bob"));
    assert_eq!(seen[0].header("sec-websocket-protocol"), Some("chat"));
    assert_eq!(seen[0].header("connection"), Some("Upgrade"));
    proxy.stop().await;
}

/// Connects to the proxy's WebSocket listener offering `protocols`; returns the connection and
/// the subprotocol the proxy's handshake answer named (tungstenite fails a handshake whose
/// answer names none of those offered, or names one when none was offered).
async fn offer(
    port: u16,
    protocols: &'static str,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Option<String>,
) {
    let mut request = format!("ws://127.0.0.1:{port}/room")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(protocols),
    );
    let (ws, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("handshake in time")
        .expect("handshake");
    let chosen = response
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().expect("ASCII").to_string());
    (ws, chosen)
}

#[tokio::test]
async fn a_client_offering_subprotocols_gets_the_first_and_talks_through_a_websocket_hop() {
    let (proxy, port, _, log) = websocket_hop().await;
    for (offered, message) in [("chat", "hi"), ("chat, superchat", "again")] {
        let (mut client, chosen) = offer(port, offered).await;
        assert_eq!(chosen.as_deref(), Some("chat"), "offered {offered}");
        client
            .send(Message::Binary(message.as_bytes().to_vec().into()))
            .await
            .expect("send");
        // The upstream answers only what reached it: both directions went through the hop.
        let reply = ws_recv(&mut client).await;
        assert_eq!(
            reply.into_data().as_ref(),
            format!("up: {message}").as_bytes()
        );
        client.close(None).await.expect("close");
    }
    let seen = log.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    // The upstream is offered only what the client was answered, so it cannot pick another.
    for s in &seen {
        assert_eq!(s.header("sec-websocket-protocol"), Some("chat"), "{s:?}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_client_offering_no_subprotocol_is_answered_none() {
    let port = reserved_port();
    let proxy = start_json(json!({
        "listeners": [route_all_listener("in", "WebSocket", port, json!({"destination": "echo"}))],
        "clusters": [{"name": "echo", "spec": {"protocol": "Echo"}}],
    }))
    .await;
    let request = format!("ws://127.0.0.1:{port}/")
        .into_client_request()
        .expect("request");
    let (mut client, response) =
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("handshake in time")
            .expect("handshake");
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    client
        .send(Message::Binary(b"ping".to_vec().into()))
        .await
        .expect("send");
    assert_eq!(ws_recv(&mut client).await.into_data().as_ref(), b"ping");
    proxy.stop().await;
}
