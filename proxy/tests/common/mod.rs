//! Shared helpers for the proxy's integration tests: a proxy started in-process from YAML text,
//! and echo servers of every protocol on real loopback sockets. Every wait is bounded, so a
//! broken proxy fails a test instead of hanging it.

pub mod netns;

pub use l7mp_test_ports::{reserved_addr, reserved_port};

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use l7mp::proxy::{Options, Proxy, Workers};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket, UnixListener};
use tokio_seqpacket::UnixSeqpacketListener;
use tokio_tungstenite::tungstenite::Message;

/// SIGHUP reaches every reload controller in this process, so the test that sends it runs
/// alone: every in-process reload controller holds this lock shared for its whole life, that
/// test exclusively.
pub static SIGNALS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// Starts a proxy for `yaml` (the l7mp config format) with every listener on 127.0.0.1.
/// Panics with the diagnostics when the config is invalid: that is a bug in the test.
pub async fn start_proxy(yaml: &str) -> Proxy {
    let loaded = match l7mp_config::load_str("test.yaml", yaml) {
        Ok(l) => l,
        Err(d) => panic!(
            "invalid test config:\n{}",
            l7mp_config::diagnostic::Report(&d)
        ),
    };
    let options = Options {
        bind_address: Some(Ipv4Addr::LOCALHOST.into()),
        ..Options::default()
    };
    Proxy::start(loaded.config, &options, &Workers::current())
        .await
        .expect("proxy starts")
}

fn prefixed(prefix: &str, data: &[u8]) -> Vec<u8> {
    let mut out = prefix.as_bytes().to_vec();
    out.extend_from_slice(data);
    out
}

/// A UDP server that answers each datagram with `prefix` + the datagram.
pub async fn udp_echo(prefix: &str) -> SocketAddr {
    udp_echo_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), prefix).await
}

/// A TCP server that answers each chunk it reads with `prefix` + the chunk.
pub async fn tcp_echo(prefix: &str) -> SocketAddr {
    tcp_server(prefix, echo_stream).await
}

/// A TCP server on 127.0.0.1 (any port) that runs `serve(connection, prefix)` on a task of its
/// own for every connection it accepts: the accept loop every TCP-based echo shares.
async fn tcp_server<F, Fut>(prefix: &str, serve: F) -> SocketAddr
where
    F: Fn(TcpStream, String) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let prefix = prefix.to_string();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s, prefix.clone()));
        }
    });
    addr
}

/// Answers each chunk read from `stream` with `prefix` + the chunk until EOF.
async fn echo_stream<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, prefix: String) {
    let mut buf = vec![0u8; 65_536];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0
            || stream
                .write_all(&prefixed(&prefix, &buf[..n]))
                .await
                .is_err()
        {
            break;
        }
    }
}

/// A Unix stream server at `path` answering each chunk with `prefix` + the chunk.
pub fn unix_echo(path: &Path, prefix: &str) {
    let listener = UnixListener::bind(path).expect("bind unix");
    let prefix = prefix.to_string();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(echo_stream(s, prefix.clone()));
        }
    });
}

/// A Unix seqpacket server at `path` answering each message with `prefix` + the message.
pub fn seqpacket_echo(path: &Path, prefix: &str) {
    let mut listener = UnixSeqpacketListener::bind(path).expect("bind seqpacket");
    let prefix = prefix.to_string();
    tokio::spawn(async move {
        while let Ok(s) = listener.accept().await {
            let prefix = prefix.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok(info) = s.recv(&mut buf).await {
                    let n = info.bytes_read();
                    if n == 0 || s.send(&prefixed(&prefix, &buf[..n])).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
}

/// A WebSocket server answering each message with a binary `prefix` + the message.
pub async fn ws_echo(prefix: &str) -> SocketAddr {
    tcp_server(prefix, ws_echo_connection).await
}

/// Answers each data message on one WebSocket connection with a binary `prefix` + the message.
async fn ws_echo_connection(s: TcpStream, prefix: String) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
        return;
    };
    while let Some(Ok(m)) = ws.next().await {
        let data = match m {
            Message::Binary(b) => b.to_vec(),
            Message::Text(t) => t.as_bytes().to_vec(),
            _ => continue,
        };
        let reply = Message::Binary(prefixed(&prefix, &data).into());
        if ws.send(reply).await.is_err() {
            break;
        }
    }
}

/// A UDP socket connected to `to`.
pub async fn udp_client(to: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    socket.connect(to).await.expect("connect");
    socket
}

/// Sends one datagram and returns the first reply.
pub async fn udp_roundtrip(socket: &UdpSocket, message: &[u8]) -> Bytes {
    socket.send(message).await.expect("send");
    udp_recv(socket).await
}

/// The next datagram on `socket`, failing the test after [`WAIT`].
pub async fn udp_recv(socket: &UdpSocket) -> Bytes {
    let mut buf = vec![0u8; 65_536];
    let n = tokio::time::timeout(WAIT, socket.recv(&mut buf))
        .await
        .expect("a reply in time")
        .expect("recv");
    Bytes::copy_from_slice(&buf[..n])
}

/// Reads from a TCP stream until `want` bytes arrived.
pub async fn tcp_read_exact(stream: &mut TcpStream, want: usize) -> Vec<u8> {
    read_exact_in_time(stream, want).await
}

/// Reads from any byte stream (TCP, Unix) until `want` bytes arrived, failing the test after
/// [`WAIT`].
pub async fn read_exact_in_time<S: AsyncRead + Unpin>(stream: &mut S, want: usize) -> Vec<u8> {
    let mut buf = vec![0u8; want];
    tokio::time::timeout(WAIT, stream.read_exact(&mut buf))
        .await
        .expect("data in time")
        .expect("read");
    buf
}

/// Polls `check` until it holds, failing the test after [`WAIT`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `127.0.0.<n>`: a distinct loopback address (all of 127/8 is local on Linux).
pub fn loopback(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// A UDP server on `addr` that answers each datagram with `prefix` + the datagram.
pub async fn udp_echo_on(addr: SocketAddr, prefix: &str) -> SocketAddr {
    let socket = UdpSocket::bind(addr).await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let prefix = prefix.to_string();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&prefixed(&prefix, &buf[..n]), from).await;
        }
    });
    addr
}

