//! Which ports and socket paths this process's listeners hold, so that binding can tell "held
//! by us" (a reload re-binding a listener while the old one drains: share it) from "held by
//! someone else" (another proxy, or any other program: refuse, never share or take over).
//!
//! An IP listener's sockets form one SO_REUSEPORT group, one socket per worker. The kernel lets
//! any socket of the same user join such a group, and groups are formed at bind time: a
//! socket only joins sockets that already have SO_REUSEPORT set. So the first socket of a port
//! this process does not hold yet is bound *without* SO_REUSEPORT (and, for UDP, without
//! SO_REUSEADDR, which lets UDP sockets of any user share a port): that bind fails whenever
//! anyone holds the port. Only then is SO_REUSEPORT set on it, and the other workers' sockets
//! join it. A port this process already holds is joined directly.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::OnceLock;

use parking_lot::{Mutex, MutexGuard};

use socket2::Socket;

/// What a listener holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Held {
    /// A TCP port (on any address).
    Tcp(u16),
    /// A UDP port (on any address).
    Udp(u16),
    /// A Unix socket path, as configured.
    Unix(std::path::PathBuf),
}

fn registry() -> MutexGuard<'static, HashMap<Held, usize>> {
    static HELD: OnceLock<Mutex<HashMap<Held, usize>>> = OnceLock::new();
    HELD.get_or_init(Mutex::default).lock()
}

/// One socket's hold on a port or path; released when dropped, with the socket.
#[derive(Debug)]
pub struct Claim(Held);

impl Claim {
    /// Records that one more socket holds `what`.
    pub fn new(what: Held) -> Self {
        *registry().entry(what.clone()).or_default() += 1;
        Self(what)
    }

    /// Whether a live socket of this process holds `what`.
    pub fn is_ours(what: &Held) -> bool {
        registry().contains_key(what)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut held = registry();
        if let Some(n) = held.get_mut(&self.0) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.0);
            }
        }
    }
}

/// Binds `count` sockets (at least one) on `local` as one SO_REUSEPORT group of this process
/// (see the module docs). `make` creates a socket with every option but SO_REUSEPORT; `ready`
/// runs on each bound socket (`listen` for TCP). A port held by another process fails with
/// `AddrInUse`, naming the address.
pub fn bind_group(
    what: Held,
    local: SocketAddr,
    count: usize,
    make: impl Fn() -> io::Result<Socket>,
    ready: impl Fn(&Socket) -> io::Result<()>,
) -> io::Result<Vec<(Socket, Claim)>> {
    let mut sockets = Vec::with_capacity(count.max(1));
    let ours = Claim::is_ours(&what);
    for i in 0..count.max(1) {
        let socket = make()?;
        if ours || i > 0 {
            socket.set_reuse_port(true)?;
        }
        socket
            .bind(&local.into())
            .map_err(|e| in_use(e, &what, local))?;
        if !ours && i == 0 {
            socket.set_reuse_port(true)?;
        }
        ready(&socket)?;
        sockets.push((socket, Claim::new(what.clone())));
    }
    Ok(sockets)
}

/// Says who holds the address when a bind finds it taken.
fn in_use(e: io::Error, what: &Held, local: SocketAddr) -> io::Error {
    if e.kind() != io::ErrorKind::AddrInUse {
        return e;
    }
    let proto = match what {
        Held::Tcp(_) => "TCP",
        Held::Udp(_) => "UDP",
        Held::Unix(_) => "Unix",
    };
    io::Error::new(
        io::ErrorKind::AddrInUse,
        format!(
            "{proto} {local} is in use by another process; stop that process or choose \
             another port"
        ),
    )
}
