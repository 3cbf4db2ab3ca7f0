//! The run's clock: seconds since the start, and the stop flag every thread watches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Seconds since the run started, shared by every thread so that their records line up.
pub struct Clock {
    start: Instant,
    stop: AtomicBool,
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Clock {
        Clock {
            start: Instant::now(),
            stop: AtomicBool::new(false),
        }
    }

    /// Seconds since the start.
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Tells every thread to finish.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether the run is over.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps until `at` (seconds since the start); false when the run stopped first.
    pub fn sleep_until(&self, at: f64) -> bool {
        loop {
            if self.stopped() {
                return false;
            }
            let left = at - self.now();
            if left <= 0.0 {
                return true;
            }
            std::thread::sleep(Duration::from_secs_f64(left.min(0.2)));
        }
    }
}
