//! Listeners: bound sockets that turn what arrives into sessions, one file per protocol.
//!
//! Every listener is bound before any is served, so a port that is taken fails the start (or,
//! later, a reload) before anything changes. A listener hands each connection (each new UDP
//! peer) to its [`ListenerCtx`], which runs it as a session with the listener's current
//! routing, a slot under its session limit and its stop signal.

mod claim;
mod tcp;
mod udp;
mod unix;
mod websocket;

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use l7mp_config::config::{ListenerConfig, ListenerSocket, UdpPeers};
use l7mp_config::model::{ListenerSpec, UnixMode};
use serde_json::Value;

use crate::session::ListenerCtx;

/// A bound listener socket, ready to serve on one worker. Sockets are bound as plain OS
/// sockets and registered with the async runtime only by `serve`, on the worker that drives
/// them. An IP socket holds its claim on the port for as long as it is open.
pub struct Bound {
    socket: Open,
    claim: Option<claim::Claim>,
}

/// The open socket of a [`Bound`], by protocol.
enum Open {
    /// UDP, one session per peer.
    UdpServer(udp::Server),
    /// UDP, one session with a fixed peer.
    UdpSingleton(udp::Singleton),
    /// TCP.
    Tcp(std::net::TcpListener),
    /// WebSocket over TCP.
    WebSocket(std::net::TcpListener),
    /// Unix stream socket.
    Unix(unix::StreamListener),
    /// Unix seqpacket socket.
    Seqpacket(unix::SeqpacketListener),
}

impl Bound {
    fn ip(socket: Open, claim: claim::Claim) -> Self {
        Self {
            socket,
            claim: Some(claim),
        }
    }

    fn unix(socket: Open) -> Self {
        Self {
            socket,
            claim: None,
        }
    }
}

/// Binds the sockets of `config` (a JSONSocket listener binds its transport's, exactly as that
/// listener would; its sessions read the header first, see [`ListenerCtx::spawn_session`]):
/// one per worker for UDP server mode, TCP and WebSocket (the kernel spreads peers over them
/// with SO_REUSEPORT, and always sends one UDP peer to the same socket), a single one
/// otherwise. `default_ip` replaces the wildcard address for listeners that name no address of
/// their own (`--bind-address`). A port or socket that another process holds is an error; one
/// that this process's listeners hold is shared (see the `claim` module).
pub fn bind(
    config: &ListenerConfig,
    default_ip: Option<IpAddr>,
    workers: usize,
) -> io::Result<Vec<Bound>> {
    let local = |address: &Option<IpAddr>, port: &u16| {
        let ip = address
            .or(default_ip)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        SocketAddr::new(ip, *port)
    };
    let workers = workers.max(1);
    match &config.socket {
        ListenerSocket::Udp {
            address,
            port,
            peers: UdpPeers::Singleton(peer),
        } => {
            let (s, claim) = udp::Singleton::bind(local(address, port), *peer)?;
            Ok(vec![Bound::ip(Open::UdpSingleton(s), claim)])
        }
        ListenerSocket::Udp {
            address,
            port,
            peers: UdpPeers::Server { .. },
        } => Ok(udp::Server::bind(local(address, port), workers)?
            .into_iter()
            .map(|(s, claim)| Bound::ip(Open::UdpServer(s), claim))
            .collect()),
        ListenerSocket::Tcp { address, port } => Ok(tcp::bind(local(address, port), workers)?
            .into_iter()
            .map(|(l, claim)| Bound::ip(Open::Tcp(l), claim))
            .collect()),
        ListenerSocket::WebSocket { address, port } => {
            Ok(tcp::bind(local(address, port), workers)?
                .into_iter()
                .map(|(l, claim)| Bound::ip(Open::WebSocket(l), claim))
                .collect())
        }
        ListenerSocket::Unix { path, mode } => Ok(vec![Bound::unix(match mode {
            UnixMode::Stream => Open::Unix(unix::StreamListener::bind(path)?),
            UnixMode::Seqpacket => Open::Seqpacket(unix::SeqpacketListener::bind(path)?),
        })]),
    }
}

impl Bound {
    /// Serves sessions on the current worker until `ctx.cancel` fires; the port stays claimed
    /// until then.
    pub async fn serve(self, ctx: Arc<ListenerCtx>) {
        let Bound { socket, claim } = self;
        let result = match socket {
            Open::UdpServer(s) => s.serve(ctx.clone()).await,
            Open::UdpSingleton(s) => s.serve(ctx.clone()).await,
            Open::Tcp(l) => tcp::serve(l, ctx.clone()).await,
            Open::WebSocket(l) => websocket::serve(l, ctx.clone()).await,
            Open::Unix(l) => l.serve(ctx.clone()).await,
            Open::Seqpacket(l) => l.serve(ctx.clone()).await,
        };
        drop(claim);
        if let Err(e) = result {
            tracing::error!(listener = %ctx.name, error = %e, "listener stopped");
        }
    }
}

/// The spec of the socket a listener serves: a JSONSocket listener's transport, else the spec
/// itself. Transport listeners read their options (UDP `connect`, WebSocket `path`) from it.
pub fn transport(spec: &ListenerSpec) -> &ListenerSpec {
    match spec {
        ListenerSpec::JsonSocket { transport, .. } => transport,
        other => other,
    }
}

/// Session metadata for an IP peer: `/IP/src_addr`, `/IP/dst_addr` and the transport's ports
/// under `/<transport>/src_port` and `/dst_port`. IPv4-mapped IPv6 addresses are shown as IPv4.
pub fn ip_metadata(transport: &str, peer: SocketAddr, local: SocketAddr) -> Value {
    let plain = |ip: IpAddr| ip.to_canonical().to_string();
    serde_json::json!({
        "IP": {"src_addr": plain(peer.ip()), "dst_addr": plain(local.ip())},
        transport: {"src_port": peer.port(), "dst_port": local.port()},
    })
}

/// Runs an accept loop until the listener stops taking sessions: `poll_accept` yields the next
/// connection and `start` turns it, with its sequence number, into a session. Transient accept
/// errors (out of file descriptors, a connection reset before accept) are logged and retried
/// after a pause instead of spinning.
pub async fn accept_loop<C>(
    ctx: &ListenerCtx,
    mut poll_accept: impl FnMut(&mut Context<'_>) -> Poll<io::Result<C>>,
    mut start: impl FnMut(C, u64),
) -> io::Result<()> {
    let mut id = 0u64;
    let stop = ctx.accepting.cancelled();
    tokio::pin!(stop);
    loop {
        let next = tokio::select! {
            r = poll_fn(&mut poll_accept) => r,
            () = &mut stop => return Ok(()),
        };
        match next {
            Ok(conn) => {
                start(conn, id);
                id += 1;
            }
            Err(e) => {
                if ctx.warnings.admit() {
                    tracing::warn!(listener = %ctx.name, error = %e, "accept failed");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
