//! The open-file reserve: the top [`RESERVE`] file descriptors below the process's limit
//! (RLIMIT_NOFILE) are never kept by sessions, so that the admin endpoint, a reload and the
//! log can always open one, however many clients connect.
//!
//! The kernel always hands out the lowest free descriptor, so a new descriptor numbered `n`
//! means that `0..n` are all open. A connection accepted, or an upstream socket opened, at or
//! above `limit - RESERVE` therefore finds the process at its session share of descriptors:
//! it is closed at once and refused. The check is one comparison per connection; no
//! descriptors are counted.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Descriptors kept free for everything but sessions.
pub const RESERVE: u64 = 64;

/// Whether a session may keep `fd`: false once the process holds all the descriptors that
/// sessions may use.
pub fn within_share(fd: BorrowedFd<'_>) -> bool {
    let limit = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => soft,
        Err(_) => return true,
    };
    u64::try_from(fd.as_raw_fd()).is_ok_and(|n| n < limit.saturating_sub(RESERVE))
}

/// `Ok` when a session may keep `fd`, else the error that refuses the connection.
pub fn check(fd: BorrowedFd<'_>) -> io::Result<()> {
    if within_share(fd) {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the open-file limit is nearly reached (the last {RESERVE} descriptors are kept \
             for the admin endpoint); raise `ulimit -n` or lower the listeners' max_sessions"
        )))
    }
}
