//! UDP kernel offload: the datagrams of established UDP sessions whose route is one UDP hop
//! are forwarded by a tc program in the kernel (`bpf/udp_offload.c`, attached at the TCX
//! ingress of the offload interfaces), not by the proxy.
//!
//! The first datagram of a session goes through user space as always (rules, route, load
//! balancing pick the endpoint, the upstream socket is connected); then the session
//! [installs](Offload::install) its [`Flow`] and from there on the program rewrites the
//! client's datagrams into the upstream socket's datagrams to the endpoint and the endpoint's
//! replies into the listener's datagrams to the client, without waking the proxy. The session
//! keeps its sockets (the upstream port stays reserved) and its task, which reads the
//! program's counters for the metrics, `/sessions` and the idle timeout ([`Offloaded::sync`])
//! and removes the flow when the session ends. A reload that changes a session's listener or
//! cluster [withdraws](Offload::withdraw) its flow first: the session carries on in user space.
//!
//! A rewritten datagram whose destination is an address of this host is handed to the local
//! stack (from loopback); any other leaves through the interface the routing table picks for
//! it, as the proxy's own datagram would (pod to pod over a veth and a bridge, say).
//!
//! What cannot be offloaded stays in user space, counted: a full flow table, IPv6, an address
//! that cannot be worked out, and per datagram what the program finds no way out for
//! ([`Fallback`]). Offload never drops a datagram the proxy would have forwarded.

mod flow;
mod program;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use aya::maps::MapError;

use flow::FlowKey;
pub use flow::{Flow, Unfit};
use program::Loaded;

use crate::stats::{Counter, Gauge};

/// The map update flag that refuses to replace an existing entry.
const BPF_NOEXIST: u64 = 1;

/// `--offload`: whether UDP sessions are offloaded to the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Never (the default).
    #[default]
    Off,
    /// Where the kernel and the process's capabilities allow; otherwise say once why not and
    /// forward in user space.
    Auto,
    /// Always: the proxy does not start without it.
    On,
}

/// The offload settings from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Off, auto or on.
    pub mode: Mode,
    /// Interfaces whose ingress the program is attached to: where the clients' datagrams and
    /// the endpoints' replies arrive (not where the rewritten ones leave: any interface).
    pub interfaces: Vec<String>,
    /// Entries of the flow table; a session takes two.
    pub flows: u32,
}

/// Why the program passed a datagram of an offloaded flow to user space unmodified (the
/// proxy forwards it as usual). The index of its count in the program's `fallbacks` map: the
/// order of `enum fallback` in `bpf/udp_offload.c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Its destination is an address of this host, and it arrived on another interface than
    /// loopback: only loopback hands a datagram with a local source to the local stack.
    NotLoopback,
    /// IPv4 forwarding is disabled on loopback (`net.ipv4.conf.lo.forwarding`), where the
    /// program looks the route out up from.
    ForwardingDisabled,
    /// The routing table has no way out for it (no route, unreachable, blackhole, or a route
    /// that encapsulates).
    NoRoute,
    /// It is bigger than the MTU of the way out.
    TooBig,
}

impl Fallback {
    /// Every reason, in map order.
    pub const ALL: [Fallback; 4] = [
        Fallback::NotLoopback,
        Fallback::ForwardingDisabled,
        Fallback::NoRoute,
        Fallback::TooBig,
    ];

    /// The `reason` label of `l7mp_offload_fallbacks_total`.
    pub fn label(self) -> &'static str {
        match self {
            Fallback::NotLoopback => "not_loopback",
            Fallback::ForwardingDisabled => "forwarding_disabled",
            Fallback::NoRoute => "no_route",
            Fallback::TooBig => "too_big",
        }
    }
}

/// Which way an offloaded datagram went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to endpoint.
    Upstream,
    /// Endpoint to client.
    Downstream,
}

/// Where a session's offloaded traffic is counted (its listener, cluster and session
/// counters), so that they stay exact while the kernel forwards.
pub trait Sink: Send + Sync {
    /// `packets` datagrams of `bytes` payload bytes went `direction` since the last call.
    fn forwarded(&self, direction: Direction, packets: u64, bytes: u64);
}

