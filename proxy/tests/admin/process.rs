//! The `l7mp` binary as a process, seen through its admin and metrics addresses: what each
//! address serves, idle clients that must not lock probes out, a failure that ends when the
//! file goes back to the running config, an empty file, and the graceful stop on SIGTERM.

use std::process::Stdio;

use tokio::net::UnixStream;

use super::*;

/// A running `l7mp --config <dir>/config.yaml` with its admin and metrics endpoints on reserved
/// loopback ports, its stderr kept in `<dir>/stderr.log`; killed if the test fails.
struct Process {
    child: KillOnDrop,
    admin: SocketAddr,
    metrics: SocketAddr,
    dir: tempfile::TempDir,
}

impl Process {
    /// Starts the binary on `config` with `extra` arguments and waits until it is ready.
    async fn start(config: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("config.yaml"), config);
        let (admin, metrics) = (reserved_addr(), reserved_addr());
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_l7mp"))
            .arg("--config")
            .arg(dir.path().join("config.yaml"))
            .args([
                "--workers",
                "1",
                "--log-level",
                "info",
                "--debounce-ms",
                "20",
            ])
            .args(["--admin-address", &admin.to_string()])
            .args(["--metrics-address", &metrics.to_string()])
            .args(extra)
            .env_remove("L7MP_LOG")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let p = Self {
            child: KillOnDrop(child),
            admin,
            metrics,
            dir,
        };
        p.until("ready", |r| r.status == 200, p.admin, "/readyz")
            .await;
        p
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    /// GET `path` from `to`; `None` while nothing listens there.
    async fn try_get(to: SocketAddr, path: &str) -> Option<Reply> {
        let mut conn = TcpStream::connect(to).await.ok()?;
        conn.write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes())
            .await
            .ok()?;
        Some(read_reply(&mut conn).await)
    }

    /// GETs `path` from `to` until the answer satisfies `ok`, failing after [`WAIT`].
    async fn until(
        &self,
        what: &str,
        ok: impl Fn(&Reply) -> bool,
        to: SocketAddr,
        path: &str,
    ) -> Reply {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match Self::try_get(to, path).await {
                Some(r) if ok(&r) => return r,
                last => assert!(
                    tokio::time::Instant::now() < deadline,
                    "{what}: {path} answered {last:?}; stderr:\n{}",
                    self.stderr()
                ),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The metrics once `series` has `value`.
    async fn metric_reaches(&self, series: &str, value: f64) -> String {
        let r = self
            .until(
                &format!("{series} = {value}"),
                |r| sample(&r.body, series) == Some(value),
                self.metrics,
                "/metrics",
            )
            .await;
        r.body
    }

    fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.0.id()).unwrap();
        // SAFETY: kill(2) on the child this test started.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    fn running(&mut self) -> bool {
        self.child.0.try_wait().unwrap().is_none()
    }

    /// Waits (at most [`WAIT`]) for the process to exit and returns its exit code.
    async fn exit_code(mut self) -> Option<i32> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.running() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "l7mp did not exit in time; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.child.0.wait().unwrap().code()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }
}

/// A listener `in` of `spec` whose sessions are answered by an in-proxy Echo.
fn echo_listener(name: &str, spec: &str) -> String {
    format!(
        "  - name: {name}\n    spec: {spec}\n    rules: [{{action: {{route: {{destination: echo}}}}}}]\n"
    )
}

fn echo_config(listeners: &[String]) -> String {
    let listeners = match listeners {
        [] => " []\n".to_string(),
        some => format!("\n{}", some.concat()),
    };
    format!("listeners:{listeners}clusters:\n  - name: echo\n    spec: {{protocol: Echo}}\n")
}

#[tokio::test]
async fn the_metrics_address_serves_health_readiness_and_metrics_only() {
    let port = reserved_port();
    let p = Process::start(
        &echo_config(&[echo_listener(
            "in",
            &format!("{{protocol: UDP, port: {port}, address: 127.0.0.1}}"),
        )]),
        &[],
    )
    .await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = Process::try_get(p.metrics, path).await.unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let m = Process::try_get(p.metrics, "/metrics").await.unwrap().body;
    assert_eq!(sample(&m, "l7mp_config_generation"), Some(1.0));
    // The config's text and the sessions stay on the local admin address.
    for path in ["/config", "/sessions", "/", "/nothing"] {
        let r = Process::try_get(p.metrics, path).await.unwrap();
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    for path in ["/config", "/sessions"] {
        let r = Process::try_get(p.admin, path).await.unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    p.signal(libc::SIGTERM);
    assert_eq!(p.exit_code().await, Some(0));
}

#[test]
fn a_metrics_address_in_use_stops_the_start_with_exit_1_naming_it() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    write(&path, &echo_config(&[]));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_l7mp"))
        .arg("--config")
        .arg(&path)
        .args(["--workers", "1", "--admin-address", "none"])
        .args(["--metrics-address", &taken])
        .env_remove("L7MP_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("--metrics-address {taken}: cannot bind")),
        "{stderr}"
    );
}

/// Opens `count` connections to `to` that never send anything, then asks for `/healthz` as a
/// kubelet probe would: it must be answered within the probe's default timeout (1 s).
async fn health_answers_past_idle_connections(to: SocketAddr, count: usize) {
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        idle.push(TcpStream::connect(to).await.unwrap());
    }
    let probe = async {
        let mut conn = TcpStream::connect(to).await?;
        conn.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").await?;
        let mut buf = Vec::new();
        conn.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf).into_owned())
    };
    let answer = tokio::time::timeout(Duration::from_secs(1), probe).await;
    match answer {
        Ok(Ok(text)) => assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}"),
        other => panic!("/healthz behind {count} idle connections: {other:?}"),
    }
    drop(idle);
}

