//! The idle timeout of a session, checked with a periodic timer against a count of the
//! messages moved, so that no clock is read per message.

use std::time::Duration;

use tokio::time::Instant;

use crate::cluster::RESOLVE_INTERVAL;
use crate::msg::Recv;

/// What woke a session's loop.
pub(super) enum Wakeup {
    /// A message, end or failure from stage `.0`.
    Traffic((usize, Recv)),
    /// The idle timer.
    Tick,
    /// The listener stopped the session.
    Stop,
}

/// The idle timeout, checked on the ticks of the listener's [clock](super::clock) (every
/// quarter of the timeout, every 5 s at most, the re-resolution interval, for longer
/// timeouts) against a count of the messages moved: the session is idle at the first check
/// a whole timeout after the check that saw the count last change. It so ends between one
/// idle timeout and one timeout plus two check periods after its last message, never before,
/// at the cost of a tick per check instead of a clock read per message.
pub(super) struct IdleWatch {
    timeout: Duration,
    /// Messages counted at the last check.
    seen: u64,
    /// The check that saw `seen` first (or the start).
    since: Instant,
}

impl IdleWatch {
    const CHECKS: u32 = 4;

    pub(super) fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            seen: 0,
            since: Instant::now(),
        }
    }

    /// Time between checks: a quarter of the timeout, but no longer than the clusters'
    /// re-resolution interval, since each check also looks for hops whose endpoint left.
    pub(super) fn period(&self) -> Duration {
        (self.timeout / Self::CHECKS)
            .min(RESOLVE_INTERVAL)
            .max(Duration::from_millis(1))
    }

    /// One check at `now`, given the messages moved so far: true once the session has been
    /// quiet for the whole timeout.
    pub(super) fn quiet_after(&mut self, moved: u64, now: Instant) -> bool {
        if moved != self.seen {
            self.seen = moved;
            self.since = now;
            return false;
        }
        now.saturating_duration_since(self.since) >= self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_a_whole_timeout_after_the_check_that_saw_the_last_message() {
        let mut watch = IdleWatch::new(Duration::from_secs(8));
        assert_eq!(watch.period(), Duration::from_secs(2));
        let t0 = watch.since;
        let at = |s| t0 + Duration::from_secs(s);
        // Traffic before the first check: that check is not quiet, and the timeout runs
        // from it.
        assert!(!watch.quiet_after(3, at(2)));
        assert!(!watch.quiet_after(3, at(9)));
        // One message starts the timeout anew.
        assert!(!watch.quiet_after(4, at(10)));
        assert!(!watch.quiet_after(4, at(17)));
        assert!(watch.quiet_after(4, at(18)));
    }

    #[test]
    fn a_quiet_session_is_idle_a_timeout_after_its_start() {
        let mut watch = IdleWatch::new(Duration::from_secs(8));
        let t0 = watch.since;
        assert!(!watch.quiet_after(0, t0 + Duration::from_secs(7)));
        assert!(watch.quiet_after(0, t0 + Duration::from_secs(8)));
    }

    #[test]
    fn a_long_timeout_is_checked_every_resolution_interval() {
        assert_eq!(
            IdleWatch::new(Duration::from_secs(60)).period(),
            RESOLVE_INTERVAL
        );
    }

    #[test]
    fn a_tiny_timeout_still_checks_every_millisecond() {
        assert_eq!(
            IdleWatch::new(Duration::from_millis(2)).period(),
            Duration::from_millis(1)
        );
    }
}
