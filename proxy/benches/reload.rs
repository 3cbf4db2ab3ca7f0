//! Hot reload benchmark: how long the real `l7mp` binary takes to act on a config change, and
//! to serve a large config from a cold start.
//!
//! Run with `cargo bench -p l7mp --bench reload`; `proxy/benches/README.md` explains what is
//! measured and how to read the output.
//!
//! Three parts, each with its own `l7mp` child process (default `--debounce-ms`), UDP echo
//! servers in this process, and the config in a ConfigMap volume written as the kubelet writes
//! it (a new `..<timestamp>` directory, a `..data_tmp` symlink renamed over `..data`):
//!
//! 1. **Added listener.** Each of 100 swaps replaces the extra listener of the previous swap
//!    with a new one on a new port. Measured: from the `..data` rename to the first datagram
//!    the new listener answers.
//! 2. **Changed route.** Each of 100 swaps points one listener at the other of two echo servers,
//!    which answer with different prefixes. Measured: from the rename to the first answer with
//!    the new prefix (every probe is a new session: a session keeps the route it started with).
//! 3. **Cold start.** A config of 1,000 UDP listeners. Measured: from spawning the process to
//!    all 1,000 ports answering.
//!
//! Results are printed as a table and written as JSON to `<target dir>/bench-reload.json`.

mod support;

use support::{ChildGuard, bench_main, bind_local, env_parse, raise_nofile_limit, target_dir};

use std::collections::BTreeSet;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use l7mp_test_ports::try_reserved_port;
use serde_json::{Value, json};

/// Time between two probes of one measurement: the resolution of the latencies.
const PROBE_EVERY: Duration = Duration::from_millis(2);
/// How long one reload may take before it counts as failed.
const RELOAD_DEADLINE: Duration = Duration::from_secs(10);
/// How long the cold start of the big config may take.
const COLD_DEADLINE: Duration = Duration::from_secs(60);
/// Quiet time between two swaps, so that one swap's aftermath (the old payload directory being
/// deleted, a removed listener starting its drain) is not measured with the next.
const SETTLE: Duration = Duration::from_millis(50);
/// The reload latency we hold ourselves to: p50 of a reload with the default debounce.
const TARGET_P50_MS: f64 = 250.0;

fn main() -> ExitCode {
    bench_main("reload", run)
}

/// Knobs read from the environment.
struct Settings {
    /// Swaps per reload part (`BENCH_SWAPS`).
    swaps: usize,
    /// Listeners of the cold-start config (`BENCH_LISTENERS`).
    listeners: usize,
    /// Cold starts measured (`BENCH_COLD_RUNS`).
    cold_runs: usize,
    /// The l7mp binary (`BENCH_L7MP_BIN`, default: the one cargo built).
    bin: PathBuf,
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let s = Self {
            swaps: env_parse("BENCH_SWAPS", 100)?,
            listeners: env_parse("BENCH_LISTENERS", 1000)?,
            cold_runs: env_parse("BENCH_COLD_RUNS", 3)?,
            bin: env::var_os("BENCH_L7MP_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_l7mp"))),
        };
        if s.swaps == 0 || s.listeners == 0 || s.cold_runs == 0 {
            return Err(
                "BENCH_SWAPS, BENCH_LISTENERS and BENCH_COLD_RUNS must be at least 1".into(),
            );
        }
        Ok(s)
    }
}

