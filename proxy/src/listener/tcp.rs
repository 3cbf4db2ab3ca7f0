//! TCP listeners: one session per connection, a byte stream. Also binds the TCP socket under
//! WebSocket listeners.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

use super::{ListenerCtx, accept_loop, ip_metadata};
use crate::stage::Stage;

/// Binds a listening TCP socket: SO_REUSEADDR so a restart does not wait out TIME_WAIT, and
/// SO_REUSEPORT so each worker can have its own.
pub fn bind(local: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(local),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&local.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Accepts connections until the listener stops.
pub async fn serve(listener: std::net::TcpListener, ctx: Arc<ListenerCtx>) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    accept_loop(
        &ctx,
        |cx| listener.poll_accept(cx),
        |(stream, peer), id| {
            let Some(permit) = ctx.admit() else { return };
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
