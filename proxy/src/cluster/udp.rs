//! UDP cluster connections: a socket per session, connected to the endpoint so that the kernel
//! filters replies and reports ICMP errors. A refusing endpoint shows up as a failed *send* of
//! the next datagram, not as a failed receive: tokio's `poll_recv` does not wake on a socket
//! error, so the datagram that drew the refusal is lost and the next one notices it.

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
