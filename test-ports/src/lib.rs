//! Ports for sockets a test does not bind itself: the listeners of a proxy it starts (in this
//! process or as a child), reload configs that add listeners later, fixed source ports.
//!
//! Binding port 0, closing the socket and passing the number on races: until the proxy binds
//! it, the kernel may give the same port to any socket of any process that binds port 0 or
//! connects. So the ports here come from below the kernel's ephemeral range (which it never
//! hands out on its own), each is handed out once per test process, and each is held for the
//! process's life by a lock on a file named after it, which every test process using this
//! module respects: two `cargo test` runs side by side never get the same port. A port some
//! other program already holds is skipped (it is bound once, on every address, to check).
//! Sockets a test binds itself use port 0 and the port the kernel gave them.
//!
//! Shared by the proxy's tests, its benchmarks and the fuzz crate's running-proxy target.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::Mutex;

/// The lowest port handed out: below it sit the fixed ports of the examples and the harness
/// tests (9000 to 9103), which run on the host.
const FIRST: u16 = 10_000;

/// The ports this process holds, with their lock files (kept open: closing one would release
/// its lock), and the next port to try.
struct Held {
    files: Vec<File>,
    next: u16,
}

static HELD: Mutex<Held> = Mutex::new(Held {
    files: Vec::new(),
    next: 0,
});

/// Where the kernel says its ephemeral range starts.
const PORT_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// The first port of the kernel's ephemeral range: the reserved ports end below it.
fn ephemeral_start() -> Result<u16, String> {
    let range = std::fs::read_to_string(PORT_RANGE)
        .map_err(|e| format!("cannot read {PORT_RANGE}: {e}"))?;
    let start: u16 = range
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{PORT_RANGE} does not start with a port: {range:?}"))?;
    if start <= FIRST + 1000 {
        return Err(format!(
            "the ephemeral port range starts at {start}: tests need ports {FIRST} and up \
             outside it (sysctl net.ipv4.ip_local_port_range)"
        ));
    }
    Ok(start)
}

/// Where the lock files live: shared by every test process on the machine.
fn lock_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join("l7mp-test-ports");
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "cannot create the port lock directory {}: {e}",
            dir.display()
        )
    })?;
    Ok(dir)
}

/// Whether nothing holds `port`, for TCP or UDP, on any address.
fn unbound(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok()
        && UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok()
}

/// A port that no other test (in this process or another one using this module) gets and that
/// the kernel never hands out by itself, free for TCP and UDP on every address right now.
///
/// # Panics
///
/// When no such port is left or the machine's port range leaves none: a test cannot go on.
pub fn reserved_port() -> u16 {
    try_reserved_port().unwrap_or_else(|e| panic!("{e}"))
}

/// [`reserved_port`] for callers that report errors as values (the benchmarks).
pub fn try_reserved_port() -> Result<u16, String> {
    let end = ephemeral_start()?;
    let dir = lock_dir()?;
    let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
    if held.next == 0 {
        // Start each process somewhere else, so that processes side by side rarely try the
        // same ports first.
        held.next = fastrand::u16(FIRST..end);
    }
    for _ in FIRST..end {
        let port = held.next;
        held.next = if port + 1 >= end { FIRST } else { port + 1 };
        let Ok(file) = File::create(dir.join(port.to_string())) else {
            continue;
        };
        if file.try_lock().is_ok() && unbound(port) {
            held.files.push(file);
            return Ok(port);
        }
    }
    Err(format!(
        "no port in {FIRST}..{end} is free of other tests and programs"
    ))
}

/// `127.0.0.1:<reserved port>`.
pub fn reserved_addr() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, reserved_port()))
}

#[test]
fn a_reserved_port_is_held_for_this_process_alone() {
    let (a, b) = (reserved_port(), reserved_port());
    assert_ne!(a, b);
    for port in [a, b] {
        assert!(
            (FIRST..ephemeral_start().unwrap()).contains(&port),
            "{port}"
        );
        // What another test process would try first: its lock on the port's file must fail.
        let other =
            File::create(lock_dir().unwrap().join(port.to_string())).expect("open the lock file");
        assert!(other.try_lock().is_err(), "nothing holds port {port}");
    }
}
