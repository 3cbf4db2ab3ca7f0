//! UDP cluster connections: a socket per session hop, connected to the endpoint so that the
//! kernel lets only the endpoint's datagrams in and reports its ICMP errors on the socket.
//!
//! A connected UDP socket hears of "port unreachable" by default, but of nothing else: when a
//! pod is deleted, its address stops answering ARP and the kernel reports "host unreachable",
//! which it drops unless the socket asked for every error with `IP_RECVERR`
//! (`IPV6_RECVERR`). Without it a session pinned to a deleted pod would never fail, and its
//! client's traffic would vanish until the idle timeout. So every cluster socket asks, and asks
//! as well for `SO_SELECT_ERR_QUEUE`, so that the error wakes the session's reader (see
//! [`HopSocket`]): an endpoint that refuses or is gone fails the hop as soon as the ICMP
//! arrives, the endpoint is ejected from balancing, and the session retries or ends as its route
//! says. The datagram that drew the error is lost, as it would be on the network.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

use l7mp_config::config::LocalAddress;
use socket2::{Domain, Protocol, Socket, Type};

use crate::fds;
use crate::udp::HopSocket;

/// Opens a UDP socket bound to `bind` (default: any address, any port) and connected to `to`.
pub fn connect(to: SocketAddr, bind: Option<&LocalAddress>) -> io::Result<HopSocket> {
    let socket = Socket::new(Domain::for_address(to), Type::DGRAM, Some(Protocol::UDP))?;
    fds::check(socket.as_fd())?;
    socket.set_nonblocking(true)?;
    report_every_error(&socket, to.is_ipv6())?;
    socket.bind(&local_address(to, bind).into())?;
    socket.connect(&to.into())?;
    HopSocket::new(socket.into())
}

/// The local address a cluster connection binds: `bind` where given, else the unspecified
/// address of the endpoint's family and an ephemeral port.
pub fn local_address(to: SocketAddr, bind: Option<&LocalAddress>) -> SocketAddr {
    let ip = match bind.and_then(|b| b.address) {
        Some(ip) => ip,
        None if to.is_ipv6() => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, bind.and_then(|b| b.port).unwrap_or(0))
}

/// Asks the kernel to report every ICMP error about the socket's traffic, not only "port
/// unreachable", and to signal it as a priority event (see the module doc).
fn report_every_error(socket: &Socket, ipv6: bool) -> io::Result<()> {
    let every = if ipv6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    };
    set_flag(socket, every)?;
    set_flag(socket, (libc::SOL_SOCKET, libc::SO_SELECT_ERR_QUEUE))
}

/// Turns on the socket option `name` at `level`.
fn set_flag(socket: &Socket, (level, name): (libc::c_int, libc::c_int)) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `socket` owns a valid descriptor, and the option value is a live `c_int` whose
    // size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::net::UdpSocket as StdUdpSocket;
    use std::time::Duration;

    use super::*;
    use crate::msg::Recv;
    use crate::udp::UdpHop;

    /// The hop waits only to read; the ICMP "port unreachable" that its datagram draws must
    /// wake it, with the error, without another send.
    #[tokio::test]
    async fn a_refusing_endpoint_fails_a_hop_waiting_to_read() {
        let closed = StdUdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = closed.local_addr().expect("address");
        drop(closed);
        let mut hop = UdpHop::new(connect(to, None).expect("connect"));
        hop.send(b"anyone?").await.expect("send");
        // The deadline is looked at first: polled at the deadline, the hop would find the
        // error by reading, woken or not.
        let woken = tokio::select! {
            biased;
            () = tokio::time::sleep(Duration::from_secs(5)) => panic!("the ICMP error did not wake the hop"),
            woken = poll_fn(|cx| hop.poll_recv(cx)) => woken,
        };
        match woken {
            Recv::Failed(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            _ => panic!("the hop did not fail"),
        }
    }
}
