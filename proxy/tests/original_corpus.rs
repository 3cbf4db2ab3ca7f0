//! The corpus in `tests/data/original/`: configs written the way the original l7mp's example
//! configs are (its keys, its flow style, its lenient path spellings), with the parts that
//! needed its REST API replaced. For each file, `l7mp --validate` accepts it as written, and a
//! proxy process started from it (ports and socket paths moved to free ones) carries real
//! traffic over every listener the file declares.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// How long a proxy may take to start serving (the machine may be busy building).
const START: Duration = Duration::from_secs(20);

/// The corpus file `name`, as written.
fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/original")
        .join(name)
}

/// Runs `l7mp --validate` on `file`, asserts exit 0 and returns what it printed on stderr
/// (the warnings).
fn validate(file: &Path) -> String {
    let out = l7mp_binary()
        .arg("--validate")
        .arg(file)
        .output()
        .expect("run l7mp --validate");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}: {stderr}", file.display());
    stderr
}

/// A proxy process running a corpus file, with its admin endpoint on a reserved port and its
/// stdout (where Logger and Stdio clusters write) in a file.
struct Running {
    child: KillOnDrop,
    admin: SocketAddr,
    stdout: PathBuf,
    dir: tempfile::TempDir,
}

/// Validates corpus file `name` as written, then starts a proxy on a copy in which each
/// `(from, to)` of `moves` is replaced (every `from` must occur: a stale move is a test bug),
/// and waits until the proxy reports ready.
async fn start(name: &str, moves: &[(&str, String)]) -> Running {
    let original = corpus(name);
    validate(&original);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = std::fs::read_to_string(&original).expect("read the corpus file");
    for (from, to) in moves {
        assert!(text.contains(from), "{name} has no {from:?}");
        text = text.replace(from, to);
    }
    let file = dir.path().join(name);
    std::fs::write(&file, text).expect("write the moved copy");
    let admin = reserved_addr();
    let stdout = dir.path().join("stdout");
    let stderr = std::fs::File::create(dir.path().join("stderr")).expect("stderr file");
    let child = Command::new(env!("CARGO_BIN_EXE_l7mp"))
        .arg("--config")
        .arg(&file)
        .args(["--metrics-address", "none", "--admin-address"])
        .arg(admin.to_string())
        .args(["--bind-address", "127.0.0.1", "--workers", "1"])
        .args(["--log-level", "info", "--drain-timeout", "0.1"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(stderr)
        .spawn()
        .expect("start l7mp");
    let mut running = Running {
        child: KillOnDrop(child),
        admin,
        stdout,
        dir,
    };
    running.wait_ready(name).await;
    running
}

impl Running {
    async fn wait_ready(&mut self, name: &str) {
        let deadline = Instant::now() + START;
        loop {
            if let Ok(Some(status)) = self.child.0.try_wait() {
                panic!("{name}: l7mp exited with {status}: {}", self.stderr());
            }
            if http_get(self.admin, "/readyz")
                .await
                .is_some_and(|r| r.starts_with("HTTP/1.1 200"))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: not ready: {}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// What the proxy wrote on stdout so far.
    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Waits until stdout holds `text`.
    async fn wait_stdout(&self, text: &str) {
        eventually(&format!("{text:?} on stdout"), || {
            self.stdout().contains(text)
        })
        .await;
    }

    /// The body of an admin endpoint page.
    async fn admin(&self, path: &str) -> String {
        let response = http_get(self.admin, path).await.expect("admin answers");
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }

    /// Stops the proxy with SIGTERM and asserts that it exits 0.
    fn stop(mut self) {
        let pid = i32::try_from(self.child.0.id()).expect("pid");
        // SAFETY: kill(2) on the child this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + START;
        let status = loop {
            if let Some(status) = self.child.0.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "l7mp did not stop");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.code(), Some(0), "{}", self.stderr());
    }
}

/// One HTTP/1.1 GET; the whole response, or `None` when nothing answers.
async fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: l7mp\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// A WebSocket server on `addr` that records each upgrade request's headers and answers each
/// message with a binary `prefix` + the message.
async fn ws_server_on(addr: SocketAddr, prefix: &str) -> (SocketAddr, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind(addr).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (seen, prefix) = (log.clone(), prefix.to_string());
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let (seen, prefix) = (seen.clone(), prefix.clone());
            tokio::spawn(async move {
                // The signature is tungstenite's handshake callback; its error is a response.
                #[allow(clippy::result_large_err)]
                let callback = |req: &Request, resp: Response| {
                    let headers: serde_json::Map<String, Value> = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().into()))
                        .collect();
                    seen.lock().expect("lock").push(Value::Object(headers));
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(s, callback).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_binary() || m.is_text() {
                        let reply = [prefix.as_bytes(), &m.into_data()].concat();
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

/// A WebSocket client of `ws://127.0.0.1:<port><path>` sending `headers` with its request.
async fn ws_connect(
    port: u16,
    path: &str,
    headers: &[(&'static str, &'static str)],
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>> {
    let mut request = format!("ws://127.0.0.1:{port}{path}")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_static(value));
    }
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("handshake in time")
        .expect("handshake");
    ws
}

#[tokio::test]
async fn minimal_serves_tcp_echo() {
    let port = reserved_port();
    let proxy = start("minimal.yaml", &[("9100", port.to_string())]).await;
    let mut client = tcp_client(local(port)).await;
    client.write_all(b"hello").await.expect("send");
    assert_eq!(tcp_read_exact(&mut client, 5).await, b"hello");
    proxy.stop();
}

#[tokio::test]
async fn simple_chains_a_udp_singleton_through_a_websocket_transform_both_ways() {
    let (port, peer_port) = (reserved_port(), reserved_port());
    let up = ws_echo("up: ").await;
    // The singleton listener connects to its peer at start, so the peer is there first.
    let peer = udp_client_at(local(peer_port), local(port)).await;
    let proxy = start(
        "simple.yaml",
        &[
            ("9999", port.to_string()),
            ("5555", peer_port.to_string()),
            ("8080", up.port().to_string()),
        ],
    )
    .await;
    // In through `up`, turned around by Echo, out through `up` again.
    assert_eq!(udp_ask(&peer, "hello").await, "up: up: hello");
    proxy.stop();
}

#[tokio::test]
async fn rewrite_gives_the_websocket_request_its_headers_and_logs_both_ways() {
    let port = reserved_port();
    let (up, seen) = ws_server_on(local(0), "up: ").await;
    let warnings = validate(&corpus("rewrite.yaml"));
    assert!(
        warnings.contains("warning") && warnings.contains("/HTTP/headers"),
        "{warnings}"
    );
    let proxy = start(
        "rewrite.yaml",
        &[("9998", port.to_string()), ("8081", up.port().to_string())],
    )
    .await;
    let client = udp_client(local(port)).await;
    assert_eq!(udp_ask(&client, "hello\n").await, "up: hello\n");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["session_id"], "1");
    assert_eq!(seen[0]["cookies"], "test: test");
    proxy.wait_stdout("ingress: hello\n").await;
    proxy.wait_stdout("egress: up: hello\n").await;
    proxy.stop();
}

#[tokio::test]
async fn rule_test_routes_by_path_to_echo_or_stdio_and_tracks_ended_sessions() {
    let port = reserved_port();
    let proxy = start("rule-test.yaml", &[("9997", port.to_string())]).await;
    let mut admin = ws_connect(port, "/admin/status", &[]).await;
    admin
        .send(Message::Text("ping".into()))
        .await
        .expect("send");
    assert_eq!(ws_recv(&mut admin).await, Message::Text("ping".into()));
    admin.close(None).await.expect("close");
    let mut other = ws_connect(port, "/other", &[]).await;
    other
        .send(Message::Text("to stdout\n".into()))
        .await
        .expect("send");
    proxy.wait_stdout("to stdout\n").await;
    // `track: 3600`: the ended /admin session is still listed, with its end time.
    let deadline = Instant::now() + WAIT;
    loop {
        let sessions: Value =
            serde_json::from_str(&proxy.admin("/sessions").await).expect("JSON sessions");
        let ended = sessions
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["listener"] == "ws-l" && s["ended"].is_u64())
            .count();
        if ended == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no ended session listed: {sessions}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.stop();
}

#[tokio::test]
async fn sync_test_joins_websocket_clients_with_the_same_id_header() {
    let port = reserved_port();
    let proxy = start("sync-test.yaml", &[("9000", port.to_string())]).await;
    let mut a = ws_connect(port, "/", &[("id", "42")]).await;
    let mut b = ws_connect(port, "/", &[("id", "42")]).await;
    a.send(Message::Text("from a".into())).await.expect("send");
    assert_eq!(ws_recv(&mut b).await.into_data().as_ref(), b"from a");
    b.send(Message::Text("from b".into())).await.expect("send");
    assert_eq!(ws_recv(&mut a).await.into_data().as_ref(), b"from b");
    proxy.stop();
}

#[tokio::test]
async fn udp_udp_joins_the_sessions_of_two_listeners_by_their_rewritten_label() {
    let (one, two) = (reserved_port(), reserved_port());
    let proxy = start(
        "udp-udp.yaml",
        &[("9001", one.to_string()), ("9002", two.to_string())],
    )
    .await;
    let a = udp_client(local(one)).await;
    let b = udp_client(local(two)).await;
    // What `a` sends while alone is held for the first member to join.
    a.send(b"from a").await.expect("send");
    b.send(b"from b").await.expect("send");
    assert_eq!(udp_recv(&b).await.as_ref(), b"from a");
    assert_eq!(udp_recv(&a).await.as_ref(), b"from b");
    proxy.stop();
}

#[tokio::test]
async fn uds_echo_serves_a_unix_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("uds-echo.sock");
    let proxy = start(
        "uds-echo.yaml",
        &[("/var/run/sock/uds-echo.sock", path.display().to_string())],
    )
    .await;
    let mut client = UnixStream::connect(&path).await.expect("connect");
    client.write_all(b"hello").await.expect("send");
    assert_eq!(read_exact_in_time(&mut client, 5).await, b"hello");
    proxy.stop();
}

#[tokio::test]
async fn metric_prometheus_counts_both_services_on_the_admin_endpoint() {
    let (l1, l2) = (reserved_port(), reserved_port());
    let (u1, u2) = (udp_echo("one: ").await, udp_echo("two: ").await);
    let proxy = start(
        "metric-prometheus.yaml",
        &[
            ("15000", l1.to_string()),
            ("15001", l2.to_string()),
            ("16000", u1.port().to_string()),
            ("16001", u2.port().to_string()),
        ],
    )
    .await;
    assert_eq!(udp_ask(&udp_client(local(l1)).await, "hi").await, "one: hi");
    assert_eq!(udp_ask(&udp_client(local(l2)).await, "yo").await, "two: yo");
    let metrics = proxy.admin("/metrics").await;
    for line in [
        "l7mp_metric_packets_total{counter=\"ingress_packets\"} 2",
        "l7mp_metric_bytes_total{counter=\"ingress_bytes\"} 4",
        "l7mp_metric_packets_total{counter=\"egress-metric-counter\"} 2",
        "l7mp_metric_bytes_total{counter=\"egress-metric-counter\"} 14",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    proxy.stop();
}

#[tokio::test]
async fn load_balancing_sticks_each_source_address_to_its_weighted_endpoint() {
    let ips = [loopback(1), loopback(2), loopback(3)];
    let up = reserved_port();
    let (port, source) = (reserved_port(), reserved_port());
    for ip in ips {
        ws_server_on((ip, up).into(), &format!("{ip}: ")).await;
    }
    let warnings = validate(&corpus("load-balancing.yaml"));
    assert!(warnings.contains("/IP/src_addr"), "{warnings}");
    let proxy = start(
        "load-balancing.yaml",
        &[
            ("15100", port.to_string()),
            ("15101", source.to_string()),
            ("16100", up.to_string()),
        ],
    )
    .await;
    let weighted: Vec<(SocketAddr, u32)> = ips
        .iter()
        .zip([3, 1, 1])
        .map(|(ip, w)| (SocketAddr::from((*ip, up)), w))
        .collect();
    for ip in ips {
        let client = udp_client_at((ip, source).into(), local(port)).await;
        let expected = ips[consistent_hash_choice(&weighted, &ip.to_string())];
        for message in ["first", "second"] {
            assert_eq!(
                udp_ask(&client, message).await,
                format!("{expected}: {message}")
            );
        }
    }
    // The listener takes only peers with source port 15101 (moved): another port gets nothing.
    let stranger = udp_client_at((Ipv4Addr::LOCALHOST, 0).into(), local(port)).await;
    stranger.send(b"hello?").await.expect("send");
    assert_no_datagram(&stranger, Duration::from_millis(300)).await;
    proxy.stop();
}

#[tokio::test]
async fn jsonsocket_routes_by_header_through_encap_and_decap() {
    let port = reserved_port();
    let proxy = start("jsonsocket.yaml", &[("9200", port.to_string())]).await;
    let status = |reply: bytes::Bytes| -> Value {
        let header: Value = serde_json::from_slice(&reply).expect("a JSON status header");
        header["JSONSocketStatus"].clone()
    };
    let alice = udp_client(local(port)).await;
    let header = br#"{"JSONSocketVersion": 1, "user": "alice"}"#;
    assert_eq!(status(udp_roundtrip(&alice, header).await), 200);
    assert_eq!(udp_ask(&alice, "payload").await, "payload");
    // Anyone else matches the wildcard rule (`match: "*"`) and is discarded.
    let bob = udp_client(local(port)).await;
    let header = br#"{"JSONSocketVersion": 1, "user": "bob"}"#;
    assert_eq!(status(udp_roundtrip(&bob, header).await), 200);
    bob.send(b"payload").await.expect("send");
    assert_no_datagram(&bob, Duration::from_millis(300)).await;
    proxy.stop();
}