#[tokio::test]
async fn a_thousand_idle_connections_do_not_keep_probes_waiting() {
    // This process holds a thousand sockets at a time.
    let _ = rlimit::increase_nofile_limit(4096);
    let p = Process::start(&echo_config(&[]), &[]).await;
    health_answers_past_idle_connections(p.metrics, 1000).await;
    health_answers_past_idle_connections(p.admin, 1000).await;
    // Both still serve.
    assert_eq!(
        Process::try_get(p.admin, "/readyz").await.unwrap().status,
        200
    );
    p.signal(libc::SIGTERM);
    assert_eq!(p.exit_code().await, Some(0));
}

#[tokio::test]
async fn restoring_the_running_config_after_a_bad_file_clears_the_failure() {
    let port = reserved_port();
    let good = echo_config(&[echo_listener(
        "in",
        &format!("{{protocol: UDP, port: {port}, address: 127.0.0.1}}"),
    )]);
    // The UDP session below would keep the stop waiting for its drain.
    let p = Process::start(&good, &["--drain-timeout", "0.1"]).await;
    let success = "l7mp_config_last_reload_success";

    write(&p.config_path(), "listeners: [\n");
    p.metric_reaches(success, 0.0).await;
    let config = p.until("", |_| true, p.admin, "/config").await;
    let config: Value = serde_json::from_str(&config.body).unwrap();
    assert!(
        config["last_error"]
            .as_str()
            .unwrap()
            .contains("invalid YAML"),
        "{config}"
    );

    // The very bytes in force again: nothing to apply, and the failure is over.
    write(&p.config_path(), &good);
    let m = p.metric_reaches(success, 1.0).await;
    assert_eq!(sample(&m, "l7mp_config_generation"), Some(1.0));
    assert_eq!(
        sample(&m, "l7mp_config_reloads_total{result=\"error\"}"),
        Some(1.0)
    );
    let config = Process::try_get(p.admin, "/config").await.unwrap();
    let config: Value = serde_json::from_str(&config.body).unwrap();
    assert_eq!(config["last_error"], Value::Null, "{config}");
    assert_eq!(
        Process::try_get(p.metrics, "/readyz").await.unwrap().status,
        200
    );
    let client = udp_client(([127, 0, 0, 1], port).into()).await;
    assert_eq!(udp_roundtrip(&client, b"ping").await, "ping");

    // An empty file is a rejected reload like any other invalid file: counted and logged.
    write(&p.config_path(), "");
    let m = p
        .metric_reaches("l7mp_config_reloads_total{result=\"error\"}", 2.0)
        .await;
    assert_eq!(sample(&m, success), Some(0.0));
    let config = Process::try_get(p.admin, "/config").await.unwrap();
    let config: Value = serde_json::from_str(&config.body).unwrap();
    assert!(
        config["last_error"]
            .as_str()
            .unwrap()
            .contains("no content"),
        "{config}"
    );
    assert_eq!(udp_roundtrip(&client, b"still").await, "still");
    let logged = p.stderr();
    assert!(
        logged.contains("config not applied") && logged.contains("no content"),
        "{logged}"
    );
    p.signal(libc::SIGTERM);
    assert_eq!(p.exit_code().await, Some(0));
}