fn run() -> Result<(), String> {
    let settings = Settings::from_env()?;
    raise_nofile_limit();
    let tmp = tempfile::Builder::new()
        .prefix("l7mp-bench-reload-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let a = Echo::start("A: ")?;
    let b = Echo::start("B: ")?;
    println!(
        "reload: {} swaps per part, default debounce, {} listeners for the cold start ({} runs), \
         binary {}",
        settings.swaps,
        settings.listeners,
        settings.cold_runs,
        settings.bin.display()
    );

    let added = added_listener(&settings, &tmp.path().join("added"), a.addr)?;
    let route = changed_route(&settings, &tmp.path().join("route"), a.addr, b.addr)?;
    let cold = cold_start(&settings, &tmp.path().join("cold"), a.addr)?;

    print_table(&added, &route, &cold, settings.listeners);
    let report = json!({
        "benchmark": "reload",
        "debounce_ms": "default",
        "swaps": settings.swaps,
        "probe_interval_ms": PROBE_EVERY.as_secs_f64() * 1e3,
        "target_p50_ms": TARGET_P50_MS,
        "added_listener": added.json(),
        "changed_route": route.json(),
        "cold_start": {
            "listeners": settings.listeners,
            "runs_ms": cold.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
            "median_ms": median_ms(&cold),
        },
    });
    let dir = target_dir();
    let written = fs::create_dir_all(&dir).and_then(|()| {
        let path = fs::canonicalize(&dir)?.join("bench-reload.json");
        fs::write(&path, format!("{report:#}\n")).map(|()| path)
    });
    match written {
        Ok(path) => println!("\nresults written to {}", path.display()),
        Err(e) => println!("\ncannot write bench-reload.json in {}: {e}", dir.display()),
    }
    a.stop();
    b.stop();
    Ok(())
}

// ---------------------------------------------------------------------------
// The three parts
// ---------------------------------------------------------------------------

/// Latencies of one reload part.
struct Latencies {
    samples: Vec<Duration>,
    failed: usize,
}

impl Latencies {
    fn sorted(&self) -> Vec<Duration> {
        let mut s = self.samples.clone();
        s.sort();
        s
    }

    /// Nearest-rank percentile, in ms.
    fn percentile(&self, q: f64) -> Option<f64> {
        let s = self.sorted();
        if s.is_empty() {
            return None;
        }
        let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
        Some(ms(s[rank - 1]))
    }

    fn json(&self) -> Value {
        let s = self.sorted();
        json!({
            "samples": s.len(),
            "failed": self.failed,
            "p50_ms": self.percentile(0.50),
            "p90_ms": self.percentile(0.90),
            "p99_ms": self.percentile(0.99),
            "min_ms": s.first().map(|d| ms(*d)),
            "max_ms": s.last().map(|d| ms(*d)),
            "all_ms": self.samples.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        })
    }
}

/// A listener `name` on `port` routed to the named cluster `to`.
fn listener_yaml(name: &str, port: u16, to: &str, options: &str) -> String {
    format!(
        "  - name: {name}\n    spec: {{protocol: UDP, port: {port}}}\n    \
         rules: [{{action: {{route: {{destination: {to}}}}}}}]\n{options}"
    )
}

/// The clusters `a` and `b` (the echo servers).
fn clusters_yaml(a: SocketAddr, b: SocketAddr) -> String {
    let one = |name: &str, at: SocketAddr| {
        format!(
            "  - name: {name}\n    spec: {{protocol: UDP, port: {}}}\n    \
             endpoints: [{{spec: {{address: {}}}}}]\n",
            at.port(),
            at.ip()
        )
    };
    format!("clusters:\n{}{}", one("a", a), one("b", b))
}

fn added_listener(settings: &Settings, dir: &Path, echo: SocketAddr) -> Result<Latencies, String> {
    let base_port = try_reserved_port()?;
    let config = |extra: Option<(usize, u16)>| {
        let mut text = String::from("listeners:\n");
        text.push_str(&listener_yaml("base", base_port, "a", ""));
        if let Some((i, port)) = extra {
            text.push_str(&listener_yaml(&format!("added{i}"), port, "a", ""));
        }
        text + &clusters_yaml(echo, echo)
    };
    let mut volume = Volume::new(dir, &config(None))?;
    let proxy = Proxy::start(&settings.bin, &volume.path(), dir)?;
    proxy.wait_answering(base_port, "A: ")?;
    let mut result = Latencies {
        samples: Vec::new(),
        failed: 0,
    };
    for i in 0..settings.swaps {
        let port = try_reserved_port()?;
        let renamed = volume.update(&config(Some((i, port))))?;
        match probe(port, "A: ", None, renamed + RELOAD_DEADLINE)? {
            Some(answered) => result.samples.push(answered - renamed),
            None => {
                result.failed += 1;
                proxy.check_alive()?;
            }
        }
        progress("added listener", i + 1, settings.swaps);
        thread::sleep(SETTLE);
    }
    println!();
    drop(proxy);
    Ok(result)
}

fn changed_route(
    settings: &Settings,
    dir: &Path,
    a: SocketAddr,
    b: SocketAddr,
) -> Result<Latencies, String> {
    let port = try_reserved_port()?;
    // Every probe is a session of its own: let them end soon.
    let options = "    options: {idle_timeout: 2, max_sessions: 1000000}\n";
    let config = |to: &str| {
        format!(
            "listeners:\n{}{}",
            listener_yaml("r", port, to, options),
            clusters_yaml(a, b)
        )
    };
    let mut volume = Volume::new(dir, &config("a"))?;
    let proxy = Proxy::start(&settings.bin, &volume.path(), dir)?;
    proxy.wait_answering(port, "A: ")?;
    let mut result = Latencies {
        samples: Vec::new(),
        failed: 0,
    };
    let mut used = Vec::new();
    for i in 0..settings.swaps {
        let (to, prefix) = if i.is_multiple_of(2) {
            ("b", "B: ")
        } else {
            ("a", "A: ")
        };
        let renamed = volume.update(&config(to))?;
        match probe(port, prefix, Some(&mut used), renamed + RELOAD_DEADLINE)? {
            Some(answered) => result.samples.push(answered - renamed),
            None => {
                result.failed += 1;
                proxy.check_alive()?;
            }
        }
        progress("changed route", i + 1, settings.swaps);
        thread::sleep(SETTLE);
    }
    println!();
    drop(proxy);
    Ok(result)
}

fn cold_start(settings: &Settings, dir: &Path, echo: SocketAddr) -> Result<Vec<Duration>, String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Ports below the ephemeral range (where other programs' client sockets do not land) that
    // are free now: hold them all at once so that they differ, then let them go.
    let low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let held: Vec<UdpSocket> = (low.saturating_sub(12_000)..low)
        .filter_map(|p| UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).ok())
        .take(settings.listeners)
        .collect();
    if held.len() < settings.listeners {
        return Err(format!("only {} free ports below {low}", held.len()));
    }
    let ports: Vec<u16> = held
        .iter()
        .map(|s| s.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read a socket's address: {e}"))?;
    drop(held);
    let mut text = String::from("listeners:\n");
    for (i, port) in ports.iter().enumerate() {
        text.push_str(&listener_yaml(&format!("l{i}"), *port, "a", ""));
    }
    text.push_str(&clusters_yaml(echo, echo));
    let path = dir.join("config.yaml");
    fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut runs = Vec::new();
    for run in 1..=settings.cold_runs {
        let started = Instant::now();
        let proxy = Proxy::start(&settings.bin, &path, dir)?;
        let Some(all) = all_answering(&ports, &proxy, started + COLD_DEADLINE)? else {
            return Err(format!(
                "cold start {run}: not all {} ports answered within {COLD_DEADLINE:?}",
                ports.len()
            ));
        };
        runs.push(all - started);
        println!(
            "  cold start {run}: all {} listeners answering after {:.1} ms",
            ports.len(),
            ms(all - started)
        );
        drop(proxy);
    }
    Ok(runs)
}

/// Probes `127.0.0.1:port` every [`PROBE_EVERY`] until an answer starts with `prefix`; returns
/// when it arrived, or `None` at `deadline`. With `fresh`, every probe comes from a new socket
/// (a new session), and the used sockets are kept open in it: a port used again would meet the
/// proxy's still-open session of an earlier probe, with the route of an earlier swap.
fn probe(
    port: u16,
    prefix: &str,
    mut fresh: Option<&mut Vec<UdpSocket>>,
    deadline: Instant,
) -> Result<Option<Instant>, String> {
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let connect = || -> Result<UdpSocket, String> {
        let s = bind_local()?;
        s.connect(to).map_err(|e| format!("cannot connect: {e}"))?;
        Ok(s)
    };
    let mut socket = connect()?;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        let next = Instant::now() + PROBE_EVERY;
        if let Some(used) = fresh.as_deref_mut() {
            used.push(std::mem::replace(&mut socket, connect()?));
        }
        let _ = socket.send(b"probe");
        // Read answers (to this probe or earlier ones) until the next probe is due.
        loop {
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            socket
                .set_read_timeout(Some(left))
                .map_err(|e| format!("cannot set a timeout: {e}"))?;
            match socket.recv(&mut buf) {
                Ok(n) if buf[..n].starts_with(prefix.as_bytes()) => {
                    return Ok(Some(Instant::now()));
                }
                Ok(_) => {}
                // Nothing listens there yet (ICMP port unreachable): wait for the next probe.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    thread::sleep(left);
                    break;
                }
                Err(_) => break,
            }
        }
    }
    Ok(None)
}

