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

use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::join_all;
use l7mp_config::config::RetryPolicy;
use l7mp_config::model::RetryOn;
use serde_json::Value;
use tokio::time::Instant;

use crate::cluster::{Cluster, ConnectError, Connected};
use crate::jsonsocket;
use crate::listener::ListenerCtx;
use crate::listener::sessions::{HopInfo, SessionInfo};
use crate::shortcut::Shortcut;
use crate::stage::{Recv, Stage, UdpHop};
use crate::stats::Traffic;

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

/// Why a session could not start: an HTTP-style status and what went wrong, for a client that
/// is told (JSONSocket).
struct Refused {
    status: u16,
    message: String,
}

/// Routes and runs one session to its end.
pub async fn run(ctx: &ListenerCtx, source: Source, metadata: Value, info: Arc<SessionInfo>) {
    let name = info.name.as_str();
    let Source {
        stage,
        pending,
        greeting,
    } = source;
    // Setup and teardown are boxed so that the (large) connect and close futures do not
    // inflate every idle session's task for its whole life.
    let mut ring = match Box::pin(setup(ctx, stage, metadata, &info)).await {
        Ok(ring) => ring,
        Err((mut stage, refused)) => {
            if greeting == Greeting::JsonSocket {
                Box::pin(jsonsocket::server::refuse(
                    &mut stage,
                    refused.status,
                    &refused.message,
                ))
                .await;
            }
            return;
        }
    };
    if let Some(p) = pending {
        ring.pending.push((0, p));
    }
    if greeting == Greeting::JsonSocket
        && let Err(e) = ring.stages[0].send(jsonsocket::server::ok()).await
    {
        tracing::debug!(session = name, "client gone before the status header: {e}");
        Box::pin(ring.close()).await;
        return;
    }
    let end = ring.pump(ctx).await;
    match &end {
        End::Failed(stage, e) => {
            ctx.stats.session_errors.inc();
            tracing::warn!(session = name, stage, "session failed: {e}");
        }
        End::Closed(stage) => tracing::debug!(session = name, stage, "session closed"),
        End::Done | End::Idle | End::Stopped => {
            tracing::debug!(session = name, "session ended: {end:?}");
        }
    }
    Box::pin(ring.close()).await;
}

/// Picks the session's route and connects every hop. When the session cannot start (no rule
/// matched, a hop failed) it is counted and logged here, and the source is handed back with
/// the reason so that a client that expects an answer can get one.
async fn setup(
    ctx: &ListenerCtx,
    source: Stage,
    mut metadata: Value,
    info: &Arc<SessionInfo>,
) -> Result<Ring, (Stage, Refused)> {
    let name = info.name.as_str();
    let routing = ctx.routing.load();
    let route = match routing.select(&ctx.config().rulelist, &mut metadata) {
        Ok(r) => r.clone(),
        Err(e) => {
            ctx.stats.sessions_refused.inc();
            tracing::info!(session = name, listener = %ctx.name, "refused: {e}");
            let message = format!("Not Found: {e}");
            return Err((
                source,
                Refused {
                    status: 404,
                    message,
                },
            ));
        }
    };
    let names = route
        .ingress
        .iter()
        .chain(std::iter::once(&route.destination))
        .chain(&route.egress);
    let Some(clusters) = names
        .map(|n| routing.cluster(n).cloned())
        .collect::<Option<Vec<Arc<Cluster>>>>()
    else {
        ctx.stats.session_errors.inc();
        tracing::error!(session = name, route = %route.name, "route names a missing cluster");
        let message = format!(
            "Service Unavailable: route {} names a missing cluster",
            route.name
        );
        return Err((
            source,
            Refused {
                status: 503,
                message,
            },
        ));
    };
    let attempts = match route.retry.retry_on {
        RetryOn::ConnectFailure | RetryOn::Always => 1 + route.retry.num_retries,
        RetryOn::Never | RetryOn::Disconnect => 1,
    };
    let connects = clusters
        .iter()
        .map(|c| connect_hop(c, &metadata, route.retry, attempts, Vec::new()));
    let results = join_all(connects).await;
    let mut hops = Vec::with_capacity(clusters.len());
    let mut shown = Vec::with_capacity(clusters.len());
    let mut stages = Vec::with_capacity(clusters.len() + 1);
    let mut pending = Vec::new();
    for (cluster, result) in clusters.into_iter().zip(results) {
        match result {
            Ok((c, failed)) => {
                tracing::debug!(session = name, cluster = %cluster.config.name, endpoint = %c.endpoint, "connected");
                if let Some(p) = c.pending {
                    // The hop's stage index: the source comes first.
                    pending.push((stages.len() + 1, p));
                }
                stages.push(c.stage);
                shown.push(HopInfo {
                    cluster: cluster.clone(),
                    endpoint: c.endpoint.into_boxed_str(),
                });
                hops.push(Hop {
                    cluster,
                    index: c.index,
                    failed,
                });
            }
            Err(e) => {
                ctx.stats.session_errors.inc();
                tracing::warn!(session = name, cluster = %cluster.config.name, "connect failed: {e}");
                let message = format!(
                    "Service Unavailable: cluster {} could not be connected: {e}",
                    cluster.config.name
                );
                return Err((
                    source,
                    Refused {
                        status: 503,
                        message,
                    },
                ));
            }
        }
    }
    stages.insert(0, source);
    info.set_hops(shown);
    let retries_disconnects = matches!(route.retry.retry_on, RetryOn::Disconnect | RetryOn::Always);
    let ring = Ring {
        info: info.clone(),
        pending,
        open: vec![true; stages.len()],
        stages,
        hops,
        next_poll: 0,
        retry: route.retry,
        // Only a reconnect needs the metadata again (for its balancing key); most sessions
        // can give its memory back now.
        metadata: if retries_disconnects {
            metadata
        } else {
            Value::Null
        },
    };
    Ok(ring)
}

