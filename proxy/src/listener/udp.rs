//! UDP listeners.
//!
//! Server mode: the listener's socket is shared by its sessions. The first datagram from an
//! unknown peer opens a session; later ones are handed to it by peer address (through its
//! inbox, or past its task through the [`Shortcut`] when its route is one UDP hop); replies go
//! out through the same socket, so they leave from the listener's address and port. Each worker
//! has its own socket in a SO_REUSEPORT group, and the kernel always delivers one peer's
//! datagrams to the same one, so a peer's session lives on one worker.
//!
//! Singleton mode: one socket connected to a fixed peer and one session on it, opened at start
//! and opened again after it ends once the peer sends more.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use l7mp_config::config::{ListenerSocket, UdpPeers};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::claim::{self, Claim, Held};
use super::ip_metadata;
use crate::gate::Gate;
use crate::session::ListenerCtx;
use crate::session::registry::SessionInfo;
use crate::stage::Stage;
use crate::stats::Traffic;
use crate::udp::UdpPeer;
use crate::udp::batch::{MAX_BATCH, with_batch};
use crate::udp::inbox::{self, Offer, inbox};
use crate::udp::shortcut::{Shortcut, Taken};

/// Datagrams buffered per session while it is busy; beyond that they are dropped, as a
/// congested network would.
const INBOUND_QUEUE: u16 = 64;

/// Whether the `connect` filter of a listener binding `socket` lets `peer` open a session
/// (any peer, for a JSONSocket listener's non-UDP transport).
fn admits(socket: &ListenerSocket, peer: SocketAddr) -> bool {
    let ip = peer.ip().to_canonical();
    match socket {
        ListenerSocket::Udp {
            peers: UdpPeers::Server { address, port },
            ..
        } => address.is_none_or(|a| a == ip) && port.is_none_or(|p| p == peer.port()),
        ListenerSocket::Udp {
            peers: UdpPeers::Singleton(only),
            ..
        } => *only == SocketAddr::new(ip, peer.port()),
        ListenerSocket::Tcp { .. }
        | ListenerSocket::WebSocket { .. }
        | ListenerSocket::Unix { .. } => true,
    }
}

/// `count` UDP sockets on `local`, one per worker (see [`claim::bind_group`]). No
/// SO_REUSEADDR: on UDP it would let sockets of any user share the port.
fn bind_shared(local: SocketAddr, count: usize) -> io::Result<Vec<(std::net::UdpSocket, Claim)>> {
    let make = || {
        let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    };
    let sockets = claim::bind_group(Held::Udp(local.port()), local, count, make, |_| Ok(()))?;
    Ok(sockets
        .into_iter()
        .map(|(s, claim)| (s.into(), claim))
        .collect())
}

/// A bound server-mode UDP listener socket.
pub struct Server {
    socket: std::net::UdpSocket,
}

/// A session's entry in the listener's peer table.
struct Peer {
    id: u64,
    /// The session's inbox, and the shortcut past its task that rides with it.
    inbound: inbox::Sender<Shortcut>,
    /// The session's counters, for what the shortcut sends.
    session: Arc<SessionInfo>,
}

impl Peer {
    /// Hands `data` to the session: through the shortcut when it is open and nothing is
    /// queued ahead (so the peer's datagrams stay in order), else through the inbox.
    fn offer(&self, data: &[u8], listener: &Traffic) -> Offer {
        if self.inbound.is_empty() {
            match self
                .inbound
                .attached()
                .offer(data, listener, &self.session.traffic)
            {
                Taken::Sent | Taken::Dropped => return Offer::Queued,
                Taken::No => {}
            }
        }
        self.inbound.offer(Bytes::copy_from_slice(data))
    }
}

impl Server {
    /// Binds one socket per worker on `local`.
    pub fn bind(local: SocketAddr, workers: usize) -> io::Result<Vec<(Self, Claim)>> {
        Ok(bind_shared(local, workers)?
            .into_iter()
            .map(|(socket, claim)| (Self { socket }, claim))
            .collect())
    }

