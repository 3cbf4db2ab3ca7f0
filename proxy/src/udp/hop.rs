//! A UDP cluster hop: the session's connected socket to one endpoint.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::batch::{MAX_BATCH, with_batch};
use super::send_datagram;
use crate::gate::Gate;
use crate::msg::Recv;

/// A UDP cluster hop: a socket connected to the endpoint, asking for every ICMP error (see
/// [`crate::cluster`]'s UDP connections). The kernel reports one as a pending socket error,
/// which tokio signals only to waiters for error readiness, never to readers; `error` is such a
/// waiter, so that an endpoint that refuses or can no longer be reached fails the session when
/// the ICMP arrives rather than at the next send, or never.
///
/// The waiter is polled only when it fired, through a [`Gate`]: the UDP pair session polls it
/// with [`UdpHop::poll_error`] behind the gate it already has for its other rare events, and
/// the hop makes a gate of its own only for a caller that polls it as a plain stage
/// ([`UdpHop::poll_recv`]), so that a pair's hop costs no gate.
pub struct UdpHop {
    socket: Arc<UdpSocket>,
    error: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Keeps the error waiter from being polled per datagram in [`UdpHop::poll_recv`]; made
    /// by its first call.
    error_gate: Option<Gate>,
    /// Datagrams received in a batch behind one that could not be relayed at once; handed
    /// out, in order, before anything is received again. Empty, and unallocated, mostly.
    held: VecDeque<Bytes>,
}

impl UdpHop {
    /// A hop on `socket`, which must be connected.
    pub fn new(socket: UdpSocket) -> Self {
        let socket = Arc::new(socket);
        let watched = socket.clone();
        let error = Box::pin(async move {
            let _ = watched.ready(Interest::ERROR).await;
        });
        Self {
            socket,
            error,
            error_gate: None,
            held: VecDeque::new(),
        }
    }

    /// The connected socket, for the listener's [`Shortcut`](super::shortcut::Shortcut).
    pub fn socket(&self) -> &Arc<UdpSocket> {
        &self.socket
    }

    /// Polls for the next datagram (the stage's receive), or a socket error.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Recv> {
        if let Poll::Ready(event) = self.poll_relay(cx, usize::MAX, |_| false) {
            return Poll::Ready(event);
        }
        let gate = self.error_gate.take().unwrap_or_default();
        let error = gate.poll(cx, |cx| self.poll_error(cx));
        self.error_gate = Some(gate);
        error.map(Recv::Failed)
    }

    /// Offers each datagram waiting on the hop to `deliver`, straight from the receive buffer,
    /// and returns when the socket is drained (`Pending`, the task registered for more),
    /// `deliver` declines one (`Ready(Data)`: the datagram as an owned message, to be sent the
    /// way that can wait), the socket fails, or `limit` datagrams went by (`Pending`, the task
    /// woken to go on after the worker's other tasks had a turn).
    pub fn poll_relay(
        &mut self,
        cx: &mut Context<'_>,
        limit: usize,
        mut deliver: impl FnMut(&[u8]) -> bool,
    ) -> Poll<Recv> {
        let mut passed = 0;
        loop {
            while let Some(data) = self.held.pop_front() {
                if !deliver(&data) {
                    return Poll::Ready(Recv::Data(data));
                }
                passed += 1;
            }
            if passed >= limit {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let (socket, held) = (&self.socket, &mut self.held);
            let received = with_batch(|batch| {
                let received = batch.recv(socket, MAX_BATCH)?;
                for i in 0..received.count {
                    let data = batch.datagram(i);
                    // Once one is held, the rest queue behind it, in order.
                    if held.is_empty() && deliver(data) {
                        passed += 1;
                    } else {
                        held.push_back(Bytes::copy_from_slice(data));
                    }
                }
                Ok::<_, io::Error>(received)
            });
            match received {
                // Maybe more waiting; or held datagrams to hand back first.
                Ok(r) if !r.drained || !self.held.is_empty() => continue,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Recv::Failed(e)),
            }
            match self.socket.poll_recv_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Recv::Failed(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Ready once the kernel reports an error on the socket (an ICMP error from the endpoint),
    /// with that error. Polls the waiter on every call: the caller gates it. Reports one error:
    /// the waiter then never fires again, and is not polled after it completed.
    pub fn poll_error(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        ready!(self.error.as_mut().poll(cx));
        // A future that never completes takes no allocation.
        self.error = Box::pin(std::future::pending());
        Poll::Ready(match self.socket.take_error() {
            Ok(Some(e)) | Err(e) => e,
            Ok(None) => io::Error::other("socket error"),
        })
    }

    /// Sends one datagram to the endpoint (`&mut`: the hop is not `Sync`, and a session's
    /// future holding a shared borrow across the wait could not move between threads).
    pub async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        send_datagram(self.socket.try_send(data), || self.socket.send(data)).await
    }
}
