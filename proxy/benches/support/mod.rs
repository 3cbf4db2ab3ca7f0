//! Helpers the benchmarks share: settings from the environment, cargo's target directory,
//! loopback sockets, and the open-file limit their many sockets need.

#![allow(dead_code)] // Each bench uses a different subset.

use std::env;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `main` of a benchmark: runs `run` only when cargo passes `--bench` (`cargo test
/// --all-targets` runs bench binaries without it, and a minute-long benchmark is no test), and
/// turns its error into a message and a failing exit code.
pub fn bench_main(name: &str, run: fn() -> Result<(), String>) -> ExitCode {
    if !env::args().any(|arg| arg == "--bench") {
        println!("{name}: skipped (run it with `cargo bench -p l7mp --bench {name}`)");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{name}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Reads and parses an environment variable, with a default when unset.
pub fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("cannot parse {name}={text:?}")),
        Err(_) => Ok(default),
    }
}

/// Raises the soft open-file limit to the hard one, for the 10,000 client
/// sockets of the memory part. Child processes inherit it. Returns the limit
/// now in force.
pub fn raise_nofile_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
    }
    limit.rlim_cur
}

/// Where cargo puts its output: `CARGO_TARGET_DIR`, else `target` in the
/// workspace root.
pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

/// Binds a UDP socket on 127.0.0.1 with a port the kernel picks.
pub fn bind_local() -> Result<UdpSocket, String> {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("cannot bind a UDP socket: {e}"))
}

/// Finds a UDP port on 127.0.0.1 that is free right now.
pub fn free_port() -> Result<u16, String> {
    let socket = bind_local()?;
    socket
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot read a socket's address: {e}"))
}
