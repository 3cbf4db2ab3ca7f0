//! Every listener protocol against every cluster protocol, over real loopback sockets: UDP
//! (server and singleton mode), TCP, WebSocket (binary and text messages), Unix stream and
//! seqpacket listeners, each routed to UDP, TCP, WebSocket, Unix stream, Unix seqpacket and Echo
//! clusters; each case asserts the exact reply bytes of two round trips on one session. Also the
//! listener options that change who gets in: UDP `connect` filtering, the WebSocket `path`, and
//! seqpacket message boundaries.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::common::*;
use futures_util::SinkExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket, UnixStream};
use tokio_seqpacket::UnixSeqpacket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Listener kinds (and how the client talks to them).
#[derive(Clone, Copy, Debug)]
enum L {
    UdpServer,
    UdpSingleton,
    Tcp,
    WsBinary,
    WsText,
    Unix,
    Seqpacket,
}

/// Cluster kinds.
#[derive(Clone, Copy, Debug)]
enum C {
    Udp,
    Tcp,
    Ws,
    Unix,
    Seqpacket,
    Echo,
}

/// Starts the upstream server for `c` and returns the cluster's YAML body (under `- name: out`)
/// and the prefix its replies carry.
async fn upstream(c: C, dir: &Path) -> (String, &'static str) {
    let inet = |proto: &str, addr: SocketAddr| {
        format!(
            "    spec: {{protocol: {proto}, port: {}}}\n    endpoints: [{{spec: {{address: 127.0.0.1}}}}]\n",
            addr.port()
        )
    };
    let unix = |mode: &str, path: &Path| {
        format!(
            "    spec: {{protocol: UnixDomainSocket, mode: {mode}}}\n    endpoints: [{{spec: {{address: \"{}\"}}}}]\n",
            path.display()
        )
    };
    match c {
        C::Udp => (inet("UDP", udp_echo("udp: ").await), "udp: "),
        C::Tcp => (inet("TCP", tcp_echo("tcp: ").await), "tcp: "),
        C::Ws => (inet("WebSocket", ws_echo("ws: ").await), "ws: "),
        C::Unix => {
            let path = dir.join("up.sock");
            unix_echo(&path, "uds: ");
            (unix("stream", &path), "uds: ")
        }
        C::Seqpacket => {
            let path = dir.join("up.seq");
            seqpacket_echo(&path, "seq: ");
            (unix("seqpacket", &path), "seq: ")
        }
        C::Echo => ("    spec: {protocol: Echo}\n".to_string(), ""),
    }
}

/// A client of one listener kind.
enum Client {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Ws(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>, bool),
    Unix(UnixStream),
    Seqpacket(UnixSeqpacket),
}

impl Client {
    /// Sends `msg` and returns the reply, reading `want` bytes from byte streams.
    async fn roundtrip(&mut self, msg: &[u8], want: usize) -> Vec<u8> {
        match self {
            Client::Udp(s) => udp_roundtrip(s, msg).await.to_vec(),
            Client::Tcp(s) => {
                s.write_all(msg).await.expect("write");
                tcp_read_exact(s, want).await
            }
            Client::Unix(s) => {
                s.write_all(msg).await.expect("write");
                read_exact_in_time(s, want).await
            }
            Client::Ws(ws, text) => {
                let m = if *text {
                    Message::Text(String::from_utf8(msg.to_vec()).expect("utf8").into())
                } else {
                    Message::Binary(msg.to_vec().into())
                };
                ws.send(m).await.expect("send");
                // Answered in the client's kind: the replies here are all UTF-8.
                match (ws_recv(ws).await, *text) {
                    (Message::Binary(b), false) => b.to_vec(),
                    (Message::Text(t), true) => t.as_bytes().to_vec(),
                    (other, _) => panic!(
                        "expected a {} message, got {other:?}",
                        if *text { "text" } else { "binary" }
                    ),
                }
            }
            Client::Seqpacket(s) => {
                s.send(msg).await.expect("send");
                seqpacket_recv(s).await
            }
        }
    }
}