/// Probes every port until each has answered; returns when the last one did.
fn all_answering(
    ports: &[u16],
    proxy: &Proxy,
    deadline: Instant,
) -> Result<Option<Instant>, String> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .map_err(|e| format!("cannot open a socket: {e}"))?;
    // Room for every answer of a round.
    let _ = socket.set_recv_buffer_size(8 << 20);
    socket
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .map_err(|e| format!("cannot bind: {e}"))?;
    let socket: UdpSocket = socket.into();
    socket
        .set_read_timeout(Some(Duration::from_millis(5)))
        .map_err(|e| format!("cannot set a timeout: {e}"))?;
    let mut pending: BTreeSet<u16> = ports.iter().copied().collect();
    let mut buf = [0u8; 2048];
    let mut last = Instant::now();
    while !pending.is_empty() {
        if Instant::now() >= deadline {
            return Ok(None);
        }
        proxy.check_alive()?;
        let batch: Vec<u16> = pending.iter().copied().collect();
        for chunk in batch.chunks(200) {
            for port in chunk {
                let _ = socket.send_to(b"probe", (Ipv4Addr::LOCALHOST, *port));
            }
            // Collect answers until the socket is quiet for 5 ms.
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                if buf[..n].starts_with(b"A: ") && pending.remove(&from.port()) {
                    last = Instant::now();
                }
            }
        }
    }
    Ok(Some(last))
}