/// One connected hop and what is needed to reconnect it.
struct Hop {
    cluster: Arc<Cluster>,
    /// Endpoint index of the current connection.
    index: usize,
    /// Endpoints that already failed for this hop.
    failed: Vec<usize>,
}

/// The session's stages and their state.
struct Ring {
    stages: Vec<Stage>,
    /// `hops[k]` is `stages[k + 1]`.
    hops: Vec<Hop>,
    /// Whether each stage may still produce messages.
    open: Vec<bool>,
    /// Messages a stage produced before the ring ran (read together with a JSONSocket header),
    /// as (stage, message); forwarded before anything else. Empty, and unallocated, for most
    /// sessions.
    pending: Vec<(usize, Bytes)>,
    /// Where the next poll starts, so a busy stage cannot starve the others.
    next_poll: usize,
    retry: RetryPolicy,
    metadata: Value,
    /// What the admin endpoint shows of the session; a reconnect updates its endpoint.
    info: Arc<SessionInfo>,
}

impl Ring {
    /// The listener's shortcut, when this session's route is one UDP hop from a server-mode
    /// UDP source: the source stage and the hop are then all there is.
    fn shortcut(&self) -> Option<(&Arc<Shortcut>, &UdpHop)> {
        match self.stages.as_slice() {
            [Stage::UdpPeer(source), Stage::Udp(hop)] => Some((&source.shortcut, hop)),
            _ => None,
        }
    }

    /// Lets the listener send the source's datagrams to the hop's current socket itself.
    fn open_shortcut(&self) {
        if let Some((shortcut, hop)) = self.shortcut() {
            shortcut.open(
                hop.socket().clone(),
                self.hops[0].cluster.stats.clone(),
                self.info.clone(),
            );
        }
    }

    /// When the source last sent something the session's task did not see.
    fn shortcut_last_used(&self) -> Option<Instant> {
        let (shortcut, _) = self.shortcut()?;
        shortcut.last_used().map(Instant::from_std)
    }

    async fn pump(&mut self, ctx: &ListenerCtx) -> End {
        let idle = ctx.config().idle_timeout;
        let mut last_activity = Instant::now();
        let timer = tokio::time::sleep(idle.unwrap_or_default());
        // Made once: a fresh `cancelled()` per message would re-register with the token.
        let stopped = ctx.cancel.cancelled();
        tokio::pin!(timer, stopped);
        // What was read ahead goes first; only then may the listener send past the session.
        while let Some((i, data)) = self.pending.pop() {
            if let Some(end) = self.forward(ctx, i, data).await {
                return end;
            }
        }
        self.open_shortcut();
        loop {
            if let Some((i, data)) = self.pending.pop() {
                last_activity = Instant::now();
                if let Some(end) = self.forward(ctx, i, data).await {
                    return end;
                }
                continue;
            }
            let (i, event) = tokio::select! {
                // Traffic first; the timer and the stop signal are rare.
                biased;
                event = poll_fn(|cx| self.poll_any(cx)) => event,
                () = &mut timer, if idle.is_some() => {
                    if let Some(used) = self.shortcut_last_used() {
                        last_activity = last_activity.max(used);
                    }
                    let deadline = last_activity + idle.unwrap_or_default();
                    if Instant::now() >= deadline {
                        return End::Idle;
                    }
                    timer.as_mut().reset(deadline);
                    continue;
                }
                () = &mut stopped => return End::Stopped,
            };
            let outcome = match event {
                Recv::Data(data) => {
                    last_activity = Instant::now();
                    self.forward(ctx, i, data).await
                }
                Recv::Closed => self.on_closed(i).await,
                Recv::Failed(e) => self.on_failed(i, e).await,
            };
            if let Some(end) = outcome {
                return end;
            }
        }
    }

    /// Waits for the next message from any open stage.
    fn poll_any(&mut self, cx: &mut Context<'_>) -> Poll<(usize, Recv)> {
        let n = self.stages.len();
        if !self.open.iter().any(|o| *o) {
            return Poll::Ready((0, Recv::Closed));
        }
        for k in 0..n {
            let i = (self.next_poll + k) % n;
            if !self.open[i] {
                continue;
            }
            if let Poll::Ready(event) = self.stages[i].poll_recv(cx) {
                self.next_poll = (i + 1) % n;
                return Poll::Ready((i, event));
            }
        }
        Poll::Pending
    }

