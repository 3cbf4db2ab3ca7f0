//! Hot reload: the config file is the proxy's only input, so the proxy follows it by itself.
//!
//! One controller task owns the running [`Proxy`]. It wakes on directory events (debounced),
//! on a periodic re-check, and on SIGHUP; reads the file through its path; does nothing when
//! the content hash is unchanged; reads and validates with the same code as `l7mp --validate`
//! and `l7mpc`; and applies the new config with [`Proxy::apply`], which changes only what
//! differs. A file that cannot be read or does not validate (an empty one included: the
//! kubelet's atomic swap never shows a half-written file) never replaces the running config: it
//! is logged once, with its hash, and counted. When the file goes back to the running config's
//! bytes, the failure is over and is cleared.

pub mod status;
pub mod watch;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use l7mp_config::Diagnostic;
use l7mp_config::diagnostic::Report;
use l7mp_config::load::sha256_hex;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::logging;
use crate::proxy::Proxy;
pub use status::ReloadStatus;
use watch::{DirWatch, WatchMode};

/// How the controller watches and applies.
#[derive(Clone, Debug)]
pub struct ReloadOptions {
    /// The config file, as given on the command line.
    pub path: PathBuf,
    /// inotify or polling.
    pub mode: WatchMode,
    /// Quiet time after the last event before the file is read (a ConfigMap swap makes
    /// several events).
    pub debounce: Duration,
    /// Period of the safety-net re-check (in `poll` mode, the polling period).
    pub recheck: Duration,
    /// Time the sessions of a removed or re-bound listener get before they are closed.
    pub drain: Duration,
}

/// Why the file was not applied.
enum Rejection {
    /// The content of the config in force.
    Unchanged,
    /// Unreadable, invalid or unstartable: what about and why.
    Bad {
        /// The failing content's hash, or the message when the file could not be read.
        about: String,
        /// What went wrong as a whole (absent when the diagnostics say it all).
        headline: Option<String>,
        /// The file's problems, each logged on its own.
        diagnostics: Vec<Diagnostic>,
    },
}

impl Rejection {
    /// A file that could not be read: the failure is about the message itself.
    fn unreadable(diagnostics: Vec<Diagnostic>) -> Rejection {
        Rejection::Bad {
            about: Report(&diagnostics).to_string().trim_end().to_string(),
            headline: None,
            diagnostics,
        }
    }
}

/// What went wrong, for the admin endpoint: the headline, then the diagnostics.
fn why(headline: Option<&str>, diagnostics: &[Diagnostic]) -> String {
    let report = Report(diagnostics).to_string();
    match headline {
        Some(h) if diagnostics.is_empty() => h.to_string(),
        Some(h) => format!("{h}:\n{}", report.trim_end()),
        None => report.trim_end().to_string(),
    }
}

/// Counts the file the proxy started with, which did not load (`why`), as one failed attempt,
/// about the same thing its first check will be about, so that the check does not count it
/// again while it stays the same.
pub fn record_initial_failure(status: &ReloadStatus, path: &std::path::Path, why: &str) {
    let about = match read_config(path) {
        Ok(text) => sha256_hex(text.as_bytes()),
        Err(Rejection::Bad { about, .. }) => about,
        Err(Rejection::Unchanged) => return,
    };
    status.record_failure(&about, why);
}

/// Follows the config file until `shutdown` completes, then returns the proxy.
pub async fn run(
    mut proxy: Proxy,
    options: ReloadOptions,
    status: Arc<ReloadStatus>,
    shutdown: impl Future<Output = ()>,
) -> Proxy {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut dir_watch =
        (options.mode == WatchMode::Inotify).then(|| DirWatch::new(&options.path, events_tx));
    // The first tick is immediate: once the watch is armed, the file is checked at once, so a
    // change made between the initial load and the watch (while the proxy was starting) is not
    // left for the next re-check.
    let mut recheck = tokio::time::interval(options.recheck);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let debounce = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(debounce, shutdown);
    let mut pending = false;
    loop {
        tokio::select! {
            Some(()) = events.recv() => {
                pending = true;
                debounce.as_mut().reset(Instant::now() + options.debounce);
                continue;
            }
            () = &mut debounce, if pending => pending = false,
            _ = recheck.tick() => {
                if let Some(w) = dir_watch.as_mut() {
                    w.rearm();
                }
            }
            Some(()) = recv_signal(&mut hangup) => tracing::info!("SIGHUP: re-reading the config"),
            () = &mut shutdown => return proxy,
        }
        match check(&mut proxy, &options, &status).await {
            Ok(()) => {}
            Err(Rejection::Unchanged) => {
                if status.record_restored() {
                    tracing::info!(
                        sha256 = %status.sha256(),
                        "the file is back to the config in force; the earlier failure is over"
                    );
                }
            }
            Err(Rejection::Bad {
                about,
                headline,
                diagnostics,
            }) => {
                if status.record_failure(&about, &why(headline.as_deref(), &diagnostics)) {
                    diagnostics.iter().for_each(logging::diagnostic);
                    let file = options.path.display().to_string();
                    match headline {
                        Some(h) => tracing::error!(
                            file,
                            "config not applied, the running config stays: {h}"
                        ),
                        None => {
                            tracing::error!(file, "config not applied, the running config stays")
                        }
                    }
                }
            }
        }
    }
}

async fn recv_signal(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Reads the file and applies it if it is new and valid.
async fn check(
    proxy: &mut Proxy,
    options: &ReloadOptions,
    status: &ReloadStatus,
) -> Result<(), Rejection> {
    let name = options.path.display().to_string();
    let text = read_config(&options.path)?;
    let sha256 = sha256_hex(text.as_bytes());
    if status.sha256() == sha256 {
        return Err(Rejection::Unchanged);
    }
    let loaded = l7mp_config::load_str(&name, &text).map_err(|diagnostics| Rejection::Bad {
        about: sha256.clone(),
        headline: Some(format!("{name} (sha256 {sha256}) is invalid")),
        diagnostics,
    })?;
    loaded.warnings.iter().for_each(logging::diagnostic);
    let summary = proxy
        .apply(loaded.config, options.drain)
        .await
        .map_err(|e| Rejection::Bad {
            headline: Some(format!("{name} (sha256 {sha256}) cannot be applied: {e}")),
            about: sha256.clone(),
            diagnostics: Vec::new(),
        })?;
    tracing::info!(sha256 = %sha256, generation = status.generation() + 1, "config reloaded: {summary}");
    status.record_reload(&sha256, Arc::new(text), summary);
    Ok(())
}

/// Reads the config through its path (following the ConfigMap's symlinks), with the checks
/// every reader of a config file makes ([`l7mp_config::load::read_file`]).
fn read_config(path: &std::path::Path) -> Result<String, Rejection> {
    l7mp_config::load::read_file(path).map_err(Rejection::unreadable)
}