    /// Demultiplexes datagrams into sessions until the listener stops. Once it stops taking
    /// new sessions it keeps serving the ones it has (it alone receives their datagrams) until
    /// they end or are ended.
    pub async fn serve(self, ctx: Arc<ListenerCtx>) -> io::Result<()> {
        let socket = Arc::new(UdpSocket::from_std(self.socket)?);
        let (ended_tx, mut ended) = mpsc::unbounded_channel::<(SocketAddr, u64)>();
        let mut demux = Demux {
            local: socket.local_addr()?,
            socket,
            ctx: ctx.clone(),
            peers: HashMap::default(),
            next_id: 0,
            draining: false,
            ended: ended_tx,
        };
        // This worker's own tokens, so that waiting does not lock a list the listener's other
        // workers share; made once, since a fresh `cancelled()` per wake-up would register
        // anew.
        let (accepting, cancel) = (ctx.accepting.child_token(), ctx.cancel.child_token());
        let stop_accepting = accepting.cancelled();
        let stop = cancel.cancelled();
        tokio::pin!(stop_accepting, stop);
        // Only the socket is polled on every wake-up; the rest when it fires.
        let (stop_gate, accepting_gate, ended_gate) = (Gate::new(), Gate::new(), Gate::new());
        loop {
            if demux.draining && demux.peers.is_empty() {
                return Ok(());
            }
            let wakeup = poll_fn(|cx| {
                if stop_gate.poll(cx, |cx| stop.as_mut().poll(cx)).is_ready() {
                    return Poll::Ready(Wakeup::Stop);
                }
                if !demux.draining
                    && accepting_gate
                        .poll(cx, |cx| stop_accepting.as_mut().poll(cx))
                        .is_ready()
                {
                    return Poll::Ready(Wakeup::StopAccepting);
                }
                if let Poll::Ready(Some((peer, id))) = ended_gate.poll(cx, |cx| ended.poll_recv(cx))
                {
                    return Poll::Ready(Wakeup::Ended(peer, id));
                }
                demux.socket.poll_recv_ready(cx).map(Wakeup::Readable)
            })
            .await;
            match wakeup {
                Wakeup::Readable(r) => r?,
                Wakeup::Ended(peer, id) => {
                    demux.ended(peer, id);
                    continue;
                }
                Wakeup::StopAccepting => {
                    demux.draining = true;
                    continue;
                }
                Wakeup::Stop => return Ok(()),
            }
            demux.drain();
        }
    }
}

/// What woke a server-mode listener's loop.
enum Wakeup {
    /// The socket has datagrams (or an error).
    Readable(io::Result<()>),
    /// The session of (peer, id) ended.
    Ended(SocketAddr, u64),
    /// The listener takes no new sessions.
    StopAccepting,
    /// The listener stopped.
    Stop,
}

/// Most datagrams taken from the socket per wake-up, so that a flood on the listener cannot
/// starve the sessions that share its worker.
const BATCH: usize = 64;

/// A server-mode listener's state: its socket and a session per peer.
struct Demux {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    ctx: Arc<ListenerCtx>,
    /// Peer addresses come from the network: the hasher is seeded at random, and fast, since
    /// every datagram is looked up here.
    peers: HashMap<SocketAddr, Peer, foldhash::fast::RandomState>,
    next_id: u64,
    /// Set once the listener takes no new sessions.
    draining: bool,
    /// Where sessions report that they ended.
    ended: mpsc::UnboundedSender<(SocketAddr, u64)>,
}

impl Demux {
    /// Whether the listener's current `connect` filter (a reload can change it in place) lets
    /// `peer` open a session.
    fn admits(&self, peer: SocketAddr) -> bool {
        admits(&self.ctx.config().socket, peer)
    }

    /// Handles what the socket has queued, up to [`BATCH`] datagrams.
    fn drain(&mut self) {
        let socket = self.socket.clone();
        let mut taken = 0;
        while taken < BATCH {
            let received = with_batch(|batch| {
                let received = batch.recv(&*socket, MAX_BATCH)?;
                for i in 0..received.count {
                    if let Some(peer) = batch.peer(i) {
                        self.on_datagram(batch.datagram(i), peer);
                    }
                }
                Ok::<_, io::Error>(received)
            });
            match received {
                Ok(r) if r.drained => return,
                Ok(r) => taken += r.count,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // An ICMP error for an earlier reply; it concerns no session.
                Err(e) => {
                    tracing::debug!(listener = %self.ctx.name, error = %e, "receive error");
                    taken += 1;
                }
            }
        }
    }