/// What a [`tcp_echo_tracked`] server has seen.
#[derive(Debug, Default)]
pub struct TcpEchoLog {
    /// Connections accepted.
    pub accepted: std::sync::atomic::AtomicUsize,
    /// Connections the peer closed (EOF or error seen).
    pub closed: std::sync::atomic::AtomicUsize,
}

impl TcpEchoLog {
    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Connections closed by their peer so far.
    pub fn closed(&self) -> usize {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A TCP server on `addr` answering each chunk with `prefix` + the chunk, that counts
/// connections and EOFs; with `replies_per_connection`, it closes a connection after that many
/// replies.
pub async fn tcp_echo_tracked(
    addr: SocketAddr,
    prefix: &str,
    replies_per_connection: Option<usize>,
) -> (SocketAddr, std::sync::Arc<TcpEchoLog>) {
    use std::sync::atomic::Ordering::SeqCst;
    let listener = TcpListener::bind(addr).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let log = std::sync::Arc::new(TcpEchoLog::default());
    let prefix = prefix.to_string();
    let shared = log.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            shared.accepted.fetch_add(1, SeqCst);
            let prefix = prefix.clone();
            let log = shared.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                let mut replies = 0;
                loop {
                    if replies_per_connection.is_some_and(|limit| replies >= limit) {
                        return; // Dropping the stream closes the connection.
                    }
                    match s.read(&mut buf).await {
                        Ok(n) if n > 0 => {
                            if s.write_all(&prefixed(&prefix, &buf[..n])).await.is_err() {
                                break;
                            }
                            replies += 1;
                        }
                        _ => break,
                    }
                }
                log.closed.fetch_add(1, SeqCst);
            });
        }
    });
    (addr, log)
}

/// A TCP server on `addr` answering each chunk with `prefix` + the chunk.
pub async fn tcp_echo_on(addr: SocketAddr, prefix: &str) -> SocketAddr {
    tcp_echo_tracked(addr, prefix, None).await.0
}

/// Starts a proxy for a config written as JSON (a subset of YAML) with [`start_proxy`].
pub async fn start_json(config: serde_json::Value) -> Proxy {
    start_proxy(&serde_json::to_string_pretty(&config).expect("serializable config")).await
}

/// The endpoint (index into `endpoints`: address and weight) that consistent hashing picks for
/// `key`, worked out with the proxy's own balancer so that tests can assert exact placements.
pub fn consistent_hash_choice(endpoints: &[(SocketAddr, u32)], key: &str) -> usize {
    use l7mp::lb::{Balancer, EndpointWeight, Policy};
    let set: Vec<EndpointWeight> = endpoints
        .iter()
        .map(|(a, w)| EndpointWeight {
            id: a.to_string(),
            weight: *w,
        })
        .collect();
    Balancer::new(Policy::ConsistentHash, &set)
        .pick(Some(key.as_bytes()), &[])
        .expect("an endpoint")
}

/// A UDP socket on `from` (any port) connected to `to`.
pub async fn udp_client_from(from: Ipv4Addr, to: SocketAddr) -> UdpSocket {
    udp_client_at((from, 0).into(), to).await
}

/// A UDP socket bound to exactly `from` (a chosen source port, for rules and hash keys that
/// look at it) and connected to `to`.
pub async fn udp_client_at(from: SocketAddr, to: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind(from)
        .await
        .expect("bind the source address");
    socket.connect(to).await.expect("connect");
    socket
}

