//! A cluster hop's UDP socket, registered with tokio so that an ICMP error wakes its reader.
//!
//! The kernel reports an ICMP error about a connected UDP socket's traffic as a pending socket
//! error, and epoll as `EPOLLERR`, which tokio hands only to futures waiting for error
//! readiness, never to the socket's reader. Such a future (an intrusive waiter, pinned for the
//! socket's whole life) was a separate allocation in every UDP session. Instead the socket asks
//! for `SO_SELECT_ERR_QUEUE` (see [`crate::cluster`]'s UDP connections), which makes the kernel
//! add `EPOLLPRI` to `EPOLLERR`, and is registered with priority interest: mio counts
//! `EPOLLPRI` as readable, so the error wakes the task that waits to read the socket, and its
//! next receive returns the error.

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::task::{Context, Poll};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::batch::TryRead;

/// A connected UDP socket of a cluster hop (see the module doc).
pub struct HopSocket {
    fd: AsyncFd<StdUdpSocket>,
}

impl HopSocket {
    /// Registers `socket` (non-blocking, connected, asking for error-queue priority events)
    /// with the current tokio runtime.
    pub fn new(socket: StdUdpSocket) -> io::Result<Self> {
        let interest = Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY;
        // SAFETY: the `UdpSocket` owns its descriptor, which stays open and the same until the
        // `AsyncFd` (which owns the socket) is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(socket, interest) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Self { fd })
    }

    /// Sends `data` if the socket has room now (`WouldBlock` if not).
    pub fn try_send(&self, data: &[u8]) -> io::Result<usize> {
        self.fd.try_io(Interest::WRITABLE, |s| s.send(data))
    }

    /// Sends `data`, waiting for room.
    pub async fn send(&self, data: &[u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.fd.writable().await?;
            if let Ok(sent) = ready.try_io(|s| s.get_ref().send(data)) {
                return sent;
            }
        }
    }

    /// Ready when tokio saw the socket readable: a datagram, or an ICMP error (see the module
    /// doc). Readiness stays until a receive finds the socket empty.
    pub fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.fd.poll_read_ready(cx).map_ok(|_| ())
    }

    /// The error the socket reported, when tokio saw error readiness on it: an ICMP error
    /// whose pending socket error someone else (a send) already took is still reported once
    /// here, as a generic error.
    pub fn reported_error(&self) -> Option<io::Error> {
        self.fd.try_io(Interest::ERROR, |_| Ok(())).ok()?;
        Some(match self.fd.get_ref().take_error() {
            Ok(Some(e)) | Err(e) => e,
            Ok(None) => io::Error::other("socket error"),
        })
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.get_ref().local_addr()
    }

    /// The endpoint's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.get_ref().peer_addr()
    }
}

impl AsFd for HopSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
    }
}

impl TryRead for HopSocket {
    fn try_read<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.fd.try_io(Interest::READABLE, |_| f())
    }
}
