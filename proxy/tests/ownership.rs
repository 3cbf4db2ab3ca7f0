//! A listener never takes over what another process serves: a TCP or UDP port held by
//! another `l7mp` or any other program (even one that allows sharing with SO_REUSEPORT), or a
//! Unix socket another process listens on, fails the start (exit 1) or the reload, naming the
//! listener; a stale socket file is reused; and a reload that re-binds a port or path the
//! process itself holds still works.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use socket2::{Domain, Protocol, Socket, Type};

fn write(dir: &Path, name: &str, content: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write config");
    path
}

/// Runs the proxy on `file` until it exits by itself, failing after [`WAIT`].
fn run_to_exit(file: &Path) -> Output {
    let mut child = KillOnDrop(
        l7mp_binary()
            .arg("--config")
            .arg(file)
            .args(["--workers", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("L7MP_LOG")
            .spawn()
            .expect("spawn l7mp"),
    );
    let deadline = Instant::now() + WAIT;
    while child.0.try_wait().expect("try_wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "l7mp did not exit: it serves what another process holds"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut out = Output {
        status: child.0.wait().expect("status"),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    if let Some(mut e) = child.0.stderr.take() {
        e.read_to_end(&mut out.stderr).expect("stderr");
    }
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn echo_listener(name: &str, spec: &str) -> String {
    format!(
        "  - name: {name}\n    spec: {spec}\n    \
         rules: [{{action: {{route: {{destination: echo}}}}}}]\n"
    )
}

fn config(listeners: &[String]) -> String {
    format!(
        "listeners:\n{}clusters:\n  - name: echo\n    spec: {{protocol: Echo}}\n",
        listeners.concat()
    )
}

fn load(yaml: &str) -> l7mp_config::config::Config {
    l7mp_config::load_str("test.yaml", yaml)
        .expect("valid config")
        .config
}

/// A socket on 127.0.0.1:`port` that lets others share the port (SO_REUSEPORT and
/// SO_REUSEADDR), as another program might bind it.
fn sharing_socket(kind: Type, port: u16) -> Socket {
    let protocol = if kind == Type::STREAM {
        Protocol::TCP
    } else {
        Protocol::UDP
    };
    let s = Socket::new(Domain::IPV4, kind, Some(protocol)).expect("socket");
    s.set_reuse_port(true).expect("SO_REUSEPORT");
    s.set_reuse_address(true).expect("SO_REUSEADDR");
    s.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())
        .expect("bind");
    if kind == Type::STREAM {
        s.listen(16).expect("listen");
    }
    s
}

#[tokio::test]
async fn a_second_proxy_on_the_same_ports_exits_1_naming_the_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tcp, udp) = (reserved_port(), reserved_port());
    let file = write(
        dir.path(),
        "proxy.yaml",
        &config(&[
            echo_listener(
                "tcp-in",
                &format!("{{protocol: TCP, port: {tcp}, address: 127.0.0.1}}"),
            ),
            echo_listener(
                "udp-in",
                &format!("{{protocol: UDP, port: {udp}, address: 127.0.0.1}}"),
            ),
        ]),
    );
    let _first = KillOnDrop(
        l7mp_binary()
            .arg("--config")
            .arg(&file)
            .args(["--workers", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the first l7mp"),
    );
    let client = udp_client(local(udp)).await;
    let deadline = Instant::now() + WAIT;
    loop {
        client.send(b"up?").await.expect("send");
        let mut buf = [0u8; 16];
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(50), client.recv(&mut buf)).await
        {
            break;
        }
        assert!(Instant::now() < deadline, "the first proxy never served");
    }
    let out = tokio::task::spawn_blocking(move || run_to_exit(&file))
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("listener \""), "{err}");
    assert!(err.contains("in use by another process"), "{err}");
    // The first proxy still has the whole port.
    for i in 0..20u8 {
        let c = udp_client(local(udp)).await;
        assert_eq!(udp_roundtrip(&c, &[i]).await.as_ref(), &[i]);
    }
}

#[test]
fn ports_another_program_shares_out_refuse_the_start() {
    for (kind, protocol) in [(Type::STREAM, "TCP"), (Type::DGRAM, "UDP")] {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = reserved_port();
        let _held = sharing_socket(kind, port);
        let file = write(
            dir.path(),
            "busy.yaml",
            &config(&[echo_listener(
                "shared",
                &format!("{{protocol: {protocol}, port: {port}, address: 127.0.0.1}}"),
            )]),
        );
        let out = run_to_exit(&file);
        assert_eq!(out.status.code(), Some(1), "{protocol}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "listener \"shared\": cannot bind: {protocol} 127.0.0.1:{port} is in use by \
                 another process"
            )),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_reload_re_binds_its_own_port_but_not_one_another_program_holds() {
    let (port, foreign) = (reserved_port(), reserved_port());
    let tcp = format!("{{protocol: TCP, port: {port}}}");
    let mut proxy = start_proxy(&config(&[echo_listener("in", &tcp)])).await;
    // The same port, now as a WebSocket listener: bound while the TCP one still holds it.
    let ws = format!("{{protocol: WebSocket, port: {port}}}");
    proxy
        .apply(load(&config(&[echo_listener("in", &ws)])), Duration::ZERO)
        .await
        .expect("a reload re-binds the proxy's own port");
    // A connection the kernel queued on the old listener's socket as it closed is reset (see
    // proxy/README.md), so a client may need a second try; the new listener must answer it.
    let url = format!("ws://{}/", local(port));
    let first = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(&url)).await;
    let mut client = match first {
        Ok(Ok((ws, _))) => ws,
        _ => ws_client(local(port), "/").await,
    };
    futures_util::SinkExt::send(&mut client, "hi".into())
        .await
        .expect("send");
    ws_recv(&mut client).await;
    // A new UDP listener on a port another program shares out: the reload fails, names it.
    let _held = sharing_socket(Type::DGRAM, foreign);
    let udp = format!("{{protocol: UDP, port: {foreign}}}");
    let err = proxy
        .apply(
            load(&config(&[
                echo_listener("in", &ws),
                echo_listener("late", &udp),
            ])),
            Duration::ZERO,
        )
        .await
        .expect_err("the port is another program's");
    assert!(
        err.to_string()
            .starts_with("listener \"late\": cannot bind: UDP 127.0.0.1:"),
        "{err}"
    );
    proxy.stop().await;
}

#[test]
fn a_live_unix_socket_is_left_alone_and_fails_the_start() {
    for mode in ["stream", "seqpacket"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("live.sock");
        let live = UnixListener::bind(&path).expect("bind");
        let file = write(
            dir.path(),
            "uds.yaml",
            &config(&[echo_listener(
                "uds",
                &format!(
                    "{{protocol: UnixDomainSocket, filename: \"{}\", mode: {mode}}}",
                    path.display()
                ),
            )]),
        );
        let out = run_to_exit(&file);
        assert_eq!(out.status.code(), Some(1), "{mode}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("listener \"uds\": cannot bind"), "{err}");
        assert!(
            err.contains(&format!("{} is a socket another process", path.display())),
            "{err}"
        );
        // The other process still serves its socket: the file is the one it bound.
        let _client = UnixStream::connect(&path).expect("the live socket still connects");
        live.accept().expect("and its owner accepts");
    }
}

