//! The admin endpoint over real sockets: every endpoint's content before and after a reload,
//! readiness while no valid config has been applied, the read-only contract (405, 404),
//! clients that send garbage, too much or nothing, and the real binary scraped by HTTP.

mod process;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use l7mp::admin::{Admin, Scope};
use l7mp::proxy::{Options, Proxy, View, Workers};
use l7mp::reload::watch::WatchMode;
use l7mp::reload::{ReloadOptions, ReloadStatus};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A proxy under its reload controller with its admin endpoint, running until shut down.
struct Served {
    admin: SocketAddr,
    status: Arc<ReloadStatus>,
    view: Arc<View>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    /// Held for the controller's life: a SIGHUP another test sends would make it re-read.
    _signals: tokio::sync::RwLockReadGuard<'static, ()>,
}

impl Served {
    /// Starts like `l7mp --config path [--wait-for-config]`: an empty proxy and the admin
    /// endpoint first, then the file's config if it is valid.
    async fn start(path: PathBuf) -> Self {
        let signals = SIGNALS.read().await;
        let options = Options {
            bind_address: Some([127, 0, 0, 1].into()),
            ..Options::default()
        };
        let mut proxy = Proxy::start(
            l7mp_config::Config::default(),
            &options,
            &Workers::current(),
        )
        .await
        .unwrap();
        let status = Arc::new(ReloadStatus::default());
        let stop = CancellationToken::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = listener.local_addr().unwrap();
        tokio::spawn(Admin::new(status.clone(), proxy.view()).serve(
            listener,
            Scope::Admin,
            stop.clone().cancelled_owned(),
        ));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Ok(loaded) = l7mp_config::load_str("config.yaml", &text) {
            proxy.apply(loaded.config, Duration::ZERO).await.unwrap();
            status.record_success(&loaded.sha256, Arc::new(loaded.text));
        }
        let view = proxy.view();
        let reload = ReloadOptions {
            path,
            mode: WatchMode::Inotify,
            debounce: Duration::from_millis(50),
            recheck: Duration::from_millis(500),
            drain: Duration::from_millis(200),
        };
        let (s, token) = (status.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let proxy = l7mp::reload::run(proxy, reload, s, token.cancelled_owned()).await;
            proxy.stop().await;
        });
        Self {
            admin,
            status,
            view,
            stop,
            task,
            _signals: signals,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        request(
            self.admin,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"),
        )
        .await
    }

    async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }

    async fn metrics(&self) -> String {
        let r = self.get("/metrics").await;
        assert_eq!(r.status, 200);
        assert!(r.head.contains("Content-Type: text/plain; version=0.0.4"));
        r.body
    }

    async fn shutdown(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

/// Sends `raw` to `to` and reads the whole response (the server closes after it).
async fn request(to: SocketAddr, raw: &str) -> Reply {
    let mut conn = TcpStream::connect(to).await.unwrap();
    conn.write_all(raw.as_bytes()).await.unwrap();
    read_reply(&mut conn).await
}

async fn read_reply(conn: &mut TcpStream) -> Reply {
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, conn.read_to_end(&mut buf))
        .await
        .expect("a response in time")
        .expect("read");
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|l| l.parse().ok())
        .expect("a length");
    assert!(head.contains("Connection: close"));
    if !head.starts_with("HEAD") {
        assert!(body.len() == length || body.is_empty(), "{head}");
    }
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// The value of the sample `series` (name and labels exactly as exposed).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A UDP listener routed to the cluster `up`.
fn udp_listener(name: &str, port: u16) -> String {
    format!(
        "  - name: {name}\n    spec: {{protocol: UDP, port: {port}}}\n    rules:\n      \
         - action: {{route: {{destination: up}}}}\n",
    )
}

fn config(listeners: &[String], upstream: SocketAddr) -> String {
    format!(
        "listeners:\n{}clusters:\n  - name: up\n    spec: {{protocol: UDP, port: {}}}\n    \
         endpoints: [{{spec: {{address: 127.0.0.1}}}}]\n",
        listeners.concat(),
        upstream.port()
    )
}

