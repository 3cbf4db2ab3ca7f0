//! Starting the proxies under test as child processes, each forwarding a UDP port on
//! 127.0.0.1 to the echo server, and waiting until each answers.

use std::env;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{ChildGuard, bind_local, tail_of};
use l7mp_test_ports::try_reserved_port;

/// How long a child process may take to answer its first datagram.
const READY_DEADLINE: Duration = Duration::from_secs(15);
/// Where Debian's libnginx-mod-stream installs the stream module.
const NGINX_STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// A proxy that answers: where, its process, and what it is (version or binary) for the report.
pub struct Launched {
    pub addr: SocketAddr,
    pub child: ChildGuard,
    pub detail: String,
}

/// Starts a proxy; called again for every round of a target that runs per round.
pub type Launch = Box<dyn Fn() -> Result<Launched, String>>;

/// Sends probe datagrams to `addr` until one is echoed back from `addr`, the
/// child exits, or [`READY_DEADLINE`] passes.
pub fn wait_ready(name: &str, addr: SocketAddr, child: &ChildGuard) -> Result<(), String> {
    let socket = bind_local()?;
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| format!("cannot set a timeout: {e}"))?;
    let probe = b"l7mp-bench readiness probe";
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + READY_DEADLINE;
    while Instant::now() < deadline {
        if let Some(status) = child.exit_status() {
            return Err(format!(
                "{name} {status} before answering on {addr}\n  its stderr:\n{}",
                child.stderr_tail()
            ));
        }
        // Errors (ICMP port unreachable while nothing listens yet) just mean
        // "not ready".
        let _ = socket.send_to(probe, addr);
        if let Ok((len, from)) = socket.recv_from(&mut buf)
            && &buf[..len] == probe
        {
            if from != addr {
                return Err(format!(
                    "{name} echoed the probe from {from}, not from {addr}: a UDP client expects \
                     replies from the address it sent to"
                ));
            }
            return Ok(());
        }
    }
    Err(format!(
        "{name} did not echo a probe datagram sent to {addr} within {} s\n  its stderr:\n{}",
        READY_DEADLINE.as_secs(),
        child.stderr_tail()
    ))
}

/// Finds the nginx binary: `BENCH_NGINX`, else `nginx` on PATH or in an sbin
/// folder (which a non-root PATH may lack).
fn find_nginx() -> Option<PathBuf> {
    if let Some(path) = env::var_os("BENCH_NGINX") {
        return Some(PathBuf::from(path));
    }
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// Starts nginx with a stream server forwarding UDP to `echo`, and waits until
/// it answers.
pub fn start_nginx(dir: &Path, echo: SocketAddr, workers: usize) -> Result<Launched, String> {
    let Some(nginx) = find_nginx() else {
        return Err("nginx is not installed (apt-get install nginx libnginx-mod-stream)".into());
    };
    let version = Command::new(&nginx)
        .arg("-V")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", nginx.display()))?;
    let version = String::from_utf8_lossy(&version.stderr).to_string();
    let module = env::var("BENCH_NGINX_STREAM_MODULE").unwrap_or(NGINX_STREAM_MODULE.into());
    let load_module = if Path::new(&module).is_file() {
        format!("load_module {module};\n")
    } else if version.contains("--with-stream ") || version.ends_with("--with-stream\n") {
        String::new() // compiled in
    } else {
        return Err(format!(
            "nginx has no stream module: {module} does not exist (apt-get install libnginx-mod-stream)"
        ));
    };
    let port = try_reserved_port()?;
    let prefix = dir.join("nginx");
    fs::create_dir_all(prefix.join("logs"))
        .map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
    // As many workers as l7mp has threads (two by default, one per core);
    // reuseport gives each worker its own socket, and the kernel keeps a
    // client's datagrams on one worker. The long proxy_timeout and no
    // proxy_responses limit keep each client flow one session.
    let config = format!(
        "{load_module}\
         worker_processes {workers};\n\
         worker_rlimit_nofile 65536;\n\
         pid {prefix}/nginx.pid;\n\
         error_log {prefix}/logs/error.log warn;\n\
         events {{\n    worker_connections 65536;\n}}\n\
         stream {{\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port} udp reuseport;\n\
         \x20       proxy_pass {echo};\n\
         \x20       proxy_timeout 1h;\n\
         \x20   }}\n\
         }}\n",
        prefix = prefix.display(),
    );
    let config_path = prefix.join("nginx.conf");
    fs::write(&config_path, config)
        .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
    let child = ChildGuard::spawn(
        Command::new(&nginx)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&config_path)
            .arg("-e")
            .arg(prefix.join("logs/error.log"))
            .args(["-g", "daemon off;"]),
        prefix.join("stderr.log"),
    )?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    if let Err(message) = wait_ready("nginx", addr, &child) {
        return Err(format!(
            "{message}\n  nginx error.log:\n{}",
            tail_of(&prefix.join("logs/error.log"), 15)
        ));
    }
    let version = version
        .lines()
        .find_map(|line| line.strip_prefix("nginx version: "))
        .unwrap_or("nginx")
        .to_string();
    println!("nginx: {version} listening on {addr}, pid {}", child.pid());
    Ok(Launched {
        addr,
        child,
        detail: version,
    })
}

