//! What disturbs the traffic: a ConfigMap change to the gateway every so often, alternating
//! good (a real change the proxy must take) and bad (one it must refuse, keeping the config in
//! force), each outcome read back from the gateway's reload metrics; and a worker pod deleted
//! every so often, replaced by its Deployment.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clock::Clock;
use crate::cluster::Harness;
use crate::metrics::{Scrape, scrape};

/// How long a reload may take to show in the metrics.
const RELOAD_DEADLINE: f64 = 15.0;
/// How long a replacement pod may take to become ready.
const READY_DEADLINE: f64 = 60.0;

/// One ConfigMap change and what the gateway made of it.
#[derive(Debug)]
pub struct ConfigChange {
    /// When it was applied.
    pub at: f64,
    /// Whether the config was good (to be taken) or bad (to be refused).
    pub good: bool,
    /// The ConfigMap file.
    pub file: PathBuf,
    /// `Ok(true)` taken, `Ok(false)` refused with the config in force kept, `Err` anything
    /// else (what the metrics showed, or the apply's failure).
    pub outcome: Result<bool, String>,
}

impl ConfigChange {
    /// Whether the gateway did what it must: take a good config, refuse a bad one.
    pub fn as_expected(&self) -> bool {
        self.outcome.as_ref().is_ok_and(|taken| *taken == self.good)
    }
}

/// Every `every` seconds from `first`, applies the next ConfigMap: `good[0]`, `bad`,
/// `good[1]`, `bad`, ... (the good ones in turn, so each is a change).
pub fn change_configs(
    clock: &Clock,
    harness: &Harness,
    gateway: SocketAddr,
    good: &[PathBuf],
    bad: &Path,
    first: f64,
    every: f64,
) -> Vec<ConfigChange> {
    let mut out = Vec::new();
    for k in 0.. {
        if !clock.sleep_until(first + every * k as f64) {
            break;
        }
        let is_good = k % 2 == 0;
        let file = if is_good {
            good[(k / 2) % good.len()].clone()
        } else {
            bad.to_path_buf()
        };
        let at = clock.now();
        let outcome = scrape(gateway)
            .and_then(|before| {
                harness.apply(&file)?;
                Ok(before)
            })
            .and_then(|before| reload_outcome(clock, gateway, &before));
        let said = match &outcome {
            Ok(true) => "taken".to_string(),
            Ok(false) => "refused".to_string(),
            Err(e) => e.clone(),
        };
        let kind = if is_good { "good" } else { "bad" };
        eprintln!(
            "l7mp-soak: {at:.0} s: {kind} config {}: {said}",
            file.display()
        );
        out.push(ConfigChange {
            at,
            good: is_good,
            file,
            outcome,
        });
    }
    out
}

/// Waits for the gateway's reload counters to move past `before`; `Ok(true)` when it took the
/// new config (one more success, another config in force), `Ok(false)` when it refused it
/// (one more failure, the same config in force).
fn reload_outcome(clock: &Clock, gateway: SocketAddr, before: &Scrape) -> Result<bool, String> {
    let deadline = clock.now() + RELOAD_DEADLINE;
    loop {
        let now = scrape(gateway)?;
        let ok = now.reloads_ok - before.reloads_ok;
        let failed = now.reloads_failed - before.reloads_failed;
        let same = now.sha256 == before.sha256;
        match (ok, failed) {
            (0.0, 0.0) if clock.now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            (1.0, 0.0) if !same => return Ok(true),
            (0.0, 1.0) if same => return Ok(false),
            (0.0, 0.0) => {
                return Err(format!("no reload within {RELOAD_DEADLINE} s"));
            }
            _ => {
                let config = if same { "unchanged" } else { "changed" };
                return Err(format!(
                    "reloads ok +{ok}, failed +{failed}, config in force {config}"
                ));
            }
        }
    }
}

/// One pod deletion.
#[derive(Debug)]
pub struct Deletion {
    /// When `delete-pod` started (the pod leaves DNS, then stops).
    pub at: f64,
    /// How long `delete-pod` took (stop, removal, the replacement started).
    pub took: f64,
    /// The deleted pod.
    pub victim: String,
    /// Its replacement and when it became ready (seconds after `at`), if it did.
    pub replacement: Option<(String, Option<f64>)>,
    /// Why the deletion failed, if it did.
    pub error: Option<String>,
}

/// Every `every` seconds from `first`, deletes the oldest pod whose name starts with `prefix`
/// and waits for its replacement to be ready.
pub fn delete_pods(
    clock: &Clock,
    harness: &Harness,
    prefix: &str,
    first: f64,
    every: f64,
) -> Vec<Deletion> {
    let mut out = Vec::new();
    let mut oldest_first: VecDeque<String> = harness.pods(prefix).unwrap_or_default().into();
    for k in 0.. {
        if !clock.sleep_until(first + every * k as f64) {
            break;
        }
        let Some(victim) = oldest_first.pop_front() else {
            break;
        };
        let at = clock.now();
        let result = harness.delete_pod(&victim);
        let took = clock.now() - at;
        let mut deletion = Deletion {
            at,
            took,
            victim: victim.clone(),
            replacement: None,
            error: result.err(),
        };
        let fresh: Vec<String> = harness
            .pods(prefix)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| *p != victim && !oldest_first.contains(p))
            .collect();
        if let Some(new) = fresh.first() {
            oldest_first.push_back(new.clone());
            let ready = wait_ready(clock, harness, new).map(|t| t - at);
            deletion.replacement = Some((new.clone(), ready));
        } else if deletion.error.is_none() {
            deletion.error = Some("no replacement pod appeared".into());
        }
        eprintln!(
            "l7mp-soak: {at:.0} s: deleted {victim} in {took:.1} s; replacement {:?}{}",
            deletion.replacement,
            deletion
                .error
                .as_deref()
                .map(|e| format!("; error: {e}"))
                .unwrap_or_default()
        );
        out.push(deletion);
    }
    out
}

/// When pod `name` became ready, polling its readiness, or `None` after the deadline or when
/// the run stopped.
fn wait_ready(clock: &Clock, harness: &Harness, name: &str) -> Option<f64> {
    let deadline = clock.now() + READY_DEADLINE;
    while clock.now() < deadline && !clock.stopped() {
        if harness
            .readiness()
            .is_ok_and(|r| r.get(name).copied().unwrap_or(false))
        {
            return Some(clock.now());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    None
}
