//! The running session: its stages wired as a ring and the one loop that moves messages
//! between them, reconnects failed hops and notices the end.

use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use tokio::time::Instant;

use super::End;
use super::ListenerCtx;
use super::hop::{Hop, Reconnects, departed_error};
use super::idle::Wakeup;
use super::registry::SessionInfo;
use super::setup::Routed;
use crate::msg::Recv;
use crate::stage::Stage;
use crate::stats::Traffic;

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
    pending: Vec<(usize, Bytes)>,
    /// Where the next poll starts, so a busy stage cannot starve the others.
    next_poll: usize,
    /// Messages moved, for the idle watch; counted, not timed, so that no clock is read per
    /// message.
    moved: u64,
    reconnects: Reconnects,
    /// What the admin endpoint shows of the session; a reconnect updates its endpoint.
    pub(super) info: Arc<SessionInfo>,
}

impl Ring {
    /// A ring of the `routed` session's stages (the source first, then one per hop), with its
    /// pending messages to forward before anything else.
    pub(super) fn new(routed: Routed, info: Arc<SessionInfo>) -> Ring {
        let Routed {
            stages,
            hops,
            pending,
            retry,
            metadata,
        } = routed;
        Ring {
            info,
            pending,
            open: vec![true; stages.len()],
            stages,
            hops,
            next_poll: 0,
            moved: 0,
            reconnects: Reconnects::new(retry, metadata),
        }
    }

    pub(super) async fn pump(&mut self, ctx: &Arc<ListenerCtx>) -> End {
        let (mut idle, mut alarm) = ctx.idle_alarm();
        // What was read ahead goes first.
        while let Some((i, data)) = self.pending.pop() {
            if let Some(end) = self.forward(ctx, i, data).await {
                return end;
            }
        }
        loop {
            if let Some((i, data)) = self.pending.pop() {
                self.moved += 1;
                if let Some(end) = self.forward(ctx, i, data).await {
                    return end;
                }
                continue;
            }
            let (i, event) = match poll_fn(|cx| {
                if let Poll::Ready(wakeup) = alarm.poll(cx) {
                    return Poll::Ready(wakeup);
                }
                self.poll_any(cx).map(Wakeup::Traffic)
            })
            .await
            {
                Wakeup::Traffic(event) => event,
                Wakeup::Stop => return End::Stopped,
                Wakeup::Tick => {
                    let Some(watch) = idle.as_mut() else { continue };
                    if let Some(stage) = self.departed_hop()
                        && let Some(end) = self.on_failed(stage, departed_error()).await
                    {
                        return end;
                    }
                    if watch.quiet_after(self.moved, Instant::now()) {
                        return End::Idle;
                    }
                    continue;
                }
            };
            let outcome = match event {
                Recv::Data(data) => {
                    self.moved += 1;
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

    /// The first hop whose endpoint has left its cluster's resolved set while nothing would
    /// tell its stage (see [`Hop::departed`]), if any: a new client that happens to reuse a
    /// quiet session's source port would otherwise join it and lose its first messages.
    fn departed_hop(&self) -> Option<usize> {
        self.hops.iter().enumerate().find_map(|(k, hop)| {
            (self.stages[k + 1].is_connectionless() && hop.departed()).then_some(k + 1)
        })
    }

    /// A stage failed: reconnect it if the route retries disconnects, else end the session.
    async fn on_failed(&mut self, stage: usize, error: io::Error) -> Option<End> {
        if let Some(hop) = stage.checked_sub(1).and_then(|h| self.hops.get(h)) {
            hop.on_error(&error);
        }
        let reconnect_with = self.reconnects.get();
        let Some((retry, metadata)) = reconnect_with.filter(|_| stage > 0) else {
            return Some(End::Failed(stage, error));
        };
        if self.stages[stage].is_local() {
            return Some(End::Failed(stage, error));
        }
        // Say goodbye on the failed connection first: a WebSocket peer that broke the protocol
        // learns why (1007 for text that is not UTF-8).
        let closing = self.stages[stage].close();
        let _ = tokio::time::timeout(Duration::from_millis(200), closing).await;
        let hop = &mut self.hops[stage - 1];
        let reconnect = hop.reconnect(stage, error, metadata, retry, &self.info);
        match reconnect.await {
            Ok(c) => {
                if let Some(p) = c.pending {
                    self.pending.push((stage, p));
                }
                self.stages[stage] = c.stage;
                self.open[stage] = true;
                None
            }
            Err(end) => Some(end),
        }
    }

    fn retries_disconnects(&self) -> bool {
        self.reconnects.get().is_some()
    }

    /// Says goodbye where the protocol has a way to; everything is released on drop.
    pub(super) async fn close(&mut self) {
        let closing = join_all(self.stages.iter_mut().map(Stage::close));
        let _ = tokio::time::timeout(Duration::from_millis(200), closing).await;
    }
}
