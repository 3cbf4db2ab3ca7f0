//! UDP → UDP forwarding benchmark: l7mp side by side with nginx and with no proxy.
//!
//! Run with `cargo bench -p l7mp --bench udp_forward`; `proxy/benches/README.md`
//! explains what is measured and how to read the output.
//!
//! The run has two parts:
//!
//! 1. **Throughput and latency.** 16 closed-loop flows (one client socket and
//!    one source port each) send a 100-byte datagram, wait for its echo and
//!    repeat. The same load runs against three targets: the in-process echo
//!    server directly, nginx's stream module and l7mp, each forwarding to that
//!    echo server. The measured time of each target is split into rounds and
//!    the rounds are interleaved (direct, nginx, l7mp, direct, …) so that drift
//!    of the machine hits all targets alike.
//! 2. **Memory.** 10,000 client sockets each send one datagram through the
//!    proxy and get its echo, and all stay open. The resident memory (VmRSS)
//!    of the proxy's process tree is read before and after, giving bytes per
//!    session. Done for nginx and for l7mp.
//!
//! Results are printed as tables and written as JSON to
//! `<target dir>/bench-udp-forward.json`.

mod support;

use support::{
    ChildGuard, bench_main, bind_local, env_parse, free_port, raise_nofile_limit, tail_of,
    target_dir,
};

use std::env;
use std::fs;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Size of every datagram the load generator sends.
const PAYLOAD: usize = 100;
/// Number of concurrent closed-loop flows.
const FLOWS: usize = 16;
/// How long a child process may take to answer its first datagram.
const READY_DEADLINE: Duration = Duration::from_secs(15);
/// How many sessions the memory part opens before waiting for their echoes.
const MEMORY_BATCH: usize = 64;
/// How often the memory part sends a datagram that was not echoed.
const MEMORY_TRIES: usize = 3;
/// Pause before reading VmRSS, so that the proxy is done with its allocations.
const SETTLE: Duration = Duration::from_millis(500);
/// Where Debian's libnginx-mod-stream installs the stream module.
const NGINX_STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

fn main() -> ExitCode {
    bench_main("udp_forward", run)
}

/// Knobs read from the environment.
#[derive(Debug, Clone)]
struct Settings {
    /// Measured time per target, summed over all rounds (`BENCH_SECS`).
    secs: f64,
    /// Number of interleaved rounds (`BENCH_ROUNDS`).
    rounds: u32,
    /// Warm-up before every measured round (`BENCH_WARMUP_MS`).
    warmup: Duration,
    /// Receive timeout per datagram; a datagram not echoed by then is a loss
    /// (`BENCH_TIMEOUT_MS`).
    timeout: Duration,
    /// Sessions opened by the memory part; 0 skips it (`BENCH_SESSIONS`).
    sessions: usize,
    /// The l7mp binary (`BENCH_L7MP_BIN`, default: the one cargo built).
    l7mp_bin: PathBuf,
    /// Worker processes of nginx and worker threads of l7mp, the same for both
    /// (`BENCH_WORKERS`, default 2: one per core of the project's machine).
    workers: usize,
    /// New client sockets every round (`BENCH_FRESH_FLOWS`, default 1). The kernel spreads
    /// flows over a proxy's workers by a hash of their addresses, so one set of 16 source
    /// ports may load one worker with 11 flows and the other with 5; fresh ports each round
    /// average that luck out instead of handing it to one target for the whole run.
    fresh_flows: bool,
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let secs: f64 = env_parse("BENCH_SECS", 8.0)?;
        if !(secs.is_finite() && secs > 0.0) {
            return Err(format!("BENCH_SECS must be a positive number, got {secs}"));
        }
        let rounds: u32 = env_parse("BENCH_ROUNDS", 16)?;
        if rounds == 0 {
            return Err("BENCH_ROUNDS must be at least 1".into());
        }
        let workers: usize = env_parse("BENCH_WORKERS", 2)?;
        if workers == 0 {
            return Err("BENCH_WORKERS must be at least 1".into());
        }
        let timeout_ms: u64 = env_parse("BENCH_TIMEOUT_MS", 200)?;
        if timeout_ms == 0 {
            return Err("BENCH_TIMEOUT_MS must be at least 1".into());
        }
        Ok(Self {
            secs,
            rounds,
            warmup: Duration::from_millis(env_parse("BENCH_WARMUP_MS", 500)?),
            timeout: Duration::from_millis(timeout_ms),
            sessions: env_parse("BENCH_SESSIONS", 10_000)?,
            l7mp_bin: env::var_os("BENCH_L7MP_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_l7mp"))),
            workers,
            fresh_flows: env_parse::<u8>("BENCH_FRESH_FLOWS", 1)? != 0,
        })
    }

    /// Measured time of one round of one target.
    fn round_time(&self) -> Duration {
        Duration::from_secs_f64(self.secs / f64::from(self.rounds))
    }
}

