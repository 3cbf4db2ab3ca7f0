//! A UDP server-mode session's source: one peer of the listener's shared socket.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedSender;

use super::inbox;
use super::send_datagram;
use super::shortcut::Shortcut;
use crate::msg::Recv;

/// A UDP server-mode session's source. The listener's socket is shared by all of its sessions:
/// the listener demultiplexes what arrives by peer address and hands each session its
/// datagrams; replies go out through the same socket, so they leave from the listener's
/// address and port, and a session costs no socket of its own on this side.
pub struct UdpPeer {
    /// The listener's socket.
    pub socket: Arc<UdpSocket>,
    /// The remote address and port.
    pub peer: SocketAddr,
    /// Datagrams from `peer`, handed over by the listener, and the listener's way past the
    /// session's task to a single UDP hop (see [`UdpPeer::shortcut`]).
    pub inbound: inbox::Receiver<Shortcut>,
    /// Where the listener learns that the session is over: it is told `peer` and `id` when
    /// the session drops its source, however it ends. Here rather than in a callback of the
    /// session's task, which would hold a second copy of the peer's address there.
    pub ended: UnboundedSender<(SocketAddr, u64)>,
    /// The listener's number for the session, so that a late notice does not forget a newer
    /// session of the same peer.
    pub id: u64,
}

impl Drop for UdpPeer {
    fn drop(&mut self) {
        let _ = self.ended.send((self.peer, self.id));
    }
}

impl UdpPeer {
    /// The listener's way past the session's task to a single UDP hop.
    pub fn shortcut(&self) -> &Shortcut {
        self.inbound.attached()
    }

    /// Sends `data` to the peer if the socket has room now; false if it must wait or failed.
    pub fn try_send(&self, data: &[u8]) -> bool {
        self.socket.try_send_to(data, self.peer).is_ok()
    }

    /// Polls for the peer's next datagram, as the listener hands them over.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Recv> {
        match ready!(self.inbound.poll_recv(cx)) {
            Some(b) => Poll::Ready(Recv::Data(b)),
            None => Poll::Ready(Recv::Closed),
        }
    }

    /// Sends one datagram to the peer, from the listener's address and port.
    pub async fn send(&self, data: &[u8]) -> io::Result<()> {
        send_datagram(self.socket.try_send_to(data, self.peer), || {
            self.socket.send_to(data, self.peer)
        })
        .await
    }
}
