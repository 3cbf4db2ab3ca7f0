//! A small single-producer queue from a UDP listener to one of its sessions.
//!
//! A server-mode UDP listener hands each session the datagrams of its peer. A general-purpose
//! channel preallocates a block of slots per channel, which at ten thousand mostly idle sessions
//! is most of a session's memory; this queue allocates only while datagrams are waiting.
//! Whatever else the two ends share (the UDP listener's [shortcut](super::shortcut)) rides in
//! the queue's allocation, so that a session costs one shared allocation, not two.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};

use parking_lot::{Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::task::AtomicWaker;

struct Shared<T> {
    queue: Mutex<VecDeque<Bytes>>,
    /// The queue's length, written under its lock and read without it: both ends look at
    /// an empty queue far more often than they use it.
    queued: AtomicU16,
    waker: AtomicWaker,
    /// Set when either side is dropped.
    closed: AtomicBool,
    /// Most datagrams waiting at once. Here rather than in the listener's end, which sits in
    /// the listener's peer table, one entry per session.
    /// (16 bits, as `queued`: with the flag beside them they fit in one word, which keeps the
    /// allocation within a smaller size class of the allocator.)
    capacity: u16,
    /// What else both ends share.
    attached: T,
}

impl<T> Shared<T> {
    fn queue(&self) -> MutexGuard<'_, VecDeque<Bytes>> {
        self.queue.lock()
    }
}

/// The listener's end.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The session's end.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// What happened to a datagram offered to a session.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// Queued for the session.
    Queued,
    /// The session is busy and its queue full: dropped, as a congested network would.
    Dropped,
    /// The session is gone; the datagram is handed back to start a new one.
    Gone(Bytes),
}

/// A queue holding at most `capacity` waiting datagrams, with `attached` shared by both ends.
pub fn inbox<T>(capacity: u16, attached: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        queued: AtomicU16::new(0),
        waker: AtomicWaker::new(),
        closed: AtomicBool::new(false),
        capacity,
        attached,
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Offers one datagram to the session.
    pub fn offer(&self, data: Bytes) -> Offer {
        if self.shared.closed.load(Ordering::Acquire) {
            return Offer::Gone(data);
        }
        {
            let mut queue = self.shared.queue();
            if queue.len() >= usize::from(self.shared.capacity) {
                return Offer::Dropped;
            }
            queue.push_back(data);
            self.shared.queued.store(count(&queue), Ordering::Release);
        }
        self.shared.waker.wake();
        Offer::Queued
    }
}

impl<T> Sender<T> {
    /// True when no datagram is waiting for the session.
    pub fn is_empty(&self) -> bool {
        self.shared.queued.load(Ordering::Acquire) == 0
    }

    /// What both ends share beside the queue.
    pub fn attached(&self) -> &T {
        &self.shared.attached
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.waker.wake();
    }
}

impl<T> Receiver<T> {
    /// What both ends share beside the queue.
    pub fn attached(&self) -> &T {
        &self.shared.attached
    }

    /// True when no datagram is waiting.
    pub fn is_empty(&self) -> bool {
        self.shared.queued.load(Ordering::Acquire) == 0
    }

    /// The next datagram; `None` once the listener is gone and the queue is empty.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(b) = self.take() {
            return Poll::Ready(Some(b));
        }
        self.shared.waker.register(cx.waker());
        // Checked again after registering, so a datagram offered in between is not missed.
        if let Some(b) = self.take() {
            return Poll::Ready(Some(b));
        }
        if self.shared.closed.load(Ordering::Acquire) {
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    fn take(&self) -> Option<Bytes> {
        if self.shared.queued.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut queue = self.shared.queue();
        let b = queue.pop_front();
        self.shared.queued.store(count(&queue), Ordering::Release);
        if queue.is_empty() && queue.capacity() > 0 {
            // Given back at once, not only after a burst: most sessions idle, and a UDP pair
            // session's inbox carries little more than its first datagram (the rest go past it
            // through the shortcut), so a kept buffer would be idle memory in every session.
            queue.shrink_to(0);
        }
        b
    }
}

/// The length of `queue`, which never holds more than the capacity, a `u16`.
fn count(queue: &VecDeque<Bytes>) -> u16 {
    u16::try_from(queue.len()).unwrap_or(u16::MAX)
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    #[tokio::test]
    async fn delivers_in_order_and_drops_beyond_capacity() {
        let (tx, mut rx) = inbox(2, ());
        assert_eq!(tx.offer(Bytes::from_static(b"a")), Offer::Queued);
        assert_eq!(tx.offer(Bytes::from_static(b"b")), Offer::Queued);
        assert_eq!(tx.offer(Bytes::from_static(b"c")), Offer::Dropped);
        assert_eq!(poll_fn(|cx| rx.poll_recv(cx)).await.unwrap(), "a");
        assert_eq!(poll_fn(|cx| rx.poll_recv(cx)).await.unwrap(), "b");
    }

    /// Every session keeps its inbox for its whole life. At 104 bytes the allocation (with
    /// its two counts) is 120, a 128-byte chunk for the allocator; 8 more would make it 144.
    #[test]
    fn a_udp_session_inbox_stays_small() {
        let size = size_of::<Shared<crate::udp::shortcut::Shortcut>>();
        assert!(size <= 104, "{size}");
    }

    #[tokio::test]
    async fn an_emptied_queue_holds_no_memory() {
        let (tx, mut rx) = inbox(4, ());
        tx.offer(Bytes::from_static(b"first"));
        assert_eq!(poll_fn(|cx| rx.poll_recv(cx)).await.unwrap(), "first");
        assert_eq!(rx.shared.queue().capacity(), 0);
    }

    #[tokio::test]
    async fn wakes_a_waiting_receiver() {
        let (tx, mut rx) = inbox(4, ());
        let waiter = tokio::spawn(async move { poll_fn(|cx| rx.poll_recv(cx)).await });
        tokio::task::yield_now().await;
        assert_eq!(tx.offer(Bytes::from_static(b"x")), Offer::Queued);
        assert_eq!(waiter.await.unwrap().unwrap(), "x");
    }

    #[tokio::test]
    async fn each_side_sees_the_other_go() {
        let (tx, rx) = inbox(4, ());
        drop(rx);
        assert_eq!(
            tx.offer(Bytes::from_static(b"x")),
            Offer::Gone(Bytes::from_static(b"x"))
        );
        let (tx, mut rx) = inbox(4, ());
        tx.offer(Bytes::from_static(b"last"));
        drop(tx);
        assert_eq!(poll_fn(|cx| rx.poll_recv(cx)).await.unwrap(), "last");
        assert_eq!(poll_fn(|cx| rx.poll_recv(cx)).await, None);
    }
}