/// `127.0.0.1:<port>`: where a test proxy's listener on `port` is reached.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// A TCP connection from 127.0.0.1 (any port) to `to`.
pub async fn tcp_client(to: SocketAddr) -> TcpStream {
    tcp_client_from(local(0), to).await
}

/// The counters of the proxy's listener `name`, which the test's config must have.
pub fn listener_stats<'a>(proxy: &'a Proxy, name: &str) -> &'a l7mp::stats::ListenerStats {
    &proxy.listener(name).expect("listener").stats
}

/// A cluster config `name` of `protocol` with one endpoint, 127.0.0.1:`port`.
pub fn one_endpoint_cluster(name: &str, protocol: &str, port: u16) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "spec": {"protocol": protocol, "port": port},
        "endpoints": [{"spec": {"address": "127.0.0.1"}}],
    })
}

/// A listener config `name` of `protocol` on `port` whose one rule routes everything per
/// `route` (a route object: destination, retry).
pub fn route_all_listener(
    name: &str,
    protocol: &str,
    port: u16,
    route: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "spec": {"protocol": protocol, "port": port},
        "rules": [{"action": {"route": route}}],
    })
}

/// Sends `message` and returns the reply as text.
pub async fn udp_ask(socket: &UdpSocket, message: &str) -> String {
    let reply = udp_roundtrip(socket, message.as_bytes()).await;
    String::from_utf8(reply.to_vec()).expect("utf-8 reply")
}

/// A TCP connection from `from` (port 0: any) to `to`.
pub async fn tcp_client_from(from: SocketAddr, to: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(from).expect("bind");
    tokio::time::timeout(WAIT, socket.connect(to))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Writes `message` and reads the reply, which must be `prefix` + `message` (so its length is
/// known); returns it as text.
pub async fn tcp_ask(stream: &mut TcpStream, prefix: &str, message: &str) -> String {
    stream.write_all(message.as_bytes()).await.expect("write");
    let reply = tcp_read_exact(stream, prefix.len() + message.len()).await;
    String::from_utf8(reply).expect("utf-8 reply")
}

/// Waits for the peer to close `stream` without sending anything more.
pub async fn tcp_expect_eof(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .expect("EOF in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "expected EOF, got {:?}", &buf[..n]);
}

/// Asserts that nothing is waiting on `socket` (after the caller made sure any reply would have
/// arrived, e.g. by waiting for a counter).
pub fn udp_assert_silent(socket: &UdpSocket) {
    let mut buf = [0u8; 64];
    match socket.try_recv(&mut buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("expected no datagram, got {other:?}"),
    }
}

/// The name part of an echo reply: everything before the first `": "`.
pub fn who(reply: &str) -> &str {
    reply.split(": ").next().unwrap_or(reply)
}

/// A WebSocket client connected to `ws://<addr><path>`.
pub async fn ws_client(
    addr: SocketAddr,
    path: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>> {
    let url = format!("ws://{addr}{path}");
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("handshake in time")
        .expect("handshake");
    ws
}

/// The next data message on a WebSocket, failing the test after [`WAIT`].
pub async fn ws_recv<S>(ws: &mut S) -> Message
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("connection open")
            .expect("a message");
        if !matches!(m, Message::Ping(_) | Message::Pong(_)) {
            return m;
        }
    }
}

/// The running cluster `cluster`, as seen by listener `listener`'s routing, for its counters.
pub fn cluster(
    proxy: &Proxy,
    listener: &str,
    cluster: &str,
) -> std::sync::Arc<l7mp::cluster::Cluster> {
    proxy
        .listener(listener)
        .expect("listener")
        .routing
        .load()
        .cluster(cluster)
        .expect("cluster")
        .clone()
}

/// Asserts that nothing arrives on `socket` for `quiet`. Use only after an `eventually` has
/// shown that the message in question went as far as it should.
pub async fn assert_no_datagram(socket: &UdpSocket, quiet: Duration) {
    let mut buf = vec![0u8; 65_536];
    if let Ok(r) = tokio::time::timeout(quiet, socket.recv(&mut buf)).await {
        panic!("expected silence, got {r:?}");
    }
}

/// Reads a stream until the peer closes it (or resets it), failing the test after [`WAIT`].
pub async fn read_to_close<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut out))
        .await
        .expect("the peer closes in time");
    out
}

/// The proxy binary, without its admin and metrics endpoints (tests run side by side and would
/// all claim the default ports).
pub fn l7mp_binary() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_l7mp"));
    cmd.args(["--admin-address", "none", "--metrics-address", "none"]);
    cmd
}

/// A child process that is killed if the test fails before it stops it, so that no proxy
/// outlives its test (and holds the test runner's output open).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
