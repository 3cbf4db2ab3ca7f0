//! Counters kept per listener and per cluster. They are bumped on the data path by every
//! worker thread and only read for logs, status and metrics, so each counter is split into
//! per-thread shards on their own cache lines: a worker never waits for another core to give up
//! a line just to count a datagram. Reads add the shards up.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Shards per counter; threads beyond this share shards, which stays correct.
const SHARDS: usize = 8;

/// One shard, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Shard(AtomicU64);

thread_local! {
    static SHARD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
    };
}

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter([Shard; SHARDS]);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        let shard = SHARD.with(|s| *s);
        self.0[shard].0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

/// A value that goes up and down (active sessions).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Subtracts one.
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Bytes and messages in each direction.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Bytes received from the peer.
    pub rx_bytes: Counter,
    /// Messages received from the peer.
    pub rx_packets: Counter,
    /// Bytes sent to the peer.
    pub tx_bytes: Counter,
    /// Messages sent to the peer.
    pub tx_packets: Counter,
}

impl Traffic {
    /// Counts one received message.
    pub fn received(&self, bytes: usize) {
        self.rx_bytes.add(bytes as u64);
        self.rx_packets.inc();
    }

    /// Counts one sent message.
    pub fn sent(&self, bytes: usize) {
        self.tx_bytes.add(bytes as u64);
        self.tx_packets.inc();
    }
}

/// Per-listener counters.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// Sessions running now.
    pub sessions_active: Gauge,
    /// Sessions ever accepted.
    pub sessions_total: Counter,
    /// Sessions refused: no matching rule, or the session limit reached.
    pub sessions_refused: Counter,
    /// Sessions that ended in an error (a hop failed to connect or broke).
    pub session_errors: Counter,
    /// Traffic with the sessions' sources.
    pub traffic: Traffic,
}

/// Per-cluster counters.
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// Successful connects.
    pub connects: Counter,
    /// Failed connect attempts.
    pub connect_failures: Counter,
    /// Times an endpoint was left out of balancing after a failure (see
    /// [`crate::cluster::health`]).
    pub ejections: Counter,
    /// Traffic with the cluster's endpoints (or through its transform).
    pub traffic: Traffic,
    /// Messages an in-proxy transform dropped because they did not decode (JSONDecap).
    pub dropped_undecodable: Counter,
    /// Messages dropped for a member that did not keep up (Sync), or held for a joiner when
    /// the backlog was full.
    pub dropped_overflow: Counter,
}
