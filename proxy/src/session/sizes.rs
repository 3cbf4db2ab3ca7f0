//! Bounds on what an idle UDP pair session keeps for its whole life, so that a change which
//! makes it larger fails here rather than going unnoticed until the next memory benchmark.
//! Ten thousand idle sessions are a common load; every byte below is paid ten thousand times.
//! The bounds are the sizes in the test build (the release build's may differ by a few words);
//! lower them when a change shrinks the session.

use std::mem::size_of;

use super::Running;
use super::registry::SessionInfo;
use super::udp_pair::UdpPair;
use crate::udp::{UdpHop, UdpPeer};

/// The size of what `f` returns, without calling it: the size of an `async fn`'s future.
fn returned<A, B, R>(_: impl FnOnce(A, B) -> R) -> usize {
    size_of::<R>()
}

#[test]
fn the_boxed_session_stays_small() {
    // `Running` is the session's allocation for its whole life (see `open`).
    assert!(size_of::<Running>() <= 240, "{}", size_of::<Running>());
    assert!(size_of::<UdpPair>() <= 240, "{}", size_of::<UdpPair>());
    // Shared with the admin endpoint and the listener, for the session's whole life.
    assert!(
        size_of::<SessionInfo>() <= 88,
        "{}",
        size_of::<SessionInfo>()
    );
    // The listener's socket, the peer's address, the inbox, which carries the shortcut, and
    // how to tell the listener that the session ended.
    assert!(size_of::<UdpPeer>() <= 64, "{}", size_of::<UdpPeer>());
    // The hop's socket (whose ICMP errors wake its reader: no error watch of its own) and its
    // queue of held replies.
    assert!(size_of::<UdpHop>() <= 40, "{}", size_of::<UdpHop>());
}

#[test]
fn the_session_loop_future_stays_small() {
    // Part of the session's tokio task for its whole life, with the task's own fields
    // (about 110 bytes) rounded up to 128 bytes: a future grown past a multiple of 128
    // costs every session 128 bytes more. In a release build the task's whole future is 272
    // bytes and its task 384, with 8 bytes to spare.
    let run = returned(Running::run);
    let pump = returned(UdpPair::pump);
    assert!(pump <= 168, "the pair's loop future is {pump} bytes");
    assert!(run <= 208, "the session's run future is {run} bytes");
}
