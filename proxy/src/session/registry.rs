//! The sessions a listener is running now, for the admin endpoint's `/sessions`, and those that
//! ended less than the listener's `track` time ago.
//!
//! A session is registered when it is spawned and removed when it ends (then kept in a bounded
//! list of ended sessions while it is tracked); nothing here is touched per message. An entry
//! is small on purpose (an idle UDP session costs a few KB in all): the session's name (moved
//! in, not copied), its start time, and per hop the cluster (a shared pointer the session holds
//! anyway) and the endpoint's label.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cluster::Cluster;
use crate::stats::SessionTraffic;

/// What the admin endpoint shows of one session.
pub struct SessionInfo {
    /// The session's name, as in the logs. Boxed: its length is fixed, and a `String`'s
    /// capacity would be one more word in every session's entry.
    pub name: Box<str>,
    /// When the session started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// When it ended, likewise; 0 while it runs.
    ended_ms: AtomicU64,
    /// The route's hops once connected (empty while the session is being set up).
    hops: Mutex<Box<[HopInfo]>>,
    /// Traffic with the session's source (the client side). Plain atomics written only by the
    /// session's own task, so they cost no cache-line sharing on the data path.
    pub traffic: SessionTraffic,
}

/// One connected hop of a session.
pub struct HopInfo {
    /// The cluster the hop belongs to.
    pub cluster: Arc<Cluster>,
    /// The label of the endpoint it reached: the endpoint's name (`name/IP` for one of the
    /// addresses of a DNS name), or "local" for an in-proxy transform. Shared with the
    /// cluster's endpoint, so that a session keeps no copy of its own.
    pub endpoint: Arc<str>,
}

impl SessionInfo {
    /// A session called `name`, starting now.
    pub fn new(name: String) -> Self {
        Self {
            name: name.into_boxed_str(),
            started_ms: now_ms(),
            ended_ms: AtomicU64::new(0),
            hops: Mutex::new(Box::default()),
            traffic: SessionTraffic::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Box<[HopInfo]>> {
        self.hops.lock()
    }

    /// Records the hops the session connected.
    pub fn set_hops(&self, hops: Vec<HopInfo>) {
        *self.lock() = hops.into_boxed_slice();
    }

    /// Records that hop `index` reconnected to `endpoint`.
    pub fn set_endpoint(&self, index: usize, endpoint: &Arc<str>) {
        if let Some(h) = self.lock().get_mut(index) {
            h.endpoint = endpoint.clone();
        }
    }

    /// When the session ended (milliseconds since the Unix epoch), `None` while it runs.
    pub fn ended_ms(&self) -> Option<u64> {
        Some(self.ended_ms.load(Ordering::Relaxed)).filter(|ms| *ms > 0)
    }

    /// Each hop's cluster name and endpoint label.
    pub fn hops(&self) -> Vec<(String, String)> {
        self.lock()
            .iter()
            .map(|h| (h.cluster.config.name.clone(), h.endpoint.to_string()))
            .collect()
    }
}

/// Milliseconds since the Unix epoch, now.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Most ended sessions a listener keeps listed however long its `track` is, so that a high
/// session rate cannot grow the list without bound; the oldest go first.
pub const MAX_TRACKED: usize = 10_000;

/// An ended session that stays listed until `until`.
type Tracked = (Instant, u64, Arc<SessionInfo>);

/// The live sessions of one listener, and its ended sessions while they are tracked.
#[derive(Default)]
pub struct SessionRegistry {
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, Arc<SessionInfo>>>,
    /// In the order they ended, so expired ones are at the front.
    ended: Mutex<VecDeque<Tracked>>,
}

impl SessionRegistry {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<SessionInfo>>> {
        self.live.lock()
    }

    /// Adds a session; the returned id removes it again.
    pub fn insert(&self, info: Arc<SessionInfo>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, info);
        id
    }

    fn lock_ended(&self) -> MutexGuard<'_, VecDeque<Tracked>> {
        let mut ended = self.ended.lock();
        let now = Instant::now();
        while ended.front().is_some_and(|(until, ..)| *until <= now) {
            ended.pop_front();
        }
        ended
    }

    /// Removes the session `id`, which has ended; with `track`, it stays listed (as ended)
    /// for that long. The table gives memory back once it is mostly empty, so a burst of
    /// sessions does not pin its peak size for the listener's life.
    pub fn remove(&self, id: u64, track: Option<Duration>) {
        let info = {
            let mut live = self.lock();
            let info = live.remove(&id);
            let len = live.len();
            if live.capacity() > 64 && len * 4 < live.capacity() {
                live.shrink_to(len * 2);
            }
            info
        };
        if let (Some(info), Some(track)) = (info, track) {
            info.ended_ms.store(now_ms(), Ordering::Relaxed);
            let mut ended = self.lock_ended();
            if ended.len() >= MAX_TRACKED {
                ended.pop_front();
            }
            ended.push_back((Instant::now() + track, id, info));
        }
    }

    /// Every live session, then every tracked ended one, with its id, in no particular order.
    pub fn snapshot(&self) -> Vec<(u64, Arc<SessionInfo>)> {
        let mut all: Vec<_> = self.lock().iter().map(|(k, v)| (*k, v.clone())).collect();
        all.extend(self.lock_ended().iter().map(|(_, k, v)| (*k, v.clone())));
        all
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
