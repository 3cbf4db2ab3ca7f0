//! JSONSocket over real loopback sockets. Listener: the header exchange and payload both ways
//! over UDP, TCP, WebSocket, Unix stream and seqpacket (payload sent together with or right
//! behind the header is not lost), rules matching `/JSONSocket/...`, the status a client gets
//! when its session cannot be routed (404) or connected (503), and every bad input (malformed,
//! wrong type, bad version, oversized, incomplete, never sent) answered with its status and
//! never a crash; a refused UDP client can start over; a client still owing its header is let
//! go when the listener stops. Cluster: the header it builds (root copy, from/to, set, version
//! forced) over UDP and TCP, its handshake over every transport against the proxy's own
//! JSONSocket listener, payload the server sends behind its answer, a refusing or babbling
//! server failing the connect so that a retry reaches the next endpoint, and a vanished UDP
//! server reconnected with a fresh handshake.
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::common::*;
use futures_util::{SinkExt, StreamExt};
use l7mp::proxy::Proxy;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use tokio_seqpacket::UnixSeqpacket;
use tokio_tungstenite::tungstenite::Message;

/// Any byte stream a client can use.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A JSONSocket client over one transport. Byte streams keep what was read past the last
/// header or payload asked for.
enum Client {
    Udp(UdpSocket),
    Stream(Box<dyn Io>, Vec<u8>),
    Ws(Box<Ws>),
    Seqpacket(UnixSeqpacket),
}

/// The transports a JSONSocket listener can run over.
#[derive(Clone, Copy, Debug)]
enum T {
    Udp,
    Tcp,
    Ws,
    Unix,
    Seqpacket,
}

const GOOD: &[u8] = br#"{"JSONSocketVersion":1,"user":"ann"}"#;

impl Client {
    async fn connect(t: T, port: u16, dir: &Path) -> Client {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let connect = async {
            match t {
                T::Udp => Client::Udp(udp_client(addr).await),
                T::Tcp => Client::Stream(
                    Box::new(TcpStream::connect(addr).await.expect("tcp")),
                    Vec::new(),
                ),
                T::Ws => Client::Ws(Box::new(ws_client(addr, "/").await)),
                T::Unix => Client::Stream(
                    Box::new(UnixStream::connect(dir.join("js.sock")).await.expect("uds")),
                    Vec::new(),
                ),
                T::Seqpacket => Client::Seqpacket(
                    UnixSeqpacket::connect(dir.join("js.sock"))
                        .await
                        .expect("seqpacket"),
                ),
            }
        };
        tokio::time::timeout(WAIT, connect)
            .await
            .expect("connect in time")
    }

    async fn send(&mut self, data: &[u8]) {
        match self {
            Client::Udp(s) => s.send(data).await.map(drop).expect("udp send"),
            Client::Stream(s, _) => s.write_all(data).await.expect("stream write"),
            Client::Ws(ws) => ws
                .send(Message::Binary(data.to_vec().into()))
                .await
                .expect("ws send"),
            Client::Seqpacket(s) => s.send(data).await.map(drop).expect("seqpacket send"),
        }
    }

    /// The next message of a datagram transport.
    async fn message(&mut self) -> Vec<u8> {
        let mut buf = vec![0u8; 65_536];
        match self {
            Client::Udp(s) => udp_recv(s).await.to_vec(),
            Client::Ws(ws) => match ws_recv(ws).await {
                Message::Binary(b) => b.to_vec(),
                Message::Text(t) => t.as_bytes().to_vec(),
                other => panic!("unexpected {other:?}"),
            },
            Client::Seqpacket(s) => {
                let info = tokio::time::timeout(WAIT, s.recv(&mut buf))
                    .await
                    .expect("a message in time")
                    .expect("recv");
                buf.truncate(info.bytes_read());
                buf
            }
            Client::Stream(..) => unreachable!("byte streams have no messages"),
        }
    }

