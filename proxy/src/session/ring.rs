//! The running session: its stages wired as a ring and the one loop that moves messages
//! between them, reconnects failed hops and notices the end.

use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use l7mp_config::config::RetryPolicy;
use l7mp_config::model::RetryOn;
use serde_json::Value;
use tokio::time::Instant;

use super::End;
use super::ListenerCtx;
use super::registry::SessionInfo;
use super::setup::connect_hop;
use crate::cluster::endpoints::Address;
use crate::cluster::{Cluster, Connected, RESOLVE_INTERVAL};
use crate::gate::Gate;
use crate::msg::Recv;
use crate::offload::{Flow, Offloaded};
use crate::stage::Stage;
use crate::stats::Traffic;
use crate::udp::UdpHop;
use crate::udp::shortcut::Shortcut;

/// One connected hop and what is needed to reconnect it.
pub(super) struct Hop {
    cluster: Arc<Cluster>,
    /// Endpoint index of the current connection.
    index: usize,
    /// Where that endpoint is (`None` for an in-proxy transform), to eject it on a failure.
    address: Option<Address>,
    /// Endpoints that already failed for this hop.
    failed: Vec<usize>,
}

impl Hop {
    /// A hop of `cluster` connected as `connected` says, after the endpoints in `failed`
    /// failed.
    pub(super) fn new(cluster: Arc<Cluster>, connected: &Connected, failed: Vec<usize>) -> Hop {
        Hop {
            cluster,
            index: connected.index,
            address: connected.address.clone(),
            failed,
        }
    }
}

