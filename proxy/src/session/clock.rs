//! A listener's clock: one timer for the idle checks of all its sessions, which also carries
//! their stop signal.
//!
//! A timer of each session's own (tokio's `Sleep`) and a child of the listener's stop token
//! (an allocation, and a future to wait on it) were a large part of an idle session's memory,
//! while ten thousand sessions checking once every few seconds need one timer between them.
//! The listener's ticker wakes every waiting session on each tick, and once more when the
//! listener's sessions must end; a woken session looks at which it was (see
//! [`Alarm::poll`]). A session waits on one small future, polled only when it fires.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio_util::sync::CancellationToken;

use super::idle::Wakeup;
use crate::cluster::RESOLVE_INTERVAL;
use crate::gate::Gate;

/// The ticker of one listener's sessions.
pub struct Clock {
    /// Woken on every tick and when the listener's sessions must end.
    ticks: Notify,
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
            ticks: Notify::new(),
            period_ms: AtomicU64::new(u64::MAX),
            retune: Notify::new(),
            started: AtomicBool::new(false),
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
}

/// The ticker: wakes every waiting session each period, and a last time when `cancel` fires.
async fn tick(clock: Arc<Clock>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(clock.period()) => {}
            // A shorter period was asked for: sleep that instead.
            () = clock.retune.notified() => continue,
            () = cancel.cancelled() => {
                clock.ticks.notify_waiters();
                return;
            }
        }
        // Only this task holds the clock: its listener is gone.
        if Arc::strong_count(&clock) == 1 {
            return;
        }
        clock.ticks.notify_waiters();
    }
}

/// A session's wait on its listener's clock. The wait itself (a `Notified` of the clock's)
/// is the session's, pinned in its loop, so that it costs no allocation.
pub(super) struct Alarm<'a> {
    clock: &'a Clock,
    cancel: &'a CancellationToken,
    gate: Gate,
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
            gate: Gate::new(),
        }
    }

    /// The wait for the next tick, to pin and hand to [`Alarm::poll`]. It is complete by any
    /// tick after it was made, polled or not, so no tick between is missed.
    pub(super) fn wait(&self) -> Notified<'a> {
        self.clock.ticks.notified()
    }

    /// Polls `wait` for the next tick or the stop, behind the alarm's gate. The stop is looked
    /// at when the gate was woken (its token takes a lock shared by the listener's sessions)
    /// and on the first poll, after `wait` was made, so that a stop that came before is seen
    /// as well.
    pub(super) fn poll(
        &self,
        wait: &mut Pin<&mut Notified<'a>>,
        cx: &mut Context<'_>,
    ) -> Poll<Wakeup> {
        let cancel = self.cancel;
        let wakeup = ready!(self.gate.poll(cx, |cx| {
            if cancel.is_cancelled() {
                return Poll::Ready(Wakeup::Stop);
            }
            wait.as_mut().poll(cx).map(|()| Wakeup::Tick)
        }));
        if let Wakeup::Tick = wakeup {
            // Waits for the next tick from now on; a stop in between is then seen by the
            // next poll, which the gate lets through after a `Ready`.
            wait.set(self.wait());
        }
        Poll::Ready(wakeup)
    }
}
