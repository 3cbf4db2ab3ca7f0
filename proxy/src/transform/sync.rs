//! The Sync cluster: a rendezvous. Sessions whose metadata holds the same value at the
//! cluster's `query` join one broadcast domain, and whatever one member sends reaches every
//! other member (never itself), one message per message, so datagram boundaries survive.
//!
//! Choices, where the original l7mp differs or is silent:
//! - A domain is keyed by the JSON text of the value, so `"1"` and `1` are different domains.
//!   A session whose metadata has nothing at `query` cannot join: its connect fails with an
//!   error naming the query, and the session is refused and counted.
//! - Each member has a bounded inbox ([`INBOX`](super::fanout::INBOX) messages); a member that does not keep
//!   up loses messages (counted as `overflow` drops of the cluster) instead of stalling the
//!   others or growing memory.
//! - What a member sends while it is alone is held, up to [`BACKLOG`] messages, and handed to
//!   the first member to join (as the original does, but bounded); the rest is dropped and
//!   counted.
//! - A member leaving does not end the others (the original ends them all and then refuses
//!   the label for good). The domain is freed when its last member leaves, backlog included, so
//!   the next session with that value starts a fresh one.
//! - The registry lives in the running cluster, which a reload keeps when the cluster's
//!   settings do not change; a changed cluster starts with a fresh registry, and sessions
//!   already running stay in the old one until they end.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use bytes::Bytes;
use l7mp_config::pointer::JsonPointer;
use serde_json::Value;
use tokio::sync::mpsc;

use super::fanout::{Group, MemberId};
use crate::stats::ClusterStats;

/// Messages held for the first joiner while a member is alone.
pub const BACKLOG: usize = 64;

/// The domains of one Sync cluster.
pub struct Registry {
    query: JsonPointer,
    domains: Mutex<HashMap<String, Arc<Group>>>,
    stats: Arc<ClusterStats>,
}

/// Why a session could not join.
#[derive(Debug, thiserror::Error)]
#[error(
    "Sync query \"{0}\" finds nothing in the session's metadata; set it with a rule rewrite or \
     route such sessions elsewhere"
)]
pub struct NoLabel(String);

impl Registry {
    /// A registry for domains named by the metadata at `query`.
    pub fn new(query: JsonPointer, stats: Arc<ClusterStats>) -> Arc<Self> {
        Arc::new(Self {
            query,
            domains: Mutex::default(),
            stats,
        })
    }

    /// Joins the domain named by `metadata`'s value at the query, creating it if needed.
    pub fn join(self: &Arc<Self>, metadata: &Value) -> Result<Member, NoLabel> {
        let value = self
            .query
            .get(metadata)
            .ok_or_else(|| NoLabel(self.query.as_str().to_string()))?;
        let label = value.to_string();
        let mut domains = self.lock();
        let group = domains
            .entry(label.clone())
            .or_insert_with(|| Arc::new(Group::with_backlog(BACKLOG)))
            .clone();
        let (id, inbox) = group.join();
        tracing::debug!(domain = %label, members = group.len(), "joined Sync domain");
        Ok(Member {
            registry: self.clone(),
            label,
            group,
            id,
            inbox,
        })
    }

    /// Domains with at least one member.
    pub fn domains(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Group>>> {
        self.domains.lock()
    }
}

/// A session's place in a domain; dropping it leaves.
pub struct Member {
    registry: Arc<Registry>,
    label: String,
    group: Arc<Group>,
    id: MemberId,
    /// What the other members send.
    pub inbox: mpsc::Receiver<Bytes>,
}

impl Member {
    /// Sends `data` to every other member of the domain.
    pub fn publish(&self, data: &Bytes) {
        let d = self.group.publish(Some(self.id), data);
        if d.dropped > 0 {
            self.registry.stats.dropped_overflow.add(d.dropped as u64);
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        // Leaving and freeing happen under the registry lock, which joining also takes: a
        // session cannot join a domain that is being freed.
        let mut domains = self.registry.lock();
        if self.group.leave(self.id) == 0
            && domains
                .get(&self.label)
                .is_some_and(|g| Arc::ptr_eq(g, &self.group))
        {
            domains.remove(&self.label);
            tracing::debug!(domain = %self.label, "Sync domain freed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry() -> Arc<Registry> {
        let query = JsonPointer::parse("/room").expect("pointer");
        Registry::new(query, Arc::default())
    }

    #[test]
    fn equal_values_meet_and_the_last_to_leave_frees_the_domain() {
        let r = registry();
        let a = r.join(&json!({"room": "x"})).expect("joins");
        let mut b = r.join(&json!({"room": "x"})).expect("joins");
        let _c = r.join(&json!({"room": 1})).expect("joins");
        assert_eq!(r.domains(), 2);
        a.publish(&Bytes::from_static(b"hi"));
        assert_eq!(b.inbox.try_recv().unwrap(), "hi");
        drop(a);
        assert_eq!(r.domains(), 2, "b is still there");
        drop(b);
        assert_eq!(r.domains(), 1);
    }

    #[test]
    fn a_slow_member_loses_messages_and_they_are_counted() {
        let r = registry();
        let a = r.join(&json!({"room": "x"})).expect("joins");
        let _slow = r.join(&json!({"room": "x"})).expect("joins");
        for _ in 0..crate::transform::fanout::INBOX + 3 {
            a.publish(&Bytes::from_static(b"m"));
        }
        assert_eq!(r.stats.dropped_overflow.get(), 3);
    }

    #[test]
    fn a_missing_value_names_the_query() {
        let e = registry()
            .join(&json!({"other": 1}))
            .err()
            .expect("refused");
        assert!(e.to_string().contains("\"/room\""), "{e}");
    }
}
