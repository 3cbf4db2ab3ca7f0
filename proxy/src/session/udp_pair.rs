//! The UDP pair session: a route of one UDP hop from a server-mode UDP listener (no ingress, no
//! egress, a UDP destination), the sidecar case and the hot path of UDP forwarding. It does
//! what the general [ring](super::ring) does for two stages, and three things only this shape
//! allows:
//!
//! - the listener sends the peer's datagrams to the hop's socket itself, past this task
//!   (the [`Shortcut`], opened once the hop is connected and again after a reconnect);
//! - the hop's replies go to the peer straight from the receive buffer ([`UdpHop::poll_relay`]);
//! - with `--offload`, the kernel takes the flow over once its first datagram went through.
//!
//! Its own type, rather than special cases of the ring, also keeps an idle pair small: two
//! stages inline instead of vectors, and a loop that only ever awaits UDP sends.

use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::time::Instant;

use super::End;
use super::ListenerCtx;
use super::hop::{Hop, Reconnects, departed_error};
use super::idle::Wakeup;
use super::offload::Counted;
use super::registry::SessionInfo;
use super::setup::Routed;
use crate::msg::Recv;
use crate::offload::{Flow, Offloaded};
use crate::stage::Stage;
use crate::stats::Traffic;
use crate::udp::{UdpHop, UdpPeer};

/// Most replies relayed per wake-up before letting the worker's other tasks run.
const RELAY_BATCH: usize = 64;

/// Stage indices, as the ring numbers them (for logs and [`End`]).
const SOURCE: usize = 0;
const HOP: usize = 1;

/// A running UDP pair session.
pub(super) struct UdpPair {
    source: UdpPeer,
    upstream: UdpHop,
    hop: Hop,
    /// Messages read ahead (a JSONSocket header's payload, an endpoint's answer), as (stage,
    /// message); forwarded before anything else. Empty, and unallocated, mostly.
    pending: Vec<(usize, Bytes)>,
    /// Whether to poll the hop before the source next time, so neither starves the other.
    hop_first: bool,
    /// Messages moved by this task, for the idle watch.
    moved: u64,
    reconnects: Reconnects,
    /// What the admin endpoint shows of the session; a reconnect updates its endpoint.
    pub(super) info: Arc<SessionInfo>,
    /// The session's flow in the kernel, when offloaded. Boxed: most sessions never are, and
    /// inline it would be room in every session for its whole life.
    offloaded: Option<Box<Offloaded>>,
    /// Whether offloading was tried for the current hop connection.
    offload_tried: bool,
}

impl UdpPair {
    /// The pair session of `routed` when its stages are a server-mode UDP source and one UDP
    /// hop; else `routed` handed back, for the general ring. (Handed back as it came, not
    /// boxed: this runs once per session, and a box would cost every ring one more allocation.)
    #[allow(clippy::result_large_err)]
    pub(super) fn of(routed: Routed, info: Arc<SessionInfo>) -> Result<UdpPair, Routed> {
        let Routed {
            stages,
            hops,
            pending,
            retry,
            metadata,
        } = routed;
        match (<[Stage; 2]>::try_from(stages), <[Hop; 1]>::try_from(hops)) {
            (Ok([Stage::UdpPeer(source), Stage::Udp(upstream)]), Ok([hop])) => Ok(UdpPair {
                source,
                upstream,
                hop,
                pending,
                hop_first: false,
                moved: 0,
                reconnects: Reconnects::new(retry, metadata),
                info,
                offloaded: None,
                offload_tried: false,
            }),
            (stages, hops) => Err(Routed {
                stages: stages.map_or_else(|v| v, Vec::from),
                hops: hops.map_or_else(|v| v, Vec::from),
                pending,
                retry,
                metadata,
            }),
        }
    }

    /// The source, for a status header sent before the pair runs.
    pub(super) async fn greet(&mut self, data: &[u8]) -> io::Result<()> {
        self.source.send(data).await
    }

    /// Lets the listener send the source's datagrams to the hop's current socket itself.
    fn open_shortcut(&self) {
        self.source.shortcut().open(
            self.upstream.socket().clone(),
            self.hop.cluster.stats.clone(),
        );
    }