/// Whether `error` says the endpoint itself is gone (nothing listens, it reset the
/// connection, or it cannot be reached), as opposed to the session ending.
fn endpoint_gone(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// The session's stages and their state.
pub(super) struct Ring {
    pub(super) stages: Vec<Stage>,
    /// `hops[k]` is `stages[k + 1]`.
    hops: Vec<Hop>,
    /// Whether each stage may still produce messages.
    open: Vec<bool>,
    /// Messages a stage produced before the ring ran (read together with a JSONSocket header),
    /// as (stage, message); forwarded before anything else. Empty, and unallocated, for most
    /// sessions.
    pub(super) pending: Vec<(usize, Bytes)>,
    /// Where the next poll starts, so a busy stage cannot starve the others.
    next_poll: usize,
    /// Messages moved, for the idle watch; counted, not timed, so that no clock is read per
    /// message.
    moved: u64,
    retry: RetryPolicy,
    metadata: Value,
    /// What the admin endpoint shows of the session; a reconnect updates its endpoint.
    info: Arc<SessionInfo>,
    /// The session's flow in the kernel, when offloaded.
    offloaded: Option<Offloaded>,
    /// Whether offloading was tried for the current hop (once per hop connection).
    offload_tried: bool,
}

impl Ring {
    /// A ring of `stages` (the source first, then one per hop of `hops`), with `pending`
    /// messages to forward before anything else.
    pub(super) fn new(
        stages: Vec<Stage>,
        hops: Vec<Hop>,
        pending: Vec<(usize, Bytes)>,
        retry: RetryPolicy,
        metadata: Value,
        info: Arc<SessionInfo>,
    ) -> Ring {
        let retries_disconnects = matches!(retry.retry_on, RetryOn::Disconnect | RetryOn::Always);
        Ring {
            info,
            pending,
            open: vec![true; stages.len()],
            stages,
            hops,
            next_poll: 0,
            moved: 0,
            offloaded: None,
            offload_tried: false,
            retry,
            // Only a reconnect needs the metadata again (for its balancing key); most sessions
            // can give its memory back now.
            metadata: if retries_disconnects {
                metadata
            } else {
                Value::Null
            },
        }
    }

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
            shortcut.open(hop.socket().clone(), self.hops[0].cluster.stats.clone());
        }
    }

    /// Datagrams from the source that went past the session's task.
    fn shortcut_carried(&self) -> u64 {
        self.shortcut()
            .map_or(0, |(shortcut, _)| shortcut.carried())
    }

    /// Hands a one-hop UDP session's flow to the kernel, once its first datagram went
    /// through and nothing waits in its inbox (so that the kernel cannot overtake it).
    fn try_offload(&mut self, ctx: &Arc<ListenerCtx>) {
        let Some(offload) = &ctx.offload else { return };
        let [Stage::UdpPeer(source), Stage::Udp(hop)] = self.stages.as_slice() else {
            return;
        };
        if !source.inbound.is_empty() {
            return;
        }
        self.offload_tried = true;
        let (up, cluster) = (hop.socket(), &self.hops[0].cluster);
        let flow = (|| {
            let (listener, upstream) = (source.socket.local_addr()?, up.local_addr()?);
            Flow::new(source.peer, listener, upstream, up.peer_addr()?)
        })();
        let sink =
            super::offload::Counted::new(ctx.clone(), cluster.stats.clone(), self.info.clone());
        self.offloaded = offload.install(flow, &ctx.name, &cluster.config.name, Box::new(sink));
    }

    pub(super) async fn pump(&mut self, ctx: &Arc<ListenerCtx>) -> End {
        let mut idle = ctx.config().idle_timeout.map(IdleWatch::new);
        let timer = tokio::time::sleep(idle.as_ref().map_or(Duration::ZERO, IdleWatch::period));
        // The session's own token: waiting on the listener's would lock a list shared by every
        // session of the listener, on every worker, each time the loop waits. Made once, since
        // a fresh `cancelled()` per message would register anew.
        let stop = ctx.cancel.child_token();
        let stopped = stop.cancelled();
        tokio::pin!(timer, stopped);
        // The stop signal and the timer are polled only when they fire, not per message.
        let (stop_gate, timer_gate) = (Gate::new(), Gate::new());
        // What was read ahead goes first; only then may the listener send past the session.
        while let Some((i, data)) = self.pending.pop() {
            if let Some(end) = self.forward(ctx, i, data).await {
                return end;
            }
        }
        self.open_shortcut();
        loop {
            if let Some((i, data)) = self.pending.pop() {
                self.moved += 1;
                if let Some(end) = self.forward(ctx, i, data).await {
                    return end;
                }
                continue;
            }
            let (i, event) = match poll_fn(|cx| {
                if stop_gate
                    .poll(cx, |cx| stopped.as_mut().poll(cx))
                    .is_ready()
                {
                    return Poll::Ready(Wakeup::Stop);
                }
                if idle.is_some() && timer_gate.poll(cx, |cx| timer.as_mut().poll(cx)).is_ready() {
                    return Poll::Ready(Wakeup::Tick);
                }
                self.poll_any(ctx, cx).map(Wakeup::Traffic)
            })
            .await
            {
                Wakeup::Traffic(event) => event,
                Wakeup::Stop => return End::Stopped,
                Wakeup::Tick => {
                    let Some(watch) = idle.as_mut() else { continue };
                    if let Some(stage) = self.departed_udp_hop() {
                        let error = io::Error::new(
                            io::ErrorKind::HostUnreachable,
                            "the endpoint is no longer one of its cluster's",
                        );
                        if let Some(end) = self.on_failed(stage, error).await {
                            return end;
                        }
                    }
                    let offloaded = self.offloaded.as_ref().map_or(0, Offloaded::sync);
                    if watch.quiet_after(self.moved + self.shortcut_carried() + offloaded) {
                        return End::Idle;
                    }
                    timer.as_mut().reset(Instant::now() + watch.period());
                    timer_gate.open();
                    continue;
                }
            };
            let outcome = match event {
                Recv::Data(data) => {
                    self.moved += 1;
                    let outcome = self.forward(ctx, i, data).await;
                    if i == 0 && !self.offload_tried && outcome.is_none() {
                        self.try_offload(ctx);
                    }
                    outcome
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
    fn poll_any(&mut self, ctx: &ListenerCtx, cx: &mut Context<'_>) -> Poll<(usize, Recv)> {
        let n = self.stages.len();
        if !self.open.iter().any(|o| *o) {
            return Poll::Ready((0, Recv::Closed));
        }
        for k in 0..n {
            let i = (self.next_poll + k) % n;
            if !self.open[i] {
                continue;
            }
            if let Poll::Ready(event) = self.poll_stage(ctx, i, cx) {
                self.next_poll = (i + 1) % n;
                return Poll::Ready((i, event));
            }
        }
        Poll::Pending
    }

    /// Polls stage `i`. The replies of a shortcut session's hop (the other half of the
    /// listener's shortcut) go to the peer from the receive buffer right here, counted as
    /// [`Ring::forward`] counts; only what cannot be sent at once comes back as a message.
    fn poll_stage(&mut self, ctx: &ListenerCtx, i: usize, cx: &mut Context<'_>) -> Poll<Recv> {
        if let (1, [Stage::UdpPeer(source), Stage::Udp(hop)]) = (i, self.stages.as_mut_slice()) {
            let cluster = &self.hops[0].cluster.stats.traffic;
            let (listener, session) = (&ctx.stats.traffic, &self.info.traffic);
            let moved = &mut self.moved;
            return hop.poll_relay(cx, RELAY_BATCH, |data| {
                if !source.try_send(data) {
                    return false;
                }
                listener.sent(data.len());
                session.sent(data.len());
                cluster.received(data.len());
                *moved += 1;
                true
            });
        }
        self.stages[i].poll_recv(cx)
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
    /// The stage of a UDP hop whose endpoint has left its cluster's resolved set (a deleted
    /// pod, gone from DNS), if any. Nothing tells a UDP socket that its peer is gone until a
    /// datagram fails to reach it, so without this a quiet session would stay pinned to the
    /// dead endpoint, and a new client that happens to reuse its source port would join it
    /// and lose its first datagrams. TCP connections are left alone: a terminating pod may
    /// still finish them, and a dead one resets or times them out.
    fn departed_udp_hop(&self) -> Option<usize> {
        self.hops.iter().enumerate().find_map(|(k, hop)| {
            let address = hop.address.as_ref()?;
            let udp = matches!(self.stages[k + 1], Stage::Udp(_) | Stage::UdpConnected(_));
            let present = || {
                hop.cluster
                    .endpoints()
                    .targets
                    .iter()
                    .any(|t| t.address == *address)
            };
            (udp && !present()).then_some(k + 1)
        })
    }

    async fn on_failed(&mut self, stage: usize, error: io::Error) -> Option<End> {
        if let Some(hop) = stage.checked_sub(1).and_then(|h| self.hops.get(h))
            && let Some(address) = hop.address.as_ref().filter(|_| endpoint_gone(&error))
        {
            hop.cluster.endpoint_failed(address);
        }
        if stage == 0 || !self.retries_disconnects() || self.stages[stage].is_local() {
            return Some(End::Failed(stage, error));
        }
        if let Some((shortcut, _)) = self.shortcut() {
            shortcut.close();
        }
        // The flow names the failed hop's socket: back to user space, offloaded again once
        // the new hop carried a datagram.
        self.offloaded = None;
        self.offload_tried = false;
        // Say goodbye on the failed connection first: a WebSocket peer that broke the protocol
        // learns why (1007 for text that is not UTF-8).
        let closing = self.stages[stage].close();
        let _ = tokio::time::timeout(Duration::from_millis(200), closing).await;
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
                hop.address = c.address.clone();
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
    pub(super) async fn close(&mut self) {
        let closing = join_all(self.stages.iter_mut().map(Stage::close));
        let _ = tokio::time::timeout(Duration::from_millis(200), closing).await;
    }
}

/// Most replies a shortcut session relays per wake-up before letting the worker's other tasks
/// run.
const RELAY_BATCH: usize = 64;

/// What woke the session's loop.
enum Wakeup {
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
struct IdleWatch {
    timeout: Duration,
    /// Messages counted at the last check.
    seen: u64,
    /// Checks in a row that saw no message.
    quiet: u32,
}

impl IdleWatch {
    const CHECKS: u32 = 4;

    fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            seen: 0,
            quiet: 0,
        }
    }

    /// Time between checks: a quarter of the timeout, but no longer than the clusters'
    /// re-resolution interval, since each check also looks for hops whose endpoint left.
    fn period(&self) -> Duration {
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
    fn quiet_after(&mut self, moved: u64) -> bool {
        if moved == self.seen {
            self.quiet += 1;
        } else {
            self.seen = moved;
            self.quiet = 0;
        }
        self.quiet >= self.checks().max(Self::CHECKS)
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