fn progress(what: &str, done: usize, total: usize) {
    if done.is_multiple_of(10) || done == total {
        print!("\r  {what}: {done}/{total} swaps");
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median_ms(runs: &[Duration]) -> Option<f64> {
    let mut s = runs.to_vec();
    s.sort();
    s.get(s.len() / 2).map(|d| ms(*d))
}

fn show(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

fn print_table(added: &Latencies, route: &Latencies, cold: &[Duration], listeners: usize) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<32} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "reload (rename -> first answer)",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "min ms",
        "max ms",
        "failed"
    );
    for (name, l) in [("added listener", added), ("changed route", route)] {
        let s = l.sorted();
        let _ = writeln!(
            out,
            "{:<32} {:>8} {:>8} {:>8} {:>8} {:>8} {:>3}/{}",
            name,
            show(l.percentile(0.50)),
            show(l.percentile(0.90)),
            show(l.percentile(0.99)),
            show(s.first().map(|d| ms(*d))),
            show(s.last().map(|d| ms(*d))),
            l.failed,
            l.samples.len() + l.failed
        );
    }
    let runs: Vec<String> = cold.iter().map(|d| format!("{:.1}", ms(*d))).collect();
    let _ = writeln!(
        out,
        "\ncold start, {listeners} UDP listeners (spawn -> all answering): median {} ms (runs: {} ms)",
        show(median_ms(cold)),
        runs.join(", ")
    );
    for (name, l) in [("added listener", added), ("changed route", route)] {
        if let Some(p50) = l.percentile(0.50) {
            let verdict = if p50 < TARGET_P50_MS {
                "meets"
            } else {
                "MISSES"
            };
            let _ = writeln!(
                out,
                "{name}: p50 {p50:.1} ms {verdict} the {TARGET_P50_MS} ms target"
            );
        }
    }
    print!("{out}");
}