    /// Forgets session `id` of `peer`, unless a newer session has taken its place.
    fn ended(&mut self, peer: SocketAddr, id: u64) {
        if self.peers.get(&peer).is_some_and(|p| p.id == id) {
            self.peers.remove(&peer);
        }
    }

    /// Hands `data` to `peer`'s session, or opens one.
    fn on_datagram(&mut self, data: &[u8], peer: SocketAddr) {
        let data = match self.peers.entry(peer) {
            Entry::Occupied(e) => match e.get().offer(data, &self.ctx.stats.traffic) {
                Offer::Queued | Offer::Dropped => return,
                // The session ended and its notice is still on the way: start anew.
                Offer::Gone(d) => {
                    e.remove();
                    d
                }
            },
            Entry::Vacant(_) => Bytes::copy_from_slice(data),
        };
        if self.draining || !self.admits(peer) {
            tracing::debug!(listener = %self.ctx.name, %peer, draining = self.draining, "datagram from a new peer dropped");
            return;
        }
        let Some(permit) = self.ctx.admit() else {
            return;
        };
        let (tx, rx) = inbox(INBOUND_QUEUE, Shortcut::default());
        tx.offer(data);
        let id = self.next_id;
        self.next_id += 1;
        let source = Stage::UdpPeer(UdpPeer {
            socket: self.socket.clone(),
            peer,
            inbound: rx,
            ended: self.ended.clone(),
            id,
        });
        let local = self.local;
        let name = format!("UDP:{peer}-{local}-{id}");
        let metadata = ip_metadata("UDP", peer, local);
        // The session's task runs only once this worker's listener task yields, so the peer
        // is in the table before anything of the session can end it. The source tells the
        // listener when the session is over (see `UdpPeer::ended`).
        let session = self
            .ctx
            .spawn_session(permit, source, metadata, name, || {});
        self.peers.insert(
            peer,
            Peer {
                id,
                inbound: tx,
                session,
            },
        );
    }
}

/// A bound singleton-mode UDP listener.
pub struct Singleton {
    socket: std::net::UdpSocket,
    peer: SocketAddr,
}

impl Singleton {
    /// Binds `local` and connects it to `peer`.
    pub fn bind(local: SocketAddr, peer: SocketAddr) -> io::Result<(Self, Claim)> {
        let Some((socket, claim)) = bind_shared(local, 1)?.pop() else {
            return Err(io::Error::other("no socket bound"));
        };
        socket.connect(peer)?;
        Ok((Self { socket, peer }, claim))
    }

    /// Runs one session at a time with the peer until the listener stops.
    pub async fn serve(self, ctx: Arc<ListenerCtx>) -> io::Result<()> {
        let socket = Arc::new(UdpSocket::from_std(self.socket)?);
        let local = socket.local_addr()?;
        let mut id = 0u64;
        loop {
            if id > 0 {
                tokio::select! {
                    r = socket.readable() => r?,
                    () = ctx.accepting.cancelled() => return Ok(()),
                }
            }
            let Some(permit) = ctx.admit() else {
                return Ok(());
            };
            let (done_tx, done) = tokio::sync::oneshot::channel();
            let name = format!("UDP:{}-{local}-{id}", self.peer);
            id += 1;
            let metadata = ip_metadata("UDP", self.peer, local);
            let source = Stage::UdpConnected(socket.clone());
            ctx.spawn_session(permit, source, metadata, name, move || {
                let _ = done_tx.send(());
            });
            tokio::select! {
                _ = done => {}
                () = ctx.cancel.cancelled() => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener keeps an entry per session in its peer table, which doubles as it grows and
    /// so may run as little as 7/16 full: each byte of an entry costs a session up to 2.3.
    /// The shortcut rides in the inbox's allocation rather than taking a pointer here.
    #[test]
    fn a_peer_entry_stays_small() {
        let entry = size_of::<(SocketAddr, Peer)>();
        assert!(entry <= 56, "{entry}");
    }
}
