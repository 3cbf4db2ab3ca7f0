//! Several datagrams in one system call.
//!
//! Reading a socket until it would block costs one more system call per wake-up than there
//! are datagrams: the last read only finds the queue empty. `recvmmsg` reads up to a batch in
//! one call and, when it returns fewer than asked, has found the queue empty, which saves that
//! last read. A proxy hop mostly holds one datagram per wake-up, so the saved read is a large
//! share of the few system calls that forwarding a round trip takes.
//!
//! Written on `libc` rather than nix's `recvmmsg`: nix sets each header's address length once,
//! when its headers are allocated, and the kernel then shrinks it to the last sender's; buffers
//! shared by a worker's IPv4 and IPv6 sockets would cut an IPv6 sender's address after an IPv4
//! one. Here every receive sets the full length again.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};

use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::msg::MAX_DATAGRAM;

/// Most datagrams one receive takes.
pub const MAX_BATCH: usize = 8;

thread_local! {
    static BATCH: RefCell<Batch> = RefCell::new(Batch::new());
}

/// Lends `f` the worker thread's batch. Its users (a listener's drain, a hop's relay) never
/// call one another, so the batch is never lent twice at once.
pub fn with_batch<T>(f: impl FnOnce(&mut Batch) -> T) -> T {
    BATCH.with_borrow_mut(f)
}

/// A socket registered with tokio, read without waiting.
pub trait TryRead {
    /// Runs `f` (a receive) if tokio saw the socket readable, and clears that readiness when
    /// `f` would block.
    fn try_read<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
}

impl TryRead for UdpSocket {
    fn try_read<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.try_io(Interest::READABLE, f)
    }
}

/// Receive buffers for [`MAX_BATCH`] datagrams of the largest size. One allocation, big enough
/// to come straight from the kernel as untouched pages: memory is used only where datagrams
/// land.
pub struct Batch {
    buf: Box<[u8]>,
    lens: [usize; MAX_BATCH],
    peers: [Option<SocketAddr>; MAX_BATCH],
}

/// What one receive brought.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    /// Datagrams now in the batch.
    pub count: usize,
    /// The socket's queue was found empty: tokio's readiness is cleared, so the caller must
    /// wait for readiness again before the next receive.
    pub drained: bool,
}

impl Batch {
    fn new() -> Self {
        Self {
            buf: vec![0u8; MAX_BATCH * MAX_DATAGRAM].into_boxed_slice(),
            lens: [0; MAX_BATCH],
            peers: [None; MAX_BATCH],
        }
    }