    /// Reads more of a byte stream into its buffer; false at EOF.
    async fn fill(stream: &mut Box<dyn Io>, buf: &mut Vec<u8>) -> bool {
        let mut chunk = vec![0u8; 65_536];
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("data in time")
            .unwrap_or(0);
        buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// The server's status header.
    async fn status(&mut self) -> Value {
        let Client::Stream(stream, buf) = self else {
            let m = self.message().await;
            return serde_json::from_slice(&m).expect("the status header is JSON");
        };
        loop {
            let mut values = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
            if let Some(Ok(v)) = values.next() {
                let used = values.byte_offset();
                buf.drain(..used);
                return v;
            }
            assert!(
                Self::fill(stream, buf).await,
                "EOF before the status header"
            );
        }
    }

    /// Asserts the next payload is `want` (on a byte stream: the next `want.len()` bytes).
    async fn expect(&mut self, want: &[u8]) {
        let got = match self {
            Client::Stream(stream, buf) => {
                while buf.len() < want.len() {
                    assert!(Self::fill(stream, buf).await, "EOF before the payload");
                }
                buf.drain(..want.len()).collect()
            }
            _ => self.message().await,
        };
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    }

    /// Asserts the server closes the connection (no more payload).
    async fn expect_closed(&mut self) {
        match self {
            Client::Stream(stream, buf) => {
                assert!(buf.is_empty(), "unread data: {buf:?}");
                assert!(!Self::fill(stream, buf).await, "more data: {buf:?}");
            }
            Client::Ws(ws) => {
                let next = tokio::time::timeout(WAIT, ws.next())
                    .await
                    .expect("closed in time");
                assert!(
                    matches!(next, None | Some(Err(_)) | Some(Ok(Message::Close(_)))),
                    "{next:?}"
                );
            }
            Client::Seqpacket(s) => {
                let mut buf = [0u8; 16];
                let r = tokio::time::timeout(WAIT, s.recv(&mut buf))
                    .await
                    .expect("closed in time");
                assert!(r.map_or(true, |i| i.bytes_read() == 0));
            }
            Client::Udp(_) => unreachable!("UDP has no close"),
        }
    }

    fn is_stream(&self) -> bool {
        matches!(self, Client::Stream(..))
    }
}

/// The `spec` of a transport listener on `port` (or the socket in `dir`).
fn transport(t: T, port: u16, dir: &Path) -> Value {
    let sock = dir.join("js.sock").display().to_string();
    match t {
        T::Udp => json!({"protocol": "UDP", "port": port}),
        T::Tcp => json!({"protocol": "TCP", "port": port}),
        T::Ws => json!({"protocol": "WebSocket", "port": port}),
        T::Unix => json!({"protocol": "UnixDomainSocket", "filename": sock}),
        T::Seqpacket => {
            json!({"protocol": "UnixDomainSocket", "filename": sock, "mode": "seqpacket"})
        }
    }
}

/// A config with one JSONSocket listener `in` over `t` (header timeout 300 ms) and `clusters`.
fn config(t: T, port: u16, dir: &Path, rules: Value, clusters: Value) -> Value {
    json!({
        "listeners": [{
            "name": "in",
            "spec": {"protocol": "JSONSocket", "transport": transport(t, port, dir), "header_timeout": 300},
            "rules": rules,
        }],
        "clusters": clusters,
    })
}

/// Rules that send everything to cluster `c`.
fn all_to(c: &str) -> Value {
    json!([{"action": {"route": {"destination": c}}}])
}

fn echo_cluster() -> Value {
    json!([{"name": "echo", "spec": {"protocol": "Echo"}}])
}

/// A proxy whose JSONSocket listener over `t` sends everything to an Echo cluster, its port,
/// and the directory of its Unix sockets (kept for as long as the test holds it).
async fn echo_proxy(t: T) -> (tempfile::TempDir, u16, Proxy) {
    let dir = tempfile::tempdir().expect("dir");
    let port = reserved_port();
    let proxy = start_json(config(t, port, dir.path(), all_to("echo"), echo_cluster())).await;
    (dir, port, proxy)
}

fn status_of(v: &Value) -> u64 {
    v["JSONSocketStatus"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn every_transport_answers_200_then_carries_payload_both_ways() {
    for t in [T::Udp, T::Tcp, T::Ws, T::Unix, T::Seqpacket] {
        let (dir, port, proxy) = echo_proxy(t).await;
        let mut c = Client::connect(t, port, dir.path()).await;
        if c.is_stream() {
            // Header and payload in one write: the payload must survive the header read.
            c.send(&[GOOD, b"first"].concat()).await;
        } else {
            // Payload right behind the header, before the answer: queued, not lost.
            c.send(GOOD).await;
            c.send(b"first").await;
        }
        let status = c.status().await;
        assert_eq!(
            status,
            json!({"JSONSocketVersion": 1, "JSONSocketStatus": 200, "JSONSocketMessage": "OK"}),
            "{t:?}"
        );
        c.expect(b"first").await;
        c.send(b"second").await;
        c.expect(b"second").await;
        let stats = &proxy.listener("in").expect("listener").stats;
        assert_eq!(stats.session_errors.get(), 0, "{t:?}");
        assert_eq!(stats.sessions_active.get(), 1, "{t:?}");
        proxy.stop().await;
    }
}

/// A TCP echo cluster named `name` answering with `name: ` + the data.
async fn tcp_named(name: &str) -> Value {
    let echo = tcp_echo(&format!("{name}: ")).await;
    json!({"name": name, "spec": {"protocol": "TCP", "port": echo.port()},
           "endpoints": [{"spec": {"address": "127.0.0.1"}}]})
}

#[tokio::test]
async fn rules_match_the_header_and_an_unrouted_client_is_told_404() {
    let dir = tempfile::tempdir().expect("dir");
    let port = reserved_port();
    let rules = json!([
        {"match": {"op": "test", "path": "/JSONSocket/service", "value": "a"},
         "action": {"route": {"destination": "a"}}},
        {"match": {"op": "test", "path": "/JSONSocket/service", "value": "b"},
         "action": {"route": {"destination": "b"}}},
    ]);
    let clusters = json!([tcp_named("a").await, tcp_named("b").await]);
    let proxy = start_json(config(T::Tcp, port, dir.path(), rules, clusters)).await;
    for service in ["a", "b"] {
        let mut c = Client::connect(T::Tcp, port, dir.path()).await;
        let header = json!({"JSONSocketVersion": 1, "service": service});
        c.send(header.to_string().as_bytes()).await;
        assert_eq!(status_of(&c.status().await), 200);
        c.send(b"x").await;
        c.expect(format!("{service}: x").as_bytes()).await;
    }
    let mut c = Client::connect(T::Tcp, port, dir.path()).await;
    c.send(br#"{"JSONSocketVersion":1,"service":"zzz"}"#).await;
    let status = c.status().await;
    assert_eq!(status_of(&status), 404, "{status}");
    c.expect_closed().await;
    let stats = &proxy.listener("in").expect("listener").stats;
    assert_eq!(stats.sessions_refused.get(), 1);
    proxy.stop().await;
}

/// Every malformed request header and the status it must get.
const BAD: &[(&[u8], u64)] = &[
    (b"not json at all", 400),
    (b"{not json}", 400),
    (b"[1,2,3]", 400),
    (br#""a string""#, 400),
    (br#"{"JSONSocketVersion":"a"}"#, 400),
    (br#"{"JSONSocketVersion":0.4}"#, 400),
    (br#"{"user":"ann"}"#, 400),
    (br#"{"JSONSocketVersion":2}"#, 505),
];

#[tokio::test]
async fn bad_headers_get_400_or_505_and_the_connection_closes() {
    for t in [T::Tcp, T::Ws, T::Unix, T::Seqpacket] {
        let (dir, port, proxy) = echo_proxy(t).await;
        for (header, want) in BAD {
            let mut c = Client::connect(t, port, dir.path()).await;
            c.send(header).await;
            let status = c.status().await;
            assert_eq!(
                status_of(&status),
                *want,
                "{t:?} {}: {status}",
                String::from_utf8_lossy(header)
            );
            assert!(status["JSONSocketMessage"].as_str().is_some(), "{status}");
            c.expect_closed().await;
        }
        let stats = &proxy.listener("in").expect("listener").stats;
        eventually("every refusal counted", || {
            stats.session_errors.get() == BAD.len() as u64
        })
        .await;
        // The listener is unharmed.
        let mut c = Client::connect(t, port, dir.path()).await;
        c.send(GOOD).await;
        assert_eq!(status_of(&c.status().await), 200);
        proxy.stop().await;
    }
}

#[tokio::test]
async fn a_refused_udp_client_can_start_over() {
    let (dir, port, proxy) = echo_proxy(T::Udp).await;
    let mut c = Client::connect(T::Udp, port, dir.path()).await;
    for (header, want) in BAD {
        c.send(header).await;
        let status = c.status().await;
        assert_eq!(status_of(&status), *want, "{status}");
        // The same client (same address and port) starts over after each refusal.
        eventually("the refused session is gone", || {
            proxy
                .listener("in")
                .expect("in")
                .stats
                .sessions_active
                .get()
                == 0
        })
        .await;
    }
    c.send(GOOD).await;
    assert_eq!(status_of(&c.status().await), 200);
    c.send(b"again").await;
    c.expect(b"again").await;
    proxy.stop().await;
}

#[tokio::test]
async fn oversized_headers_get_400_on_streams_and_datagrams() {
    let pad = "x".repeat(20_000);
    let big = format!(r#"{{"JSONSocketVersion":1,"pad":"{pad}"}}"#);
    for t in [T::Tcp, T::Udp, T::Ws] {
        let (dir, port, proxy) = echo_proxy(t).await;
        let mut c = Client::connect(t, port, dir.path()).await;
        c.send(big.as_bytes()).await;
        let status = c.status().await;
        assert_eq!(status_of(&status), 400, "{t:?}: {status}");
        assert!(
            status["JSONSocketMessage"]
                .as_str()
                .is_some_and(|m| m.contains("too large")),
            "{status}"
        );
        if c.is_stream() {
            c.expect_closed().await;
        }
        proxy.stop().await;
    }
    // A stream that never closes its object is cut off at the cap too.
    let (dir, port, proxy) = echo_proxy(T::Tcp).await;
    let mut c = Client::connect(T::Tcp, port, dir.path()).await;
    c.send(format!(r#"{{"pad":"{pad}"#).as_bytes()).await;
    assert_eq!(status_of(&c.status().await), 400);
    c.expect_closed().await;
    proxy.stop().await;
}

#[tokio::test]
async fn a_client_that_sends_no_header_is_cut_off_after_the_timeout() {
    for t in [T::Tcp, T::Ws, T::Unix, T::Seqpacket] {
        let (dir, port, proxy) = echo_proxy(t).await;
        let started = std::time::Instant::now();
        let mut c = Client::connect(t, port, dir.path()).await;
        let status = c.status().await;
        assert_eq!(status_of(&status), 408, "{t:?}: {status}");
        assert!(started.elapsed() >= std::time::Duration::from_millis(300));
        c.expect_closed().await;
        let stats = &proxy.listener("in").expect("listener").stats;
        eventually("session over", || stats.sessions_active.get() == 0).await;
        assert_eq!(stats.session_errors.get(), 1);
        proxy.stop().await;
    }
    // Half a header, then the client stops sending: 400, not a hang.
    let (_dir, port, proxy) = echo_proxy(T::Tcp).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("tcp");
    stream
        .write_all(br#"{"JSONSocketVersion":"#)
        .await
        .expect("write");
    stream.shutdown().await.expect("half-close");
    let answer = read_to_close(&mut stream).await;
    let status: Value = serde_json::from_slice(&answer).expect("a status header");
    assert_eq!(status_of(&status), 400, "{status}");
    proxy.stop().await;
}

/// What a test JSONSocket server saw, and how it answers.
#[derive(Default)]
struct ServerLog {
    headers: Mutex<Vec<Value>>,
}

impl ServerLog {
    fn headers(&self) -> Vec<Value> {
        self.headers.lock().expect("lock").clone()
    }
}

/// A JSONSocket server over TCP on `addr` (port 0: any), returned with the address it got:
/// records each request header, answers `answer` (with `welcome` right behind it, in the same
/// write), then echoes with `prefix`.
async fn tcp_server(
    addr: SocketAddr,
    answer: &'static [u8],
    welcome: &'static [u8],
    prefix: &'static str,
) -> (SocketAddr, Arc<ServerLog>) {
    let listener = TcpListener::bind(addr).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let log = Arc::new(ServerLog::default());
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 65_536];
                let header = loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                        break v;
                    }
                };
                seen.headers.lock().expect("lock").push(header);
                if s.write_all(&[answer, welcome].concat()).await.is_err() {
                    return;
                }
                while let Ok(n) = s.read(&mut chunk).await {
                    let reply = [prefix.as_bytes(), &chunk[..n]].concat();
                    if n == 0 || s.write_all(&reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, log)
}

/// A JSONSocket server over UDP on `addr` (port 0: any), returned with the address it got: a
/// peer's first datagram is its header (recorded and answered with `answer`), later ones are
/// echoed with `prefix`. Aborting the handle closes the socket.
async fn udp_server(
    addr: SocketAddr,
    answer: &'static [u8],
    prefix: &'static str,
) -> (SocketAddr, Arc<ServerLog>, tokio::task::AbortHandle) {
    let socket = UdpSocket::bind(addr).await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let log = Arc::new(ServerLog::default());
    let seen = log.clone();
    let task = tokio::spawn(async move {
        let mut peers = HashSet::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let reply = if peers.insert(from) {
                let header = serde_json::from_slice(&buf[..n]).unwrap_or(Value::Null);
                seen.headers.lock().expect("lock").push(header);
                answer.to_vec()
            } else {
                [prefix.as_bytes(), &buf[..n]].concat()
            };
            let _ = socket.send_to(&reply, from).await;
        }
    });
    (addr, log, task.abort_handle())
}

const OK: &[u8] = br#"{"JSONSocketVersion":1,"JSONSocketStatus":200,"JSONSocketMessage":"OK"}"#;

/// The cluster's `header` entries under test, in order.
fn header_entries() -> Value {
    json!([
        {"set": {"key": "/early", "value": "overwritten by the root copy"}},
        {"path": "/IP"},
        {"path": {"from": "/UDP/src_port", "to": "/client/port"}},
        {"path": {"from": "/not/there", "to": "/missing"}},
        {"set": {"key": "/app", "value": {"name": "demo"}}},
        {"set": {"key": "/JSONSocketVersion", "value": 9}},
    ])
}

/// A proxy with a plain UDP listener on `port` routed to a JSONSocket cluster `js` over
/// `transport` at `server_port`, with `endpoints` addresses, Trivial balancing and `retry`.
async fn udp_to_jsonsocket(
    port: u16,
    transport: &str,
    server_port: u16,
    endpoints: &[&str],
    retry: Value,
) -> Proxy {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|a| json!({"spec": {"address": a}}))
        .collect();
    start_json(json!({
        "listeners": [{"name": "in", "spec": {"protocol": "UDP", "port": port},
                       "rules": [{"action": {"route": {"destination": "js", "retry": retry}}}]}],
        "clusters": [{"name": "js",
                      "spec": {"protocol": "JSONSocket",
                               "transport": {"protocol": transport, "port": server_port},
                               "header": header_entries()},
                      "endpoints": endpoints,
                      "loadbalancer": {"policy": "Trivial"}}],
    }))
    .await
}

fn never() -> Value {
    json!({"retry_on": "never", "num_retries": 0, "timeout": 1000})
}

#[tokio::test]
async fn cluster_builds_its_header_over_udp_and_tcp() {
    for transport in ["UDP", "TCP"] {
        let (server, log) = match transport {
            "UDP" => {
                let (server, log, _) = udp_server(local(0), OK, "srv: ").await;
                (server, log)
            }
            _ => tcp_server(local(0), OK, b"", "srv: ").await,
        };
        let port = reserved_port();
        let proxy =
            udp_to_jsonsocket(port, transport, server.port(), &["127.0.0.1"], never()).await;
        let client = udp_client(SocketAddr::from(([127, 0, 0, 1], port))).await;
        let me = client.local_addr().expect("addr").port();
        assert_eq!(udp_ask(&client, "hi").await, "srv: hi", "{transport}");
        assert_eq!(udp_ask(&client, "again").await, "srv: again", "{transport}");
        assert_eq!(
            log.headers(),
            vec![json!({
                "src_addr": "127.0.0.1",
                "dst_addr": "127.0.0.1",
                "client": {"port": me},
                "app": {"name": "demo"},
                "JSONSocketVersion": 1,
            })],
            "{transport}"
        );
        proxy.stop().await;
    }
}

#[tokio::test]
async fn payload_behind_the_servers_answer_reaches_the_client() {
    let (server, _) = tcp_server(local(0), OK, b"welcome", "srv: ").await;
    let port = reserved_port();
    let proxy = udp_to_jsonsocket(port, "TCP", server.port(), &["127.0.0.1"], never()).await;
    let client = udp_client(SocketAddr::from(([127, 0, 0, 1], port))).await;
    client.send(b"hi").await.expect("send");
    // The greeting came in the same TCP segment as the answer; then the echo.
    let mut got = Vec::new();
    while got.len() < "welcomesrv: hi".len() {
        got.extend_from_slice(&udp_recv(&client).await);
    }
    assert_eq!(String::from_utf8_lossy(&got), "welcomesrv: hi");
    proxy.stop().await;
}

#[tokio::test]
async fn a_refusing_or_babbling_server_fails_the_connect_and_the_retry_goes_on() {
    let bad_answers: [&'static [u8]; 4] = [
        br#"{"JSONSocketVersion":1,"JSONSocketStatus":404,"JSONSocketMessage":"Not Found"}"#,
        b"garbage!",
        br#"{"JSONSocketVersion":1}"#,
        br#"{"JSONSocketVersion":2,"JSONSocketStatus":200}"#,
    ];
    for bad in bad_answers {
        let ips = [loopback(1), loopback(2)];
        let shared = reserved_port();
        let (_, bad_log) = tcp_server((ips[0], shared).into(), bad, b"", "bad: ").await;
        let (_, good_log) = tcp_server((ips[1], shared).into(), OK, b"", "good: ").await;
        let port = reserved_port();
        let retry = json!({"retry_on": "connect-failure", "num_retries": 2, "timeout": 1000});
        let proxy =
            udp_to_jsonsocket(port, "TCP", shared, &["127.0.0.1", "127.0.0.2"], retry).await;
        let client = udp_client(SocketAddr::from(([127, 0, 0, 1], port))).await;
        assert_eq!(
            udp_ask(&client, "hi").await,
            "good: hi",
            "{}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(bad_log.headers().len(), 1);
        assert_eq!(good_log.headers().len(), 1);
        let js = cluster(&proxy, "in", "js");
        assert_eq!(js.stats.connect_failures.get(), 1);
        assert_eq!(js.stats.connects.get(), 1);
        proxy.stop().await;
    }
}

#[tokio::test]
async fn a_jsonsocket_client_is_told_503_when_its_route_cannot_connect() {
    let dir = tempfile::tempdir().expect("dir");
    let (server, _, _) = udp_server(
        local(0),
        br#"{"JSONSocketVersion":1,"JSONSocketStatus":199}"#,
        "",
    )
    .await;
    let port = reserved_port();
    let clusters = json!([{"name": "js",
        "spec": {"protocol": "JSONSocket", "transport": {"protocol": "UDP", "port": server.port()}},
        "endpoints": [{"spec": {"address": "127.0.0.1"}}]}]);
    let proxy = start_json(config(T::Tcp, port, dir.path(), all_to("js"), clusters)).await;
    let mut c = Client::connect(T::Tcp, port, dir.path()).await;
    c.send(GOOD).await;
    let status = c.status().await;
    assert_eq!(status_of(&status), 503, "{status}");
    assert!(
        status["JSONSocketMessage"]
            .as_str()
            .is_some_and(|m| m.contains("199")),
        "{status}"
    );
    c.expect_closed().await;
    proxy.stop().await;
}

#[tokio::test]
async fn jsonsocket_cluster_to_jsonsocket_listener_over_every_transport() {
    // One proxy: a UDP listener routes to a JSONSocket cluster over `t` whose endpoint is the
    // proxy's own JSONSocket listener over `t`, whose rules route on the header the cluster
    // built; the cluster's client handshake thus runs over each transport.
    for t in [T::Udp, T::Tcp, T::Ws, T::Unix] {
        let dir = tempfile::tempdir().expect("dir");
        let js_port = reserved_port();
        let in_port = reserved_port();
        let (cluster_transport, address) = match t {
            T::Unix => (
                json!({"protocol": "UnixDomainSocket"}),
                dir.path().join("js.sock").display().to_string(),
            ),
            _ => {
                let mut spec = transport(t, js_port, dir.path());
                spec["port"] = json!(js_port);
                (spec, "127.0.0.1".to_string())
            }
        };
        let b = tcp_named("b").await;
        let proxy = start_json(json!({
            "listeners": [
                {"name": "in", "spec": {"protocol": "UDP", "port": in_port},
                 "rules": all_to("js")},
                {"name": "jsl", "spec": {"protocol": "JSONSocket", "transport": transport(t, js_port, dir.path())},
                 "rules": [{"match": {"op": "test", "path": "/JSONSocket/app/name", "value": "demo"},
                            "action": {"route": {"destination": "b"}}}]},
            ],
            "clusters": [
                {"name": "js",
                 "spec": {"protocol": "JSONSocket", "transport": cluster_transport,
                          "header": header_entries()},
                 "endpoints": [{"spec": {"address": address}}]},
                b,
            ],
        }))
        .await;
        let client = udp_client(SocketAddr::from(([127, 0, 0, 1], in_port))).await;
        assert_eq!(udp_ask(&client, "hop").await, "b: hop", "{t:?}");
        assert_eq!(udp_ask(&client, "hop2").await, "b: hop2", "{t:?}");
        assert_eq!(cluster(&proxy, "in", "js").stats.connects.get(), 1, "{t:?}");
        proxy.stop().await;
    }
}

#[tokio::test]
async fn a_client_waiting_to_send_its_header_is_let_go_when_the_listener_stops() {
    let dir = tempfile::tempdir().expect("dir");
    let port = reserved_port();
    let mut cfg = config(T::Tcp, port, dir.path(), all_to("echo"), echo_cluster());
    cfg["listeners"][0]["spec"]["header_timeout"] = json!(60_000);
    let proxy = start_json(cfg).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("tcp");
    let ctx = proxy.listener("in").expect("in").clone();
    eventually("the session waits for its header", || {
        ctx.stats.sessions_active.get() == 1
    })
    .await;
    let started = std::time::Instant::now();
    proxy.stop().await;
    assert!(read_to_close(&mut stream).await.is_empty());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    eventually("the session is over", || {
        ctx.stats.sessions_active.get() == 0
    })
    .await;
}

#[tokio::test]
async fn a_vanished_udp_server_is_reconnected_with_a_new_handshake() {
    // A reserved port, not port 0: the second server binds it after the first is gone, and
    // nothing else may take it in between.
    let server = reserved_addr();
    let (_, first, stop_first) = udp_server(server, OK, "one: ").await;
    let port = reserved_port();
    let retry = json!({"retry_on": "always", "num_retries": 10, "timeout": 500});
    let proxy = udp_to_jsonsocket(port, "UDP", server.port(), &["127.0.0.1"], retry).await;
    let client = udp_client(SocketAddr::from(([127, 0, 0, 1], port))).await;
    assert_eq!(udp_ask(&client, "hi").await, "one: hi");
    stop_first.abort();
    // The server's port is closed: the next datagram draws an ICMP error, which fails the hop.
    let js = cluster(&proxy, "in", "js");
    eventually("the first server is gone", || {
        std::net::UdpSocket::bind(server).is_ok()
    })
    .await;
    client.send(b"lost").await.expect("send");
    eventually("a failed reconnect", || {
        js.stats.connect_failures.get() >= 1
    })
    .await;
    let (_, second, _) = udp_server(server, OK, "two: ").await;
    eventually("reconnected", || js.stats.connects.get() == 2).await;
    assert_eq!(udp_ask(&client, "back").await, "two: back");
    assert_eq!(first.headers().len(), 1);
    assert_eq!(
        second.headers().len(),
        1,
        "the reconnect sent its own header"
    );
    assert_eq!(second.headers()[0]["JSONSocketVersion"], 1);
    proxy.stop().await;
}