// ---------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------

/// A ConfigMap volume written as the kubelet's AtomicWriter writes it.
struct Volume {
    dir: PathBuf,
    current: PathBuf,
    generation: u32,
}

impl Volume {
    fn new(dir: &Path, content: &str) -> Result<Self, String> {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut v = Self {
            dir: dir.to_path_buf(),
            current: PathBuf::new(),
            generation: 0,
        };
        let payload = v.write_payload(content)?;
        let io = |e: std::io::Error| format!("cannot set up the volume: {e}");
        symlink(payload.file_name().unwrap_or_default(), dir.join("..data")).map_err(io)?;
        symlink("..data/config.yaml", dir.join("config.yaml")).map_err(io)?;
        v.current = payload;
        Ok(v)
    }

    fn path(&self) -> PathBuf {
        self.dir.join("config.yaml")
    }

    /// Swaps in `content`; returns the moment of the atomic rename.
    fn update(&mut self, content: &str) -> Result<Instant, String> {
        let io = |e: std::io::Error| format!("cannot update the volume: {e}");
        let payload = self.write_payload(content)?;
        let tmp = self.dir.join("..data_tmp");
        symlink(payload.file_name().unwrap_or_default(), &tmp).map_err(io)?;
        let renamed = Instant::now();
        fs::rename(&tmp, self.dir.join("..data")).map_err(io)?;
        fs::remove_dir_all(&self.current).map_err(io)?;
        self.current = payload;
        Ok(renamed)
    }

    fn write_payload(&mut self, content: &str) -> Result<PathBuf, String> {
        self.generation += 1;
        let payload = self
            .dir
            .join(format!("..2026_11_30_00_00_00.{}", self.generation));
        let io = |e: std::io::Error| format!("cannot write {}: {e}", payload.display());
        fs::create_dir(&payload).map_err(io)?;
        fs::write(payload.join("config.yaml"), content).map_err(io)?;
        Ok(payload)
    }
}

/// An in-process UDP echo answering with a prefix.
struct Echo {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    fn start(prefix: &'static str) -> Result<Self, String> {
        let socket = bind_local()?;
        let addr = socket
            .local_addr()
            .map_err(|e| format!("echo: cannot read its address: {e}"))?;
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| format!("echo: cannot set a timeout: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut reply = prefix.as_bytes().to_vec();
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, peer)) = socket.recv_from(&mut buf) {
                    reply.truncate(prefix.len());
                    reply.extend_from_slice(&buf[..n]);
                    let _ = socket.send_to(&reply, peer);
                }
            }
        });
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The `l7mp` child, stopped (SIGTERM, then SIGKILL) when dropped. If the benchmark dies, the
/// kernel sends it SIGTERM (`PR_SET_PDEATHSIG`).
struct Proxy {
    child: ChildGuard,
}

impl Proxy {
    fn start(bin: &Path, config: &Path, dir: &Path) -> Result<Self, String> {
        let mut command = Command::new(bin);
        command.arg("--config").arg(config).args([
            "--log-level",
            "warn",
            "--bind-address",
            "127.0.0.1",
            "--metrics-address",
            "none",
        ]);
        let child = ChildGuard::spawn(&mut command, dir.join("l7mp.stderr"))?;
        Ok(Self { child })
    }

    /// An error with the end of the child's stderr if it has exited.
    fn check_alive(&self) -> Result<(), String> {
        match self.child.exit_status() {
            Some(status) => Err(format!(
                "l7mp {status}; its stderr ends with:\n{}",
                self.child.stderr_tail()
            )),
            None => Ok(()),
        }
    }

    /// Waits for the first config to serve.
    fn wait_answering(&self, port: u16, prefix: &str) -> Result<(), String> {
        match probe(port, prefix, None, Instant::now() + RELOAD_DEADLINE)? {
            Some(_) => Ok(()),
            None => {
                self.check_alive()?;
                Err(format!("l7mp does not answer on port {port}"))
            }
        }
    }
}
