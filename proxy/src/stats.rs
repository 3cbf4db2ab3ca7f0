//! Counters kept per listener and per cluster. They are bumped on the data path by every
//! worker thread and only read for logs, status and metrics, so each counter is split into
//! per-thread shards on their own cache lines: a worker never waits for another core to give up
//! a line just to count a datagram. Reads add the shards up. Session durations go into a
//! [`DurationHistogram`], which is touched once per session, not per datagram.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

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

/// Bytes and messages one session exchanged with its source. Plain atomics, not sharded
/// [`Counter`]s: they are written on the session's worker only (by its task, or by its
/// listener's UDP shortcut on the same worker), so they cost no cache-line sharing.
#[derive(Debug, Default)]
pub struct SessionTraffic {
    /// Bytes received from the source.
    pub rx_bytes: AtomicU64,
    /// Messages received from the source.
    pub rx_packets: AtomicU64,
    /// Bytes sent to the source.
    pub tx_bytes: AtomicU64,
    /// Messages sent to the source.
    pub tx_packets: AtomicU64,
}

impl SessionTraffic {
    /// Counts one message from the source.
    pub fn received(&self, bytes: usize) {
        self.rx_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.rx_packets.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one message to the source.
    pub fn sent(&self, bytes: usize) {
        self.tx_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.tx_packets.fetch_add(1, Ordering::Relaxed);
    }
}

/// Upper bounds, in seconds, of the session-duration buckets: sub-second request/response
/// sessions, then minutes; 60 and 90 bracket the UDP sessions that end by the default idle
/// timeout (between 60 and 75 s after their last datagram).
pub const SESSION_DURATION_BUCKETS: [f64; 13] = [
    0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 90.0, 300.0, 900.0, 3600.0, 14400.0,
];

/// How long sessions lasted, in the [`SESSION_DURATION_BUCKETS`] plus one for longer ones.
/// Observed once per session as it ends, so plain atomics do: there is no per-datagram cost
/// to shard away.
#[derive(Debug, Default)]
pub struct DurationHistogram {
    /// Sessions per bucket (not cumulative); the last one is for durations beyond every bound.
    buckets: [AtomicU64; SESSION_DURATION_BUCKETS.len() + 1],
    /// Total duration in microseconds.
    sum_micros: AtomicU64,
}

/// A [`DurationHistogram`]'s content as Prometheus encodes it.
#[derive(Debug, PartialEq)]
pub struct HistogramSnapshot {
    /// Total duration in seconds.
    pub sum: f64,
    /// Observations.
    pub count: u64,
    /// `(upper bound, observations in this bucket)`, the last bound infinite.
    pub buckets: Vec<(f64, u64)>,
}

impl DurationHistogram {
    /// Records one session of length `d`.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let bucket = SESSION_DURATION_BUCKETS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(SESSION_DURATION_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The current content.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let bounds = SESSION_DURATION_BUCKETS.iter().copied();
        let buckets: Vec<(f64, u64)> = bounds
            .chain([f64::INFINITY])
            .zip(&self.buckets)
            .map(|(bound, n)| (bound, n.load(Ordering::Relaxed)))
            .collect();
        HistogramSnapshot {
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            count: buckets.iter().map(|(_, n)| n).sum(),
            buckets,
        }
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
    /// How long the sessions that ended lasted.
    pub session_duration: DurationHistogram,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_the_first_bucket_that_holds_them() {
        let h = DurationHistogram::default();
        h.observe(Duration::from_millis(10));
        h.observe(Duration::from_secs(61));
        h.observe(Duration::from_secs(100_000));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert!((s.sum - 100_061.01).abs() < 1e-6, "{}", s.sum);
        let counts: Vec<u64> = s.buckets.iter().map(|(_, n)| *n).collect();
        assert_eq!(counts, [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
        assert_eq!(s.buckets.last().map(|(b, _)| *b), Some(f64::INFINITY));
    }
}