async fn seqpacket_recv(s: &UnixSeqpacket) -> Vec<u8> {
    let mut buf = vec![0u8; 65_536];
    let n = tokio::time::timeout(WAIT, s.recv(&mut buf))
        .await
        .expect("a message in time")
        .expect("recv");
    buf.truncate(n.bytes_read());
    buf
}

fn config(listener_spec: &str, cluster_body: &str) -> String {
    format!(
        "listeners:\n  - name: in\n    spec: {listener_spec}\n    rules:\n      \
         - action: {{route: {{destination: out}}}}\nclusters:\n  - name: out\n{cluster_body}"
    )
}

/// Starts a proxy with listener kind `l` routed to cluster kind `c` and a connected client.
async fn setup(l: L, c: C, dir: &Path) -> (l7mp::proxy::Proxy, Client, &'static str) {
    let (cluster_body, prefix) = upstream(c, dir).await;
    let port = reserved_port();
    let proxy_addr = local(port);
    let path = dir.join("in.sock");
    let mut singleton_client = None;
    let spec = match l {
        L::UdpServer => format!("{{protocol: UDP, port: {port}}}"),
        L::UdpSingleton => {
            let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .expect("bind");
            let me = s.local_addr().expect("addr").port();
            singleton_client = Some(s);
            format!("{{protocol: UDP, port: {port}, connect: {{address: 127.0.0.1, port: {me}}}}}")
        }
        L::Tcp => format!("{{protocol: TCP, port: {port}}}"),
        L::WsBinary | L::WsText => format!("{{protocol: WebSocket, port: {port}}}"),
        L::Unix => format!(
            "{{protocol: UnixDomainSocket, filename: \"{}\"}}",
            path.display()
        ),
        L::Seqpacket => format!(
            "{{protocol: UnixDomainSocket, filename: \"{}\", mode: seqpacket}}",
            path.display()
        ),
    };
    let proxy = start_proxy(&config(&spec, &cluster_body)).await;
    let client = match l {
        L::UdpServer => Client::Udp(udp_client(proxy_addr).await),
        L::UdpSingleton => {
            let s = singleton_client.expect("bound above");
            s.connect(proxy_addr).await.expect("connect");
            Client::Udp(s)
        }
        L::Tcp => Client::Tcp(TcpStream::connect(proxy_addr).await.expect("connect")),
        L::WsBinary => Client::Ws(Box::new(ws_client(proxy_addr, "/").await), false),
        L::WsText => Client::Ws(Box::new(ws_client(proxy_addr, "/").await), true),
        L::Unix => Client::Unix(UnixStream::connect(&path).await.expect("connect")),
        L::Seqpacket => Client::Seqpacket(UnixSeqpacket::connect(&path).await.expect("connect")),
    };
    (proxy, client, prefix)
}

async fn case(l: L, c: C) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (proxy, mut client, prefix) = setup(l, c, dir.path()).await;
    for msg in ["hello", "again"] {
        let want = format!("{prefix}{msg}");
        let got = client.roundtrip(msg.as_bytes(), want.len()).await;
        assert_eq!(
            String::from_utf8_lossy(&got),
            want,
            "{l:?} listener -> {c:?} cluster"
        );
    }
    let stats = &proxy.listener("in").expect("listener").stats;
    assert_eq!(stats.sessions_total.get(), 1, "{l:?} -> {c:?}: one session");
    assert_eq!(
        stats.traffic.rx_packets.get(),
        2,
        "{l:?} -> {c:?}: two messages in"
    );
    assert_eq!(stats.session_errors.get(), 0);
    proxy.stop().await;
}

macro_rules! matrix {
    ($($name:ident => $l:ident, $c:ident;)*) => {$(
        #[tokio::test]
        async fn $name() {
            case(L::$l, C::$c).await;
        }
    )*};
}

