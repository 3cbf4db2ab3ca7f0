//! UDP cluster connections: a socket per session hop, connected to the endpoint so that the
//! kernel lets only the endpoint's datagrams in and reports its ICMP errors on the socket. The
//! session's [`UdpHop`](crate::stage::UdpHop) waits for the socket's error readiness beside its
//! reads, so an endpoint that refuses (ICMP port unreachable) fails the hop as soon as the ICMP
//! arrives, and the session retries or ends as its route says. The datagram that drew the
//! refusal is lost, as it would be on the network.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;

use l7mp_config::model::Bind;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use crate::fds;

/// Opens a UDP socket bound to `bind` (default: any address, any port) and connected to `to`.
pub fn connect(to: SocketAddr, bind: Option<&Bind>) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(to), Type::DGRAM, Some(Protocol::UDP))?;
    fds::check(socket.as_fd())?;
    socket.set_nonblocking(true)?;
    socket.bind(&local_address(to, bind)?.into())?;
    socket.connect(&to.into())?;
    UdpSocket::from_std(socket.into())
}

/// The local address a cluster connection binds: `bind` where given, else the unspecified
/// address of the endpoint's family and an ephemeral port.
pub fn local_address(to: SocketAddr, bind: Option<&Bind>) -> io::Result<SocketAddr> {
    let ip = match bind.and_then(|b| b.address.as_deref()) {
        Some(a) => a
            .parse::<IpAddr>()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        None if to.is_ipv6() => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    Ok(SocketAddr::new(ip, bind.and_then(|b| b.port).unwrap_or(0)))
}
