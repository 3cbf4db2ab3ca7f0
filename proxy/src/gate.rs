//! Polling rare events only when they fire.
//!
//! A session or listener task waits on its traffic and, beside it, on things that almost never
//! happen: a stop signal, an idle timer, a session's end. `select!` polls every branch on every
//! wake-up, so each datagram paid for polling all of them (a stop signal's poll takes a lock).
//! A [`Gate`] gives such an event its own waker: the event is polled again only after that
//! waker fired, and the task's wake-ups for traffic skip it at the cost of one atomic swap.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// What the gated event's waker sets, and the task to wake.
struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// Stands between a task and one rare event it polls. Its waker is made from the flag each
/// time the event is polled rather than kept: sessions keep gates for their whole life, and the
/// event is polled rarely.
pub struct Gate {
    flag: Arc<Flag>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A gate that lets the first poll through, so that the event registers its waker.
    pub fn new() -> Self {
        Self {
            flag: Arc::new(Flag {
                woken: AtomicBool::new(true),
                task: AtomicWaker::new(),
            }),
        }
    }

    /// Polls the event with `poll` if it woke the task since it last returned `Pending` (or
    /// if it has not returned `Pending` yet); otherwise returns `Pending` without polling it.
    /// After `Ready` the next call polls again: a stream may have more items ready, and those
    /// do not wake anyone.
    pub fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        // Registered before the flag is read: a wake-up in between then still reaches the task.
        self.flag.task.register(cx.waker());
        if !self.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = Waker::from(self.flag.clone());
        let result = poll(&mut Context::from_waker(&waker));
        if result.is_ready() {
            self.open();
        }
        result
    }

    /// Lets the next poll through, for a caller that changed the event (reset a timer) so
    /// that it must be polled to register again.
    pub fn open(&self) {
        self.flag.woken.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::sync::atomic::AtomicUsize;

    /// Counts its polls; ready once `fire` was called and its waker woken.
    #[derive(Default)]
    struct Event {
        polls: AtomicUsize,
        fired: AtomicBool,
        waker: parking_lot::Mutex<Option<Waker>>,
    }

    impl Event {
        fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            if self.fired.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            *self.waker.lock() = Some(cx.waker().clone());
            Poll::Pending
        }

        fn fire(&self) {
            self.fired.store(true, Ordering::Release);
            if let Some(w) = self.waker.lock().take() {
                w.wake();
            }
        }
    }

    fn noop_cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn polls_only_after_the_event_woke() {
        let gate = Gate::new();
        let event = Event::default();
        let mut cx = noop_cx();
        assert!(gate.poll(&mut cx, |cx| event.poll(cx)).is_pending());
        for _ in 0..5 {
            assert!(gate.poll(&mut cx, |cx| event.poll(cx)).is_pending());
        }
        assert_eq!(
            event.polls.load(Ordering::Relaxed),
            1,
            "polled while not woken"
        );
        event.fire();
        assert!(gate.poll(&mut cx, |cx| event.poll(cx)).is_ready());
        assert_eq!(event.polls.load(Ordering::Relaxed), 2);
        // Ready leaves the gate open.
        assert!(gate.poll(&mut cx, |cx| event.poll(cx)).is_ready());
    }

    #[test]
    fn open_lets_the_next_poll_through() {
        let gate = Gate::new();
        let event = Event::default();
        let mut cx = noop_cx();
        let _ = gate.poll(&mut cx, |cx| event.poll(cx));
        gate.open();
        let _ = gate.poll(&mut cx, |cx| event.poll(cx));
        assert_eq!(event.polls.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn the_event_wakes_the_waiting_task() {
        let event = Arc::new(Event::default());
        let waiting = event.clone();
        let task = tokio::spawn(async move {
            let gate = Gate::new();
            poll_fn(|cx| gate.poll(cx, |cx| waiting.poll(cx))).await;
        });
        tokio::task::yield_now().await;
        assert!(!task.is_finished());
        event.fire();
        tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .expect("the task was not woken")
            .unwrap();
    }
}