matrix! {
    udp_server_to_udp => UdpServer, Udp;
    udp_server_to_tcp => UdpServer, Tcp;
    udp_server_to_websocket => UdpServer, Ws;
    udp_server_to_unix_stream => UdpServer, Unix;
    udp_server_to_seqpacket => UdpServer, Seqpacket;
    udp_server_to_echo => UdpServer, Echo;
    udp_singleton_to_udp => UdpSingleton, Udp;
    udp_singleton_to_tcp => UdpSingleton, Tcp;
    udp_singleton_to_websocket => UdpSingleton, Ws;
    udp_singleton_to_unix_stream => UdpSingleton, Unix;
    udp_singleton_to_seqpacket => UdpSingleton, Seqpacket;
    udp_singleton_to_echo => UdpSingleton, Echo;
    tcp_to_udp => Tcp, Udp;
    tcp_to_tcp => Tcp, Tcp;
    tcp_to_websocket => Tcp, Ws;
    tcp_to_unix_stream => Tcp, Unix;
    tcp_to_seqpacket => Tcp, Seqpacket;
    tcp_to_echo => Tcp, Echo;
    websocket_binary_to_udp => WsBinary, Udp;
    websocket_binary_to_tcp => WsBinary, Tcp;
    websocket_binary_to_websocket => WsBinary, Ws;
    websocket_binary_to_unix_stream => WsBinary, Unix;
    websocket_binary_to_seqpacket => WsBinary, Seqpacket;
    websocket_binary_to_echo => WsBinary, Echo;
    websocket_text_to_udp => WsText, Udp;
    websocket_text_to_tcp => WsText, Tcp;
    websocket_text_to_websocket => WsText, Ws;
    websocket_text_to_unix_stream => WsText, Unix;
    websocket_text_to_seqpacket => WsText, Seqpacket;
    websocket_text_to_echo => WsText, Echo;
    unix_stream_to_udp => Unix, Udp;
    unix_stream_to_tcp => Unix, Tcp;
    unix_stream_to_websocket => Unix, Ws;
    unix_stream_to_unix_stream => Unix, Unix;
    unix_stream_to_seqpacket => Unix, Seqpacket;
    unix_stream_to_echo => Unix, Echo;
    seqpacket_to_udp => Seqpacket, Udp;
    seqpacket_to_tcp => Seqpacket, Tcp;
    seqpacket_to_websocket => Seqpacket, Ws;
    seqpacket_to_unix_stream => Seqpacket, Unix;
    seqpacket_to_seqpacket => Seqpacket, Seqpacket;
    seqpacket_to_echo => Seqpacket, Echo;
}

/// A UDP server-mode listener with a `connect` filter ignores every other peer: no reply, no
/// session. The filter here names only the port, so the listener stays in server mode.
#[tokio::test]
async fn udp_connect_port_filter_ignores_other_peers() {
    let echo = udp_echo("echo: ").await;
    let port = reserved_port();
    let proxy_addr = local(port);
    let allowed = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let allowed_port = allowed.local_addr().expect("addr").port();
    let spec = format!("{{protocol: UDP, port: {port}, connect: {{port: {allowed_port}}}}}");
    let body = format!(
        "    spec: {{protocol: UDP, port: {}}}\n    endpoints: [{{spec: {{address: 127.0.0.1}}}}]\n",
        echo.port()
    );
    let proxy = start_proxy(&config(&spec, &body)).await;
    let stranger = udp_client(proxy_addr).await;
    stranger.send(b"let me in").await.expect("send");
    allowed.connect(proxy_addr).await.expect("connect");
    // The listener reads datagrams in order, so once the allowed peer got its reply the
    // stranger's datagram has been looked at already.
    assert_eq!(udp_roundtrip(&allowed, b"hi").await, "echo: hi");
    let stats = &proxy.listener("in").expect("listener").stats;
    assert_eq!(stats.sessions_total.get(), 1);
    assert_no_datagram(&stranger, Duration::from_millis(200)).await;
    proxy.stop().await;
}

