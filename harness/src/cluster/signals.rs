//! Stopping on SIGINT, SIGTERM and SIGHUP: a flag that the commands check between steps.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, anyhow};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Makes SIGINT, SIGTERM and SIGHUP set a flag that the commands check between steps (so an
/// interrupted `up` tears down what it made, and `run` tears everything down).
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe. rustix
        // installs handlers only through `rustix::runtime`, unsafe too and meant for programs
        // without libc, so the libc call stays.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Whether a signal asked the harness to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// An "interrupted" error once a signal asked the harness to stop, so a step can bail out.
pub(super) fn check_interrupted() -> Result<()> {
    if interrupted() {
        Err(anyhow!("interrupted"))
    } else {
        Ok(())
    }
}
