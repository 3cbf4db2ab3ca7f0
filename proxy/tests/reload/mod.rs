//! Hot reload over real sockets: the proxy follows a config file that changes the way a
//! ConfigMap volume changes (or as a plain file is edited), applies only what changed, keeps the
//! sessions the change does not touch, and never replaces a good config with a bad one.

mod bad_inputs;
mod in_place;
mod kubelet;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use kubelet::ConfigMapVolume;
use l7mp::proxy::{Options, Proxy, View, Workers};
use l7mp::reload::watch::WatchMode;
use l7mp::reload::{ReloadOptions, ReloadStatus};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// A proxy under its reload controller, running until dropped.
struct Reloading {
    status: Arc<ReloadStatus>,
    view: Arc<View>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _signals: Option<tokio::sync::RwLockReadGuard<'static, ()>>,
}

/// The reload options the tests use unless they say otherwise: inotify, a short debounce and a
/// re-check every half second.
fn options(path: std::path::PathBuf, drain: Duration) -> ReloadOptions {
    ReloadOptions {
        path,
        mode: WatchMode::Inotify,
        debounce: Duration::from_millis(50),
        recheck: Duration::from_millis(500),
        drain,
    }
}

impl Reloading {
    async fn start(path: std::path::PathBuf, drain: Duration) -> Self {
        Self::start_with(options(path, drain)).await
    }

    async fn start_with(reload: ReloadOptions) -> Self {
        let signals = SIGNALS.read().await;
        Self::launch(reload, Some(signals)).await
    }

