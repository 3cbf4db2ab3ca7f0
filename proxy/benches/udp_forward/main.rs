//! UDP → UDP forwarding benchmark: l7mp, in user space and with kernel offload, side by side
//! with nginx, with a minimal relay (the user-space floor) and with no proxy.
//!
//! Run with `cargo bench -p l7mp --bench udp_forward`; `proxy/benches/README.md`
//! explains what is measured and how to read the output.
//!
//! The run has two parts:
//!
//! 1. **Throughput and latency.** 16 closed-loop flows (one client socket and one source port
//!    each) send a 100-byte datagram, wait for its echo and repeat. The same load runs against
//!    each target: the in-process echo server directly, the floor relay, nginx's stream module,
//!    l7mp, and l7mp with `--offload=on`, each forwarding to that echo server. The measured time
//!    of each target is split into rounds and the rounds are interleaved (direct, floor, nginx,
//!    l7mp, l7mp-bpf, direct, …) so that drift of the machine hits all targets alike. The
//!    offload proxy is started for each of its rounds and stopped after, because its program
//!    sees all of `lo`'s traffic while attached.
//! 2. **Memory.** 10,000 client sockets each send one datagram through the proxy and get its
//!    echo, and all stay open. The resident memory (VmRSS) of the proxy's process tree is read
//!    before and after, giving bytes per session. Done for each proxy that runs throughout.
//!
//! Results are printed as tables, ratios and goals, and written as JSON to
//! `<target dir>/bench-udp-forward.json`.

#[path = "../support/mod.rs"]
mod support;

mod echo;
mod floor;
mod flow;
mod launch;
mod procfs;
mod report;
mod target;

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use echo::EchoServer;
use launch::{Forwarding, start_floor, start_l7mp, start_nginx};
use report::{LoadResult, json_report, print_load_table, print_memory_table};
use support::{bench_main, env_parse, raise_nofile_limit, target_dir};
use target::Target;

/// Size of every datagram the load generator sends.
const PAYLOAD: usize = 100;
/// Number of concurrent closed-loop flows.
const FLOWS: usize = 16;
/// How many sessions the memory part opens before waiting for their echoes.
const MEMORY_BATCH: usize = 64;
/// How often the memory part sends a datagram that was not echoed.
const MEMORY_TRIES: usize = 3;
/// Pause before reading VmRSS, so that the proxy is done with its allocations.
const SETTLE: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    let args: Vec<String> = env::args().collect();
    if let [_, command, listen, upstream] = args.as_slice()
        && command == floor::COMMAND
    {
        return match floor::serve(listen, upstream) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("{message}");
                ExitCode::FAILURE
            }
        };
    }
    bench_main("udp_forward", run)
}

/// Knobs read from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Measured time per target, summed over all rounds (`BENCH_SECS`).
    pub secs: f64,
    /// Number of interleaved rounds (`BENCH_ROUNDS`).
    pub rounds: u32,
    /// Warm-up before every measured round (`BENCH_WARMUP_MS`).
    pub warmup: Duration,
    /// Receive timeout per datagram; a datagram not echoed by then is a loss
    /// (`BENCH_TIMEOUT_MS`).
    pub timeout: Duration,
    /// Sessions opened by the memory part; 0 skips it (`BENCH_SESSIONS`).
    pub sessions: usize,
    /// The l7mp binary (`BENCH_L7MP_BIN`, default: the one cargo built).
    pub l7mp_bin: PathBuf,
    /// Worker processes of nginx and worker threads of l7mp, the same for both
    /// (`BENCH_WORKERS`, default 2: one per core of the project's machine).
    pub workers: usize,
    /// New client sockets every round (`BENCH_FRESH_FLOWS`, default 1). The kernel spreads
    /// flows over a proxy's workers by a hash of their addresses, so one set of 16 source
    /// ports may load one worker with 11 flows and the other with 5; fresh ports each round
    /// average that luck out instead of handing it to one target for the whole run.
    pub fresh_flows: bool,
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

    let dir = tmp.path().to_path_buf();
    let (bin, workers) = (settings.l7mp_bin.clone(), settings.workers);
    let mut targets = vec![
        Target::direct(echo.addr),
        Target::proxy("floor", start_floor(&dir, echo.addr)),
        Target::proxy("nginx", start_nginx(&dir, echo.addr, workers)),
        Target::proxy(
            "l7mp",
            start_l7mp(&dir, echo.addr, &bin, workers, Forwarding::UserSpace),
        ),
        Target::per_round(
            "l7mp-bpf",
            Box::new(move || start_l7mp(&dir, echo.addr, &bin, workers, Forwarding::Offload)),
        ),
    ];

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
