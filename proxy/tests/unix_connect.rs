//! A Unix stream cluster connect that meets a busy server (its listen backlog full: EAGAIN)
//! or one that is not listening yet (ECONNREFUSED) is retried within the route's timeout, so
//! the session goes through once the server catches up instead of failing at once.

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

use crate::common::*;
use socket2::{Domain, SockAddr, Socket, Type};
use tokio::io::AsyncWriteExt;

/// A TCP listener on `port` routed to the Unix stream socket at `path`, with a 5 s connect
/// timeout and no retries: whatever retrying happens is the connect's own.
fn config(port: u16, path: &Path) -> String {
    format!(
        "listeners:\n  - name: in\n    spec: {{protocol: TCP, port: {port}}}\n    rules:\n      \
         - action:\n          route:\n            destination: uds\n            \
         retry: {{retry_on: never, timeout: 5000}}\n\
         clusters:\n  - name: uds\n    spec: {{protocol: UnixDomainSocket}}\n    \
         endpoints: [{{spec: {{address: \"{}\"}}}}]\n",
        path.display()
    )
}

/// Answers every connection `listener` accepts with what it reads, prefixed by "uds: ".
fn serve(listener: UnixListener) {
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::UnixListener::from_std(listener).expect("register");
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = w.write_all(b"uds: ").await;
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
}

/// Sends "hi" through the proxy on `port` and expects the server's answer.
async fn roundtrip(port: u16) {
    let mut client = tcp_client(local(port)).await;
    client.write_all(b"hi").await.expect("write");
    assert_eq!(read_exact_in_time(&mut client, 7).await, b"uds: hi");
}

#[tokio::test]
async fn a_full_listen_backlog_is_waited_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("busy.sock");
    let server = Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
    server.bind(&SockAddr::unix(&path).unwrap()).expect("bind");
    server.listen(1).expect("listen");
    // Fill the backlog: connects that the server does not accept yet, until one is refused
    // for lack of room.
    let mut waiting = Vec::new();
    loop {
        let c = Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
        c.set_nonblocking(true).expect("nonblocking");
        match c.connect(&SockAddr::unix(&path).unwrap()) {
            Ok(()) => waiting.push(c),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("connect: {e}"),
        }
        assert!(waiting.len() < 64, "the backlog never filled");
    }
    let port = reserved_port();
    let proxy = start_proxy(&config(port, &path)).await;
    let session = tokio::spawn(roundtrip(port));
    // Let the proxy meet the full backlog before the server starts accepting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    serve(UnixListener::from(std::os::fd::OwnedFd::from(server)));
    session.await.expect("the session went through");
    let stats = &proxy.cluster("uds").expect("cluster").stats;
    assert_eq!(stats.connect_failures.get(), 0);
    drop(waiting);
    proxy.stop().await;
}

#[tokio::test]
async fn a_server_that_starts_late_is_waited_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("late.sock");
    // A stale file: connects are refused until the server binds again.
    drop(UnixListener::bind(&path).expect("bind"));
    let port = reserved_port();
    let proxy = start_proxy(&config(port, &path)).await;
    let session = tokio::spawn(roundtrip(port));
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::remove_file(&path).expect("remove the stale file");
    serve(UnixListener::bind(&path).expect("bind"));
    session.await.expect("the session went through");
    let stats = &proxy.cluster("uds").expect("cluster").stats;
    assert_eq!(stats.connect_failures.get(), 0);
    proxy.stop().await;
}
