//! The user-space floor: the least a UDP relay can do per datagram, to compare the proxies with.
//!
//! One thread, one epoll set. Client datagrams arrive on the listening socket and are read in
//! batches with `recvmmsg`; each client gets its own upstream socket, connected to the echo
//! server, which every datagram of that client is sent through. Replies are read from the
//! upstream sockets that epoll reports ready and sent back to their clients from the listening
//! socket, in batches with `sendmmsg`. No routing, no rules, no metrics, no sessions that end:
//! only what forwarding itself costs. It runs as a child process of the benchmark (the
//! benchmark's own binary, started with [`COMMAND`]), so that its CPU time and memory are
//! measured the same way as a proxy's.

use std::collections::HashMap;
use std::io;
use std::mem;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The first argument that makes the benchmark binary run the relay instead of the benchmark.
pub const COMMAND: &str = "--floor-relay";

/// Datagrams per `recvmmsg`/`sendmmsg`.
const BATCH: usize = 32;
/// Largest datagram relayed (the benchmark sends 100 bytes).
const MAX_DATAGRAM: usize = 2048;
/// The epoll token of the listening socket; flows are numbered from 0.
const LISTENER: u64 = u64::MAX;

/// Runs the relay from `listen` to `upstream` until the process is killed.
pub fn serve(listen: &str, upstream: &str) -> Result<(), String> {
    let parse = |text: &str| match text.parse::<SocketAddr>() {
        Ok(SocketAddr::V4(addr)) => Ok(addr),
        _ => Err(format!(
            "floor relay: {text:?} is not an IPv4 address and port"
        )),
    };
    let (listen, upstream) = (parse(listen)?, parse(upstream)?);
    Relay::new(listen, upstream)
        .and_then(|mut relay| relay.run())
        .map_err(|e| format!("floor relay: {e}"))
}

/// A client's flow: the upstream socket its datagrams go through, and where replies go.
struct Flow {
    upstream: UdpSocket,
    client: SocketAddrV4,
}

struct Relay {
    listener: UdpSocket,
    upstream: SocketAddrV4,
    epoll: OwnedFd,
    flows: Vec<Flow>,
    by_client: HashMap<SocketAddrV4, usize>,
    batch: Batch,
}

