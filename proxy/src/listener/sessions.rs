//! The sessions a listener is running now, for the admin endpoint's `/sessions`.
//!
//! A session is registered when it is spawned and removed when it ends; nothing here is touched
//! per message. An entry is small on purpose (a UDP session costs a few KB in all): the
//! session's name (moved in, not copied), its start time, and per hop the cluster (a shared
//! pointer the session holds anyway) and the endpoint's label.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cluster::Cluster;

/// What the admin endpoint shows of one session.
pub struct SessionInfo {
    /// The session's name, as in the logs.
    pub name: String,
    /// When the session started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// The route's hops once connected (empty while the session is being set up).
    hops: Mutex<Box<[HopInfo]>>,
    /// Traffic with the session's source (the client side). Plain atomics written only by the
    /// session's own task, so they cost no cache-line sharing on the data path.
    pub traffic: SessionTraffic,
}

/// Bytes and messages a session exchanged with its source.
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

/// One connected hop of a session.
pub struct HopInfo {
    /// The cluster the hop belongs to.
    pub cluster: Arc<Cluster>,
    /// The label of the endpoint it reached: the endpoint's name (`name/IP` for one of the
    /// addresses of a DNS name), or "local" for an in-proxy transform.
    pub endpoint: Box<str>,
}

impl SessionInfo {
    /// A session called `name`, starting now.
    pub fn new(name: String) -> Self {
        let started_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self {
            name,
            started_ms,
            hops: Mutex::new(Box::default()),
            traffic: SessionTraffic::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Box<[HopInfo]>> {
        match self.hops.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Records the hops the session connected.
    pub fn set_hops(&self, hops: Vec<HopInfo>) {
        *self.lock() = hops.into_boxed_slice();
    }

    /// Records that hop `index` reconnected to `endpoint`.
    pub fn set_endpoint(&self, index: usize, endpoint: &str) {
        if let Some(h) = self.lock().get_mut(index) {
            h.endpoint = endpoint.into();
        }
    }

    /// Each hop's cluster name and endpoint label.
    pub fn hops(&self) -> Vec<(String, String)> {
        self.lock()
            .iter()
            .map(|h| (h.cluster.config.name.clone(), h.endpoint.to_string()))
            .collect()
    }
}

/// The live sessions of one listener.
#[derive(Default)]
pub struct SessionRegistry {
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, Arc<SessionInfo>>>,
}

impl SessionRegistry {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<SessionInfo>>> {
        match self.live.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Adds a session; the returned id removes it again.
    pub fn insert(&self, info: Arc<SessionInfo>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, info);
        id
    }

    /// Removes the session `id`. The table gives memory back once it is mostly empty, so
    /// a burst of sessions does not pin its peak size for the listener's life.
    pub fn remove(&self, id: u64) {
        let mut live = self.lock();
        live.remove(&id);
        let len = live.len();
        if live.capacity() > 64 && len * 4 < live.capacity() {
            live.shrink_to(len * 2);
        }
    }

    /// Every live session with its id, in no particular order.
    pub fn snapshot(&self) -> Vec<(u64, Arc<SessionInfo>)> {
        self.lock().iter().map(|(k, v)| (*k, v.clone())).collect()
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
