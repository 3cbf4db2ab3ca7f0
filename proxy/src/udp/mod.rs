//! UDP plumbing below the sessions: the stages of UDP hops ([`UdpHop`], on a [`HopSocket`])
//! and of server-mode peers ([`UdpPeer`]), the worker's batched receive buffers ([`batch`]), the queue a listener
//! hands a peer's datagrams through ([`inbox`]), and the listener's way past a session's task
//! to its one UDP hop ([`shortcut`]). Nothing here knows sessions, listeners or clusters: what
//! a datagram is counted on is handed in by the caller.

pub mod batch;
mod hop;
pub mod inbox;
mod peer;
pub mod shortcut;
mod socket;

use std::io;

pub use hop::UdpHop;
pub use peer::UdpPeer;
pub use socket::HopSocket;

/// Finishes a datagram send that was first `attempt`ed at once: a socket almost always has
/// room, and trying first skips the readiness future that `wait` (the waiting send) sets up.
/// That future is boxed, only when it is needed: inline it would enlarge every session's
/// task for its whole life.
pub async fn send_datagram<F: Future<Output = io::Result<usize>>>(
    attempt: io::Result<usize>,
    wait: impl FnOnce() -> F,
) -> io::Result<()> {
    match attempt {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Box::pin(wait()).await.map(drop),
        sent => sent.map(drop),
    }
}
