//! A listener's clock: one timer for the idle checks of all its sessions, which also carries
//! their stop signal.
//!
//! A timer of each session's own (tokio's `Sleep`) and a child of the listener's stop token
//! (an allocation, and a future to wait on it) were a large part of an idle session's memory,
//! while ten thousand sessions checking once every few seconds need one timer between them.
//! The listener's ticker wakes every waiting session on each tick, and once more when the
//! listener's sessions must end; a woken session looks at which it was (see
//! [`Alarm::poll`]). A session lists its task's waker with the clock once, and a poll of its
//! alarm reads two atomics: no future, gate or allocation per session.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::idle::Wakeup;
use crate::cluster::RESOLVE_INTERVAL;

/// The ticker of one listener's sessions.
pub struct Clock {
    /// Ticks so far (wrapping): a session's alarm compares it with the count it saw last.
    ticks: AtomicU32,
    /// Set, before the last wake-up, once the listener's sessions must end.
    stopped: AtomicBool,
    /// The wakers of the sessions waiting, woken on every tick and at the stop.
    waiting: Mutex<Slots>,
    /// The shortest check period a session asked for, in milliseconds; `u64::MAX` while none
    /// did. It never grows back: a listener whose sessions once had a short idle timeout goes
    /// on ticking that often, which costs wake-ups, never a late check.
    period_ms: AtomicU64,
    /// Wakes the ticker when a session asks for a shorter period than the one it sleeps.
    retune: Notify,
    /// Whether the ticker task runs.
    started: AtomicBool,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            ticks: AtomicU32::new(0),
            stopped: AtomicBool::new(false),
            waiting: Mutex::default(),
            period_ms: AtomicU64::new(u64::MAX),
            retune: Notify::new(),
            started: AtomicBool::new(false),
        }
    }
}

/// A waker per waiting session, by slot. A session keeps its slot for its whole life and
/// frees it when its alarm is dropped, so that the list holds nothing of an ended session.
#[derive(Default)]
struct Slots {
    wakers: Vec<Option<Waker>>,
    free: Vec<u32>,
}

impl Slots {
    fn take(&mut self, waker: Waker) -> u32 {
        // The free list may name slots cut off the end since, or taken again since: those
        // are skipped here rather than searched out of the list at every free.
        while let Some(slot) = self.free.pop() {
            if let Some(empty @ None) = self.wakers.get_mut(slot as usize) {
                *empty = Some(waker);
                return slot;
            }
        }
        self.wakers.push(Some(waker));
        u32::try_from(self.wakers.len() - 1).unwrap_or(u32::MAX)
    }

    /// Frees `slot`, and gives memory back once the list is mostly empty, so that a burst of
    /// sessions does not pin its peak size: free slots at the end go, and the rest shrinks.
    fn free(&mut self, slot: u32) {
        let Some(waker) = self.wakers.get_mut(slot as usize) else {
            return;
        };
        *waker = None;
        self.free.push(slot);
        while self.wakers.last().is_some_and(Option::is_none) {
            self.wakers.pop();
        }
        let len = self.wakers.len();
        // Stale entries are dropped only once they outnumber the slots, so that ending
        // sessions in any order costs each O(1) on the lock every session shares.
        if self.free.len() > len {
            let wakers = &self.wakers;
            self.free
                .retain(|&s| wakers.get(s as usize).is_some_and(Option::is_none));
        }
        if self.wakers.capacity() > 64 && len * 4 < self.wakers.capacity() {
            self.wakers.shrink_to(len * 2);
            self.free.shrink_to(len);
        }
    }
}

impl Clock {
    /// Ticks at least every `period` from now on, if given, and starts the ticker on the first
    /// call; it ends the sessions' wait when `cancel` fires, and ends itself then or once the
    /// listener is gone.
    fn start(self: &Arc<Self>, period: Option<Duration>, cancel: &CancellationToken) {
        if let Some(p) = period {
            let ms = u64::try_from(p.as_millis()).unwrap_or(u64::MAX).max(1);
            if self.period_ms.fetch_min(ms, Ordering::Relaxed) > ms {
                self.retune.notify_one();
            }
        }
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(tick(self.clone(), cancel.clone()));
        }
    }

    /// The current tick period: the shortest any session asked for, and never longer than the
    /// clusters' re-resolution interval.
    fn period(&self) -> Duration {
        Duration::from_millis(self.period_ms.load(Ordering::Relaxed)).min(RESOLVE_INTERVAL)
    }

    fn wake_all(&self) {
        for waker in self.waiting.lock().wakers.iter().flatten() {
            waker.wake_by_ref();
        }
    }
}

/// The ticker: wakes every waiting session each period, and a last time when `cancel` fires.
async fn tick(clock: Arc<Clock>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(clock.period()) => {}
            // A shorter period was asked for: sleep that instead.
            () = clock.retune.notified() => continue,
            () = cancel.cancelled() => {
                clock.stopped.store(true, Ordering::Release);
                clock.wake_all();
                return;
            }
        }
        // Only this task holds the clock: its listener is gone.
        if Arc::strong_count(&clock) == 1 {
            return;
        }
        // Counted before the wake-ups, so that a woken session sees the tick.
        clock.ticks.fetch_add(1, Ordering::Release);
        clock.wake_all();
    }
}

