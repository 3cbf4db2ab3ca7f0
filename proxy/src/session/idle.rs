//! The idle timeout of a session, checked with a periodic timer against a count of the
//! messages moved, so that no clock is read per message.

use std::time::Duration;

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

/// The idle timeout, checked in quarters (every 5 s at most, the re-resolution interval, for
/// longer timeouts): the session is idle once as many checks in a row as make the timeout saw
/// no message move. It so ends between one idle timeout and one timeout plus a check period
/// after its last message, never before, at the cost of a timer per check instead of a clock
/// read per message.
pub(super) struct IdleWatch {
    timeout: Duration,
    /// Messages counted at the last check.
    seen: u64,
    /// Checks in a row that saw no message.
    quiet: u32,
}

impl IdleWatch {
    const CHECKS: u32 = 4;

    pub(super) fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            seen: 0,
            quiet: 0,
        }
    }

    /// Time between checks: a quarter of the timeout, but no longer than the clusters'
    /// re-resolution interval, since each check also looks for hops whose endpoint left.
    pub(super) fn period(&self) -> Duration {
        (self.timeout / Self::CHECKS)
            .min(RESOLVE_INTERVAL)
            .max(Duration::from_millis(1))
    }

    /// Quiet checks in a row that make the whole timeout.
    fn checks(&self) -> u32 {
        let period = self.period().as_nanos();
        u32::try_from(self.timeout.as_nanos().div_ceil(period)).unwrap_or(u32::MAX)
    }

    /// One check, given the messages moved so far: true once the session has been quiet for
    /// the whole timeout.
    pub(super) fn quiet_after(&mut self, moved: u64) -> bool {
        if moved == self.seen {
            self.quiet += 1;
        } else {
            self.seen = moved;
            self.quiet = 0;
        }
        self.quiet >= self.checks().max(Self::CHECKS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_after_four_quiet_checks_in_a_row() {
        let mut watch = IdleWatch::new(Duration::from_secs(8));
        assert_eq!(watch.period(), Duration::from_secs(2));
        // Traffic before the first check: that check is not quiet.
        assert!(!watch.quiet_after(3));
        assert!(!watch.quiet_after(3));
        assert!(!watch.quiet_after(3));
        assert!(!watch.quiet_after(3));
        // One message resets the count.
        assert!(!watch.quiet_after(4));
        for _ in 0..3 {
            assert!(!watch.quiet_after(4));
        }
        assert!(watch.quiet_after(4));
    }

    #[test]
    fn a_long_timeout_is_checked_every_resolution_interval() {
        let mut watch = IdleWatch::new(Duration::from_secs(60));
        assert_eq!(watch.period(), RESOLVE_INTERVAL);
        assert!(!watch.quiet_after(1));
        for _ in 0..11 {
            assert!(!watch.quiet_after(1));
        }
        assert!(watch.quiet_after(1), "twelve quiet checks of 5 s make 60 s");
    }

    #[test]
    fn a_tiny_timeout_still_checks_every_millisecond() {
        assert_eq!(
            IdleWatch::new(Duration::from_millis(2)).period(),
            Duration::from_millis(1)
        );
    }
}
