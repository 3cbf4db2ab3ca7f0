//! What the reload controller reports about itself, read by logs, metrics and the admin
//! endpoint: which config is active, how many reloads succeeded or failed, and the last error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::proxy::ReloadSummary;
use crate::stats::Counter;

/// Reload state shared between the controller and its readers.
#[derive(Default)]
pub struct ReloadStatus {
    /// Incremented with every config applied (the first one is 1).
    generation: AtomicU64,
    /// Successful reloads (the first config counts).
    pub reloads_ok: Counter,
    /// Rejected or failed reloads.
    pub reloads_failed: Counter,
    /// Whether the latest attempt succeeded.
    last_ok: AtomicBool,
    /// When the latest attempt finished, in milliseconds since the Unix epoch.
    last_attempt_ms: AtomicU64,
    active: Mutex<Active>,
}

/// The config in force.
#[derive(Default, Clone)]
struct Active {
    sha256: String,
    text: Arc<String>,
    last_error: Option<String>,
    /// What the latest failure was about (the failing content's hash, or the message when the
    /// file could not be read), so that one bad file is counted once however often it is
    /// checked. Cleared by a success.
    failed: Option<String>,
    summary: Option<ReloadSummary>,
}

impl ReloadStatus {
    fn active(&self) -> MutexGuard<'_, Active> {
        self.active.lock()
    }

    fn stamp(&self, ok: bool) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_attempt_ms.store(now, Ordering::Relaxed);
        self.last_ok.store(ok, Ordering::Relaxed);
    }

    /// Records that the config with this hash and text is now in force.
    pub fn record_success(&self, sha256: &str, text: Arc<String>) {
        {
            let mut a = self.active();
            a.sha256 = sha256.to_string();
            a.text = text;
            a.last_error = None;
            a.failed = None;
        }
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.reloads_ok.inc();
        self.stamp(true);
    }

    /// Records that a reload put the config with this hash and text in force, changing what
    /// `summary` says.
    pub fn record_reload(&self, sha256: &str, text: Arc<String>, summary: ReloadSummary) {
        self.active().summary = Some(summary);
        self.record_success(sha256, text);
    }

    /// Records a rejected or failed reload about `about` (the failing content's hash, or the
    /// message when the file could not be read), unless the latest failure was about the same
    /// thing; true when it was recorded.
    pub fn record_failure(&self, about: &str, why: &str) -> bool {
        {
            let mut a = self.active();
            if a.failed.as_deref() == Some(about) {
                return false;
            }
            a.failed = Some(about.to_string());
            a.last_error = Some(why.to_string());
        }
        self.reloads_failed.inc();
        self.stamp(false);
        true
    }

    /// Records that the file, after a failure, holds the config in force again: the failure is
    /// over (the latest attempt succeeded, with nothing to apply). True when there was a
    /// failure to clear; the generation stays.
    pub fn record_restored(&self) -> bool {
        {
            let mut a = self.active();
            if a.failed.is_none() {
                return false;
            }
            a.failed = None;
            a.last_error = None;
        }
        self.reloads_ok.inc();
        self.stamp(true);
        true
    }

    /// Hash of the config in force ("" before the first).
    pub fn sha256(&self) -> String {
        self.active().sha256.clone()
    }

    /// Text of the config in force.
    pub fn text(&self) -> Arc<String> {
        self.active().text.clone()
    }

    /// Why the latest reload failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.active().last_error.clone()
    }

    /// What the latest successful reload changed (`None` before the first reload).
    pub fn last_summary(&self) -> Option<ReloadSummary> {
        self.active().summary.clone()
    }

    /// Number of configs applied so far; 0 means not ready.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Whether the latest attempt succeeded.
    pub fn last_ok(&self) -> bool {
        self.last_ok.load(Ordering::Relaxed)
    }

    /// When the latest attempt finished (ms since the Unix epoch; 0 = never).
    pub fn last_attempt_ms(&self) -> u64 {
        self.last_attempt_ms.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bad_file_counts_once_until_something_else_happens() {
        let status = ReloadStatus::default();
        assert!(status.record_failure("sha-a", "a is invalid"));
        assert!(!status.record_failure("sha-a", "a is invalid"));
        assert_eq!(status.reloads_failed.get(), 1);
        // Another bad file is a new failure.
        assert!(status.record_failure("sha-b", "b is invalid"));
        assert_eq!(status.last_error().as_deref(), Some("b is invalid"));
        // After a success, the first bad file counts again.
        status.record_success("sha-c", Arc::new(String::new()));
        assert!(status.record_failure("sha-a", "a is invalid"));
        assert_eq!(status.reloads_failed.get(), 3);
    }

    #[test]
    fn going_back_to_the_config_in_force_clears_a_failure_once() {
        let status = ReloadStatus::default();
        status.record_success("sha-good", Arc::new(String::new()));
        assert!(!status.record_restored(), "nothing to clear");
        assert!(status.record_failure("sha-bad", "bad is invalid"));
        assert!(!status.last_ok());
        assert!(status.record_restored());
        assert!(status.last_ok());
        assert_eq!(status.last_error(), None);
        assert_eq!((status.reloads_ok.get(), status.generation()), (2, 1));
        assert!(!status.record_restored(), "cleared once");
        // The same bad file again is a new failure.
        assert!(status.record_failure("sha-bad", "bad is invalid"));
    }
}