impl Relay {
    fn new(listen: SocketAddrV4, upstream: SocketAddrV4) -> io::Result<Self> {
        let listener = UdpSocket::bind(listen)?;
        listener.set_nonblocking(true)?;
        // SAFETY: a plain system call; the descriptor it returns is owned below.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `epoll` is a new descriptor that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        let relay = Self {
            listener,
            upstream,
            epoll,
            flows: Vec::new(),
            by_client: HashMap::new(),
            batch: Batch::new(),
        };
        relay.watch(relay.listener.as_raw_fd(), LISTENER)?;
        Ok(relay)
    }

    fn run(&mut self) -> io::Result<()> {
        // SAFETY: epoll_event is plain data; zeroes are a valid value.
        let mut events: [libc::epoll_event; 64] = unsafe { mem::zeroed() };
        loop {
            // SAFETY: the buffer holds `events.len()` entries and outlives the call.
            let ready = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as i32,
                    -1,
                )
            };
            if ready < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            for event in &events[..ready as usize] {
                match event.u64 {
                    LISTENER => self.forward_requests()?,
                    flow => self.collect_replies(flow as usize)?,
                }
            }
            self.send_replies()?;
        }
    }

    /// Reads client datagrams in batches and sends each through its client's upstream socket.
    fn forward_requests(&mut self) -> io::Result<()> {
        loop {
            let received = self.batch.recv(&self.listener)?;
            for i in 0..received {
                let client = self.batch.peer(i);
                let flow = match self.by_client.get(&client) {
                    Some(&flow) => flow,
                    None => self.open_flow(client)?,
                };
                // A full socket buffer drops the datagram, as the network would.
                let _ = self.flows[flow].upstream.send(self.batch.data(i));
            }
            if received < BATCH {
                return Ok(());
            }
        }
    }

    /// Reads the replies waiting on one flow's upstream socket into the outgoing batch.
    fn collect_replies(&mut self, flow: usize) -> io::Result<()> {
        let Flow { upstream, client } = &self.flows[flow];
        loop {
            if self.batch.len == BATCH {
                self.batch.send(&self.listener)?;
            }
            match self.batch.push_from(upstream, *client) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends the collected replies from the listening socket with one `sendmmsg`.
    fn send_replies(&mut self) -> io::Result<()> {
        self.batch.send(&self.listener)
    }

    fn open_flow(&mut self, client: SocketAddrV4) -> io::Result<usize> {
        let upstream = UdpSocket::bind("127.0.0.1:0")?;
        upstream.connect(self.upstream)?;
        upstream.set_nonblocking(true)?;
        let flow = self.flows.len();
        self.watch(upstream.as_raw_fd(), flow as u64)?;
        self.flows.push(Flow { upstream, client });
        self.by_client.insert(client, flow);
        Ok(flow)
    }

    fn watch(&self, fd: i32, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both descriptors are open; the kernel copies the event.
        let rc =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Buffers for one batch of datagrams and their peers, for `recvmmsg` and `sendmmsg`. The
/// system-call headers point into the buffers and are filled in just before each call, so
/// the struct may move.
struct Batch {
    data: Box<[[u8; MAX_DATAGRAM]; BATCH]>,
    lens: [usize; BATCH],
    peers: [libc::sockaddr_in; BATCH],
    /// Datagrams held for sending.
    len: usize,
}

impl Batch {
    fn new() -> Self {
        Self {
            data: Box::new([[0; MAX_DATAGRAM]; BATCH]),
            lens: [0; BATCH],
            // SAFETY: sockaddr_in is plain data; zeroes are a valid value.
            peers: unsafe { mem::zeroed() },
            len: 0,
        }
    }

    /// `msghdr`s for the first `count` slots, pointing at `iovecs` and the buffers.
    fn headers(
        &mut self,
        iovecs: &mut [libc::iovec; BATCH],
        count: usize,
    ) -> [libc::mmsghdr; BATCH] {
        // SAFETY: mmsghdr is plain data; zeroes are a valid value.
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
        for i in 0..count {
            iovecs[i] = libc::iovec {
                iov_base: self.data[i].as_mut_ptr().cast(),
                iov_len: self.lens[i],
            };
            headers[i].msg_hdr.msg_name = (&mut self.peers[i] as *mut libc::sockaddr_in).cast();
            headers[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
            headers[i].msg_hdr.msg_iov = &mut iovecs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
        }
        headers
    }

    /// Reads up to a batch of datagrams from `socket`; 0 when none is waiting.
    fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.lens = [MAX_DATAGRAM; BATCH];
        // SAFETY: iovec is plain data; zeroes are a valid value.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
        let mut headers = self.headers(&mut iovecs, BATCH);
        // SAFETY: every header points into buffers of `self` and `iovecs`, which outlive the
        // call, with their true lengths.
        let received = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if received < 0 {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::WouldBlock => Ok(0),
                // An ICMP error from a client that went away: not the relay's business.
                io::ErrorKind::ConnectionRefused => Ok(0),
                _ => Err(error),
            };
        }
        let received = received as usize;
        for (len, header) in self.lens.iter_mut().zip(&headers[..received]) {
            *len = header.msg_len as usize;
        }
        Ok(received)
    }

    fn data(&self, i: usize) -> &[u8] {
        &self.data[i][..self.lens[i]]
    }

    fn peer(&self, i: usize) -> SocketAddrV4 {
        let peer = &self.peers[i];
        SocketAddrV4::new(
            u32::from_be(peer.sin_addr.s_addr).into(),
            u16::from_be(peer.sin_port),
        )
    }

    /// Reads one datagram from `socket` into the next slot, to be sent to `client`.
    fn push_from(&mut self, socket: &UdpSocket, client: SocketAddrV4) -> io::Result<()> {
        let len = socket.recv(&mut self.data[self.len])?;
        self.lens[self.len] = len;
        self.peers[self.len] = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: client.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*client.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        self.len += 1;
        Ok(())
    }

    /// Sends the held datagrams from `socket`, each to its peer, and empties the batch.
    fn send(&mut self, socket: &UdpSocket) -> io::Result<()> {
        let count = mem::take(&mut self.len);
        if count == 0 {
            return Ok(());
        }
        // SAFETY: iovec is plain data; zeroes are a valid value.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
        let mut headers = self.headers(&mut iovecs, count);
        // SAFETY: the first `count` headers point into buffers of `self` and `iovecs`, which
        // outlive the call, with their true lengths. Datagrams the socket cannot take are
        // dropped, as the network would.
        let sent = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                count as u32,
                libc::MSG_DONTWAIT,
            )
        };
        if sent < 0 {
            let error = io::Error::last_os_error();
            if !matches!(
                error.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionRefused
            ) {
                return Err(error);
            }
        }
        Ok(())
    }
}