fn write(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn every_endpoint_follows_a_reload_and_a_failed_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let echo = udp_echo("e: ").await;
    let (p1, p2) = (reserved_port(), reserved_port());
    let first = config(&[udp_listener("a", p1)], echo);
    write(&path, &first);
    let proxy = Served::start(path.clone()).await;

    assert_eq!(proxy.get("/healthz").await.body, "ok\n");
    assert_eq!(proxy.get("/readyz").await.status, 200);
    let c = proxy.json("/config").await;
    assert_eq!(c["generation"], 1);
    assert_eq!(c["sha256"], proxy.status.sha256());
    assert_eq!(c["config"], first);
    assert_eq!(c["last_error"], Value::Null);

    let client = udp_client(([127, 0, 0, 1], p1).into()).await;
    assert_eq!(udp_roundtrip(&client, b"hello").await, "e: hello");
    let m = proxy.metrics().await;
    assert_eq!(sample(&m, "l7mp_config_generation"), Some(1.0));
    let info = format!("l7mp_config_info{{sha256=\"{}\"}}", proxy.status.sha256());
    assert_eq!(sample(&m, &info), Some(1.0));
    assert_eq!(
        sample(&m, "l7mp_config_reloads_total{result=\"ok\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "l7mp_config_reloads_total{result=\"error\"}"),
        Some(0.0)
    );
    assert_eq!(sample(&m, "l7mp_config_last_reload_success"), Some(1.0));
    assert!(sample(&m, "l7mp_config_last_reload_timestamp_seconds").unwrap() > 1.7e9);
    assert_eq!(
        sample(&m, "l7mp_listener_sessions_active{listener=\"a\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "l7mp_listener_sessions_total{listener=\"a\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "l7mp_listener_sessions_refused_total{listener=\"a\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&m, "l7mp_listener_session_errors_total{listener=\"a\"}"),
        Some(0.0)
    );
    let rx = "l7mp_listener_bytes_total{listener=\"a\",direction=\"rx\"}";
    assert_eq!(sample(&m, rx), Some(5.0));
    let tx = "l7mp_listener_packets_total{listener=\"a\",direction=\"tx\"}";
    assert_eq!(sample(&m, tx), Some(1.0));
    assert_eq!(
        sample(&m, "l7mp_cluster_connects_total{cluster=\"up\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "l7mp_cluster_connect_failures_total{cluster=\"up\"}"),
        Some(0.0)
    );
    let up_rx = "l7mp_cluster_bytes_total{cluster=\"up\",direction=\"rx\"}";
    assert_eq!(sample(&m, up_rx), Some(8.0));
    let up_tx = "l7mp_cluster_packets_total{cluster=\"up\",direction=\"tx\"}";
    assert_eq!(sample(&m, up_tx), Some(1.0));

    let s = proxy.json("/sessions").await;
    let s = s.as_array().unwrap();
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["listener"], "a");
    assert!(s[0]["name"].as_str().unwrap().starts_with("UDP:127.0.0.1:"));
    assert!(s[0]["started"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(
        s[0]["stages"],
        serde_json::json!([{"cluster": "up", "endpoint": "up-endpoint-0"}])
    );

    let first_sha = proxy.status.sha256();

    // A good reload: a second listener; the session on the first is kept.
    let second = config(&[udp_listener("a", p1), udp_listener("b", p2)], echo);
    write(&path, &second);
    eventually("generation 2", || proxy.status.generation() >= 2).await;
    let c = proxy.json("/config").await;
    assert_eq!(c["generation"], 2);
    assert_eq!(c["config"], second);
    assert_ne!(c["sha256"], first_sha.as_str());
    let m = proxy.metrics().await;
    assert_eq!(sample(&m, "l7mp_config_generation"), Some(2.0));
    assert!(!m.contains(&info), "the old hash is gone");
    assert_eq!(
        sample(&m, "l7mp_config_reloads_total{result=\"ok\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(&m, "l7mp_listener_sessions_active{listener=\"b\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&m, "l7mp_listener_sessions_active{listener=\"a\"}"),
        Some(1.0)
    );
    assert_eq!(proxy.json("/sessions").await.as_array().unwrap().len(), 1);

    // A bad file: still ready, still the second config, the error shown and counted.
    write(&path, "listeners: [\n");
    eventually("a failed reload", || proxy.status.reloads_failed.get() >= 1).await;
    assert_eq!(proxy.get("/readyz").await.status, 200);
    let c = proxy.json("/config").await;
    assert_eq!(c["generation"], 2);
    assert_eq!(c["config"], second);
    assert!(c["last_error"].as_str().unwrap().contains("invalid"), "{c}");
    let m = proxy.metrics().await;
    assert_eq!(
        sample(&m, "l7mp_config_reloads_total{result=\"error\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&m, "l7mp_config_last_reload_success"), Some(0.0));
    assert_eq!(sample(&m, "l7mp_config_generation"), Some(2.0));
    assert_eq!(udp_roundtrip(&client, b"still").await, "e: still");
    proxy.shutdown().await;
}

#[tokio::test]
async fn not_ready_until_the_first_valid_config_then_ready() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    write(&path, "listeners: [\n");
    let proxy = Served::start(path.clone()).await;

    assert_eq!(proxy.get("/healthz").await.status, 200);
    let r = proxy.get("/readyz").await;
    assert_eq!(r.status, 503, "{r:?}");
    let c = proxy.json("/config").await;
    assert_eq!(c["generation"], 0);
    assert_eq!(c["sha256"], Value::Null);
    assert_eq!(c["config"], Value::Null);
    let m = proxy.metrics().await;
    assert_eq!(sample(&m, "l7mp_config_generation"), Some(0.0));
    assert!(!m.contains("l7mp_config_info{"));
    assert_eq!(proxy.json("/sessions").await, serde_json::json!([]));

    let echo = udp_echo("e: ").await;
    write(&path, &config(&[udp_listener("a", reserved_port())], echo));
    eventually("generation 1", || proxy.status.generation() >= 1).await;
    assert_eq!(proxy.get("/readyz").await.status, 200);
    let m = proxy.metrics().await;
    assert_eq!(sample(&m, "l7mp_config_generation"), Some(1.0));
    assert_eq!(
        sample(&m, "l7mp_listener_sessions_total{listener=\"a\"}"),
        Some(0.0)
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn sessions_are_listed_while_they_run_and_gone_when_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let echo = tcp_echo("e: ").await;
    let port = reserved_port();
    write(
        &path,
        &format!(
            "listeners:\n  - name: t\n    spec: {{protocol: TCP, port: {port}}}\n    rules:\n      \
             - action: {{route: {{destination: {{spec: {{protocol: TCP, port: {}}}, \
             endpoints: [{{spec: {{address: 127.0.0.1}}}}]}}, egress: [{{spec: {{protocol: Echo}}}}]}}}}\n",
            echo.port()
        ),
    );
    let proxy = Served::start(path).await;
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    conn.write_all(b"1").await.unwrap();
    assert_eq!(tcp_read_exact(&mut conn, 4).await, b"e: 1");
    let s = proxy.json("/sessions").await;
    assert_eq!(s.as_array().unwrap().len(), 1, "{s}");
    assert_eq!(s[0]["listener"], "t");
    let stages = s[0]["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2);
    let destination = "t-rules-rule-0-route-destination";
    assert_eq!(stages[0]["cluster"], destination);
    assert_eq!(stages[0]["endpoint"], format!("{destination}-endpoint-0"));
    assert_eq!(stages[1]["endpoint"], "local");
    // The session's own counters, on the client side: one byte in, four out.
    assert_eq!(s[0]["traffic"]["rx_bytes"], 1);
    assert_eq!(s[0]["traffic"]["rx_packets"], 1);
    assert_eq!(s[0]["traffic"]["tx_bytes"], 4);

    drop(conn);
    let t = proxy.view.listener("t").unwrap();
    eventually("the session to end", || t.sessions.is_empty()).await;
    assert_eq!(proxy.json("/sessions").await, serde_json::json!([]));
    assert_eq!(t.stats.sessions_active.get(), 0);
    proxy.shutdown().await;
}

#[tokio::test]
async fn ended_sessions_stay_listed_for_the_listeners_track_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let echo = tcp_echo("e: ").await;
    let (kept, brief) = (reserved_port(), reserved_port());
    let listener = |name: &str, port: u16, track: u64| {
        format!(
            "  - name: {name}\n    spec: {{protocol: TCP, port: {port}}}\n    options: {{track: {track}}}\n    \
             rules: [{{action: {{route: {{destination: up}}}}}}]\n"
        )
    };
    write(
        &path,
        &format!(
            "listeners:\n{}{}clusters:\n  - name: up\n    spec: {{protocol: TCP, port: {}}}\n    \
             endpoints: [{{spec: {{address: 127.0.0.1}}}}]\n",
            listener("kept", kept, 3600),
            listener("brief", brief, 1),
            echo.port()
        ),
    );
    let proxy = Served::start(path).await;
    for port in [kept, brief] {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        assert_eq!(tcp_ask(&mut conn, "e: ", "hi").await, "e: hi");
        let s = proxy.json("/sessions").await;
        let running: Vec<&Value> = s
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["ended"].is_null())
            .collect();
        assert_eq!(running.len(), 1, "{s}");
        drop(conn);
        let name = if port == kept { "kept" } else { "brief" };
        let ctx = proxy.view.listener(name).unwrap();
        eventually("the session to end", || ctx.sessions.is_empty()).await;
    }
    // The session with a 1 s track is dropped from the list; the other one stays, as ended,
    // with what it did.
    let brief = proxy.view.listener("brief").unwrap();
    eventually("the briefly tracked session to go", || {
        brief.sessions.snapshot().is_empty()
    })
    .await;
    let listed = proxy.json("/sessions").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let s = &listed[0];
    assert_eq!(s["listener"], "kept", "{s}");
    assert!(
        s["ended"].as_u64().unwrap() >= s["started"].as_u64().unwrap(),
        "{s}"
    );
    assert_eq!(s["traffic"]["rx_bytes"], 2, "{s}");
    assert_eq!(s["stages"][0]["cluster"], "up", "{s}");
    let metrics = proxy.metrics().await;
    assert_eq!(
        sample(&metrics, "l7mp_listener_sessions_active{listener=\"kept\"}"),
        Some(0.0),
        "a tracked session is not active"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn only_get_and_head_on_known_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    write(&path, "listeners: []\n");
    let proxy = Served::start(path).await;
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get"] {
        let raw = format!("{method} /config HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody");
        let r = request(proxy.admin, &raw).await;
        assert_eq!(r.status, 405, "{method}");
        assert!(r.head.contains("Allow: GET, HEAD"));
    }
    for unknown in ["/", "/metric", "/metrics/x", "/admin", "/../etc/passwd"] {
        assert_eq!(proxy.get(unknown).await.status, 404, "{unknown}");
    }
    let r = request(proxy.admin, "HEAD /metrics HTTP/1.0\r\n\r\n").await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert!(!r.head.contains("Content-Length: 0\r"));
    // Query strings are ignored.
    assert_eq!(proxy.get("/readyz?verbose=1").await.status, 200);
    assert_eq!(proxy.status.generation(), 1, "nothing changed");
    proxy.shutdown().await;
}

#[tokio::test]
async fn garbage_huge_and_slow_clients_get_an_answer_or_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    write(&path, "listeners: []\n");
    let proxy = Served::start(path).await;

    for garbage in [
        "\r\n\r\n",
        "hello\n\n",
        "GET\r\n\r\n",
        "GET /healthz HTTP/9.9\r\n\r\n",
        "GET /healthz HTTP/1.1 x\r\n\r\n",
        "\u{1F980} / HTTP/1.1\r\n\r\n",
    ] {
        let r = request(proxy.admin, garbage).await;
        assert_eq!(r.status, 400, "{garbage:?}");
    }
    let mut binary = TcpStream::connect(proxy.admin).await.unwrap();
    binary
        .write_all(&[0xff, 0x00, 0xfe, b'\n', b'\n'])
        .await
        .unwrap();
    assert_eq!(read_reply(&mut binary).await.status, 400);

    let huge = format!(
        "GET /healthz HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let mut conn = TcpStream::connect(proxy.admin).await.unwrap();
    // The server may stop reading and answer before all of it is written.
    let _ = conn.write_all(huge.as_bytes()).await;
    assert_eq!(read_reply(&mut conn).await.status, 431);

    // A request line with no blank line after it, then end of stream, is still answered.
    let mut half = TcpStream::connect(proxy.admin).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    half.shutdown().await.unwrap();
    assert_eq!(read_reply(&mut half).await.status, 200);

    // A client that connects and says nothing is dropped after the head timeout, and does
    // not hold up anyone else meanwhile.
    let started = tokio::time::Instant::now();
    let mut slow = TcpStream::connect(proxy.admin).await.unwrap();
    slow.write_all(b"GET /hea").await.unwrap();
    assert_eq!(proxy.get("/healthz").await.status, 200);
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(0))),
        "closed without an answer: {read:?}"
    );
    assert!(started.elapsed() >= l7mp::admin::http::HEAD_TIMEOUT - Duration::from_millis(100));

    // Connect and close at once.
    drop(TcpStream::connect(proxy.admin).await.unwrap());
    assert_eq!(proxy.get("/healthz").await.body, "ok\n");
    proxy.shutdown().await;
}

#[tokio::test]
async fn the_binary_serves_metrics_and_readiness_on_its_admin_address() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    write(&path, "listeners: [\n");
    let admin = reserved_addr();
    let mut child = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_l7mp"))
            .arg("--config")
            .arg(&path)
            .args(["--wait-for-config", "--workers", "1", "--log-level", "warn"])
            .args(["--admin-address", &admin.to_string(), "--debounce-ms", "20"])
            // The UDP session below would keep a graceful stop waiting for its drain.
            .args(["--metrics-address", "none", "--drain-timeout", "0.1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let get = |p: &'static str| async move {
        let mut conn = TcpStream::connect(admin).await.ok()?;
        conn.write_all(format!("GET {p} HTTP/1.1\r\n\r\n").as_bytes())
            .await
            .ok()?;
        Some(read_reply(&mut conn).await)
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let not_ready = loop {
        if let Some(r) = get("/readyz").await {
            break r;
        }
        assert!(tokio::time::Instant::now() < deadline, "admin endpoint up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(not_ready.status, 503);

    let port = reserved_port();
    write(
        &path,
        &format!(
            "listeners:\n  - name: in\n    spec: {{protocol: UDP, port: {port}, address: 127.0.0.1}}\n    \
             rules: [{{action: {{route: {{destination: e}}}}}}]\nclusters:\n  - name: e\n    spec: {{protocol: Echo}}\n"
        ),
    );
    loop {
        if get("/readyz").await.is_some_and(|r| r.status == 200) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline + WAIT,
            "ready in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = udp_client(([127, 0, 0, 1], port).into()).await;
    assert_eq!(udp_roundtrip(&client, b"ping").await, "ping");
    let m = get("/metrics").await.unwrap().body;
    assert_eq!(sample(&m, "l7mp_config_generation"), Some(1.0));
    // The invalid file the process started with counts as one failed attempt.
    assert_eq!(
        sample(&m, "l7mp_config_reloads_total{result=\"error\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "l7mp_listener_sessions_total{listener=\"in\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "l7mp_cluster_packets_total{cluster=\"e\",direction=\"rx\"}"
        ),
        Some(1.0)
    );

    // SAFETY: `kill` only sends a signal to the child we started.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}");
}
