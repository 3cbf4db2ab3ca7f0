//! Noticing that the config file may have changed.
//!
//! In Kubernetes the file sits in a ConfigMap volume that the kubelet updates by writing a new
//! `..<timestamp>` directory and renaming a `..data` symlink over the old one: the visible file
//! is never written, so watching it sees nothing. We watch the directory that holds it (never
//! the file), treat every event there as "maybe changed" (except reads, which our own reads of
//! a plain file would cause), and let the caller debounce and compare content hashes. The watch
//! is re-armed whenever the directory is replaced, and a periodic re-check covers lost events
//! and filesystems without inotify (`poll` mode re-checks often instead of watching).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use notify::event::ModifyKind;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// How changes are noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchMode {
    /// inotify on the config's directory, plus a periodic re-check.
    Inotify,
    /// Periodic re-checks only.
    Poll,
}

/// An inotify watch on the config file's directory that follows the directory being replaced.
pub struct DirWatch {
    dir: PathBuf,
    events: mpsc::UnboundedSender<()>,
    watcher: Option<RecommendedWatcher>,
    /// Device and inode of the directory the watch is on.
    watched: Option<(u64, u64)>,
    /// Set when the watched directory itself was deleted or moved away: the watch is dead even
    /// if a new directory at the same path got the same inode number (ext4 reuses them).
    lost: Arc<AtomicBool>,
}

impl DirWatch {
    /// Watches the directory of `file`; every relevant event sends a unit on `events`.
    pub fn new(file: &Path, events: mpsc::UnboundedSender<()>) -> Self {
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut w = Self {
            dir,
            events,
            watcher: None,
            watched: None,
            lost: Arc::new(AtomicBool::new(false)),
        };
        w.rearm();
        w
    }

    /// (Re-)creates the watch if the directory is new or the watch was lost. Cheap when
    /// nothing changed: one `stat`.
    pub fn rearm(&mut self) {
        let current = std::fs::metadata(&self.dir)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if current.is_some()
            && current == self.watched
            && self.watcher.is_some()
            && !self.lost.load(Ordering::Relaxed)
        {
            return;
        }
        self.watcher = None;
        self.watched = None;
        let Some(id) = current else {
            return;
        };
        let events = self.events.clone();
        let lost = Arc::new(AtomicBool::new(false));
        self.lost = lost.clone();
        let dir = self.dir.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            let relevant = match res {
                Ok(e) => {
                    if matches!(
                        e.kind,
                        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                    ) && e.paths.contains(&dir)
                    {
                        lost.store(true, Ordering::Relaxed);
                    }
                    !matches!(e.kind, EventKind::Access(_))
                }
                // An error (such as a queue overflow) may hide a change.
                Err(_) => true,
            };
            if relevant {
                let _ = events.send(());
            }
        };
        match notify::recommended_watcher(handler)
            .and_then(|mut w| w.watch(&self.dir, RecursiveMode::NonRecursive).map(|()| w))
        {
            Ok(w) => {
                tracing::debug!(dir = %self.dir.display(), "watching config directory");
                self.watcher = Some(w);
                self.watched = Some(id);
            }
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot watch the config directory; relying on re-checks");
            }
        }
    }
}
