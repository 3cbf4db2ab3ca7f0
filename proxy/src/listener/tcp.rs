//! TCP listeners: one session per connection, a byte stream. Also binds the TCP socket under
//! WebSocket listeners.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

use super::claim::{self, Claim, Held};
use super::{accept_loop, ip_metadata};
use crate::session::ListenerCtx;
use crate::stage::Stage;

/// Binds `count` listening TCP sockets on `local`, one per worker (see [`claim::bind_group`]),
/// with SO_REUSEADDR so that a restart does not wait out TIME_WAIT (it never lets a second
/// socket listen on the port).
pub fn bind(local: SocketAddr, count: usize) -> io::Result<Vec<(std::net::TcpListener, Claim)>> {
    let make = || {
        let socket = Socket::new(
            Domain::for_address(local),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    };
    let sockets = claim::bind_group(Held::Tcp(local.port()), local, count, make, |s| {
        s.listen(1024)
    })?;
    Ok(sockets
        .into_iter()
        .map(|(s, claim)| (s.into(), claim))
        .collect())
}

/// Accepts connections until the listener stops.
pub async fn serve(listener: std::net::TcpListener, ctx: Arc<ListenerCtx>) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    accept_loop(
        &ctx,
        |cx| listener.poll_accept(cx),
        |(stream, peer), id| {
            let Some(permit) = ctx.admit_connection(stream.as_fd()) else {
                return;
            };
            let Ok(local) = stream.local_addr() else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let name = format!("TCP:{peer}-{local}-{id}");
            let metadata = ip_metadata("TCP", peer, local);
            ctx.spawn_session(permit, Stage::Tcp(stream), metadata, name, || {});
        },
    )
    .await
}