    /// Hands the flow to the kernel, once its first datagram went through and nothing waits in
    /// the inbox (so that the kernel cannot overtake it).
    fn try_offload(&mut self, ctx: &Arc<ListenerCtx>) {
        let Some(offload) = &ctx.offload else { return };
        if !self.source.inbound.is_empty() {
            return;
        }
        self.offload_tried = true;
        let (source, up, cluster) = (&self.source, self.upstream.socket(), &self.hop.cluster);
        let flow = (|| {
            let (listener, upstream) = (source.socket.local_addr()?, up.local_addr()?);
            Flow::new(source.peer, listener, upstream, up.peer_addr()?)
        })();
        let sink = Counted::new(ctx.clone(), cluster.stats.clone(), self.info.clone());
        self.offloaded = offload
            .install(flow, &ctx.name, &cluster.config.name, Box::new(sink))
            .map(Box::new);
    }

    /// Runs the session to its end. The rare paths (a failure, a reconnect, the end of input)
    /// are boxed where they are awaited: this future is most of an idle pair session's memory,
    /// and inline they would size it for its whole life. So is all traffic the task handles
    /// itself: in a pair that is only the first datagram and what the shortcut or the relay
    /// could not send at once.
    pub(super) async fn pump(&mut self, ctx: &Arc<ListenerCtx>) -> End {
        let (mut idle, mut alarm) = ctx.idle_alarm();
        // What was read ahead goes first; only then may the listener send past the session.
        while let Some((i, data)) = self.pending.pop() {
            if let Some(end) = Box::pin(self.forward(ctx, i, data)).await {
                return end;
            }
        }
        self.open_shortcut();
        loop {
            if let Some((i, data)) = self.pending.pop() {
                self.moved += 1;
                if let Some(end) = Box::pin(self.forward(ctx, i, data)).await {
                    return end;
                }
                continue;
            }
            // Matched as it comes, not kept in a variable: what is moved out of a variable
            // leaves its room in this future for good.
            let (i, event) = match poll_fn(|cx| {
                if let Poll::Ready(wakeup) = alarm.poll(cx) {
                    return Poll::Ready(wakeup);
                }
                self.poll_any(ctx, cx).map(Wakeup::Traffic)
            })
            .await
            {
                Wakeup::Traffic(event) => event,
                Wakeup::Stop => return End::Stopped,
                Wakeup::Tick => {
                    let Some(watch) = idle.as_mut() else { continue };
                    // A hop whose endpoint left fails as if its socket had; the reconnect,
                    // if the route asks for one, then runs where traffic is handled.
                    if self.hop.departed() {
                        (HOP, Recv::Failed(departed_error()))
                    } else {
                        let offloaded = self.offloaded.as_deref().map_or(0, Offloaded::sync);
                        let carried = self.source.shortcut().carried();
                        if watch.quiet_after(self.moved + carried + offloaded, Instant::now()) {
                            return End::Idle;
                        }
                        continue;
                    }
                }
            };
            if let Some(end) = Box::pin(self.on_traffic(ctx, i, event)).await {
                return end;
            }
        }
    }

    /// Handles what stage `from` produced: a datagram is forwarded (and the flow offloaded
    /// after the source's first), an end or failure ends the session or reconnects the hop.
    async fn on_traffic(
        &mut self,
        ctx: &Arc<ListenerCtx>,
        from: usize,
        event: Recv,
    ) -> Option<End> {
        match event {
            Recv::Data(data) => {
                self.moved += 1;
                let outcome = self.forward(ctx, from, data).await;
                if from == SOURCE && !self.offload_tried && outcome.is_none() {
                    self.try_offload(ctx);
                }
                outcome
            }
            Recv::Closed => self.on_closed(from).await,
            Recv::Failed(e) => self.on_failed(from, e).await,
        }
    }