fn run() -> Result<(), String> {
    let settings = Settings::from_env()?;
    let nofile = raise_nofile_limit();
    let tmp = tempfile::Builder::new()
        .prefix("l7mp-bench-udp-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir: {e}"))?;

    let echo = EchoServer::start(2)?;
    println!(
        "udp_forward: {FLOWS} flows x {PAYLOAD}-byte datagrams, {} s measured per target in {} rounds \
         (warm-up {} ms each, {} client sockets each round), receive timeout {} ms, echo server on {}",
        settings.secs,
        settings.rounds,
        settings.warmup.as_millis(),
        if settings.fresh_flows {
            "new"
        } else {
            "the same"
        },
        settings.timeout.as_millis(),
        echo.addr,
    );

    let mut targets = vec![Target::direct(echo.addr)];
    match start_nginx(tmp.path(), echo.addr, settings.workers) {
        Ok(target) => targets.push(target),
        Err(message) => {
            println!("nginx: skipped: {message}");
            targets.push(Target::skipped("nginx", message));
        }
    }
    match start_l7mp(tmp.path(), echo.addr, &settings.l7mp_bin, settings.workers) {
        Ok(target) => targets.push(target),
        Err(message) => {
            println!("l7mp: skipped: {message}");
            targets.push(Target::skipped("l7mp", message));
        }
    }

    // Throughput and latency, interleaved round by round.
    let round_time = settings.round_time();
    for round in 1..=settings.rounds {
        for target in targets.iter_mut() {
            target.run_round(round, &settings, round_time);
        }
    }
    let results: Vec<LoadResult> = targets.iter().map(Target::load_result).collect();
    print_load_table(&results);

    // Memory: one proxy at a time, each stopped afterwards, so that the
    // sessions of one do not eat the ephemeral ports the next one needs.
    let mut memory = Vec::new();
    if settings.sessions == 0 {
        println!("\nmemory: skipped (BENCH_SESSIONS=0)");
    } else if (nofile as usize) < settings.sessions + 256 {
        println!(
            "\nmemory: skipped: {} sessions need as many sockets, but the open-file limit is {nofile}",
            settings.sessions
        );
    } else {
        for target in targets.iter_mut().filter(|t| t.child.is_some()) {
            memory.push(target.measure_memory(&settings));
            target.stop();
        }
        print_memory_table(&memory, settings.sessions);
    }

    let report = json_report(&settings, &results, &memory, echo.addr);
    let dir = target_dir();
    let written = fs::create_dir_all(&dir).and_then(|()| {
        let path = fs::canonicalize(&dir)?.join("bench-udp-forward.json");
        fs::write(&path, format!("{report:#}\n")).map(|()| path)
    });
    match written {
        Ok(path) => println!("\nresults written to {}", path.display()),
        Err(e) => println!(
            "\ncannot write bench-udp-forward.json in {}: {e}",
            dir.display()
        ),
    }
    drop(targets);
    echo.stop();
    Ok(())
}

// ---------------------------------------------------------------------------
// Echo server
// ---------------------------------------------------------------------------

/// UDP echo server: a few threads doing `recv_from`/`send_to` on one socket.
struct EchoServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl EchoServer {
    fn start(threads: usize) -> Result<Self, String> {
        let socket = bind_local()?;
        let addr = socket
            .local_addr()
            .map_err(|e| format!("echo server: cannot read its address: {e}"))?;
        // The timeout only serves to notice the stop flag.
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| format!("echo server: cannot set a timeout: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::with_capacity(threads);
        for _ in 0..threads {
            let socket = socket
                .try_clone()
                .map_err(|e| format!("echo server: cannot clone its socket: {e}"))?;
            let stop = Arc::clone(&stop);
            handles.push(thread::spawn(move || echo_loop(&socket, &stop)));
        }
        Ok(Self {
            addr,
            stop,
            threads: handles,
        })
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn echo_loop(socket: &UdpSocket, stop: &AtomicBool) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((len, peer)) => {
                let _ = socket.send_to(&buf[..len], peer);
            }
            Err(_) => continue,
        }
    }
}

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

