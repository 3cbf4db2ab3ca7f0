//! A benchmark target and what it measured: the flows of each round, the proxy's CPU time
//! during them, and the memory its sessions cost.

use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use crate::flow::{Flow, FlowStats};
use crate::launch::{Launch, Launched};
use crate::procfs::{cpu_between, tree_rss_kb};
use crate::report::{LoadResult, MemoryResult, percentile_us};
use crate::support::{ChildGuard, bind_local};
use crate::{FLOWS, MEMORY_BATCH, MEMORY_TRIES, PAYLOAD, SETTLE, Settings};

/// A benchmark target: no proxy, or a proxy in a child process.
pub struct Target {
    pub name: &'static str,
    addr: Option<SocketAddr>,
    pub child: Option<ChildGuard>,
    /// Starts the proxy anew for each round, for a target that must not run beside the others
    /// (the offload program sees all of `lo`'s traffic while attached).
    relaunch: Option<Launch>,
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
            relaunch: None,
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

    pub fn direct(echo: SocketAddr) -> Self {
        let mut target = Self::new("direct", Some(echo), None);
        target.detail = "client -> echo server, no proxy".into();
        target
    }

    /// A proxy that runs for the whole benchmark, or the reason it could not start.
    pub fn proxy(name: &'static str, launched: Result<Launched, String>) -> Self {
        match launched {
            Ok(launched) => {
                let mut target = Self::new(name, Some(launched.addr), Some(launched.child));
                target.detail = launched.detail;
                target
            }
            Err(reason) => Self::skipped(name, reason),
        }
    }

    /// A proxy started by `launch` for each round and stopped after it. It is started once
    /// here, to find out whether it can run at all.
    pub fn per_round(name: &'static str, launch: Launch) -> Self {
        match launch() {
            Ok(launched) => {
                let mut target = Self::new(name, None, None);
                target.detail = launched.detail;
                target.relaunch = Some(launch);
                target
            }
            Err(reason) => Self::skipped(name, reason),
        }
    }

    fn skipped(name: &'static str, reason: String) -> Self {
        println!("{name}: skipped: {reason}");
        let mut target = Self::new(name, None, None);
        target.failure = Some(reason);
        target
    }

    /// Runs one round, starting and stopping the proxy around it if it runs per round.
    pub fn run_round(&mut self, round: u32, settings: &Settings, measure: Duration) {
        if self.failure.is_some() {
            return;
        }
        let Some(launch) = &self.relaunch else {
            return self.run_measured_round(round, settings, measure);
        };
        match launch() {
            Ok(launched) => {
                self.addr = Some(launched.addr);
                self.child = Some(launched.child);
                self.run_measured_round(round, settings, measure);
                self.stop();
            }
            Err(message) => {
                println!("{}: dropped out: {message}", self.name);
                self.failure = Some(message);
            }
        }
    }

    /// Runs one warm-up plus measured round with all flows.
    fn run_measured_round(&mut self, round: u32, settings: &Settings, measure: Duration) {
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
            "  round {round} {:<8} {:>10.0} round trips/s",
            self.name, rate
        );
    }

    pub fn load_result(&self) -> LoadResult {
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
            cpu_us_per_round_trip: ((self.child.is_some() || self.relaunch.is_some())
                && !sorted.is_empty())
            .then(|| self.cpu.as_secs_f64() * 1e6 / sorted.len() as f64),
        }
    }

    /// Opens `settings.sessions` sessions through this target's proxy and
    /// reads the proxy's resident memory before and after.
    pub fn measure_memory(&mut self, settings: &Settings) -> MemoryResult {
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
    pub fn stop(&mut self) {
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