    /// Waits for the next datagram from either side. The hop's replies go to the peer from
    /// the receive buffer right here, counted as [`UdpPair::forward`] counts; only what cannot
    /// be sent at once comes back as a message.
    fn poll_any(&mut self, ctx: &ListenerCtx, cx: &mut Context<'_>) -> Poll<(usize, Recv)> {
        self.hop_first = !self.hop_first;
        if self.hop_first
            && let Poll::Ready(event) = self.poll_hop(ctx, cx)
        {
            return Poll::Ready((HOP, event));
        }
        if let Poll::Ready(event) = self.source.poll_recv(cx) {
            return Poll::Ready((SOURCE, event));
        }
        if !self.hop_first
            && let Poll::Ready(event) = self.poll_hop(ctx, cx)
        {
            return Poll::Ready((HOP, event));
        }
        Poll::Pending
    }

    fn poll_hop(&mut self, ctx: &ListenerCtx, cx: &mut Context<'_>) -> Poll<Recv> {
        let cluster = &self.hop.cluster.stats.traffic;
        let (listener, session) = (&ctx.stats.traffic, &self.info.traffic);
        let (source, moved) = (&self.source, &mut self.moved);
        self.upstream.poll_relay(cx, RELAY_BATCH, |data| {
            if !source.try_send(data) {
                return false;
            }
            listener.sent(data.len());
            session.sent(data.len());
            cluster.received(data.len());
            *moved += 1;
            true
        })
    }

    fn traffic<'a>(&'a self, ctx: &'a ListenerCtx, stage: usize) -> &'a Traffic {
        match stage {
            SOURCE => &ctx.stats.traffic,
            _ => &self.hop.cluster.stats.traffic,
        }
    }

    async fn forward(&mut self, ctx: &ListenerCtx, from: usize, data: Bytes) -> Option<End> {
        self.traffic(ctx, from).received(data.len());
        let to = match from {
            SOURCE => {
                self.info.traffic.received(data.len());
                HOP
            }
            _ => SOURCE,
        };
        let sent = match to {
            SOURCE => self.source.send(&data).await,
            _ => self.upstream.send(&data).await,
        };
        match sent {
            Ok(()) => {
                self.traffic(ctx, to).sent(data.len());
                if to == SOURCE {
                    self.info.traffic.sent(data.len());
                }
                None
            }
            Err(e) => Box::pin(self.on_failed(to, e)).await,
        }
    }

    /// One side stopped producing. Neither side can carry a half-close, so the session ends,
    /// unless the hop closed and the route retries disconnects.
    async fn on_closed(&mut self, stage: usize) -> Option<End> {
        if stage == HOP && self.reconnects.get().is_some() {
            let e = io::Error::new(io::ErrorKind::ConnectionAborted, "peer closed");
            return self.on_failed(stage, e).await;
        }
        Some(End::Closed(stage))
    }

    /// A side failed: reconnect the hop if the route retries disconnects, else end.
    async fn on_failed(&mut self, stage: usize, error: io::Error) -> Option<End> {
        if stage == HOP {
            self.hop.on_error(&error);
        }
        let reconnect_with = self.reconnects.get();
        let Some((retry, metadata)) = reconnect_with.filter(|_| stage == HOP) else {
            return Some(End::Failed(stage, error));
        };
        self.source.shortcut().close();
        // The flow names the failed hop's socket: back to user space, offloaded again once
        // the new hop carried a datagram.
        self.offloaded = None;
        self.offload_tried = false;
        let reconnect = self.hop.reconnect(HOP, error, metadata, retry, &self.info);
        let c = match reconnect.await {
            Ok(c) => c,
            Err(end) => return Some(end),
        };
        let Stage::Udp(upstream) = c.stage else {
            let e = io::Error::other(format!(
                "cluster {} reconnected with a stage that is not UDP",
                self.hop.cluster.config.name
            ));
            return Some(End::Failed(HOP, e));
        };
        if let Some(p) = c.pending {
            self.pending.push((HOP, p));
        }
        self.upstream = upstream;
        self.open_shortcut();
        None
    }
}

impl Drop for UdpPair {
    /// However the session ends, the listener stops sending past it at once, so that the
    /// peer's next datagram starts a new session instead of feeding a dead one's socket.
    fn drop(&mut self) {
        self.source.shortcut().close();
    }
}
