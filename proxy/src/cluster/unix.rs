//! Unix domain socket cluster connections: the endpoint address is the socket path.
//!
//! A Unix connect fails at once, never waits, when the server's listen backlog is full
//! (EAGAIN) or nothing listens on the path yet (ECONNREFUSED, a server restarting). Both pass
//! in moments, so they are retried with a growing pause until the cluster's connect timeout
//! would run out; the last error is returned then. A connection beyond the sessions' share of
//! descriptors is closed at once (see [`crate::fds`]).

use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use tokio::net::UnixStream;
use tokio::time::Instant;
use tokio_seqpacket::UnixSeqpacket;

use crate::fds;

/// Pause before the first retry; doubled after each one, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// Longest pause between two attempts.
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// Connects a byte-stream socket, retrying transient failures until `deadline`.
pub async fn connect_stream(path: &Path, deadline: Instant) -> io::Result<UnixStream> {
    let stream = retry_transient(deadline, || UnixStream::connect(path)).await?;
    fds::check(stream.as_fd())?;
    Ok(stream)
}

/// Connects a message-preserving (SOCK_SEQPACKET) socket, retrying transient failures until
/// `deadline`.
pub async fn connect_seqpacket(path: &Path, deadline: Instant) -> io::Result<UnixSeqpacket> {
    let socket = retry_transient(deadline, || UnixSeqpacket::connect(path)).await?;
    fds::check(socket.as_fd())?;
    Ok(socket)
}

/// Runs `connect` until it succeeds, fails for good, or the next pause would end past
/// `deadline`.
async fn retry_transient<T, F: Future<Output = io::Result<T>>>(
    deadline: Instant,
    mut connect: impl FnMut() -> F,
) -> io::Result<T> {
    let mut pause = FIRST_PAUSE;
    loop {
        match connect().await {
            Err(e) if is_transient(&e) && Instant::now() + pause < deadline => {
                tracing::debug!(error = %e, "Unix connect: retrying in {pause:?}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
            result => return result,
        }
    }
}

/// A full listen backlog, or no listener on the path yet.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionRefused
    )
}
