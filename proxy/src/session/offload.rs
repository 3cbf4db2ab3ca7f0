//! Where an offloaded session's traffic is counted: what the kernel forwarded lands on the
//! same listener, cluster and session counters as what the session's task forwards.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::ListenerCtx;
use super::registry::SessionInfo;
use crate::offload::{Direction, Sink};
use crate::stats::ClusterStats;

/// The counters of one session.
pub(super) struct Counted {
    listener: Arc<ListenerCtx>,
    cluster: Arc<ClusterStats>,
    session: Arc<SessionInfo>,
}

impl Counted {
    pub(super) fn new(
        listener: Arc<ListenerCtx>,
        cluster: Arc<ClusterStats>,
        session: Arc<SessionInfo>,
    ) -> Self {
        Self {
            listener,
            cluster,
            session,
        }
    }
}

impl Sink for Counted {
    fn forwarded(&self, direction: Direction, packets: u64, bytes: u64) {
        let (l, c, s) = (
            &self.listener.stats.traffic,
            &self.cluster.traffic,
            &self.session.traffic,
        );
        // Upstream: from the client (listener and session rx) to the endpoint (cluster tx).
        let (from, to, session) = match direction {
            Direction::Upstream => (
                (&l.rx_packets, &l.rx_bytes),
                (&c.tx_packets, &c.tx_bytes),
                (&s.rx_packets, &s.rx_bytes),
            ),
            Direction::Downstream => (
                (&c.rx_packets, &c.rx_bytes),
                (&l.tx_packets, &l.tx_bytes),
                (&s.tx_packets, &s.tx_bytes),
            ),
        };
        for (p, b) in [from, to] {
            p.add(packets);
            b.add(bytes);
        }
        session.0.fetch_add(packets, Ordering::Relaxed);
        session.1.fetch_add(bytes, Ordering::Relaxed);
    }
}
