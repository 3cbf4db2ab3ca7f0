//! The shortcut a server-mode UDP listener takes for sessions whose route is a single UDP hop
//! (no ingress, no egress, a UDP destination): the listener sends each datagram from its peer
//! straight to the session's upstream socket, from the buffer it received it into, instead of
//! copying it into the session's inbox and waking the session's task to send it. That is the
//! common sidecar case and the hot path of UDP forwarding; the reply direction still runs
//! through the session's task, which owns the upstream socket.
//!
//! Such a session runs as a UDP pair session (`session/udp_pair.rs`); it opens the shortcut
//! once its hop is connected and again after a reconnect. The
//! listener closes it when a send fails with anything but a full buffer (a refusing endpoint's
//! pending ICMP error, for one), and hands that datagram to the session's inbox instead, so that
//! the session sees the failure and retries or ends as its route says. The session closes it too
//! when its hop fails (before reconnecting) and when it ends. Datagrams waiting in the inbox go
//! first: while any are queued the listener queues too, which keeps a peer's datagrams in order.
//!
//! The shortcut knows no session: the listener hands it the listener's and the session's
//! counters with each datagram, so that this UDP plumbing sits below the sessions.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard};

use super::HopSocket;
use crate::stats::{ClusterStats, SessionTraffic, Traffic};

/// Where the shortcut sends, and the counters a send through the session would have moved.
struct Upstream {
    socket: Arc<HopSocket>,
    cluster: Arc<ClusterStats>,
}

/// Shared between a listener's peer entry and the session's source stage.
#[derive(Default)]
pub struct Shortcut {
    upstream: Mutex<Option<Upstream>>,
    /// Datagrams the shortcut carried, so that the session's idle timer counts traffic it
    /// never saw (a count, not a time: no clock is read per datagram).
    carried: AtomicU64,
}

/// What became of a datagram offered to the shortcut.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Sent upstream.
    Sent,
    /// The upstream socket's buffer is full: dropped, as a congested network would.
    Dropped,
    /// Not taken (no shortcut, or it just closed): the session's task must handle it.
    No,
}

impl Shortcut {
    fn upstream(&self) -> MutexGuard<'_, Option<Upstream>> {
        self.upstream.lock()
    }

    /// Opens (or re-points) the shortcut at the session's connected upstream `socket`.
    pub fn open(&self, socket: Arc<HopSocket>, cluster: Arc<ClusterStats>) {
        *self.upstream() = Some(Upstream { socket, cluster });
    }

    /// Closes the shortcut; datagrams go through the session's task again.
    pub fn close(&self) {
        *self.upstream() = None;
    }

    /// Tries to send `data`, counted on the listener's `listener` traffic and on the session's
    /// `session` traffic as the session would count it. The listener brings both, so that the
    /// shortcut needs nothing of the session but its upstream.
    pub fn offer(&self, data: &[u8], listener: &Traffic, session: &SessionTraffic) -> Taken {
        let mut guard = self.upstream();
        let Some(up) = guard.as_ref() else {
            return Taken::No;
        };
        match up.socket.try_send(data) {
            Ok(_) => {
                listener.received(data.len());
                session.received(data.len());
                up.cluster.traffic.sent(data.len());
                self.carried.fetch_add(1, Ordering::Relaxed);
                Taken::Sent
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Taken::Dropped,
            Err(e) => {
                tracing::debug!(error = %e, "upstream send failed; the session takes over");
                *guard = None;
                Taken::No
            }
        }
    }

    /// How many datagrams the shortcut has carried.
    pub fn carried(&self) -> u64 {
        self.carried.load(Ordering::Relaxed)
    }
}
