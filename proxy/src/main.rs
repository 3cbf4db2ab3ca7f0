//! `l7mp`: serves one config file and follows it as it changes. Exit codes: 0 after a clean
//! stop, 1 when the config cannot be started (a port in use), 2 for an invalid config or
//! command line.

mod cli;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use l7mp::admin::Admin;
use l7mp::proxy::{Options, Proxy, Workers};
use l7mp::reload::{ReloadOptions, ReloadStatus};
use l7mp_config::diagnostic::Report;
use l7mp_config::{Config, Loaded, load_file};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use cli::{Cli, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(path) = &cli.validate {
        return validate(path);
    }
    let Some(path) = cli.config.clone() else {
        return ExitCode::from(2);
    };
    let initial = match load_file(&path) {
        Ok(l) => Ok(l),
        Err(diagnostics) => {
            let report = Report(&diagnostics).to_string();
            eprint!("{report}");
            if !cli.wait_for_config {
                return ExitCode::from(2);
            }
            Err(report)
        }
    };
    init_logging(
        &cli,
        initial
            .as_ref()
            .ok()
            .and_then(|l| l.config.log_level.as_deref()),
    );
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
/// load, why, counted as a failed attempt), then whatever the file becomes.
async fn serve(
    cli: &Cli,
    initial: Result<Loaded, String>,
    reload: ReloadOptions,
    workers: &Workers,
) -> ExitCode {
    let shutdown = stop_signals();
    let status = Arc::new(ReloadStatus::default());
    let options = Options {
        bind_address: cli.bind_address,
    };
    let mut proxy = match Proxy::start(Config::default(), &options, workers).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    let admin_stop = CancellationToken::new();
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
    let file = reload.path.display().to_string();
    match initial {
        Ok(loaded) => {
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
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
    let proxy = l7mp::reload::run(proxy, reload, status, shutdown).await;
    tracing::info!("stopping");
    proxy.stop().await;
    admin_stop.cancel();
    ExitCode::SUCCESS
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
