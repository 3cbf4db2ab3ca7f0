//! A UDP cluster hop: the session's connected socket to one endpoint.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use super::HopSocket;
use super::batch::{MAX_BATCH, with_batch};
use super::send_datagram;
use crate::msg::Recv;

/// A UDP cluster hop: a socket connected to the endpoint, asking for every ICMP error (see
/// [`crate::cluster`]'s UDP connections). An error wakes the hop's reader like a datagram (see
/// [`HopSocket`]), so that an endpoint that refuses or can no longer be reached fails the
/// session when the ICMP arrives rather than at the next send, or never.
pub struct UdpHop {
    socket: Arc<HopSocket>,
    /// Datagrams received in a batch behind one that could not be relayed at once; handed
    /// out, in order, before anything is received again. Empty, and unallocated, mostly.
    held: VecDeque<Bytes>,
}

impl UdpHop {
    /// A hop on `socket`, which must be connected.
    pub fn new(socket: HopSocket) -> Self {
        Self {
            socket: Arc::new(socket),
            held: VecDeque::new(),
        }
    }

    /// The connected socket, for the listener's [`Shortcut`](super::shortcut::Shortcut).
    pub fn socket(&self) -> &Arc<HopSocket> {
        &self.socket
    }

    /// Polls for the next datagram (the stage's receive), or a socket error.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Recv> {
        self.poll_relay(cx, usize::MAX, |_| false)
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
                let received = batch.recv(&**socket, MAX_BATCH)?;
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
            // An ICMP error whose socket error a send took first (the listener's shortcut)
            // fails the hop all the same.
            if let Some(e) = self.socket.reported_error() {
                return Poll::Ready(Recv::Failed(e));
            }
            match self.socket.poll_recv_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Recv::Failed(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Sends one datagram to the endpoint (`&mut`: the hop is not `Sync`, and a session's
    /// future holding a shared borrow across the wait could not move between threads).
    pub async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        send_datagram(self.socket.try_send(data), || self.socket.send(data)).await
    }
}
