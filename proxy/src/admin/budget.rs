//! The admin endpoint's connection budget. Idle clients must not lock out the kubelet's probes
//! or Prometheus: rather than making new connections wait in the kernel's accept queue while
//! the budget is used up (behind every idle client, each holding its slot until its head
//! timeout), every connection is accepted, and the one beyond the budget closes the oldest
//! open connection. A probe, being the newest, is served; a client that opened a connection
//! long ago and has still not finished its request is the one to go.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

/// Open connections of one address, oldest first.
#[derive(Debug)]
pub struct Budget {
    max: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    /// Each connection's id and the token that closes it.
    connections: VecDeque<(u64, CancellationToken)>,
}

/// A connection's place in the budget: its `closed` token fires when a newer connection
/// evicts it; dropping the slot gives the place back.
#[derive(Debug)]
pub struct Slot {
    budget: Arc<Budget>,
    id: u64,
    /// Fires when the connection must close to make room for a newer one.
    pub closed: CancellationToken,
}

impl Budget {
    /// A budget of `max` connections open at once (at least one).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            open: Mutex::new(Open::default()),
        })
    }

    fn open(&self) -> MutexGuard<'_, Open> {
        self.open.lock()
    }

    /// Takes a place for a new connection, closing the oldest one when the budget is full.
    pub fn admit(self: &Arc<Self>) -> Slot {
        let closed = CancellationToken::new();
        let mut open = self.open();
        let id = open.next_id;
        open.next_id += 1;
        open.connections.push_back((id, closed.clone()));
        while open.connections.len() > self.max {
            if let Some((_, oldest)) = open.connections.pop_front() {
                oldest.cancel();
            }
        }
        Slot {
            budget: self.clone(),
            id,
            closed,
        }
    }

    /// Connections holding a place now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.open().connections.len()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.budget.open();
        if let Some(i) = open.connections.iter().position(|(id, _)| *id == self.id) {
            open.connections.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_connection_evicts_the_oldest_when_full() {
        let budget = Budget::new(2);
        let a = budget.admit();
        let b = budget.admit();
        assert!(!a.closed.is_cancelled() && !b.closed.is_cancelled());
        let c = budget.admit();
        assert!(a.closed.is_cancelled(), "the oldest goes");
        assert!(!b.closed.is_cancelled() && !c.closed.is_cancelled());
        assert_eq!(budget.len(), 2);
        drop(a);
        assert_eq!(budget.len(), 2, "an evicted slot holds no place");
        drop(b);
        assert_eq!(budget.len(), 1);
        let d = budget.admit();
        assert!(!c.closed.is_cancelled() && !d.closed.is_cancelled());
        drop((c, d));
        assert_eq!(budget.len(), 0);
    }
}
