//! A session: the source stage a listener accepted plus one stage per hop of its route, wired
//! as a ring. Whatever stage `i` produces goes to stage `i + 1`, and the last stage feeds the
//! source, which gives the original's wiring: source → ingress hops → destination → egress
//! hops → source. A remote hop's replies therefore go on to the next hop, and an in-proxy
//! transform as the destination turns messages around.
//!
//! One task drives the whole ring: it waits on every stage at once, forwards each message as it
//! comes, and ends the session when a stage closes (after passing the half-close on where the
//! protocol can carry it), when a hop fails and retries are exhausted, after the idle timeout,
//! or when the listener goes away. Dropping the session releases every socket it held.
//!
//! A route of a single UDP hop from a server-mode UDP listener runs as a UDP pair session
//! (`udp_pair.rs`) instead of the general ring (`ring.rs`): the same wiring for two stages,
//! plus the listener sending the peer's datagrams past the session's task (see
//! [`crate::udp::shortcut`]) and, with `--offload`, the kernel forwarding them once the first
//! went through (see [`crate::offload`]). The ring itself knows no protocol.
//!
//! A session runs in its listener's [`ListenerCtx`] (routing, counters, limits, stop signals),
//! which spawns it and lists it in the [`registry`] for the admin endpoint. Both live here, not
//! with the listeners, so that sessions depend on nothing that accepts connections: listeners
//! sit above sessions, and sessions above stages and clusters.

mod clock;
mod context;
mod hop;
mod idle;
mod offload;
pub mod registry;
mod ring;
mod setup;
#[cfg(test)]
mod sizes;
mod udp_pair;

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::jsonsocket;
use crate::stage::Stage;
pub use context::ListenerCtx;
use registry::SessionInfo;
use ring::Ring;
use setup::setup;
use udp_pair::UdpPair;

/// How a session ended.
#[derive(Debug)]
enum End {
    /// Every stage finished sending.
    Done,
    /// Stage `0` (the source) or a hop closed and the close could not be passed on.
    Closed(usize),
    /// No traffic for the idle timeout.
    Idle,
    /// The listener was stopped.
    Stopped,
    /// A stage failed and could not be reconnected.
    Failed(usize, io::Error),
}

/// What a listener hands a session to route.
pub struct Source {
    /// The connection the listener accepted.
    pub stage: Stage,
    /// Payload the listener already read from it (after a JSONSocket header), sent on first.
    pub pending: Option<Bytes>,
    /// Whether the client expects a status header before any payload.
    pub greeting: Greeting,
}

impl Source {
    /// A source with nothing read ahead and no status header.
    pub fn plain(stage: Stage) -> Self {
        Self {
            stage,
            pending: None,
            greeting: Greeting::None,
        }
    }
}

/// What the source is told about the outcome of routing before payload flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Greeting {
    /// Nothing: payload just starts (or the connection closes).
    None,
    /// A JSONSocket status header: 200 once connected, else the error's status.
    JsonSocket,
}

/// Routes one session and connects every hop of its route; `None` when it cannot start (then
/// counted, logged and, if it expects an answer, told the reason) or its client left before
/// the status header.
///
/// The session comes boxed: the task that runs it awaits this and then runs what came out,
/// and a future keeps room for an unboxed `Option<Running>` beside the `Running` moved out of
/// it, a second copy of the session for its whole life.
async fn open(
    ctx: &Arc<ListenerCtx>,
    source: Source,
    metadata: Value,
    info: Arc<SessionInfo>,
) -> Option<Box<Running>> {
    let name = &*info.name;
    let Source {
        stage,
        pending,
        greeting,
    } = source;
    let mut routed = match setup(ctx, stage, metadata, &info).await {
        Ok(routed) => routed,
        Err((mut stage, refused)) => {
            if greeting == Greeting::JsonSocket {
                Box::pin(jsonsocket::server::refuse(
                    &mut stage,
                    refused.status,
                    &refused.message,
                ))
                .await;
            }
            return None;
        }
    };
    if let Some(p) = pending {
        routed.pending.push((0, p));
    }
    let mut running = match UdpPair::of(routed, info.clone()) {
        Ok(pair) => Running::Pair(pair),
        Err(routed) => Running::Ring(Box::new(Ring::new(routed, info.clone()))),
    };
    if greeting == Greeting::JsonSocket
        && let Err(e) = running.greet(jsonsocket::server::ok()).await
    {
        tracing::debug!(session = name, "client gone before the status header: {e}");
        running.close().await;
        return None;
    }
    Some(Box::new(running))
}

/// A session once its route is connected. The pair is inline (it is the common case, and the
/// task's future holds one variant or the other anyway); the ring is boxed.
#[allow(clippy::large_enum_variant)]
enum Running {
    /// A server-mode UDP source and one UDP hop.
    Pair(UdpPair),
    /// Anything else. Boxed, with its loop's future, so that the ring's size (its stages and
    /// the futures of every protocol's send) does not inflate every pair session's task.
    Ring(Box<Ring>),
}

impl Running {
    /// Runs the session to its end.
    async fn run(&mut self, ctx: &Arc<ListenerCtx>) {
        // Matched here rather than in a method of its own: each `async fn` between the task
        // and the pair's loop keeps its own arguments in every idle session's task.
        let end = match self {
            Running::Pair(pair) => pair.pump(ctx).await,
            Running::Ring(ring) => Box::pin(ring.pump(ctx)).await,
        };
        self.log_end(ctx, end);
        // Boxed so that the (large) close futures do not inflate every idle session's task.
        Box::pin(self.close()).await;
    }

    /// Counts and logs how the session ended. Not inline in [`Running::run`]: what it keeps
    /// there until the close would take room in the session's task for its whole life.
    fn log_end(&self, ctx: &ListenerCtx, end: End) {
        let name = &*self.info().name;
        match &end {
            End::Failed(stage, e) => {
                ctx.stats.session_errors.inc();
                if ctx.warnings.admit() {
                    tracing::warn!(session = name, listener = %ctx.name, stage, "session failed: {e}");
                }
            }
            End::Closed(stage) => tracing::debug!(session = name, stage, "session closed"),
            End::Done | End::Idle | End::Stopped => {
                tracing::debug!(session = name, "session ended: {end:?}");
            }
        }
    }

    /// What the admin endpoint shows of the session.
    fn info(&self) -> &SessionInfo {
        match self {
            Running::Pair(pair) => &pair.info,
            Running::Ring(ring) => &ring.info,
        }
    }

    /// Sends the source a status header before anything else.
    async fn greet(&mut self, header: Bytes) -> io::Result<()> {
        match self {
            Running::Pair(pair) => pair.greet(&header).await,
            Running::Ring(ring) => ring.stages[0].send(header).await,
        }
    }

    /// Says goodbye where the protocol has a way to (a UDP pair has none); everything is
    /// released on drop.
    async fn close(&mut self) {
        if let Running::Ring(ring) = self {
            ring.close().await;
        }
    }
}
