//! The benchmark's results: tables on stdout, ratios between targets, the goals, and a JSON
//! report.

use std::net::SocketAddr;
use std::thread;

use serde_json::{Value, json};

use crate::{FLOWS, PAYLOAD, Settings};

/// Throughput and latency of one target over all rounds.
pub struct LoadResult {
    pub name: &'static str,
    pub detail: String,
    pub failure: Option<String>,
    pub round_trips: u64,
    pub rate: Option<f64>,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p999_us: Option<f64>,
    pub max_us: Option<f64>,
    pub losses: u64,
    pub errors: u64,
    pub round_rates: Vec<f64>,
    pub measured_secs: f64,
    /// Proxy CPU time per round trip: what forwarding costs, whatever else the machine does.
    pub cpu_us_per_round_trip: Option<f64>,
}

/// Resident memory of one proxy before and after opening the sessions.
#[derive(Default)]
pub struct MemoryResult {
    pub name: &'static str,
    pub failure: Option<String>,
    pub processes: usize,
    pub rss_before_kb: u64,
    pub rss_after_kb: u64,
    pub sessions: usize,
    pub setup_secs: f64,
}

impl MemoryResult {
    fn bytes_per_session(&self) -> Option<f64> {
        (self.sessions > 0).then(|| {
            (self.rss_after_kb as f64 - self.rss_before_kb as f64) * 1024.0 / self.sessions as f64
        })
    }
}

/// The `q` quantile of sorted nanoseconds, in microseconds (nearest rank).
pub fn percentile_us(sorted: &[u32], q: f64) -> Option<f64> {
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

/// Pairs of targets compared in the report, as (target, baseline).
const COMPARISONS: [(&str, &str); 5] = [
    ("l7mp", "nginx"),
    ("l7mp", "floor"),
    ("l7mp", "direct"),
    ("l7mp-bpf", "floor"),
    ("l7mp-bpf", "direct"),
];

/// The goals the benchmark reports on, as (what, target, baseline, ratio of, most or least).
const GOALS: [Goal; 3] = [
    Goal {
        what: "offload throughput at least 1.8x the floor's",
        target: "l7mp-bpf",
        baseline: "floor",
        measure: Measure::Rate,
        bound: Bound::AtLeast(1.8),
    },
    Goal {
        what: "offload p99 at most 1.5x no proxy's",
        target: "l7mp-bpf",
        baseline: "direct",
        measure: Measure::P99,
        bound: Bound::AtMost(1.5),
    },
    Goal {
        what: "user-space p999 no worse than nginx's",
        target: "l7mp",
        baseline: "nginx",
        measure: Measure::P999,
        bound: Bound::AtMost(1.0),
    },
];

/// A ratio the project aims for, reported (met or not) rather than asserted: a benchmark
/// on a shared machine is a measurement, not a test.
struct Goal {
    what: &'static str,
    target: &'static str,
    baseline: &'static str,
    measure: Measure,
    bound: Bound,
}

#[derive(Clone, Copy)]
enum Measure {
    Rate,
    P99,
    P999,
}

#[derive(Clone, Copy)]
enum Bound {
    AtLeast(f64),
    AtMost(f64),
}

impl Measure {
    fn of(self, r: &LoadResult) -> Option<f64> {
        match self {
            Measure::Rate => r.rate,
            Measure::P99 => r.p99_us,
            Measure::P999 => r.p999_us,
        }
    }
}

impl Goal {
    /// The ratio measured and whether it meets the goal; None without numbers for both.
    fn check(&self, results: &[LoadResult]) -> Option<(f64, bool)> {
        let find = |name: &str| results.iter().find(|r| r.name == name);
        let value = ratio(
            self.measure.of(find(self.target)?),
            self.measure.of(find(self.baseline)?),
        )?;
        let met = match self.bound {
            Bound::AtLeast(min) => value >= min,
            Bound::AtMost(max) => value <= max,
        };
        Some((value, met))
    }
}

/// The ratios of one comparison, as printed and written.
struct Ratios {
    throughput: Option<f64>,
    p50: Option<f64>,
    p99: Option<f64>,
    p999: Option<f64>,
    cpu: Option<f64>,
}

impl Ratios {
    fn of(a: &LoadResult, b: &LoadResult) -> Self {
        Self {
            throughput: ratio(a.rate, b.rate),
            p50: ratio(a.p50_us, b.p50_us),
            p99: ratio(a.p99_us, b.p99_us),
            p999: ratio(a.p999_us, b.p999_us),
            cpu: ratio(a.cpu_us_per_round_trip, b.cpu_us_per_round_trip),
        }
    }
}

/// Each comparison whose two targets both ran, as (target, baseline, ratios).
fn comparisons(results: &[LoadResult]) -> Vec<(&'static str, &'static str, Ratios)> {
    let find = |name: &str| results.iter().find(|r| r.name == name && r.rate.is_some());
    COMPARISONS
        .iter()
        .filter_map(|&(a, b)| Some((a, b, Ratios::of(find(a)?, find(b)?))))
        .collect()
}

pub fn print_load_table(results: &[LoadResult]) {
    println!(
        "\n{:<8} {:>14} {:>10} {:>10} {:>10} {:>8} {:>16}",
        "target", "round trips/s", "p50 µs", "p99 µs", "p999 µs", "losses", "proxy CPU µs/rt"
    );
    for r in results {
        if r.rate.is_none() {
            let why = r.failure.as_deref().unwrap_or("no data");
            let first = why.lines().next().unwrap_or(why);
            println!("{:<8} skipped: {first}", r.name);
            continue;
        }
        println!(
            "{:<8} {:>14} {:>10} {:>10} {:>10} {:>8} {:>16}",
            r.name,
            show(r.rate, 0),
            show(r.p50_us, 1),
            show(r.p99_us, 1),
            show(r.p999_us, 1),
            r.losses,
            show(r.cpu_us_per_round_trip, 2),
        );
    }
    println!();
    for (a, b, r) in comparisons(results) {
        println!(
            "{:>17} throughput x{}, p50 x{}, p99 x{}, p999 x{}{}",
            format!("{a}/{b}"),
            show(r.throughput, 2),
            show(r.p50, 2),
            show(r.p99, 2),
            show(r.p999, 2),
            r.cpu
                .map_or(String::new(), |c| format!(", CPU per round trip x{c:.2}")),
        );
    }
    println!();
    for goal in &GOALS {
        match goal.check(results) {
            Some((value, met)) => println!(
                "goal: {}: x{value:.2}, {}",
                goal.what,
                if met { "met" } else { "NOT met" }
            ),
            None => println!("goal: {}: n/a (no numbers for both)", goal.what),
        }
    }
}

pub fn print_memory_table(results: &[MemoryResult], wanted: usize) {
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

pub fn json_report(
    settings: &Settings,
    load: &[LoadResult],
    memory: &[MemoryResult],
    echo: SocketAddr,
) -> Value {
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
        "ratios": comparisons(load).into_iter().map(|(a, b, r)| (format!("{a}_vs_{b}"), json!({
            "throughput": r.throughput,
            "p50": r.p50,
            "p99": r.p99,
            "p999": r.p999,
            "cpu_per_round_trip": r.cpu,
        }))).collect::<serde_json::Map<_, _>>(),
        "goals": GOALS.iter().map(|g| {
            let checked = g.check(load);
            json!({"goal": g.what, "ratio": checked.map(|c| c.0), "met": checked.map(|c| c.1)})
        }).collect::<Vec<_>>(),
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
