//! A listener's context: what its sessions share (name, counters, routing, stop signals,
//! session limit, the registry of running sessions) and the spawning of each session's task.
//! It lives with the sessions rather than the listeners because a session runs in it: the
//! listeners only create one per listener and hand it every connection they accept.

use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use l7mp_config::config::ListenerConfig;
use l7mp_config::model::ListenerSpec;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::clock::{Alarm, Clock};
use super::idle::IdleWatch;
use super::registry::{SessionInfo, SessionRegistry};
use super::{Greeting, Source};
use crate::fds;
use crate::jsonsocket;
use crate::offload::Offload;
use crate::routing::RoutingHandle;
use crate::stage::Stage;
use crate::stats::ListenerStats;
use crate::throttle::{Scope, Throttle};

/// Milliseconds a JSONSocket client has to send its header when the listener sets no
/// `header_timeout`.
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 5000;

/// What a listener's sessions share.
pub struct ListenerCtx {
    /// The listener's name (fixed: a renamed listener is a different listener).
    pub name: String,
    /// Counters.
    pub stats: ListenerStats,
    /// The sessions running now.
    pub sessions: SessionRegistry,
    /// The routing in force.
    pub routing: Arc<RoutingHandle>,
    /// Fires when the listener stops taking new sessions (it is being removed or restarted).
    pub accepting: CancellationToken,
    /// Fires when the listener's sessions must end.
    pub cancel: CancellationToken,
    /// Rate limit for the warnings its sessions and accepts log.
    pub warnings: Throttle,
    /// Where one-hop UDP sessions hand their flows to the kernel, when offload is on.
    pub offload: Option<Arc<Offload>>,
    /// The sessions' idle checks and stop signal.
    pub(super) clock: Arc<Clock>,
    settings: ArcSwap<ListenerConfig>,
    slots: Arc<Semaphore>,
    max_sessions: AtomicU32,
}

