//! UDP listeners.
//!
//! Server mode: the first datagram from an unknown peer opens a session with its own socket,
//! bound to the listener's address and port and connected to the peer, so the kernel steers
//! that peer's later datagrams straight to the session and replies leave from the listener's
//! address and port. Datagrams that still reach the listener's socket (sent before the new
//! socket was connected) are handed to the session through a small channel, and anything the
//! kernel queued on the new socket for other peers in that instant comes back to the listener.
//!
//! Singleton mode: one socket connected to a fixed peer and one session on it, opened at start
//! and opened again after it ends once the peer sends more.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use l7mp_config::model::PeerFilter;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{ListenerCtx, ip_metadata};
use crate::stage::{MAX_DATAGRAM, Stage, UdpPeer};

/// Datagrams buffered for a session that has not started reading yet.
const EARLY_QUEUE: usize = 64;

/// A bound server-mode UDP listener.
pub struct Server {
    socket: UdpSocket,
    local: SocketAddr,
    filter: Filter,
}

/// Which peers a listener accepts (`connect.address` / `connect.port`).
#[derive(Clone, Debug, Default)]
struct Filter {
    address: Option<IpAddr>,
    port: Option<u16>,
}

impl Filter {
    fn new(connect: &PeerFilter) -> io::Result<Self> {
        let address = connect
            .address
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Self {
            address,
            port: connect.port,
        })
    }

    fn admits(&self, peer: SocketAddr) -> bool {
        self.address.is_none_or(|a| a == peer.ip().to_canonical())
            && self.port.is_none_or(|p| p == peer.port())
    }
}

/// A UDP socket on `local` that other sockets of this listener may share (SO_REUSEADDR).
fn shared_socket(local: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&local.into())?;
    Ok(socket)
}

fn connected_socket(local: SocketAddr, peer: SocketAddr) -> io::Result<UdpSocket> {
    let socket = shared_socket(local)?;
    socket.connect(&peer.into())?;
    UdpSocket::from_std(socket.into())
}

/// A session's entry in the listener's peer table.
struct Entry {
    id: u64,
    early: mpsc::Sender<Bytes>,
}

impl Server {
    /// Binds `local`, accepting peers that pass `connect`.
    pub fn bind(local: SocketAddr, connect: &PeerFilter) -> io::Result<Self> {
        let socket = UdpSocket::from_std(shared_socket(local)?.into())?;
        let local = socket.local_addr()?;
        Ok(Self {
            socket,
            local,
            filter: Filter::new(connect)?,
        })
    }

    /// Demultiplexes datagrams into sessions until the listener stops.
    pub async fn serve(self, ctx: Arc<ListenerCtx>) {
        let (strays_tx, mut strays) = mpsc::channel::<(Bytes, SocketAddr)>(EARLY_QUEUE);
        let (ended_tx, mut ended) = mpsc::unbounded_channel::<(SocketAddr, u64)>();
        let mut peers: HashMap<SocketAddr, Entry> = HashMap::new();
        let mut next_id = 0u64;
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let (data, peer) = tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, peer)) => (Bytes::copy_from_slice(&buf[..n]), peer),
                    // ICMP errors for earlier sends show up here; they concern no session.
                    Err(e) => {
                        tracing::debug!(listener = %ctx.config.name, error = %e, "receive error");
                        continue;
                    }
                },
                Some(stray) = strays.recv() => stray,
                Some((peer, id)) = ended.recv() => {
                    if peers.get(&peer).is_some_and(|e| e.id == id) {
                        peers.remove(&peer);
                    }
                    continue;
                }
                () = ctx.cancel.cancelled() => return,
            };
            if let Some(entry) = peers.get(&peer) {
                match entry.early.try_send(data) {
                    Err(mpsc::error::TrySendError::Closed(d)) => {
                        // The session ended and its notice is still on the way: start anew.
                        peers.remove(&peer);
                        self.open(
                            &ctx,
                            &mut peers,
                            &mut next_id,
                            peer,
                            d,
                            &strays_tx,
                            &ended_tx,
                        );
                    }
                    // A full queue drops the datagram, as a congested network would.
                    Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                }
                continue;
            }
            self.open(
                &ctx,
                &mut peers,
                &mut next_id,
                peer,
                data,
                &strays_tx,
                &ended_tx,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn open(
        &self,
        ctx: &Arc<ListenerCtx>,
        peers: &mut HashMap<SocketAddr, Entry>,
        next_id: &mut u64,
        peer: SocketAddr,
        first: Bytes,
        strays: &mpsc::Sender<(Bytes, SocketAddr)>,
        ended: &mpsc::UnboundedSender<(SocketAddr, u64)>,
    ) {
        if !self.filter.admits(peer) {
            tracing::debug!(listener = %ctx.config.name, %peer, "peer filtered out");
            return;
        }
        let Some(permit) = ctx.admit() else { return };
        let socket = match connected_socket(self.local, peer) {
            Ok(s) => s,
            Err(e) => {
                ctx.stats.session_errors.inc();
                tracing::warn!(listener = %ctx.config.name, %peer, error = %e, "cannot open session socket");
                return;
            }
        };
        let (early_tx, early_rx) = mpsc::channel(EARLY_QUEUE);
        // The queue is new and empty: the first datagram always fits.
        let _ = early_tx.try_send(first);
        let id = *next_id;
        *next_id += 1;
        peers.insert(
            peer,
            Entry {
                id,
                early: early_tx,
            },
        );
        let source = Stage::UdpPeer(UdpPeer {
            socket,
            peer,
            early: early_rx,
            strays: strays.clone(),
        });
        let name = format!("UDP:{peer}-{}-{id}", self.local);
        let ended = ended.clone();
        let metadata = ip_metadata("UDP", peer, self.local);
        ctx.spawn_session(permit, source, metadata, name, move || {
            let _ = ended.send((peer, id));
        });
    }
}

/// A bound singleton-mode UDP listener.
pub struct Singleton {
    local: SocketAddr,
    peer: SocketAddr,
}

impl Singleton {
    /// Checks that `local` can be bound and remembers the peer; the socket itself is opened
    /// per session.
    pub fn bind(local: SocketAddr, connect: &PeerFilter) -> io::Result<Self> {
        let (Some(address), Some(port)) = (connect.address.as_deref(), connect.port) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "singleton mode needs connect.address and connect.port",
            ));
        };
        let ip: IpAddr = address
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let peer = SocketAddr::new(ip, port);
        let probe = connected_socket(local, peer)?;
        let local = probe.local_addr()?;
        Ok(Self { local, peer })
    }

    /// Runs one session at a time with the peer until the listener stops.
    pub async fn serve(self, ctx: Arc<ListenerCtx>) {
        let mut first = true;
        let mut id = 0u64;
        while !ctx.cancel.is_cancelled() {
            let socket = match connected_socket(self.local, self.peer) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(listener = %ctx.config.name, error = %e, "cannot open socket");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            if !first {
                tokio::select! {
                    r = socket.readable() => if r.is_err() { continue },
                    () = ctx.cancel.cancelled() => return,
                }
            }
            first = false;
            let Some(permit) = ctx.admit() else { return };
            let (done_tx, done) = tokio::sync::oneshot::channel();
            let name = format!("UDP:{}-{}-{id}", self.peer, self.local);
            id += 1;
            let metadata = ip_metadata("UDP", self.peer, self.local);
            ctx.spawn_session(permit, Stage::Udp(socket), metadata, name, move || {
                let _ = done_tx.send(());
            });
            tokio::select! {
                _ = done => {}
                () = ctx.cancel.cancelled() => return,
            }
        }
    }
}
