//! TCP cluster connections (also the transport under WebSocket clusters).

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use l7mp_config::config::LocalAddress;
use tokio::net::{TcpSocket, TcpStream};

use super::udp::local_address;
use crate::fds;

/// Connects to `to` from `bind` (if given), with Nagle off: the proxy forwards messages as they
/// come and batching them would only add latency.
pub async fn connect(to: SocketAddr, bind: Option<&LocalAddress>) -> io::Result<TcpStream> {
    let socket = if to.is_ipv6() {
        TcpSocket::new_v6()?
    } else {
        TcpSocket::new_v4()?
    };
    fds::check(socket.as_fd())?;
    if bind.is_some() {
        socket.set_reuseaddr(true)?;
        socket.bind(local_address(to, bind))?;
    }
    let stream = socket.connect(to).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
