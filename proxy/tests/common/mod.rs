//! Shared helpers for the proxy's integration tests: a proxy started in-process from YAML text,
//! and echo servers of every protocol on real loopback sockets. Every wait is bounded, so a
//! broken proxy fails a test instead of hanging it.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use l7mp::proxy::{Options, Proxy, Workers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket, UnixListener};
use tokio_seqpacket::UnixSeqpacketListener;
use tokio_tungstenite::tungstenite::Message;

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
    };
    Proxy::start(loaded.config, &options, &Workers::current())
        .await
        .expect("proxy starts")
}

/// A port that is free for both UDP and TCP on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind udp");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
}

/// A loopback address with a free port.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()))
}

fn prefixed(prefix: &str, data: &[u8]) -> Vec<u8> {
    let mut out = prefix.as_bytes().to_vec();
    out.extend_from_slice(data);
    out
}

/// A UDP server that answers each datagram with `prefix` + the datagram.
pub async fn udp_echo(prefix: &str) -> SocketAddr {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
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

/// A TCP server that answers each chunk it reads with `prefix` + the chunk.
pub async fn tcp_echo(prefix: &str) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let prefix = prefix.to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let prefix = prefix.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&prefixed(&prefix, &buf[..n])).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A Unix stream server at `path` answering each chunk with `prefix` + the chunk.
pub fn unix_echo(path: &Path, prefix: &str) {
    let listener = UnixListener::bind(path).expect("bind unix");
    let prefix = prefix.to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let prefix = prefix.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&prefixed(&prefix, &buf[..n])).await.is_err() {
                        break;
                    }
                }
            });
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
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let prefix = prefix.to_string();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let prefix = prefix.clone();
            tokio::spawn(async move {
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
            });
        }
    });
    addr
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
pub async fn read_to_close<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut out))
        .await
        .expect("the peer closes in time");
    out
}