    /// Receives up to `want` (at most [`MAX_BATCH`]) datagrams waiting on `socket` in one
    /// system call, without waiting. `WouldBlock` when none was waiting (readiness cleared).
    pub fn recv(&mut self, socket: &(impl TryRead + AsFd), want: usize) -> io::Result<Received> {
        let want = want.clamp(1, MAX_BATCH);
        let mut count = 0;
        let outcome = socket.try_read(|| {
            count = self.recv_many(socket, want)?;
            if count < want {
                // Fewer than asked: the kernel found the queue empty. Saying so makes tokio
                // clear the readiness this receive consumed (a datagram arriving meanwhile is
                // a new readiness event, which the clearing leaves alone).
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match outcome {
            Ok(()) => Ok(Received {
                count,
                drained: false,
            }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && count > 0 => Ok(Received {
                count,
                drained: true,
            }),
            Err(e) => Err(e),
        }
    }

    /// Datagram `i` of the last receive.
    pub fn datagram(&self, i: usize) -> &[u8] {
        let start = i * MAX_DATAGRAM;
        &self.buf[start..start + self.lens[i]]
    }

    /// Sender of datagram `i` of the last receive (`None` for an address family other than
    /// IPv4 and IPv6, which a UDP socket does not produce).
    pub fn peer(&self, i: usize) -> Option<SocketAddr> {
        self.peers[i]
    }

    fn recv_many(&mut self, socket: &impl AsFd, want: usize) -> io::Result<usize> {
        let mut iovecs = [MaybeUninit::<libc::iovec>::uninit(); MAX_BATCH];
        let mut names = [MaybeUninit::<libc::sockaddr_storage>::uninit(); MAX_BATCH];
        // SAFETY: an all-zero mmsghdr is valid: null pointers and zero lengths.
        let mut headers: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
        for (i, chunk) in self
            .buf
            .chunks_exact_mut(MAX_DATAGRAM)
            .take(want)
            .enumerate()
        {
            let iovec = iovecs[i].write(libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: chunk.len(),
            });
            let header = &mut headers[i].msg_hdr;
            header.msg_iov = iovec;
            header.msg_iovlen = 1;
            header.msg_name = names[i].as_mut_ptr().cast();
            header.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        // SAFETY: `headers[..want]` point at buffers (`self.buf`, `iovecs`, `names`) that
        // outlive the call, with their true sizes; the kernel writes within those sizes.
        let received = unsafe {
            libc::recvmmsg(
                socket.as_fd().as_raw_fd(),
                headers.as_mut_ptr(),
                want as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let received = usize::try_from(received).map_err(|_| io::Error::last_os_error())?;
        for (i, header) in headers.iter().take(received).enumerate() {
            if header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                // Cannot happen with buffers of the largest datagram; refuse rather than
                // forward a cut one.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "datagram longer than the receive buffer",
                ));
            }
            self.lens[i] = header.msg_len as usize;
            // SAFETY: the kernel wrote `msg_namelen` bytes of a socket address into names[i]
            // (the rest of the storage is never read: `socket_addr` reads the family first
            // and then only that family's struct, which fits the storage).
            self.peers[i] = unsafe { socket_addr(names[i].as_ptr(), header.msg_hdr.msg_namelen) };
        }
        Ok(received)
    }
}

/// The IPv4 or IPv6 address in `name`, `len` bytes of which the kernel wrote.
///
/// # Safety
/// `name` must point at a `sockaddr_storage` whose first `len` bytes are initialised.
unsafe fn socket_addr(
    name: *const libc::sockaddr_storage,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    let len = len as usize;
    if len < size_of::<libc::sa_family_t>() {
        return None;
    }
    // SAFETY: the family field is within the initialised bytes (checked above), and each
    // struct below is read only when the kernel wrote all of it.
    unsafe {
        match i32::from((*name).ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                let a = &*name.cast::<libc::sockaddr_in>();
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                let a = &*name.cast::<libc::sockaddr_in6>();
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(a.sin6_addr.s6_addr),
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn takes_what_is_waiting_with_senders_and_says_when_drained() {
        let (rx, tx) = pair().await;
        let to = rx.local_addr().unwrap();
        for m in [&b"one"[..], b"two", b"three"] {
            tx.send_to(m, to).await.unwrap();
        }
        rx.readable().await.unwrap();
        // Give the loopback a moment to queue all three.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut batch = Batch::new();
        let got = batch.recv(&rx, 2).unwrap();
        assert_eq!((got.count, got.drained), (2, false));
        assert_eq!(batch.datagram(0), b"one");
        assert_eq!(batch.datagram(1), b"two");
        assert_eq!(batch.peer(1), Some(tx.local_addr().unwrap()));
        let got = batch.recv(&rx, MAX_BATCH).unwrap();
        assert_eq!((got.count, got.drained), (1, true));
        assert_eq!(batch.datagram(0), b"three");
        // Drained: readiness is cleared, so the next try does not even ask the kernel.
        let e = batch.recv(&rx, MAX_BATCH).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[tokio::test]
    async fn a_datagram_arriving_after_draining_wakes_the_reader() {
        let (rx, tx) = pair().await;
        let to = rx.local_addr().unwrap();
        tx.send_to(b"first", to).await.unwrap();
        rx.readable().await.unwrap();
        let mut batch = Batch::new();
        assert!(batch.recv(&rx, MAX_BATCH).unwrap().drained);
        tx.send_to(b"second", to).await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), rx.readable())
            .await
            .expect("not woken for the second datagram")
            .unwrap();
        assert_eq!(batch.recv(&rx, MAX_BATCH).unwrap().count, 1);
        assert_eq!(batch.datagram(0), b"second");
    }

    #[tokio::test]
    async fn senders_of_both_families_come_out_whole_from_one_batch() {
        // IPv4 first: the kernel writes a short address; the IPv6 one after it must not be cut.
        let (rx4, tx4) = pair().await;
        let Ok(rx6) = UdpSocket::bind("[::1]:0").await else {
            return; // no IPv6 loopback on this machine
        };
        let tx6 = UdpSocket::bind("[::1]:0").await.unwrap();
        let mut batch = Batch::new();
        for (rx, tx) in [(&rx4, &tx4), (&rx6, &tx6), (&rx4, &tx4)] {
            tx.send_to(b"x", rx.local_addr().unwrap()).await.unwrap();
            rx.readable().await.unwrap();
            assert_eq!(batch.recv(rx, MAX_BATCH).unwrap().count, 1);
            assert_eq!(batch.peer(0), Some(tx.local_addr().unwrap()));
        }
    }

    #[tokio::test]
    async fn the_largest_datagram_fits_whole() {
        let (rx, tx) = pair().await;
        let big = vec![7u8; 65_507];
        tx.send_to(&big, rx.local_addr().unwrap()).await.unwrap();
        rx.readable().await.unwrap();
        let mut batch = Batch::new();
        assert_eq!(batch.recv(&rx, MAX_BATCH).unwrap().count, 1);
        assert_eq!(batch.datagram(0), &big[..]);
    }
}
