//! Rate limits for warnings that repeat per session (a dead upstream fails every session the
//! same way): a listener or cluster logs its first warning in full, holds back the ones that
//! follow within [`INTERVAL`], and then logs one summary line saying how many it held back.
//! While they keep coming, one summary per interval; after a quiet interval the next warning
//! is logged in full again. Only the log is thinned: the counters in `/metrics` count every
//! event.

use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// Longest time between two log lines of one listener's or cluster's repeated warnings.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// What a [`Throttle`] speaks for, named in its summary lines.
#[derive(Clone, Copy, Debug)]
pub enum Scope {
    /// A listener.
    Listener,
    /// A cluster.
    Cluster,
}

/// The warnings of one listener or cluster.
pub struct Throttle {
    state: Arc<Mutex<State>>,
}

struct State {
    scope: Scope,
    name: String,
    /// When the current interval ends; `None` when the last warning is an interval old.
    until: Option<Instant>,
    /// Warnings held back in the current interval.
    held: u64,
    /// Whether a task will write the current interval's summary.
    summary_due: bool,
}

impl Throttle {
    /// The throttle of the listener or cluster `name`.
    pub fn new(scope: Scope, name: &str) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                scope,
                name: name.to_string(),
                until: None,
                held: 0,
                summary_due: false,
            })),
        }
    }

    /// Whether to log a warning now; `false` means it is held back and counted for the
    /// summary.
    pub fn admit(&self) -> bool {
        let now = Instant::now();
        let mut state = lock(&self.state);
        match state.until {
            Some(until) if now < until => {
                state.held += 1;
                if !state.summary_due {
                    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                        return true;
                    };
                    state.summary_due = true;
                    runtime.spawn(summarize(self.state.clone(), until));
                }
                false
            }
            _ => {
                state.until = Some(now + INTERVAL);
                true
            }
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock()
}

/// At the end of each interval with warnings held back, logs how many; the summary opens the
/// next interval, so a steady stream of warnings gives one line per interval.
async fn summarize(state: Arc<Mutex<State>>, mut until: Instant) {
    loop {
        tokio::time::sleep_until(until).await;
        let mut s = lock(&state);
        let held = std::mem::take(&mut s.held);
        if held == 0 {
            s.summary_due = false;
            return;
        }
        let seconds = INTERVAL.as_secs();
        match s.scope {
            Scope::Listener => tracing::warn!(
                listener = %s.name,
                suppressed = held,
                "{held} more session warnings in the last {seconds} s were not logged"
            ),
            Scope::Cluster => tracing::warn!(
                cluster = %s.name,
                suppressed = held,
                "{held} more connect warnings in the last {seconds} s were not logged"
            ),
        }
        until = Instant::now() + INTERVAL;
        s.until = Some(until);
    }
}