/// A session's wait on its listener's clock: its slot in the clock's list of wakers and the
/// tick it saw last.
pub(super) struct Alarm<'a> {
    clock: &'a Clock,
    cancel: &'a CancellationToken,
    /// The task's waker as the clock holds it; `None` until the first poll.
    waker: Option<Waker>,
    slot: u32,
    seen: u32,
}

impl<'a> Alarm<'a> {
    /// Waits on `clock` for ticks at least every `period` (none: only for the stop), and for
    /// `cancel`.
    pub(super) fn new(
        clock: &'a Arc<Clock>,
        cancel: &'a CancellationToken,
        period: Option<Duration>,
    ) -> Self {
        clock.start(period, cancel);
        Alarm {
            clock,
            cancel,
            waker: None,
            slot: 0,
            seen: clock.ticks.load(Ordering::Acquire),
        }
    }

    /// Ready with a tick since the last one seen (or since the alarm was made), or with the
    /// stop. The first poll lists the task's waker with the clock (again whenever the task's
    /// waker changes) and looks at `cancel` itself, so that a stop that came before the
    /// ticker saw it is seen as well.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Wakeup> {
        match &self.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            Some(_) => {
                let waker = cx.waker().clone();
                if let Some(listed) = self.clock.waiting.lock().wakers.get_mut(self.slot as usize) {
                    *listed = Some(waker.clone());
                }
                self.waker = Some(waker);
            }
            None => {
                let waker = cx.waker().clone();
                self.slot = self.clock.waiting.lock().take(waker.clone());
                self.waker = Some(waker);
                if self.cancel.is_cancelled() {
                    return Poll::Ready(Wakeup::Stop);
                }
            }
        }
        if self.clock.stopped.load(Ordering::Acquire) {
            return Poll::Ready(Wakeup::Stop);
        }
        let ticks = self.clock.ticks.load(Ordering::Acquire);
        if ticks == self.seen {
            return Poll::Pending;
        }
        self.seen = ticks;
        Poll::Ready(Wakeup::Tick)
    }
}

impl Drop for Alarm<'_> {
    fn drop(&mut self) {
        if self.waker.is_some() {
            self.clock.waiting.lock().free(self.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_cut_off_the_end_and_taken_again_is_never_handed_out_twice() {
        let mut slots = Slots::default();
        let (a, b) = (
            slots.take(Waker::noop().clone()),
            slots.take(Waker::noop().clone()),
        );
        assert_eq!((a, b), (0, 1));
        slots.free(b); // cut off the end; its entry stays in the free list
        let again = slots.take(Waker::noop().clone());
        assert_eq!(again, 1);
        slots.free(a);
        // Slot 1 is live: the next two takes must give slot 0 and then a new slot.
        let (c, d) = (
            slots.take(Waker::noop().clone()),
            slots.take(Waker::noop().clone()),
        );
        assert_eq!((c, d), (0, 2));
        assert!(slots.wakers.iter().all(Option::is_some));
        // Ended in any order, everything is given back.
        for slot in [1, 0, 2] {
            slots.free(slot);
        }
        assert!(slots.wakers.is_empty());
        assert!(slots.free.is_empty());
    }

    fn noop_cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[tokio::test]
    async fn an_alarm_sees_each_tick_and_the_stop_once_polled() {
        let clock = Arc::new(Clock::default());
        let cancel = CancellationToken::new();
        let mut alarm = Alarm::new(&clock, &cancel, None);
        let mut cx = noop_cx();
        assert!(alarm.poll(&mut cx).is_pending());
        clock.ticks.fetch_add(1, Ordering::Release);
        clock.wake_all();
        assert!(matches!(alarm.poll(&mut cx), Poll::Ready(Wakeup::Tick)));
        assert!(alarm.poll(&mut cx).is_pending());
        clock.stopped.store(true, Ordering::Release);
        assert!(matches!(alarm.poll(&mut cx), Poll::Ready(Wakeup::Stop)));
    }

    #[tokio::test]
    async fn a_stop_before_the_first_poll_is_seen() {
        let clock = Arc::new(Clock::default());
        let cancel = CancellationToken::new();
        let mut alarm = Alarm::new(&clock, &cancel, None);
        cancel.cancel();
        assert!(matches!(
            alarm.poll(&mut noop_cx()),
            Poll::Ready(Wakeup::Stop)
        ));
    }

    #[tokio::test]
    async fn an_ended_session_leaves_nothing_in_the_clock() {
        let clock = Arc::new(Clock::default());
        let cancel = CancellationToken::new();
        let mut alarms: Vec<_> = (0..200)
            .map(|_| Alarm::new(&clock, &cancel, None))
            .collect();
        for alarm in &mut alarms {
            assert!(alarm.poll(&mut noop_cx()).is_pending());
        }
        assert_eq!(clock.waiting.lock().wakers.len(), 200);
        // The oldest end first, as idle sessions do.
        drop(alarms.drain(..150));
        let waiting = clock.waiting.lock();
        assert_eq!(waiting.wakers.iter().flatten().count(), 50);
        drop(waiting);
        drop(alarms);
        let waiting = clock.waiting.lock();
        assert!(waiting.wakers.is_empty() && waiting.free.is_empty());
        assert!(
            waiting.wakers.capacity() <= 64,
            "{}",
            waiting.wakers.capacity()
        );
    }
}
