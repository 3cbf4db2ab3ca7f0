//! `l7mp`: serves one config file and follows it as it changes. Exit codes: 0 after a stop by
//! signal, 1 when the config cannot be started (a port in use, the admin or metrics address
//! taken), 2 for an invalid config or command line.

mod cli;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use l7mp::admin::{Admin, Scope};
use l7mp::logging::{self, Format};
use l7mp::proxy::{Options, Proxy, Workers};
use l7mp::reload::{ReloadOptions, ReloadStatus};
use l7mp_config::diagnostic::Report;
use l7mp_config::{Config, Loaded, load_file};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use cli::Cli;

/// jemalloc rather than glibc's allocator. Every session's tokio task and every socket's I/O
/// registration is a 128-byte-aligned block, which glibc serves by allocating 160 bytes more
/// and splitting the rest off, leftovers that stay scattered between live blocks; jemalloc
/// serves such a block from a size class aligned by construction, and the idle UDP pair
/// session it holds ten thousand of costs less (proxy/benches/README.md, "Results").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    if let Some(path) = &cli.validate {
        return validate(path);
    }
    let Some(path) = cli.config.clone() else {
        return ExitCode::from(2);
    };
    let initial = load_file(&path);
    let format = cli.log_format.into();
    match log_filter(&cli, &path, initial.as_ref().ok()) {
        Ok(filter) => logging::init(format, filter),
        Err(why) => {
            logging::init(format, EnvFilter::new("info"));
            tracing::error!("{why}");
            return ExitCode::from(2);
        }
    }
    let initial = match initial {
        Ok(l) => Ok(l),
        Err(diagnostics) => {
            let report = Report(&diagnostics).to_string();
            match format {
                Format::Text => eprint!("{report}"),
                Format::Json => diagnostics.iter().for_each(logging::diagnostic),
            }
            if !cli.wait_for_config {
                return ExitCode::from(2);
            }
            Err(report)
        }
    };
    raise_open_file_limit();
    let count = cli.worker_count();
    let workers = match Workers::start(count) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!("cannot start {count} workers: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let reload = cli.reload_options(path);
    let code = runtime.block_on(serve(&cli, initial, reload, &workers));
    workers.stop();
    code
}

/// Serves until SIGINT or SIGTERM: an empty proxy first, so that the admin endpoint answers
/// (not ready) before the first config is applied, then the initial config (or, when it did not
/// load, why, counted as a failed attempt), then whatever the file becomes. On the signal, the
/// listeners close, `/readyz` turns 503 and the live sessions get the drain timeout to end; a
/// second signal ends them at once.
async fn serve(
    cli: &Cli,
    initial: Result<Loaded, String>,
    reload: ReloadOptions,
    workers: &Workers,
) -> ExitCode {
    let mut signals = StopSignals::register();
    let status = Arc::new(ReloadStatus::default());
    let offload = match l7mp::offload::Offload::start(&cli.offload_settings()) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    let options = Options {
        bind_address: cli.bind_address,
        offload,
    };
    let mut proxy = match Proxy::start(Config::default(), &options, workers).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    let admin = Admin::new(status.clone(), proxy.view());
    let endpoints_stop = CancellationToken::new();
    if let Err(e) = serve_endpoints(cli, &admin, &endpoints_stop).await {
        tracing::error!("{e}");
        return ExitCode::from(1);
    }
    let file = reload.path.display().to_string();
    match initial {
        Ok(loaded) => {
            loaded.warnings.iter().for_each(logging::diagnostic);
            if let Err(e) = proxy.apply(loaded.config, Duration::ZERO).await {
                tracing::error!("{e}");
                return ExitCode::from(1);
            }
            tracing::info!(file, sha256 = %loaded.sha256, "config applied");
            status.record_success(&loaded.sha256, Arc::new(loaded.text));
        }
        Err(why) => {
            l7mp::reload::record_initial_failure(&status, &reload.path, &why);
            tracing::warn!(file, "no valid config yet; waiting for one");
        }
    }
    let drain = reload.drain;
    let proxy = l7mp::reload::run(proxy, reload, status, signals.next()).await;
    admin.set_stopping();
    tracing::info!(
        drain_timeout_seconds = drain.as_secs_f64(),
        "stopping: no new sessions, live ones get the drain timeout (a second signal ends them)"
    );
    tokio::select! {
        () = proxy.drain(drain) => tracing::info!("stopped"),
        () = signals.next() => tracing::warn!("second stop signal: stopping without waiting for live sessions"),
    }
    endpoints_stop.cancel();
    ExitCode::SUCCESS
}

/// Binds the admin and metrics addresses (both before either serves, so that a taken port
/// fails the start before anything answers) and serves them until `stop`.
async fn serve_endpoints(
    cli: &Cli,
    admin: &Arc<Admin>,
    stop: &CancellationToken,
) -> Result<(), String> {
    let wanted = [
        ("--admin-address", cli.admin_address.0, Scope::Admin),
        ("--metrics-address", cli.metrics_address.0, Scope::Metrics),
    ];
    let mut bound = Vec::new();
    for (flag, address, scope) in wanted {
        let Some(address) = address else { continue };
        let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
            format!(
                "{flag} {address}: cannot bind: {e}; free the port, or pick another address \
                 with {flag} (`none` turns it off)"
            )
        })?;
        bound.push((listener, scope));
    }
    for (listener, scope) in bound {
        if let Ok(address) = listener.local_addr() {
            tracing::info!(%address, scope = scope.name(), "admin endpoint listening");
        }
        tokio::spawn(
            admin
                .clone()
                .serve(listener, scope, stop.clone().cancelled_owned()),
        );
    }
    Ok(())
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

/// The log filter: `--log-level` (or `L7MP_LOG`), else the file's `admin.log_level`, else
/// info; an error, naming where the level came from, for a level that does not exist.
fn log_filter(cli: &Cli, path: &Path, loaded: Option<&Loaded>) -> Result<EnvFilter, String> {
    if let Some(level) = &cli.log_level {
        return logging::filter(level, "--log-level (or L7MP_LOG)");
    }
    match loaded.and_then(|l| l.config.log_level.as_deref()) {
        Some(level) => logging::filter(level, &format!("{}: admin.log_level", path.display())),
        None => Ok(EnvFilter::new("info")),
    }
}

/// A command line that does not parse: clap's report (exit 2; help and version exit 0), or
/// in JSON mode one JSON log line with its text.
fn usage_error(e: &clap::Error) -> ExitCode {
    let code = u8::try_from(e.exit_code()).unwrap_or(2);
    if !e.use_stderr() || !cli::asks_for_json(std::env::args_os().skip(1)) {
        let _ = e.print();
        return ExitCode::from(code);
    }
    logging::init(Format::Json, EnvFilter::new("info"));
    let text = e.to_string();
    tracing::error!(
        "{}",
        text.strip_prefix("error: ").unwrap_or(&text).trim_end()
    );
    ExitCode::from(code)
}

/// The stop signals, SIGTERM and SIGINT, registered together with SIGHUP when the process
/// starts (a signal that arrives before its handler exists would kill the process; the reload
/// controller listens to SIGHUP).
struct StopSignals {
    term: Option<Signal>,
    int: Option<Signal>,
}

impl StopSignals {
    fn register() -> Self {
        let _ = signal(SignalKind::hangup());
        Self {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// Completes on the next SIGTERM or SIGINT.
    async fn next(&mut self) {
        async fn recv(s: &mut Option<Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = recv(&mut self.term) => {}
            () = recv(&mut self.int) => {}
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
