//! `l7mp`: serves one config file and follows it as it changes. Exit codes: 0 after a clean
//! stop, 1 when the config cannot be started (a port in use), 2 for an invalid config or
//! command line.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use std::sync::Arc;
use std::time::Duration;

use l7mp::admin::Admin;
use l7mp::proxy::{Options, Proxy, Workers};
use l7mp::reload::watch::WatchMode;
use l7mp::reload::{ReloadOptions, ReloadStatus};
use l7mp_config::diagnostic::Report;
use l7mp_config::{Config, load_file};
use tracing_subscriber::EnvFilter;

/// The l7mp multiprotocol proxy.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Config file to serve (the l7mp static config format, YAML or JSON).
    #[arg(
        short = 'c',
        long,
        conflicts_with = "validate",
        required_unless_present = "validate"
    )]
    config: Option<PathBuf>,
    /// Check a config file, print its diagnostics and exit: 0 when valid, 2 when not.
    #[arg(long, value_name = "FILE")]
    validate: Option<PathBuf>,
    /// Bind listeners that name no address here instead of the wildcard address.
    #[arg(long, value_name = "IP")]
    bind_address: Option<IpAddr>,
    /// Log level (error, warn, info, debug, trace) or a tracing filter; default: the file's
    /// `admin.log_level`, else info.
    #[arg(short = 'l', long, env = "L7MP_LOG")]
    log_level: Option<String>,
    /// Worker threads sessions run on (default: one per CPU).
    #[arg(long)]
    workers: Option<usize>,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// How config changes are noticed: inotify on the file's directory, or polling.
    #[arg(long, value_enum, default_value_t = Watch::Inotify)]
    watch: Watch,
    /// Seconds between safety-net re-checks of the file (in poll mode: between polls).
    #[arg(long, default_value_t = 30.0)]
    recheck_interval: f64,
    /// Milliseconds of quiet after a change event before the file is read.
    #[arg(long, default_value_t = 100)]
    debounce_ms: u64,
    /// Seconds the sessions of a removed or re-bound listener get before they are closed.
    #[arg(long, default_value_t = 30.0)]
    drain_timeout: f64,
    /// Start even if the file is missing or invalid, and wait (not ready) for a valid one.
    #[arg(long)]
    wait_for_config: bool,
    /// Address of the read-only admin endpoint (health, readiness, metrics, status), or
    /// `none` for no endpoint.
    #[arg(long, value_name = "IP:PORT|none", default_value = "127.0.0.1:1234", value_parser = admin_address)]
    admin_address: AdminAddress,
}

/// `--admin-address`: an address, or `none`.
#[derive(Clone, Debug)]
struct AdminAddress(Option<SocketAddr>);

fn admin_address(s: &str) -> Result<AdminAddress, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(AdminAddress(None));
    }
    s.parse()
        .map(|a| AdminAddress(Some(a)))
        .map_err(|e| format!("{e} (expected IP:PORT or none)"))
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Watch {
    Inotify,
    Poll,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(path) = &cli.validate {
        return validate(path);
    }
    let Some(path) = cli.config.clone() else {
        return ExitCode::from(2);
    };
    let initial = match load_file(&path) {
        Ok(l) => Some(l),
        Err(diagnostics) if cli.wait_for_config => {
            eprint!("{}", Report(&diagnostics));
            None
        }
        Err(diagnostics) => {
            eprint!("{}", Report(&diagnostics));
            return ExitCode::from(2);
        }
    };
    init_logging(
        &cli,
        initial.as_ref().and_then(|l| l.config.log_level.as_deref()),
    );
    let status = Arc::new(ReloadStatus::default());
    raise_open_file_limit();
    let count = cli.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let workers = match Workers::start(count) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!("cannot start {count} workers: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let options = Options {
        bind_address: cli.bind_address,
    };
    let reload = ReloadOptions {
        path: path.clone(),
        mode: match cli.watch {
            Watch::Inotify => WatchMode::Inotify,
            Watch::Poll => WatchMode::Poll,
        },
        debounce: Duration::from_millis(cli.debounce_ms),
        recheck: seconds(cli.recheck_interval),
        drain: seconds(cli.drain_timeout),
    };
    let code = runtime.block_on(async {
        let shutdown = stop_signals();
        // An empty proxy first, so that the admin endpoint serves (not ready) before the
        // first config is applied.
        let mut proxy = match Proxy::start(Config::default(), &options, &workers).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::from(1);
            }
        };
        let admin_stop = tokio_util::sync::CancellationToken::new();
        if let Some(address) = cli.admin_address.0 {
            let listener = match tokio::net::TcpListener::bind(address).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!("admin endpoint: cannot bind {address}: {e}");
                    return ExitCode::from(1);
                }
            };
            tracing::info!(%address, "admin endpoint listening");
            let admin = Admin::new(status.clone(), proxy.view());
            tokio::spawn(admin.serve(listener, admin_stop.clone().cancelled_owned()));
        }
        match initial {
            Some(loaded) => {
                for w in &loaded.warnings {
                    tracing::warn!("{w}");
                }
                if let Err(e) = proxy.apply(loaded.config, Duration::ZERO).await {
                    tracing::error!("{e}");
                    return ExitCode::from(1);
                }
                tracing::info!(file = %path.display(), sha256 = %loaded.sha256, "config applied");
                status.record_success(&loaded.sha256, Arc::new(loaded.text));
            }
            None => tracing::warn!(file = %path.display(), "no valid config yet; waiting for one"),
        }
        let proxy = l7mp::reload::run(proxy, reload, status, shutdown).await;
        tracing::info!("stopping");
        proxy.stop().await;
        admin_stop.cancel();
        ExitCode::SUCCESS
    });
    workers.stop();
    code
}

fn validate(path: &Path) -> ExitCode {
    match load_file(path) {
        Ok(loaded) => {
            eprint!("{}", Report(&loaded.warnings));
            println!("{}: valid (sha256 {})", path.display(), loaded.sha256);
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            eprint!("{}", Report(&diagnostics));
            ExitCode::from(2)
        }
    }
}

fn init_logging(cli: &Cli, file_level: Option<&str>) {
    let level = cli.log_level.as_deref().or(file_level).unwrap_or("info");
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Registers the stop and reload signals at once (a signal that arrives before its handler
/// exists would kill the process) and returns a future that completes on SIGINT or SIGTERM.
fn stop_signals() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let term = signal(SignalKind::terminate()).ok();
    let int = signal(SignalKind::interrupt()).ok();
    // Registered now so that an early SIGHUP is harmless; the reload controller listens to it.
    let _ = signal(SignalKind::hangup());
    async fn recv(s: Option<Signal>) {
        match s {
            Some(mut s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    async move {
        tokio::select! {
            () = recv(term) => {}
            () = recv(int) => {}
        }
    }
}

/// Every session holds at least one socket per hop, so the default limit of 1024 open files
/// would cap a proxy at a few hundred sessions. Raise the limit as far as allowed: both limits when running
/// privileged, else the soft limit up to the hard one.
fn raise_open_file_limit() {
    const WANTED: u64 = 1 << 20;
    let raised = rlimit::Resource::NOFILE
        .set(WANTED, WANTED)
        .map(|()| WANTED)
        .or_else(|_| rlimit::increase_nofile_limit(WANTED));
    match raised {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(e) => tracing::warn!("cannot raise the open file limit: {e}"),
    }
}

/// A duration from a command-line number of seconds; nonsense (negative, NaN) becomes a
/// short positive value rather than a panic.
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s)
        .unwrap_or(Duration::from_millis(10))
        .max(Duration::from_millis(10))
}
