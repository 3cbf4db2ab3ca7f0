//! Helpers the benchmarks share: settings from the environment, cargo's target directory,
//! loopback sockets, the open-file limit their many sockets need, and the child processes
//! (proxies) they start and must never leave behind.

#![allow(dead_code)] // Each bench uses a different subset.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a child process gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

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

/// A child process in a process group of its own, stopped with everything it
/// forked when dropped (also while unwinding from a panic). If the benchmark
/// itself is killed, the kernel sends the child SIGTERM (`PR_SET_PDEATHSIG`).
pub struct ChildGuard {
    child: Child,
    stderr_path: PathBuf,
}

impl ChildGuard {
    /// Starts `command` with stdin and stdout closed and stderr into `stderr_path`.
    pub fn spawn(command: &mut Command, stderr_path: PathBuf) -> Result<Self, String> {
        let stderr = fs::File::create(&stderr_path)
            .map_err(|e| format!("cannot create {}: {e}", stderr_path.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0);
        // SAFETY: the closure runs between fork and exec and only calls
        // prctl(2), which is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
        Ok(Self { child, stderr_path })
    }

    /// The child's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How the child ended, if it has; the child is left unreaped so that its
    /// process group id cannot be reused before [`Drop`] sweeps the group.
    pub fn exit_status(&self) -> Option<String> {
        // SAFETY: siginfo_t is plain data; waitid fills it in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid with WNOWAIT only inspects our own child.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid and si_status are valid for SIGCHLD-style siginfo.
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if rc != 0 || pid == 0 {
            return None;
        }
        Some(if info.si_code == libc::CLD_EXITED {
            format!("exited with code {status}")
        } else {
            format!("was killed by signal {status}")
        })
    }

    /// The last lines the child wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        tail_of(&self.stderr_path, 15)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let group = self.pid() as libc::pid_t;
        if self.exit_status().is_none() {
            // SAFETY: signalling our own child's process group.
            unsafe { libc::kill(-group, libc::SIGTERM) };
            let deadline = Instant::now() + STOP_GRACE;
            while self.exit_status().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
        }
        // Sweep whatever is left (nginx workers, say). The leader is not yet
        // reaped, so the group id still belongs to it.
        // SAFETY: as above.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// The last `lines` lines of a text file, indented, or a note that it is empty.
pub fn tail_of(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    if all.is_empty() {
        return format!("    ({} is empty)", path.display());
    }
    let mut out = String::new();
    for line in &all[all.len().saturating_sub(lines)..] {
        let _ = writeln!(out, "    {line}");
    }
    out.trim_end().to_string()
}