/// Offload counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct OffloadStats {
    /// Sessions offloaded.
    pub sessions: Counter,
    /// Sessions offloaded now.
    pub active: Gauge,
    /// Sessions left in user space because the flow table was full.
    pub refused_full: Counter,
    /// Sessions left in user space because their addresses cannot be offloaded (IPv6).
    pub refused_unfit: Counter,
    /// Sessions left in user space because the kernel refused the entry for another reason.
    pub refused_error: Counter,
    /// Flows a reload withdrew (their sessions went on in user space).
    pub withdrawn: Counter,
    /// Datagrams the kernel forwarded, client to endpoint and back.
    pub upstream_packets: Counter,
    /// Payload bytes the kernel forwarded client to endpoint.
    pub upstream_bytes: Counter,
    /// Datagrams the kernel forwarded endpoint to client.
    pub downstream_packets: Counter,
    /// Payload bytes the kernel forwarded endpoint to client.
    pub downstream_bytes: Counter,
}

/// The offload program, its flow table and the flows installed in it.
pub struct Offload {
    maps: Mutex<Loaded>,
    flows: Mutex<HashMap<u64, Arc<Entry>>>,
    next_id: AtomicU64,
    /// Whether the full table was logged already (it is logged once, counted always).
    full_logged: AtomicBool,
    /// The counters.
    pub stats: OffloadStats,
    /// The interfaces the program is attached to.
    pub interfaces: Vec<String>,
}

impl fmt::Debug for Offload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Offload")
            .field("interfaces", &self.interfaces)
            .finish_non_exhaustive()
    }
}

/// One installed session: its two table entries and what was read of them so far.
struct Entry {
    keys: [FlowKey; 2],
    listener: String,
    cluster: String,
    sink: Box<dyn Sink>,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// (packets, bytes) per direction as last read.
    counts: [(u64, u64); 2],
    /// The entries are gone from the table (the session ended or a reload withdrew them).
    removed: bool,
}

impl Offload {
    /// Starts offload as `settings` say: `None` when off, or when `auto` finds it
    /// unavailable (logged once, with the reason); an error with the reason when `on` finds
    /// it unavailable.
    pub fn start(settings: &Settings) -> Result<Option<Arc<Offload>>, String> {
        if settings.mode == Mode::Off {
            return Ok(None);
        }
        match program::load(&settings.interfaces, settings.flows.max(2)) {
            Ok(maps) => {
                tracing::info!(interfaces = ?settings.interfaces, flows = settings.flows, "UDP offload attached");
                Ok(Some(Arc::new(Offload {
                    maps: Mutex::new(maps),
                    flows: Mutex::new(HashMap::new()),
                    next_id: AtomicU64::new(0),
                    full_logged: AtomicBool::new(false),
                    stats: OffloadStats::default(),
                    interfaces: settings.interfaces.clone(),
                })))
            }
            Err(why) if settings.mode == Mode::Auto => {
                tracing::warn!("--offload=auto: UDP sessions stay in user space: {why}");
                Ok(None)
            }
            Err(why) => Err(format!("--offload=on: cannot offload UDP: {why}")),
        }
    }