/// How l7mp forwards once a session is set up.
#[derive(Clone, Copy, PartialEq)]
pub enum Forwarding {
    /// Every datagram through user space.
    UserSpace,
    /// Established sessions by the kernel (`--offload=on` on `lo`).
    Offload,
}

/// Starts l7mp with a UDP listener routed to a UDP cluster holding the echo
/// server, and waits until it answers.
pub fn start_l7mp(
    dir: &Path,
    echo: SocketAddr,
    bin: &Path,
    workers: usize,
    forwarding: Forwarding,
) -> Result<Launched, String> {
    if !bin.is_file() {
        return Err(format!("{} does not exist", bin.display()));
    }
    let port = try_reserved_port()?;
    let dir = dir.join(match forwarding {
        Forwarding::UserSpace => "l7mp",
        Forwarding::Offload => "l7mp-offload",
    });
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let config = format!(
        "listeners:\n\
         \x20 - name: bench-udp\n\
         \x20   spec: {{protocol: UDP, port: {port}}}\n\
         \x20   options: {{max_sessions: 100000}}\n\
         \x20   rules:\n\
         \x20     - action:\n\
         \x20         route:\n\
         \x20           destination: echo\n\
         clusters:\n\
         \x20 - name: echo\n\
         \x20   spec: {{protocol: UDP, port: {echo_port}}}\n\
         \x20   endpoints:\n\
         \x20     - spec: {{address: 127.0.0.1}}\n",
        echo_port = echo.port(),
    );
    let config_path = dir.join("l7mp.yaml");
    fs::write(&config_path, config)
        .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
    let mut command = Command::new(bin);
    command
        .arg("--config")
        .arg(&config_path)
        .args(["--log-level", "warn", "--admin-address", "none"])
        .args(["--metrics-address", "none"])
        .arg("--workers")
        .arg(workers.to_string());
    if forwarding == Forwarding::Offload {
        command.args(["--offload", "on", "--offload-interfaces", "lo"]);
    }
    let child = ChildGuard::spawn(&mut command, dir.join("stderr.log"))?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    wait_ready("l7mp", addr, &child)?;
    Ok(Launched {
        addr,
        child,
        detail: bin.display().to_string(),
    })
}

/// Starts the floor relay (this benchmark's own binary, see [`crate::floor`]) forwarding to
/// `echo`, and waits until it answers.
pub fn start_floor(dir: &Path, echo: SocketAddr) -> Result<Launched, String> {
    let port = try_reserved_port()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let bin =
        env::current_exe().map_err(|e| format!("cannot find this benchmark's binary: {e}"))?;
    let dir = dir.join("floor");
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let child = ChildGuard::spawn(
        Command::new(&bin)
            .arg(crate::floor::COMMAND)
            .arg(addr.to_string())
            .arg(echo.to_string()),
        dir.join("stderr.log"),
    )?;
    wait_ready("floor relay", addr, &child)?;
    println!("floor: relay listening on {addr}, pid {}", child.pid());
    Ok(Launched {
        addr,
        child,
        detail: "single-thread relay: epoll, recvmmsg/sendmmsg".into(),
    })
}
