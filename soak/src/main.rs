//! `l7mp-soak`: drives a soak test of `examples/task1` on a running local cluster (see
//! docs/testing.md; `scripts/soak.sh` builds, starts the cluster, runs this and tears down).
//!
//! For the whole run it keeps steady UDP sessions through the gateway and sends bursts of new
//! sessions ([`traffic`]), changes the gateway's ConfigMap (good and bad in turn) and deletes
//! worker pods ([`chaos`]), samples the long-lived proxies ([`sample`]); then it sorts every
//! datagram ([`classify`]), judges the samples ([`flat`]) and writes the results file
//! ([`report`]). Exit codes: 0 passed, 1 failed (the file says why), 2 could not run.

mod chaos;
mod classify;
mod clock;
mod cluster;
mod flat;
mod metrics;
mod report;
mod sample;
mod traffic;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use clock::Clock;
use cluster::Harness;
use sample::METRICS_PORT;

/// How long a burst's source port is not used again: longer than the gateway's UDP session
/// idle timeout (60 s by default), so that every burst session is a new gateway session.
const PORT_QUARANTINE: Duration = Duration::from_secs(90);

/// Soak test of examples/task1 on a running local cluster.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The `l7mp-localcluster` binary.
    #[arg(long)]
    harness: PathBuf,
    /// The cluster's `--state-dir`.
    #[arg(long)]
    state_dir: PathBuf,
    /// The cluster's `--cluster` name.
    #[arg(long)]
    cluster: String,
    /// A good gateway ConfigMap; repeat it: they are applied in turn, each a change from the
    /// config in force (the first must differ from the one the cluster started with).
    #[arg(long = "good", required = true)]
    good: Vec<PathBuf>,
    /// A gateway ConfigMap whose config the proxy must refuse.
    #[arg(long)]
    bad: PathBuf,
    /// Run length in minutes.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Seconds of traffic before anything is judged or disturbed.
    #[arg(long, default_value_t = 10.0)]
    warmup: f64,
    /// Steady sessions.
    #[arg(long, default_value_t = 20)]
    sessions: usize,
    /// Datagrams per second over all steady sessions.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// New sessions per burst.
    #[arg(long, default_value_t = 50)]
    burst: usize,
    /// Seconds between bursts.
    #[arg(long, default_value_t = 10.0)]
    burst_every: f64,
    /// Seconds between gateway ConfigMap changes.
    #[arg(long, default_value_t = 20.0)]
    config_every: f64,
    /// Seconds between pod deletions.
    #[arg(long, default_value_t = 60.0)]
    kill_every: f64,
    /// Name prefix of the pods to delete (the worker Deployment's).
    #[arg(long, default_value = "worker-deployment-")]
    victims: String,
    /// Seconds between samples of the proxies.
    #[arg(long, default_value_t = 5.0)]
    sample_every: f64,
    /// Seconds a steady datagram's answer may take.
    #[arg(long, default_value_t = 2.0)]
    timeout: f64,
    /// Seconds a burst session's answer may take.
    #[arg(long, default_value_t = 5.0)]
    burst_timeout: f64,
    /// The gateway's UDP port (on the node IP).
    #[arg(long, default_value_t = 9001)]
    port: u16,
    /// The results file (markdown).
    #[arg(long)]
    out: PathBuf,
    /// Where the harness commands' output goes.
    #[arg(long)]
    log: PathBuf,
    /// Free text for the results' header (date, build profile, machine).
    #[arg(long, default_value = "")]
    note: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("l7mp-soak: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs the soak and writes the results; whether it passed.
fn run(a: &Args) -> Result<bool, String> {
    if a.sessions == 0 || a.rate <= 0.0 || a.minutes <= 0.0 {
        return Err("--sessions, --rate and --minutes must be positive".into());
    }
    let harness = Harness {
        bin: a.harness.clone(),
        state_dir: a.state_dir.clone(),
        cluster: a.cluster.clone(),
        log: a.log.clone(),
    };
    let node = harness.state()?.node_ip;
    let gateway = SocketAddr::from((node, a.port));
    let metrics = SocketAddr::from((node, METRICS_PORT));
    let proxies = harness.long_lived_proxies(&a.victims)?;
    if proxies.is_empty() {
        return Err(format!(
            "no l7mp process runs outside the {}* pods",
            a.victims
        ));
    }
    let length = a.minutes * 60.0;
    let interval = Duration::from_secs_f64(a.sessions as f64 / a.rate);
    let timeout = Duration::from_secs_f64(a.timeout);
    let burst_timeout = Duration::from_secs_f64(a.burst_timeout);
    let load_start = loadavg();
    eprintln!(
        "l7mp-soak: {:.1} min against {gateway}; sampling {}",
        a.minutes,
        proxies
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let clock = Clock::new();
    let (sessions, bursts, configs, deletions, series) = std::thread::scope(|s| {
        let steady: Vec<_> = (0..a.sessions)
            .map(|id| {
                let offset = interval.mul_f64(id as f64 / a.sessions as f64);
                let clock = &clock;
                s.spawn(move || traffic::steady(clock, gateway, id, interval, offset, timeout))
            })
            .collect();
        let bursts = s.spawn(|| {
            let mut out = Vec::new();
            let mut recent = traffic::RecentPorts::new(PORT_QUARANTINE);
            for k in 0.. {
                if !clock.sleep_until(a.warmup + a.burst_every * k as f64) {
                    break;
                }
                let burst = traffic::burst(&clock, gateway, k, a.burst, burst_timeout, &mut recent);
                out.push(burst);
            }
            out
        });
        let configs = s.spawn(|| {
            chaos::change_configs(
                &clock,
                &harness,
                metrics,
                &a.good,
                &a.bad,
                a.warmup + a.config_every,
                a.config_every,
            )
        });
        let deletions = s.spawn(|| {
            chaos::delete_pods(
                &clock,
                &harness,
                &a.victims,
                a.warmup + a.kill_every,
                a.kill_every,
            )
        });
        let series = s.spawn(|| sample::sample(&clock, proxies, a.sample_every));
        clock.sleep_until(length);
        clock.stop();
        let joined = |what: &str| format!("the {what} thread panicked");
        let sessions: Vec<_> = steady
            .into_iter()
            .map(|h| h.join().map_err(|_| joined("steady session")))
            .collect();
        (
            sessions,
            bursts.join().map_err(|_| joined("burst")),
            configs.join().map_err(|_| joined("config")),
            deletions.join().map_err(|_| joined("deletion")),
            series.join().map_err(|_| joined("sampler")),
        )
    });
    let sessions = sessions
        .into_iter()
        .map(|r| r.and_then(|s| s.map_err(|e| format!("a steady session: {e}"))))
        .collect::<Result<Vec<_>, String>>()?;
    let bursts = bursts?
        .into_iter()
        .map(|b| b.map_err(|e| format!("a burst: {e}")))
        .collect::<Result<Vec<_>, String>>()?;
    let (configs, deletions, series) = (configs?, deletions?, series?);
    let figures = classify::classify(
        &sessions,
        &bursts,
        &deletions,
        a.warmup,
        a.timeout,
        a.burst_timeout,
    );
    let setup = report::Setup {
        note: a.note.clone(),
        length,
        warmup: a.warmup,
        sessions: a.sessions,
        rate: a.rate,
        burst: a.burst,
        burst_every: a.burst_every,
        config_every: a.config_every,
        kill_every: a.kill_every,
        timeout: a.timeout,
        burst_timeout: a.burst_timeout,
        sample_every: a.sample_every,
        load: (load_start, loadavg()),
    };
    let outcome = report::Outcome {
        figures: &figures,
        configs: &configs,
        deletions: &deletions,
        series: &series,
        duplicates: sessions.iter().map(|s| s.duplicates).sum(),
        strays: sessions.iter().map(|s| s.strays).sum(),
        errors: sessions.iter().map(|s| s.errors).sum(),
    };
    let text = report::markdown(&setup, &outcome);
    std::fs::write(&a.out, &text).map_err(|e| format!("writing {}: {e}", a.out.display()))?;
    let failures = report::failures(&setup, &outcome);
    for f in &failures {
        eprintln!("l7mp-soak: FAIL: {f}");
    }
    eprintln!(
        "l7mp-soak: {} (results in {})",
        if failures.is_empty() { "PASS" } else { "FAIL" },
        a.out.display()
    );
    Ok(failures.is_empty())
}