    fn traffic<'a>(&'a self, ctx: &'a ListenerCtx, stage: usize) -> &'a Traffic {
        match stage {
            0 => &ctx.stats.traffic,
            k => &self.hops[k - 1].cluster.stats.traffic,
        }
    }

    async fn forward(&mut self, ctx: &ListenerCtx, from: usize, data: Bytes) -> Option<End> {
        self.traffic(ctx, from).received(data.len());
        if from == 0 {
            self.info.traffic.received(data.len());
        }
        let to = (from + 1) % self.stages.len();
        let len = data.len();
        match self.stages[to].send(data).await {
            Ok(()) => {
                self.traffic(ctx, to).sent(len);
                if to == 0 {
                    self.info.traffic.sent(len);
                }
                None
            }
            Err(e) => self.on_failed(to, e).await,
        }
    }

    async fn on_closed(&mut self, stage: usize) -> Option<End> {
        // A hop whose input already finished closing is the orderly end, not a disconnect.
        if stage > 0
            && self.retries_disconnects()
            && !self.stages[stage].is_local()
            && self.open[stage - 1]
        {
            let e = io::Error::new(io::ErrorKind::ConnectionAborted, "peer closed");
            return self.on_failed(stage, e).await;
        }
        if !self.open.iter().any(|o| *o) {
            return Some(End::Done);
        }
        self.open[stage] = false;
        let next = (stage + 1) % self.stages.len();
        if !self.stages[next].finish().await {
            return Some(End::Closed(stage));
        }
        (!self.open.iter().any(|o| *o)).then_some(End::Done)
    }

    /// A stage failed: reconnect it if the route retries disconnects, else end the session.
    async fn on_failed(&mut self, stage: usize, error: io::Error) -> Option<End> {
        if stage == 0 || !self.retries_disconnects() || self.stages[stage].is_local() {
            return Some(End::Failed(stage, error));
        }
        if let Some((shortcut, _)) = self.shortcut() {
            shortcut.close();
        }
        let hop = &mut self.hops[stage - 1];
        let mut failed = std::mem::take(&mut hop.failed);
        failed.push(hop.index);
        let attempts = self.retry.num_retries.max(1);
        let reconnect = connect_hop(&hop.cluster, &self.metadata, self.retry, attempts, failed);
        match Box::pin(reconnect).await {
            Ok((c, failed)) => {
                tracing::debug!(cluster = %hop.cluster.config.name, endpoint = %c.endpoint, "reconnected after: {error}");
                self.info.set_endpoint(stage - 1, &c.endpoint);
                hop.index = c.index;
                hop.failed = failed;
                if let Some(p) = c.pending {
                    self.pending.push((stage, p));
                }
                self.stages[stage] = c.stage;
                self.open[stage] = true;
                self.open_shortcut();
                None
            }
            Err(e) => Some(End::Failed(
                stage,
                io::Error::other(format!("{error}; reconnect: {e}")),
            )),
        }
    }

    fn retries_disconnects(&self) -> bool {
        matches!(self.retry.retry_on, RetryOn::Disconnect | RetryOn::Always)
    }

    /// Says goodbye where the protocol has a way to; everything is released on drop.
    async fn close(&mut self) {
        let closing = join_all(self.stages.iter_mut().map(Stage::close));
        let _ = tokio::time::timeout(std::time::Duration::from_millis(200), closing).await;
    }
}

impl Drop for Ring {
    /// However the session ends, the listener stops sending past it at once, so that the
    /// peer's next datagram starts a new session instead of feeding a dead one's socket.
    fn drop(&mut self) {
        if let Some((shortcut, _)) = self.shortcut() {
            shortcut.close();
        }
    }
}

/// Connects one hop, trying up to `attempts` times; each attempt asks the load balancer again
/// and skips endpoints that already failed while another exists. Returns the failures seen, so
/// that a later reconnect keeps avoiding them.
async fn connect_hop(
    cluster: &Cluster,
    metadata: &Value,
    retry: RetryPolicy,
    attempts: u32,
    mut failed: Vec<usize>,
) -> Result<(Connected, Vec<usize>), ConnectError> {
    let mut attempt = 0;
    loop {
        match cluster.connect(metadata, retry.timeout, &mut failed).await {
            Ok(c) => return Ok((c, failed)),
            Err(e) if attempt + 1 >= attempts => return Err(e),
            Err(e) => {
                tracing::debug!(cluster = %cluster.config.name, attempt, "connect failed, retrying: {e}");
                attempt += 1;
                // Every endpoint failed once already: give them a moment before the next round.
                if failed.len() >= cluster.endpoints().targets.len() {
                    tokio::time::sleep(retry.timeout.min(std::time::Duration::from_millis(100)))
                        .await;
                }
            }
        }
    }
}