    /// Starts without taking [`SIGNALS`]: for the test that holds it exclusively.
    async fn launch(
        reload: ReloadOptions,
        signals: Option<tokio::sync::RwLockReadGuard<'static, ()>>,
    ) -> Self {
        let path = reload.path.clone();
        let text = std::fs::read_to_string(&path).unwrap();
        let loaded = l7mp_config::load_str("config.yaml", &text).unwrap();
        let options = Options {
            bind_address: Some([127, 0, 0, 1].into()),
            ..Options::default()
        };
        let proxy = Proxy::start(loaded.config, &options, &Workers::current())
            .await
            .unwrap();
        let status = Arc::new(ReloadStatus::default());
        status.record_success(&loaded.sha256, Arc::new(loaded.text));
        let view = proxy.view();
        let stop = CancellationToken::new();
        let (s, token) = (status.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let proxy = l7mp::reload::run(proxy, reload, s, token.cancelled_owned()).await;
            proxy.stop().await;
        });
        Self {
            status,
            view,
            stop,
            task,
            _signals: signals,
        }
    }

    async fn generation_reaches(&self, generation: u64) {
        let status = self.status.clone();
        eventually(&format!("generation {generation}"), || {
            status.generation() >= generation
        })
        .await;
    }

    async fn failures_reach(&self, failures: u64) {
        let status = self.status.clone();
        eventually(&format!("{failures} failed reloads"), || {
            status.reloads_failed.get() >= failures
        })
        .await;
    }

    async fn shutdown(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

/// A UDP listener `name` on `port` routed to a UDP endpoint at `to`.
fn udp_listener(name: &str, port: u16, to: SocketAddr) -> String {
    format!(
        "  - name: {name}\n    spec: {{protocol: UDP, port: {port}}}\n    rules:\n      \
         - action: {{route: {{destination: {{spec: {{protocol: UDP, port: {}}}, \
         endpoints: [{{spec: {{address: 127.0.0.1}}}}]}}}}}}\n",
        to.port()
    )
}

/// The reply to the first datagram of a new UDP session to the proxy's listener on `port`.
async fn first_reply(port: u16, message: &[u8]) -> bytes::Bytes {
    udp_roundtrip(&udp_client(local(port)).await, message).await
}

fn config(listeners: &[String]) -> String {
    format!("listeners:\n{}", listeners.concat())
}

#[tokio::test]
async fn an_added_listener_serves_after_a_configmap_swap_and_identical_content_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let echo = udp_echo("e: ").await;
    let (p1, p2) = (reserved_port(), reserved_port());
    let first = config(&[udp_listener("a", p1, echo)]);
    let mut volume = ConfigMapVolume::new(dir.path(), "config.yaml", &first);
    let proxy = Reloading::start(volume.path(), Duration::from_secs(1)).await;

    volume.update(&config(&[
        udp_listener("a", p1, echo),
        udp_listener("b", p2, echo),
    ]));
    proxy.generation_reaches(2).await;
    assert_eq!(first_reply(p2, b"new").await, "e: new");

    // The same bytes again: nothing is reloaded.
    volume.update(&config(&[
        udp_listener("a", p1, echo),
        udp_listener("b", p2, echo),
    ]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(proxy.status.generation(), 2);
    assert_eq!(proxy.status.reloads_ok.get(), 2);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_udp_flow_through_an_unchanged_listener_loses_nothing_across_50_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let echo = udp_echo("e: ").await;
    let other = udp_echo("o: ").await;
    let (port, spare) = (reserved_port(), reserved_port());
    let mut volume = ConfigMapVolume::new(
        dir.path(),
        "config.yaml",
        &config(&[udp_listener("a", port, echo)]),
    );
    let proxy = Reloading::start(volume.path(), Duration::from_secs(1)).await;
    let client = udp_client(local(port)).await;
    let mut sent = 0;
    for round in 0..50u64 {
        // Every other swap adds a listener, the others remove it.
        let mut listeners = vec![udp_listener("a", port, echo)];
        if round % 2 == 0 {
            listeners.push(udp_listener("spare", spare, other));
        }
        volume.update(&config(&listeners));
        // Traffic keeps flowing while the proxy reloads.
        while proxy.status.generation() < round + 2 {
            let msg = format!("m{sent}");
            assert_eq!(
                udp_roundtrip(&client, msg.as_bytes()).await,
                format!("e: {msg}")
            );
            sent += 1;
        }
    }
    let a = proxy.view.listener("a").unwrap();
    assert_eq!(
        a.stats.sessions_total.get(),
        1,
        "the session was kept across every reload"
    );
    assert_eq!(a.stats.traffic.rx_packets.get(), sent);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_tcp_connection_keeps_its_route_while_new_ones_take_the_new_route() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (tcp_echo("old: ").await, tcp_echo("new: ").await);
    let port = reserved_port();
    let tcp = |to: SocketAddr| {
        format!(
            "listeners:\n  - name: t\n    spec: {{protocol: TCP, port: {port}}}\n    rules:\n      \
             - action: {{route: {{destination: {{spec: {{protocol: TCP, port: {}}}, \
             endpoints: [{{spec: {{address: 127.0.0.1}}}}]}}}}}}\n",
            to.port()
        )
    };
    let mut volume = ConfigMapVolume::new(dir.path(), "config.yaml", &tcp(old));
    let proxy = Reloading::start(volume.path(), Duration::from_secs(1)).await;
    let mut first = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    first.write_all(b"1").await.unwrap();
    assert_eq!(tcp_read_exact(&mut first, 6).await, b"old: 1");

    volume.update(&tcp(new));
    proxy.generation_reaches(2).await;
    first.write_all(b"2").await.unwrap();
    assert_eq!(tcp_read_exact(&mut first, 6).await, b"old: 2");
    let mut second = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    second.write_all(b"3").await.unwrap();
    assert_eq!(tcp_read_exact(&mut second, 6).await, b"new: 3");
    assert_eq!(
        proxy.view.listener("t").unwrap().stats.sessions_total.get(),
        2
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_removed_listener_drains_then_closes() {
    let dir = tempfile::tempdir().unwrap();
    let echo = tcp_echo("e: ").await;
    let port = reserved_port();
    let listener = format!(
        "listeners:\n  - name: t\n    spec: {{protocol: TCP, port: {port}}}\n    rules:\n      \
         - action: {{route: {{destination: {{spec: {{protocol: TCP, port: {}}}, \
         endpoints: [{{spec: {{address: 127.0.0.1}}}}]}}}}}}\n",
        echo.port()
    );
    let mut volume = ConfigMapVolume::new(dir.path(), "config.yaml", &listener);
    let proxy = Reloading::start(volume.path(), Duration::from_millis(800)).await;
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    conn.write_all(b"1").await.unwrap();
    assert_eq!(tcp_read_exact(&mut conn, 4).await, b"e: 1");

    volume.update("listeners: []\n");
    proxy.generation_reaches(2).await;
    // Draining: the session still works, new connections are not accepted.
    conn.write_all(b"2").await.unwrap();
    assert_eq!(tcp_read_exact(&mut conn, 4).await, b"e: 2");
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    // After the drain deadline the session is closed.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        WAIT,
        tokio::io::AsyncReadExt::read_to_end(&mut conn, &mut rest),
    )
    .await;
    assert!(
        matches!(read, Ok(Ok(0))),
        "closed after the drain: {read:?}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn bad_files_never_replace_the_running_config() {
    let dir = tempfile::tempdir().unwrap();
    let echo = udp_echo("e: ").await;
    let port = reserved_port();
    let good = config(&[udp_listener("a", port, echo)]);
    let mut volume = ConfigMapVolume::new(dir.path(), "config.yaml", &good);
    let proxy = Reloading::start(volume.path(), Duration::from_secs(1)).await;
    let client = udp_client(local(port)).await;
    let still_serving = || async { assert_eq!(udp_roundtrip(&client, b"x").await, "e: x") };

    volume.update("listeners: [\n");
    proxy.failures_reach(1).await;
    assert!(proxy.status.last_error().unwrap().contains("invalid YAML"));
    still_serving().await;

    // A port that is taken: the whole new config is refused, including its good listener.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let other = reserved_port();
    volume.update(&format!(
        "{}  - name: busy\n    spec: {{protocol: TCP, port: {taken_port}}}\n    rules: [{{action: {{route: {{destination: {{spec: {{protocol: Echo}}}}}}}}}}]\n",
        config(&[udp_listener("a", port, echo), udp_listener("b", other, echo)])
    ));
    proxy.failures_reach(2).await;
    assert!(proxy.status.last_error().unwrap().contains("busy"));
    assert!(proxy.view.listener("b").is_none());
    still_serving().await;

    // An empty file is final (a ConfigMap swap never shows a half-written one): rejected and
    // counted like any other invalid file.
    volume.update("");
    proxy.failures_reach(3).await;
    assert!(proxy.status.last_error().unwrap().contains("no content"));
    assert!(!proxy.status.last_ok());
    still_serving().await;

    // The next good file is applied.
    volume.update(&config(&[
        udp_listener("a", port, echo),
        udp_listener("b", other, echo),
    ]));
    proxy.generation_reaches(2).await;
    still_serving().await;
    drop(taken);
    proxy.shutdown().await;
}

#[tokio::test]
async fn plain_files_edited_in_place_or_replaced_by_rename_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let echo = udp_echo("e: ").await;
    let (p1, p2, p3) = (reserved_port(), reserved_port(), reserved_port());
    let path = dir.path().join("l7mp.yaml");
    std::fs::write(&path, config(&[udp_listener("a", p1, echo)])).unwrap();
    let proxy = Reloading::start(path.clone(), Duration::from_secs(1)).await;

    std::fs::write(
        &path,
        config(&[udp_listener("a", p1, echo), udp_listener("b", p2, echo)]),
    )
    .unwrap();
    proxy.generation_reaches(2).await;

    let tmp = dir.path().join(".l7mp.yaml.tmp");
    std::fs::write(&tmp, config(&[udp_listener("c", p3, echo)])).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    proxy.generation_reaches(3).await;
    assert_eq!(first_reply(p3, b"c").await, "e: c");
    assert!(proxy.view.listener("a").is_none());
    proxy.shutdown().await;
}
