//! Receiving from a UDP socket without the extra system call that finds it empty.
//!
//! An async socket is read until the kernel says "would block"; only then does the runtime
//! wait for the next readiness event. For a connected UDP hop that answers one datagram per
//! request, that means every reply costs two receive calls: one that gets it and one that
//! finds the queue empty. Asking for up to two datagrams in one `recvmmsg` tells both at once:
//! one datagram back means the queue is now empty, so the caller can report "would block"
//! itself and skip the second call.

use std::io;
use std::os::fd::AsRawFd;

/// What one call received.
#[derive(Debug, PartialEq, Eq)]
pub enum Pair {
    /// One datagram of this length, in `first`; the socket's queue is now empty.
    Last(usize),
    /// Two datagrams, of these lengths, in `first` and `second`; more may be queued.
    Two(usize, usize),
}

/// Receives up to two datagrams from `socket` without blocking: the first into `first`, the
/// second into `second`. `WouldBlock` when none is queued. A datagram longer than its buffer is
/// truncated, as `recv` would truncate it.
pub fn recv_pair(socket: &impl AsRawFd, first: &mut [u8], second: &mut [u8]) -> io::Result<Pair> {
    let mut iov = [
        libc::iovec {
            iov_base: first.as_mut_ptr().cast(),
            iov_len: first.len(),
        },
        libc::iovec {
            iov_base: second.as_mut_ptr().cast(),
            iov_len: second.len(),
        },
    ];
    // SAFETY: all-zero is a valid `mmsghdr` (null pointers, zero lengths).
    let mut messages: [libc::mmsghdr; 2] = unsafe { std::mem::zeroed() };
    for (message, iov) in messages.iter_mut().zip(iov.iter_mut()) {
        message.msg_hdr.msg_iov = iov;
        message.msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `messages` holds two headers, each pointing at one iovec that describes a live,
    // exclusively borrowed buffer of the stated length; no address or control buffer is
    // asked for; MSG_DONTWAIT makes the call return at once; no timeout is passed.
    let received = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            messages.as_mut_ptr(),
            2,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    match received {
        1 => Ok(Pair::Last(messages[0].msg_len as usize)),
        2 => Ok(Pair::Two(
            messages[0].msg_len as usize,
            messages[1].msg_len as usize,
        )),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        (a, b)
    }

    #[test]
    fn tells_when_the_queue_is_empty() {
        let (a, b) = pair();
        let (mut one, mut two) = ([0u8; 16], [0u8; 16]);
        let e = recv_pair(&b, &mut one, &mut two).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        a.send(b"hello").unwrap();
        assert_eq!(recv_pair(&b, &mut one, &mut two).unwrap(), Pair::Last(5));
        assert_eq!(&one[..5], b"hello");
        a.send(b"x").unwrap();
        a.send(b"yz").unwrap();
        a.send(b"last").unwrap();
        assert_eq!(recv_pair(&b, &mut one, &mut two).unwrap(), Pair::Two(1, 2));
        assert_eq!((&one[..1], &two[..2]), (&b"x"[..], &b"yz"[..]));
        assert_eq!(recv_pair(&b, &mut one, &mut two).unwrap(), Pair::Last(4));
        assert_eq!(&one[..4], b"last");
    }

    #[test]
    fn an_empty_datagram_is_a_datagram() {
        let (a, b) = pair();
        a.send(b"").unwrap();
        let (mut one, mut two) = ([0u8; 4], [0u8; 4]);
        assert_eq!(recv_pair(&b, &mut one, &mut two).unwrap(), Pair::Last(0));
    }

    #[test]
    fn a_pending_socket_error_is_reported() {
        let (a, b) = pair();
        drop(b);
        // The refused send brings an ICMP error back, pending on the socket.
        a.send(b"anyone?").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (mut one, mut two) = ([0u8; 16], [0u8; 16]);
        let e = recv_pair(&a, &mut one, &mut two).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }
}