impl ListenerCtx {
    /// A context for `config` under `routing`, offloading UDP sessions to `offload`.
    pub fn new(
        config: ListenerConfig,
        routing: Arc<RoutingHandle>,
        offload: Option<Arc<Offload>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            name: config.name.clone(),
            stats: ListenerStats::default(),
            sessions: SessionRegistry::default(),
            routing,
            accepting: CancellationToken::new(),
            cancel: CancellationToken::new(),
            warnings: Throttle::new(Scope::Listener, &config.name),
            offload,
            clock: Arc::default(),
            slots: Arc::new(Semaphore::new(config.max_sessions as usize)),
            max_sessions: AtomicU32::new(config.max_sessions),
            settings: ArcSwap::from_pointee(config),
        })
    }

    /// What a session of this listener watches for its idle timeout (nothing without one), and
    /// the alarm that wakes it for the checks: the listener's clock at the watch's period, and
    /// the listener's stop signal. Polled only when it fires, not per message.
    pub(super) fn idle_alarm(&self) -> (Option<IdleWatch>, Alarm<'_>) {
        let idle = self.config().idle_timeout.map(IdleWatch::new);
        let alarm = Alarm::new(
            &self.clock,
            &self.cancel,
            idle.as_ref().map(IdleWatch::period),
        );
        (idle, alarm)
    }

    /// The settings in force; a session takes them once, when it starts.
    pub fn config(&self) -> Arc<ListenerConfig> {
        self.settings.load_full()
    }

    /// Changes the settings of a running listener (same socket): its rule list, timeouts and
    /// session limit apply to sessions that start from now on.
    pub fn update(&self, config: ListenerConfig) {
        let new_max = config.max_sessions;
        let old_max = self.max_sessions.swap(new_max, Ordering::Relaxed);
        self.settings.store(Arc::new(config));
        if new_max > old_max {
            self.slots.add_permits((new_max - old_max) as usize);
        } else if new_max < old_max {
            let excess = (old_max - new_max) as usize;
            let forgotten = self.slots.forget_permits(excess);
            if forgotten < excess {
                // Sessions hold the rest; retire their slots as they end.
                let slots = self.slots.clone();
                let rest = u32::try_from(excess - forgotten).unwrap_or(u32::MAX);
                tokio::spawn(async move {
                    if let Ok(p) = slots.acquire_many_owned(rest).await {
                        p.forget();
                    }
                });
            }
        }
    }

    /// A slot for one more session, or `None` (counted as refused) at the limit.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        let permit = self.slots.clone().try_acquire_owned().ok();
        if permit.is_none() {
            self.stats.sessions_refused.inc();
            tracing::debug!(listener = %self.name, "session limit reached, refused");
        }
        permit
    }

    /// A slot for a session on the connection `fd` (see [`ListenerCtx::admit`]); `None`,
    /// counted as refused, as well when the process holds all the descriptors sessions may
    /// use (see [`fds`]), so that the caller closes it at once.
    pub fn admit_connection(&self, fd: BorrowedFd<'_>) -> Option<OwnedSemaphorePermit> {
        if let Err(e) = fds::check(fd) {
            self.stats.sessions_refused.inc();
            if self.warnings.admit() {
                tracing::warn!(listener = %self.name, "connection refused: {e}");
            }
            return None;
        }
        self.admit()
    }

    /// Runs a session on its own task; `on_end` runs when it is over. On a JSONSocket
    /// listener the session first reads the client's header (see [`jsonsocket::server`]); a
    /// refused header is counted as a session error and logged. Returns what the admin
    /// endpoint shows of the session, whose counters a UDP listener bumps for datagrams it
    /// sends past the session's task.
    pub fn spawn_session(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        source: Stage,
        mut metadata: Value,
        name: String,
        on_end: impl FnOnce() + Send + 'static,
    ) -> Arc<SessionInfo> {
        let header_timeout = match &self.config().spec {
            ListenerSpec::JsonSocket { header_timeout, .. } => Some(Duration::from_millis(
                header_timeout.unwrap_or(DEFAULT_HEADER_TIMEOUT_MS),
            )),
            _ => None,
        };
        let name = match header_timeout {
            Some(_) => format!("JSONSocket:{name}"),
            None => name,
        };
        let info = Arc::new(SessionInfo::new(name));
        let live = Live {
            id: self.sessions.insert(info.clone()),
            ctx: self.clone(),
            started: Instant::now(),
        };
        // Given back by `Live` itself (one slot, as the permit would): the permit's own pointer
        // to the semaphore would be a second copy of the context's in every session's task.
        permit.forget();
        self.stats.sessions_total.inc();
        self.stats.sessions_active.inc();
        let shown = info.clone();
        // Opening the session (reading a JSONSocket header, routing, connecting every hop)
        // runs in an allocation of its own, freed once the session runs: its futures and the
        // source, metadata and name they take are large, and inline they would stay part of
        // every session's task for its whole life, most of an idle session's memory.
        let ctx = self.clone();
        let opening = Box::pin(async move {
            let source = match header_timeout {
                None => Source::plain(source),
                Some(timeout) => {
                    accept_header(&ctx, source, &mut metadata, timeout, &info.name).await?
                }
            };
            super::open(&ctx, source, metadata, info).await
        });
        tokio::spawn(async move {
            if let Some(mut session) = opening.await {
                session.run(&live.ctx).await;
            }
            drop(live);
            on_end();
        });
        shown
    }
}

/// Reads a JSONSocket client's header into `metadata` (see [`jsonsocket::server::accept`]);
/// `None`, counted as a session error and logged, when the header is refused, and `None` as
/// well when the listener stops first.
async fn accept_header(
    ctx: &ListenerCtx,
    source: Stage,
    metadata: &mut Value,
    timeout: Duration,
    session: &str,
) -> Option<Source> {
    let accepted = tokio::select! {
        r = jsonsocket::server::accept(source, metadata, timeout) => r,
        () = ctx.cancel.cancelled() => return None,
    };
    match accepted {
        Ok(a) => Some(Source {
            stage: a.stage,
            pending: a.pending,
            greeting: Greeting::JsonSocket,
        }),
        Err(e) => {
            ctx.stats.session_errors.inc();
            tracing::info!(session, listener = %ctx.name, "JSONSocket: {e}");
            None
        }
    }
}

/// A running session's place in its listener: counted as active, listed in the registry and
/// holding a slot under the session limit until dropped, however the session's task ends.
struct Live {
    ctx: Arc<ListenerCtx>,
    id: u64,
    started: Instant,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.ctx.sessions.remove(self.id, self.ctx.config().track);
        self.ctx.stats.sessions_active.dec();
        self.ctx
            .stats
            .session_duration
            .observe(self.started.elapsed());
        self.ctx.slots.add_permits(1);
    }
}