    /// Installs `flow` (of a session of `listener` to `cluster`; or why its addresses could
    /// not be worked out) for both directions; its traffic is counted on `sink` whenever it
    /// is synced. `None` (counted, and logged once for a full table) when it cannot be: the
    /// session then stays in user space.
    pub fn install(
        self: &Arc<Self>,
        flow: Result<Flow, Unfit>,
        listener: &str,
        cluster: &str,
        sink: Box<dyn Sink>,
    ) -> Option<Offloaded> {
        let entries = match flow.and_then(|f| f.entries().map(|e| (f, e))) {
            Ok((flow, entries)) => {
                tracing::trace!(?flow, "offloading");
                entries
            }
            Err(e) => {
                self.stats.refused_unfit.inc();
                tracing::debug!(listener, cluster, "not offloaded: {e}");
                return None;
            }
        };
        // The table of flows is held from before the kernel can forward the flow's first
        // datagram until the flow is in it: a scrape that starts after that datagram (a client
        // that got its echo and then asks for /metrics) finds the flow and reads its counters.
        // (Lock order: flows, then maps; nothing takes flows while holding maps.)
        let mut flows = self.flows.lock();
        let mut maps = self.maps.lock();
        for (i, (key, value)) in entries.iter().enumerate() {
            if let Err(e) = maps.flows.insert(key, value, BPF_NOEXIST) {
                for (key, _) in &entries[..i] {
                    let _ = maps.flows.remove(key);
                }
                drop((maps, flows));
                self.refused(listener, &e);
                return None;
            }
        }
        drop(maps);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            keys: entries.map(|(k, _)| k),
            listener: listener.to_string(),
            cluster: cluster.to_string(),
            sink,
            seen: Mutex::new(Seen::default()),
        });
        flows.insert(id, entry.clone());
        drop(flows);
        self.stats.sessions.inc();
        self.stats.active.inc();
        Some(Offloaded {
            offload: self.clone(),
            id,
            entry,
        })
    }

    fn refused(&self, listener: &str, e: &MapError) {
        let full = matches!(e, MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::E2BIG));
        if full {
            self.stats.refused_full.inc();
            if !self.full_logged.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "the UDP offload flow table is full: new sessions stay in user space (raise \
                     --offload-flows); logged once, counted in l7mp_offload_sessions_refused_total"
                );
            }
        } else {
            self.stats.refused_error.inc();
            tracing::debug!(listener, "not offloaded: {e}");
        }
    }

    /// Reads the kernel's counters of every installed flow into the sessions' counters (for
    /// a scrape of `/metrics`, so that listener and cluster counters are exact).
    pub fn sync_all(&self) {
        let entries: Vec<Arc<Entry>> = self.flows.lock().values().cloned().collect();
        for e in entries {
            self.sync(&e);
        }
    }

    /// Removes from the table, after a last read of their counters, the flows for which
    /// `affected(listener, cluster)` holds; their sessions go on in user space. Returns how
    /// many.
    pub fn withdraw(&self, affected: impl Fn(&str, &str) -> bool) -> usize {
        let entries: Vec<Arc<Entry>> = self
            .flows
            .lock()
            .values()
            .filter(|e| affected(&e.listener, &e.cluster))
            .cloned()
            .collect();
        let mut count = 0;
        for e in entries {
            if self.remove(&e) {
                self.stats.withdrawn.inc();
                count += 1;
            }
        }
        count
    }

    /// Datagrams the program passed to user space for `reason`.
    pub fn fallbacks(&self, reason: Fallback) -> u64 {
        let maps = self.maps.lock();
        maps.fallbacks
            .get(&(reason as u32), 0)
            .map_or(0, |per_cpu| per_cpu.iter().sum())
    }

    /// Reads `e`'s entries and counts what they forwarded since the last read.
    fn sync(&self, e: &Entry) {
        let mut seen = e.seen.lock();
        if !seen.removed {
            self.read(e, &mut seen);
        }
    }

    fn read(&self, e: &Entry, seen: &mut Seen) {
        for (i, key) in e.keys.iter().enumerate() {
            let value = match self.maps.lock().flows.get(key, 0) {
                Ok(v) => v,
                Err(err) => {
                    tracing::debug!("offload flow entry unreadable: {err}");
                    continue;
                }
            };
            let (packets, bytes) = seen.counts[i];
            let (dp, db) = (
                value.packets.saturating_sub(packets),
                value.bytes.saturating_sub(bytes),
            );
            seen.counts[i] = (value.packets, value.bytes);
            if dp == 0 && db == 0 {
                continue;
            }
            let direction = if i == 0 {
                self.stats.upstream_packets.add(dp);
                self.stats.upstream_bytes.add(db);
                Direction::Upstream
            } else {
                self.stats.downstream_packets.add(dp);
                self.stats.downstream_bytes.add(db);
                Direction::Downstream
            };
            e.sink.forwarded(direction, dp, db);
        }
    }

    /// Reads `e` a last time and deletes its entries; false if they were gone already.
    fn remove(&self, e: &Entry) -> bool {
        let mut seen = e.seen.lock();
        if seen.removed {
            return false;
        }
        self.read(e, &mut seen);
        let mut maps = self.maps.lock();
        for key in &e.keys {
            if let Err(err) = maps.flows.remove(key) {
                tracing::debug!("offload flow entry already gone: {err}");
            }
        }
        seen.removed = true;
        self.stats.active.dec();
        true
    }
}

/// A session's installed flow. Dropping it removes the flow from the table (after a last
/// read of its counters).
pub struct Offloaded {
    offload: Arc<Offload>,
    id: u64,
    entry: Arc<Entry>,
}

impl Offloaded {
    /// Counts what the kernel forwarded since the last call on the session's counters, and
    /// returns the datagrams it forwarded in all, both ways (for the idle timeout).
    pub fn sync(&self) -> u64 {
        self.offload.sync(&self.entry);
        let seen = self.entry.seen.lock();
        seen.counts[0].0 + seen.counts[1].0
    }

    /// Whether the flow is still in the kernel (a reload may have withdrawn it).
    pub fn active(&self) -> bool {
        !self.entry.seen.lock().removed
    }
}

impl Drop for Offloaded {
    fn drop(&mut self) {
        self.offload.remove(&self.entry);
        self.offload.flows.lock().remove(&self.id);
    }
}