#[tokio::test]
async fn a_stale_socket_file_is_reused_and_a_reload_re_binds_its_own_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stale.sock");
    drop(UnixListener::bind(&path).expect("bind"));
    assert!(path.exists(), "a closed listener leaves its file behind");
    let spec = |mode: &str| {
        format!(
            "{{protocol: UnixDomainSocket, filename: \"{}\", mode: {mode}}}",
            path.display()
        )
    };
    let mut proxy = start_proxy(&config(&[echo_listener("uds", &spec("stream"))])).await;
    let mut s = tokio::net::UnixStream::connect(&path)
        .await
        .expect("serves");
    tokio::io::AsyncWriteExt::write_all(&mut s, b"ping")
        .await
        .expect("write");
    assert_eq!(read_exact_in_time(&mut s, 4).await, b"ping");
    // The same path in another mode: the proxy's own live socket is replaced.
    proxy
        .apply(
            load(&config(&[echo_listener("uds", &spec("seqpacket"))])),
            Duration::ZERO,
        )
        .await
        .expect("a reload re-binds the proxy's own path");
    let s = tokio_seqpacket::UnixSeqpacket::connect(&path)
        .await
        .expect("serves seqpacket");
    s.send(b"ping").await.expect("send");
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(WAIT, s.recv(&mut buf))
        .await
        .expect("in time")
        .expect("recv");
    assert_eq!(&buf[..n.bytes_read()], b"ping");
    // Another program's live socket at a new listener's path fails the reload.
    let other = dir.path().join("other.sock");
    let _live = UnixListener::bind(&other).expect("bind");
    let err = proxy
        .apply(
            load(&config(&[
                echo_listener("uds", &spec("seqpacket")),
                echo_listener(
                    "theirs",
                    &format!(
                        "{{protocol: UnixDomainSocket, filename: \"{}\"}}",
                        other.display()
                    ),
                ),
            ])),
            Duration::ZERO,
        )
        .await
        .expect_err("the socket is another program's");
    assert!(
        err.to_string()
            .starts_with("listener \"theirs\": cannot bind"),
        "{err}"
    );
    assert!(other.exists());
    proxy.stop().await;
}

#[tokio::test]
async fn at_exit_the_proxy_removes_only_its_own_socket_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mine.sock");
    let spec = format!(
        "{{protocol: UnixDomainSocket, filename: \"{}\"}}",
        path.display()
    );
    let proxy = start_proxy(&config(&[echo_listener("uds", &spec)])).await;
    // Someone replaces the file while the proxy runs; it is theirs from now on.
    std::fs::remove_file(&path).expect("remove");
    let theirs = UnixListener::bind(&path).expect("bind");
    proxy.stop().await;
    assert!(
        path.exists(),
        "the proxy removed a file that was not its own"
    );
    let _c = UnixStream::connect(&path).expect("connect");
    theirs.accept().expect("accept");
    let proxy = start_proxy(&config(&[echo_listener(
        "uds",
        &spec.replace("mine.sock", "own.sock"),
    )]))
    .await;
    proxy.stop().await;
    assert!(
        !dir.path().join("own.sock").exists(),
        "its own file is removed"
    );
}