/// Connects to `addr` until the connection is refused (the listener closed), failing after
/// [`WAIT`].
async fn tcp_refused_soon(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} still accepts"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sigterm_closes_the_listeners_and_waits_for_live_sessions_then_exits_0() {
    let port = reserved_port();
    let sockets = tempfile::tempdir().unwrap();
    let unix = sockets.path().join("in.sock");
    let config = echo_config(&[
        echo_listener(
            "tcp",
            &format!("{{protocol: TCP, port: {port}, address: 127.0.0.1}}"),
        ),
        echo_listener(
            "unix",
            &format!(
                "{{protocol: UnixDomainSocket, filename: {}}}",
                unix.display()
            ),
        ),
    ]);
    // A drain timeout far beyond the test's waits: the process exits because its sessions
    // ended, not because the timeout ran out.
    let mut p = Process::start(&config, &["--drain-timeout", "600"]).await;
    let mut tcp = TcpStream::connect(local(port)).await.unwrap();
    tcp.write_all(b"1").await.unwrap();
    assert_eq!(tcp_read_exact(&mut tcp, 1).await, b"1");
    let mut uds = UnixStream::connect(&unix).await.unwrap();
    uds.write_all(b"a").await.unwrap();
    assert_eq!(read_exact_in_time(&mut uds, 1).await, b"a");

    p.signal(libc::SIGTERM);
    p.until(
        "not ready while draining",
        |r| r.status == 503,
        p.metrics,
        "/readyz",
    )
    .await;
    // No new sessions: the TCP listener is closed, the socket file gone.
    tcp_refused_soon(local(port)).await;
    assert!(UnixStream::connect(&unix).await.is_err());
    // The live sessions keep working.
    tcp.write_all(b"2").await.unwrap();
    assert_eq!(tcp_read_exact(&mut tcp, 1).await, b"2");
    uds.write_all(b"b").await.unwrap();
    assert_eq!(read_exact_in_time(&mut uds, 1).await, b"b");
    assert_eq!(
        Process::try_get(p.admin, "/healthz").await.unwrap().status,
        200
    );
    assert!(p.running(), "the process waits for its sessions");

    drop(tcp);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(p.running(), "one session is still live");
    uds.write_all(b"c").await.unwrap();
    assert_eq!(read_exact_in_time(&mut uds, 1).await, b"c");
    drop(uds);
    assert_eq!(p.exit_code().await, Some(0));
}

#[tokio::test]
async fn a_second_signal_stops_at_once() {
    let port = reserved_port();
    let config = echo_config(&[echo_listener(
        "tcp",
        &format!("{{protocol: TCP, port: {port}, address: 127.0.0.1}}"),
    )]);
    let p = Process::start(&config, &["--drain-timeout", "600"]).await;
    let mut tcp = TcpStream::connect(local(port)).await.unwrap();
    tcp.write_all(b"1").await.unwrap();
    assert_eq!(tcp_read_exact(&mut tcp, 1).await, b"1");

    p.signal(libc::SIGTERM);
    p.until("draining", |r| r.status == 503, p.admin, "/readyz")
        .await;
    p.signal(libc::SIGINT);
    assert_eq!(p.exit_code().await, Some(0));
    // The session was cut.
    assert_eq!(read_to_close(&mut tcp).await, b"");
}

/// The real process after a few sessions: `/metrics` passes `promtool check metrics` (the
/// Prometheus project's own linter), and has the build, the process and the session-duration
/// histogram of the listener, which counts every session that ended.
#[tokio::test]
async fn metrics_pass_promtool_with_build_process_and_session_duration() {
    let port = reserved_port();
    let p = Process::start(
        &echo_config(&[echo_listener(
            "in",
            &format!("{{protocol: TCP, port: {port}, address: 127.0.0.1}}"),
        )]),
        &[],
    )
    .await;
    for _ in 0..3 {
        let mut conn = tcp_client(local(port)).await;
        assert_eq!(tcp_ask(&mut conn, "", "ping").await, "ping");
    }
    let body = p
        .metric_reaches(r#"l7mp_session_duration_seconds_count{listener="in"}"#, 3.0)
        .await;
    let bucket = |le: &str| {
        sample(
            &body,
            &format!(r#"l7mp_session_duration_seconds_bucket{{listener="in",le="{le}"}}"#),
        )
    };
    assert_eq!(bucket("+Inf"), Some(3.0), "{body}");
    assert_eq!(bucket("60"), Some(3.0), "sessions of a moment: {body}");
    let sum = sample(&body, r#"l7mp_session_duration_seconds_sum{listener="in"}"#);
    assert!(sum.is_some_and(|s| s > 0.0 && s < 60.0), "{body}");
    let build = format!(
        r#"l7mp_build_info{{version="{}",commit=""#,
        env!("CARGO_PKG_VERSION")
    );
    assert!(body.contains(&build), "{body}");
    for series in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(
            sample(&body, series).is_some_and(|v| v >= 0.0),
            "{series}: {body}"
        );
    }
    assert!(
        sample(&body, "process_resident_memory_bytes") > Some(1e6),
        "{body}"
    );
    assert!(sample(&body, "process_open_fds") > Some(3.0), "{body}");
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (scripts/setup.sh installs it)");
    use std::io::Write as _;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {out:?}\n{body}"
    );
    p.signal(libc::SIGTERM);
    assert_eq!(p.exit_code().await, Some(0));
}
