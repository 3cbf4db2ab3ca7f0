//! A fan-out group: members each own a bounded inbox, and a message published to the group is
//! offered to every inbox (optionally but one: the sender's). Sync domains and the Stdio
//! input are both built on it. A group may hold a bounded backlog of what was published while
//! nobody else was there to get it, and hand it to the next member that joins.
//!
//! Members may live on different worker runtimes, so inboxes are `tokio::sync::mpsc` channels
//! (which wake a task on any runtime) and publishing never waits: a full inbox (a member that
//! does not keep up) loses the message and the loss is counted, so one slow member can neither
//! stall the others nor make the proxy's memory grow without bound. The lock is a std mutex
//! because nothing awaits while holding it.

use parking_lot::{Mutex, MutexGuard};
use std::collections::VecDeque;

use bytes::Bytes;
use tokio::sync::mpsc;

/// Messages an inbox holds before further ones are dropped for that member.
pub const INBOX: usize = 256;

/// A member's id within its group.
pub type MemberId = u64;

/// The members of one group.
#[derive(Default)]
pub struct Group {
    state: Mutex<Members>,
    /// Most messages held for a joiner while nobody else is there; 0 holds none.
    backlog_limit: usize,
}

/// Members and backlog under one lock, so that a message published while a member joins is
/// either delivered to it or held for it, never lost in between.
#[derive(Default)]
struct Members {
    next_id: MemberId,
    inboxes: Vec<(MemberId, mpsc::Sender<Bytes>)>,
    backlog: VecDeque<Bytes>,
}

/// What became of one published message.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Inboxes that took it.
    pub delivered: usize,
    /// Inboxes that were full, so the message was lost for them.
    pub dropped: usize,
}

impl Group {
    /// A group that holds up to `limit` messages (at most [`INBOX`]) published while no other
    /// member is there, for the next member to join.
    pub fn with_backlog(limit: usize) -> Self {
        Self {
            state: Mutex::default(),
            backlog_limit: limit.min(INBOX),
        }
    }

    /// Adds a member; it receives the backlog, then what is published from now on.
    pub fn join(&self) -> (MemberId, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(INBOX);
        let mut m = self.lock();
        let id = m.next_id;
        m.next_id += 1;
        for held in m.backlog.drain(..) {
            // Cannot fail: the backlog is never longer than a fresh inbox.
            let _ = tx.try_send(held);
        }
        m.inboxes.push((id, tx));
        (id, rx)
    }

    /// Removes a member; returns how many are left.
    pub fn leave(&self, id: MemberId) -> usize {
        let mut m = self.lock();
        m.inboxes.retain(|(i, _)| *i != id);
        m.inboxes.len()
    }

    /// How many members the group has.
    pub fn len(&self) -> usize {
        self.lock().inboxes.len()
    }

    /// Offers `data` to every member except `from`. Members whose receiver is gone are
    /// removed on the way. With no other member, `data` goes to the backlog (if it has room;
    /// else it counts as dropped).
    pub fn publish(&self, from: Option<MemberId>, data: &Bytes) -> Delivery {
        let mut out = Delivery::default();
        let mut m = self.lock();
        let mut others = 0;
        m.inboxes.retain(|(id, tx)| {
            if Some(*id) == from {
                return true;
            }
            others += 1;
            match tx.try_send(data.clone()) {
                Ok(()) => out.delivered += 1,
                Err(mpsc::error::TrySendError::Full(_)) => out.dropped += 1,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
            true
        });
        if others == 0 && self.backlog_limit > 0 {
            if m.backlog.len() < self.backlog_limit {
                m.backlog.push_back(data.clone());
            } else {
                out.dropped += 1;
            }
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, Members> {
        self.state.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reaches_every_other_member_once() {
        let g = Group::default();
        let (a, mut ra) = g.join();
        let (_b, mut rb) = g.join();
        let (_c, mut rc) = g.join();
        let d = g.publish(Some(a), &Bytes::from_static(b"hi"));
        assert_eq!(d.delivered, 2);
        assert!(ra.try_recv().is_err(), "the sender gets nothing back");
        assert_eq!(rb.try_recv().unwrap(), "hi");
        assert_eq!(rc.try_recv().unwrap(), "hi");
    }

    #[test]
    fn a_full_inbox_drops_and_counts_and_a_gone_one_is_removed() {
        let g = Group::default();
        let (_a, _ra) = g.join();
        let (_b, rb) = g.join();
        drop(rb);
        for _ in 0..INBOX {
            g.publish(None, &Bytes::from_static(b"x"));
        }
        assert_eq!(g.len(), 1, "the member without a receiver is gone");
        let d = g.publish(None, &Bytes::from_static(b"x"));
        assert_eq!(
            d,
            Delivery {
                delivered: 0,
                dropped: 1
            }
        );
    }

    #[test]
    fn the_backlog_is_bounded_and_goes_to_the_next_joiner_only() {
        let g = Group::with_backlog(2);
        let (a, mut ra) = g.join();
        for m in ["1", "2", "3"] {
            g.publish(Some(a), &Bytes::from(m));
        }
        assert!(ra.try_recv().is_err());
        let (_b, mut rb) = g.join();
        assert_eq!(rb.try_recv().unwrap(), "1");
        assert_eq!(rb.try_recv().unwrap(), "2");
        assert!(rb.try_recv().is_err(), "the third did not fit");
        let (_c, mut rc) = g.join();
        assert!(
            rc.try_recv().is_err(),
            "the backlog went to the first joiner"
        );
    }
}