/// `connect` with both address and port but `mode: server` stays a server that admits only
/// that exact peer; a second socket on the same address is ignored.
#[tokio::test]
async fn udp_connect_address_and_port_filter_in_server_mode() {
    let port = reserved_port();
    let proxy_addr = local(port);
    let allowed = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let allowed_port = allowed.local_addr().expect("addr").port();
    let spec = format!(
        "{{protocol: UDP, port: {port}, connect: {{address: 127.0.0.1, port: {allowed_port}}}, \
         options: {{mode: server}}}}"
    );
    let proxy = start_proxy(&config(&spec, "    spec: {protocol: Echo}\n")).await;
    let stranger = udp_client(proxy_addr).await;
    stranger.send(b"let me in").await.expect("send");
    allowed.connect(proxy_addr).await.expect("connect");
    assert_eq!(udp_roundtrip(&allowed, b"hi").await, "hi");
    assert_eq!(udp_roundtrip(&allowed, b"again").await, "again");
    let stats = &proxy.listener("in").expect("listener").stats;
    assert_eq!(stats.sessions_total.get(), 1);
    assert_eq!(stats.traffic.rx_packets.get(), 2);
    assert_no_datagram(&stranger, Duration::from_millis(200)).await;
    proxy.stop().await;
}

/// A WebSocket listener with a `path` refuses upgrades for any other path with 404 (counted as
/// a session error) and serves the right one.
#[tokio::test]
async fn websocket_path_refuses_other_paths() {
    let port = reserved_port();
    let proxy_addr = local(port);
    let spec = format!("{{protocol: WebSocket, port: {port}, path: /game}}");
    let proxy = start_proxy(&config(&spec, "    spec: {protocol: Echo}\n")).await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{proxy_addr}/other")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 404);
        }
        other => panic!("expected a 404 refusal, got {:?}", other.map(|_| ())),
    }
    let stats = &proxy.listener("in").expect("listener").stats;
    assert_eq!(stats.session_errors.get(), 1);
    assert_eq!(stats.sessions_total.get(), 0);
    let mut ws = ws_client(proxy_addr, "/game").await;
    ws.send(Message::Binary(b"ping".to_vec().into()))
        .await
        .expect("send");
    assert_eq!(
        ws_recv(&mut ws).await,
        Message::Binary(b"ping".to_vec().into())
    );
    assert_eq!(stats.sessions_total.get(), 1);
    proxy.stop().await;
}

/// A seqpacket listener keeps message boundaries end to end: messages sent back to back come
/// back as the same number of separate messages, to an Echo and through a seqpacket upstream.
#[tokio::test]
async fn seqpacket_keeps_message_boundaries() {
    for c in [C::Echo, C::Seqpacket, C::Udp] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (proxy, client, prefix) = setup(L::Seqpacket, c, dir.path()).await;
        let Client::Seqpacket(s) = client else {
            unreachable!()
        };
        for m in ["a", "bb", "ccc"] {
            s.send(m.as_bytes()).await.expect("send");
        }
        for m in ["a", "bb", "ccc"] {
            assert_eq!(
                String::from_utf8_lossy(&seqpacket_recv(&s).await),
                format!("{prefix}{m}"),
                "{c:?}"
            );
        }
        proxy.stop().await;
    }
}

#[tokio::test]
async fn a_burst_of_udp_replies_arrives_whole_and_in_order() {
    // The upstream answers each request with a burst, so the proxy's hop socket holds several
    // datagrams at once: each must come out once, in order, with its own boundaries, also
    // across the pauses the session takes every 64 datagrams to let other tasks run.
    let upstream = UdpSocket::bind((loopback(1), 0)).await.expect("bind");
    let up = upstream.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = [0u8; 64];
        while let Ok((_, from)) = upstream.recv_from(&mut buf).await {
            for i in 0..150u8 {
                let reply = vec![i; usize::from(i) + 1];
                let _ = upstream.send_to(&reply, from).await;
            }
        }
    });
    let port = reserved_port();
    let proxy = start_proxy(&config(
        &format!("{{protocol: UDP, port: {port}}}"),
        &format!(
            "    spec: {{protocol: UDP, port: {}}}\n    endpoints: [{{spec: {{address: 127.0.0.1}}}}]\n",
            up.port()
        ),
    ))
    .await;
    let client = udp_client((loopback(1), port).into()).await;
    for round in 0..3 {
        client.send(b"go").await.expect("send");
        for i in 0..150u8 {
            let reply = udp_recv(&client).await;
            assert_eq!(reply.to_vec(), vec![i; usize::from(i) + 1], "round {round}");
        }
    }
    proxy.stop().await;
}