/// Sends probe datagrams to `addr` until one is echoed back from `addr`, the
/// child exits, or [`READY_DEADLINE`] passes.
fn wait_ready(name: &str, addr: SocketAddr, child: &ChildGuard) -> Result<(), String> {
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
fn start_nginx(dir: &Path, echo: SocketAddr, workers: usize) -> Result<Target, String> {
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
    let port = free_port()?;
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
    Ok(Target::proxy("nginx", addr, child, version))
}

/// Starts l7mp with a UDP listener routed to a UDP cluster holding the echo
/// server, and waits until it answers.
fn start_l7mp(dir: &Path, echo: SocketAddr, bin: &Path, workers: usize) -> Result<Target, String> {
    if !bin.is_file() {
        return Err(format!("{} does not exist", bin.display()));
    }
    let port = free_port()?;
    let dir = dir.join("l7mp");
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
    let child = ChildGuard::spawn(
        Command::new(bin)
            .arg("--config")
            .arg(&config_path)
            .args(["--log-level", "warn", "--admin-address", "none"])
            .args(["--metrics-address", "none"])
            .arg("--workers")
            .arg(workers.to_string()),
        dir.join("stderr.log"),
    )?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    wait_ready("l7mp", addr, &child)?;
    println!(
        "l7mp: {} listening on {addr}, pid {}",
        bin.display(),
        child.pid()
    );
    Ok(Target::proxy(
        "l7mp",
        addr,
        child,
        bin.display().to_string(),
    ))
}

// ---------------------------------------------------------------------------
// Load generator
// ---------------------------------------------------------------------------

/// One closed-loop flow: a connected client socket and its sequence number.
struct Flow {
    socket: UdpSocket,
    seq: u64,
    id: u16,
}

/// What one flow saw during one measured round.
#[derive(Default)]
struct FlowStats {
    /// Round-trip times in nanoseconds of the echoes counted.
    latencies: Vec<u32>,
    /// Datagrams sent in the measured window whose echo did not come in time.
    losses: u64,
    /// Send or receive errors other than a timeout (counted as losses too).
    errors: u64,
}

impl Flow {
    fn open(id: u16, target: SocketAddr, timeout: Duration) -> Result<Self, String> {
        let socket = bind_local()?;
        socket
            .connect(target)
            .and_then(|()| socket.set_read_timeout(Some(timeout)))
            .map_err(|e| format!("cannot set up a client socket for {target}: {e}"))?;
        Ok(Self { socket, seq: 0, id })
    }

    /// Runs the closed loop until `end`; counts what starts after `measure_from`.
    fn run(&mut self, measure_from: Instant, end: Instant, timeout: Duration) -> FlowStats {
        let mut stats = FlowStats::default();
        let mut out = [0u8; PAYLOAD];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = i as u8;
        }
        out[..2].copy_from_slice(&self.id.to_be_bytes());
        let mut buf = [0u8; 2048];
        loop {
            let sent = Instant::now();
            if sent >= end {
                break;
            }
            let measured = sent >= measure_from;
            self.seq += 1;
            let seq = self.seq.to_be_bytes();
            out[2..10].copy_from_slice(&seq);
            if self.socket.send(&out).is_err() {
                if measured {
                    stats.errors += 1;
                    stats.losses += 1;
                }
                thread::sleep(Duration::from_millis(1));
                continue;
            }
            // Wait for the echo of this datagram, skipping late echoes of
            // earlier ones that timed out.
            let outcome = loop {
                match self.socket.recv(&mut buf) {
                    Ok(len) if len == PAYLOAD && buf[2..10] == seq => break Ok(Instant::now()),
                    Ok(_) if sent.elapsed() < timeout => continue,
                    Ok(_) => break Err(false),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break Err(false);
                    }
                    Err(_) => break Err(true),
                }
            };
            match outcome {
                Ok(received) => {
                    if measured && received <= end {
                        let nanos = received.duration_since(sent).as_nanos();
                        stats
                            .latencies
                            .push(u32::try_from(nanos).unwrap_or(u32::MAX));
                    }
                }
                Err(error) => {
                    if measured {
                        stats.losses += 1;
                        stats.errors += u64::from(error);
                    }
                    if error {
                        // ICMP port unreachable and the like: do not spin.
                        thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        }
        stats
    }
}

/// A benchmark target: direct, nginx or l7mp.
struct Target {
    name: &'static str,
    addr: Option<SocketAddr>,
    child: Option<ChildGuard>,
    /// Version or binary path, for the report.
    detail: String,
    /// Why the target was skipped or dropped out, if it was.
    failure: Option<String>,
    flows: Vec<Flow>,
    latencies: Vec<u32>,
    round_rates: Vec<f64>,
    measured: Duration,
    /// CPU time the proxy's processes spent during the measured part of the rounds.
    cpu: Duration,
    losses: u64,
    errors: u64,
}

impl Target {
    fn new(name: &'static str, addr: Option<SocketAddr>, child: Option<ChildGuard>) -> Self {
        Self {
            name,
            addr,
            child,
            detail: String::new(),
            failure: None,
            flows: Vec::new(),
            latencies: Vec::new(),
            round_rates: Vec::new(),
            measured: Duration::ZERO,
            cpu: Duration::ZERO,
            losses: 0,
            errors: 0,
        }
    }

    fn direct(echo: SocketAddr) -> Self {
        let mut target = Self::new("direct", Some(echo), None);
        target.detail = "client -> echo server, no proxy".into();
        target
    }

    fn proxy(name: &'static str, addr: SocketAddr, child: ChildGuard, detail: String) -> Self {
        let mut target = Self::new(name, Some(addr), Some(child));
        target.detail = detail;
        target
    }

    fn skipped(name: &'static str, reason: String) -> Self {
        let mut target = Self::new(name, None, None);
        target.failure = Some(reason);
        target
    }

    /// Runs one warm-up plus measured round with all flows.
    fn run_round(&mut self, round: u32, settings: &Settings, measure: Duration) {
        if self.failure.is_some() {
            return;
        }
        let Some(addr) = self.addr else { return };
        if let Some(status) = self.child.as_ref().and_then(ChildGuard::exit_status) {
            let stderr = self.child.as_ref().map(ChildGuard::stderr_tail);
            let message = format!(
                "{status} during the run\n  its stderr:\n{}",
                stderr.unwrap_or_default()
            );
            println!("{}: dropped out: {message}", self.name);
            self.failure = Some(message);
            return;
        }
        if settings.fresh_flows {
            self.flows.clear();
        }
        if self.flows.is_empty() {
            let opened: Result<Vec<Flow>, String> = (0..FLOWS)
                .map(|id| Flow::open(id as u16, addr, settings.timeout))
                .collect();
            match opened {
                Ok(flows) => self.flows = flows,
                Err(message) => {
                    println!("{}: dropped out: {message}", self.name);
                    self.failure = Some(message);
                    return;
                }
            }
        }
        let start = Instant::now();
        let measure_from = start + settings.warmup;
        let end = measure_from + measure;
        let timeout = settings.timeout;
        let proxy = self.child.as_ref().map(ChildGuard::pid);
        let (stats, cpu): (Vec<FlowStats>, Duration) = thread::scope(|scope| {
            let handles: Vec<_> = self
                .flows
                .iter_mut()
                .map(|flow| scope.spawn(move || flow.run(measure_from, end, timeout)))
                .collect();
            let cpu = proxy.map_or(Duration::ZERO, |pid| cpu_between(pid, measure_from, end));
            let stats = handles
                .into_iter()
                .map(|handle| handle.join().unwrap_or_default())
                .collect();
            (stats, cpu)
        });
        self.cpu += cpu;
        let mut count = 0usize;
        for flow in stats {
            count += flow.latencies.len();
            self.latencies.extend(flow.latencies);
            self.losses += flow.losses;
            self.errors += flow.errors;
        }
        let rate = count as f64 / measure.as_secs_f64();
        self.round_rates.push(rate);
        self.measured += measure;
        println!(
            "  round {round} {:<7} {:>10.0} round trips/s",
            self.name, rate
        );
    }

    fn load_result(&self) -> LoadResult {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let ran = !self.round_rates.is_empty();
        LoadResult {
            name: self.name,
            detail: self.detail.clone(),
            failure: self.failure.clone(),
            round_trips: sorted.len() as u64,
            rate: (ran && self.measured > Duration::ZERO)
                .then(|| sorted.len() as f64 / self.measured.as_secs_f64()),
            p50_us: percentile_us(&sorted, 0.50),
            p99_us: percentile_us(&sorted, 0.99),
            p999_us: percentile_us(&sorted, 0.999),
            max_us: sorted.last().map(|&ns| f64::from(ns) / 1000.0),
            losses: self.losses,
            errors: self.errors,
            round_rates: self.round_rates.clone(),
            measured_secs: self.measured.as_secs_f64(),
            cpu_us_per_round_trip: (self.child.is_some() && !sorted.is_empty())
                .then(|| self.cpu.as_secs_f64() * 1e6 / sorted.len() as f64),
        }
    }

    /// Opens `settings.sessions` sessions through this target's proxy and
    /// reads the proxy's resident memory before and after.
    fn measure_memory(&mut self, settings: &Settings) -> MemoryResult {
        let mut result = MemoryResult {
            name: self.name,
            ..MemoryResult::default()
        };
        let (Some(addr), Some(child)) = (self.addr, self.child.as_ref()) else {
            result.failure = Some("not running".into());
            return result;
        };
        if let Some(status) = child.exit_status() {
            result.failure = Some(format!("{status} before the memory part"));
            return result;
        }
        let root = child.pid();
        thread::sleep(SETTLE);
        let before = tree_rss_kb(root);
        result.processes = before.len();
        result.rss_before_kb = before.iter().map(|(_, kb)| kb).sum();
        let started = Instant::now();
        match open_sessions(addr, settings.sessions, settings.timeout) {
            Ok((sockets, answered)) => {
                result.sessions = answered;
                result.setup_secs = started.elapsed().as_secs_f64();
                thread::sleep(SETTLE);
                let after = tree_rss_kb(root);
                result.rss_after_kb = after.iter().map(|(_, kb)| kb).sum();
                if let Some(status) = child.exit_status() {
                    result.failure = Some(format!("{status} while sessions were opened"));
                } else if answered < settings.sessions {
                    result.failure = Some(format!(
                        "only {answered} of {} sessions were echoed",
                        settings.sessions
                    ));
                }
                drop(sockets);
            }
            Err(message) => result.failure = Some(message),
        }
        if let Some(message) = &result.failure {
            println!("{} memory: {message}", self.name);
        }
        result
    }

    /// Stops the child process, if any.
    fn stop(&mut self) {
        self.child = None;
        self.flows.clear();
    }
}

/// Opens `count` client sockets, each sending one datagram to `addr` and
/// waiting for its echo, in batches. Returns the sockets (still open) and how
/// many got their echo.
fn open_sessions(
    addr: SocketAddr,
    count: usize,
    timeout: Duration,
) -> Result<(Vec<UdpSocket>, usize), String> {
    let mut sockets = Vec::with_capacity(count);
    let mut answered = 0;
    let mut buf = [0u8; 2048];
    let mut payload = [0xA5u8; PAYLOAD];
    while sockets.len() < count {
        let first = sockets.len();
        let batch = MEMORY_BATCH.min(count - first);
        for index in first..first + batch {
            let socket = bind_local()?;
            socket
                .connect(addr)
                .and_then(|()| socket.set_read_timeout(Some(timeout)))
                .map_err(|e| format!("cannot set up session socket {index}: {e}"))?;
            sockets.push(socket);
        }
        let mut pending: Vec<usize> = (first..first + batch).collect();
        for _ in 0..MEMORY_TRIES {
            if pending.is_empty() {
                break;
            }
            for &index in &pending {
                payload[..8].copy_from_slice(&(index as u64).to_be_bytes());
                let _ = sockets[index].send(&payload);
            }
            pending.retain(|&index| match sockets[index].recv(&mut buf) {
                Ok(len) => len != PAYLOAD || buf[..8] != (index as u64).to_be_bytes(),
                Err(_) => true,
            });
        }
        answered += batch - pending.len();
        if pending.len() == batch {
            return Err(format!(
                "{addr} stopped answering after {answered} sessions ({} sockets open)",
                sockets.len()
            ));
        }
    }
    Ok((sockets, answered))
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

/// VmRSS in KiB of `root` and all its descendants, as (pid, KiB) pairs.
fn tree_rss_kb(root: u32) -> Vec<(u32, u64)> {
    process_tree(root)
        .into_iter()
        .filter_map(|pid| vm_rss_kb(pid).map(|kb| (pid, kb)))
        .collect()
}

/// CPU time that `root` and its descendants spend between `from` and `to` (both in the
/// future or now), from the per-thread scheduler statistics.
fn cpu_between(root: u32, from: Instant, to: Instant) -> Duration {
    thread::sleep(from.saturating_duration_since(Instant::now()));
    let before = tree_cpu_ns(root);
    thread::sleep(to.saturating_duration_since(Instant::now()));
    Duration::from_nanos(tree_cpu_ns(root).saturating_sub(before))
}

/// Nanoseconds on CPU of every thread of `root` and its descendants
/// (`/proc/PID/task/TID/schedstat`, first field).
fn tree_cpu_ns(root: u32) -> u64 {
    process_tree(root)
        .iter()
        .filter_map(|pid| fs::read_dir(format!("/proc/{pid}/task")).ok())
        .flatten()
        .filter_map(|task| {
            let stat = fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

/// `root` and every process under it.
fn process_tree(root: u32) -> Vec<u32> {
    let mut pids = vec![root];
    let parents = parent_map();
    let mut i = 0;
    while i < pids.len() {
        let parent = pids[i];
        pids.extend(
            parents
                .iter()
                .filter(|&&(_, ppid)| ppid == parent)
                .map(|&(pid, _)| pid),
        );
        i += 1;
    }
    pids
}

/// (pid, parent pid) of every process in /proc.
fn parent_map() -> Vec<(u32, u32)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may hold spaces and parentheses; the fields
            // after its closing parenthesis are "state ppid ...".
            let rest = &stat[stat.rfind(')')? + 1..];
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}

/// VmRSS of one process in KiB, from /proc/PID/status.
fn vm_rss_kb(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

/// Throughput and latency of one target over all rounds.
struct LoadResult {
    name: &'static str,
    detail: String,
    failure: Option<String>,
    round_trips: u64,
    rate: Option<f64>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    p999_us: Option<f64>,
    max_us: Option<f64>,
    losses: u64,
    errors: u64,
    round_rates: Vec<f64>,
    measured_secs: f64,
    /// Proxy CPU time per round trip: what forwarding costs, whatever else the machine does.
    cpu_us_per_round_trip: Option<f64>,
}

/// Resident memory of one proxy before and after opening the sessions.
#[derive(Default)]
struct MemoryResult {
    name: &'static str,
    failure: Option<String>,
    processes: usize,
    rss_before_kb: u64,
    rss_after_kb: u64,
    sessions: usize,
    setup_secs: f64,
}

impl MemoryResult {
    fn bytes_per_session(&self) -> Option<f64> {
        (self.sessions > 0).then(|| {
            (self.rss_after_kb as f64 - self.rss_before_kb as f64) * 1024.0 / self.sessions as f64
        })
    }
}

/// The `q` quantile of sorted nanoseconds, in microseconds (nearest rank).
fn percentile_us(sorted: &[u32], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    Some(f64::from(sorted[index]) / 1000.0)
}

/// `a / b` when both are known and `b` is not zero.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

fn show(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "n/a".into(), |v| format!("{v:.decimals$}"))
}

fn print_load_table(results: &[LoadResult]) {
    println!(
        "\n{:<8} {:>14} {:>10} {:>10} {:>8} {:>16}",
        "target", "round trips/s", "p50 µs", "p99 µs", "losses", "proxy CPU µs/rt"
    );
    for r in results {
        if r.rate.is_none() {
            let why = r.failure.as_deref().unwrap_or("no data");
            let first = why.lines().next().unwrap_or(why);
            println!("{:<8} skipped: {first}", r.name);
            continue;
        }
        println!(
            "{:<8} {:>14} {:>10} {:>10} {:>8} {:>16}",
            r.name,
            show(r.rate, 0),
            show(r.p50_us, 1),
            show(r.p99_us, 1),
            r.losses,
            show(r.cpu_us_per_round_trip, 2),
        );
    }
    let find = |name: &str| results.iter().find(|r| r.name == name);
    if let Some(l7mp) = find("l7mp") {
        for base in ["nginx", "direct"] {
            let Some(other) = find(base) else { continue };
            let throughput = ratio(l7mp.rate, other.rate);
            if throughput.is_none() {
                println!("l7mp/{base:<6} n/a (no numbers for both)");
                continue;
            }
            let cpu = ratio(l7mp.cpu_us_per_round_trip, other.cpu_us_per_round_trip);
            println!(
                "l7mp/{base:<6} throughput x{}, p50 x{}, p99 x{}{}",
                show(throughput, 2),
                show(ratio(l7mp.p50_us, other.p50_us), 2),
                show(ratio(l7mp.p99_us, other.p99_us), 2),
                cpu.map_or(String::new(), |c| format!(", CPU per round trip x{c:.2}")),
            );
        }
    }
}

fn print_memory_table(results: &[MemoryResult], wanted: usize) {
    println!(
        "\n{:<8} {:>9} {:>14} {:>13} {:>9} {:>17}",
        "proxy", "processes", "RSS before KiB", "RSS after KiB", "sessions", "bytes per session"
    );
    for r in results {
        println!(
            "{:<8} {:>9} {:>14} {:>13} {:>9} {:>17}",
            r.name,
            r.processes,
            r.rss_before_kb,
            r.rss_after_kb,
            format!("{}/{wanted}", r.sessions),
            show(r.bytes_per_session(), 0),
        );
    }
    if results.is_empty() {
        println!("(no proxy was running)");
    }
}

fn json_report(
    settings: &Settings,
    load: &[LoadResult],
    memory: &[MemoryResult],
    echo: SocketAddr,
) -> Value {
    let find = |name: &str| load.iter().find(|r| r.name == name);
    let ratios = |base: &str| -> Value {
        match (find("l7mp"), find(base)) {
            (Some(a), Some(b)) => json!({
                "throughput": ratio(a.rate, b.rate),
                "p50": ratio(a.p50_us, b.p50_us),
                "p99": ratio(a.p99_us, b.p99_us),
                "cpu_per_round_trip": ratio(a.cpu_us_per_round_trip, b.cpu_us_per_round_trip),
            }),
            _ => Value::Null,
        }
    };
    json!({
        "benchmark": "udp_forward",
        "settings": {
            "flows": FLOWS,
            "payload_bytes": PAYLOAD,
            "measured_secs_per_target": settings.secs,
            "rounds": settings.rounds,
            "warmup_ms": settings.warmup.as_millis() as u64,
            "fresh_flows": settings.fresh_flows,
            "timeout_ms": settings.timeout.as_millis() as u64,
            "sessions": settings.sessions,
            "workers": settings.workers,
            "echo_server": echo.to_string(),
            "cpus": thread::available_parallelism().map(usize::from).ok(),
        },
        "throughput": load.iter().map(|r| json!({
            "target": r.name,
            "detail": r.detail,
            "skipped": r.failure,
            "round_trips": r.round_trips,
            "measured_secs": r.measured_secs,
            "round_trips_per_sec": r.rate,
            "round_trips_per_sec_by_round": r.round_rates,
            "p50_us": r.p50_us,
            "p99_us": r.p99_us,
            "p999_us": r.p999_us,
            "max_us": r.max_us,
            "losses": r.losses,
            "errors": r.errors,
            "proxy_cpu_us_per_round_trip": r.cpu_us_per_round_trip,
        })).collect::<Vec<_>>(),
        "ratios": {
            "l7mp_vs_nginx": ratios("nginx"),
            "l7mp_vs_direct": ratios("direct"),
        },
        "memory": memory.iter().map(|r| json!({
            "target": r.name,
            "failure": r.failure,
            "processes": r.processes,
            "rss_before_kib": r.rss_before_kb,
            "rss_after_kib": r.rss_after_kb,
            "sessions": r.sessions,
            "setup_secs": r.setup_secs,
            "bytes_per_session": r.bytes_per_session(),
        })).collect::<Vec<_>>(),
    })
}
