//! The command line of `l7mp`, and what it means for the proxy's options.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use l7mp::logging::Format;
use l7mp::offload;
use l7mp::reload::ReloadOptions;
use l7mp::reload::watch::WatchMode;

/// The version with the commit it was built from (`unknown` outside a git checkout).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("L7MP_COMMIT"),
    ")"
);

/// The l7mp multiprotocol proxy.
#[derive(Parser, Debug)]
#[command(version = VERSION, about)]
pub struct Cli {
    /// Config file to serve (the l7mp static config format, YAML or JSON).
    #[arg(
        short = 'c',
        long,
        conflicts_with = "validate",
        required_unless_present = "validate"
    )]
    pub config: Option<PathBuf>,
    /// Check a config file, print its diagnostics and exit: 0 when valid, 2 when not.
    #[arg(long, value_name = "FILE")]
    pub validate: Option<PathBuf>,
    /// Bind listeners that name no address here instead of the wildcard address.
    #[arg(long, value_name = "IP")]
    pub bind_address: Option<IpAddr>,
    /// Log level (error, warn, info, debug, trace, off; the original's silly, verbose, notice
    /// and silent mean trace, debug, info and off) or a tracing filter such as
    /// `l7mp=debug,info`; default: the file's `admin.log_level`, else info. An unknown level
    /// stops the start (exit 2).
    #[arg(short = 'l', long, env = "L7MP_LOG")]
    pub log_level: Option<String>,
    /// Worker threads sessions run on (default: one per CPU).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Log line format: `text` (coloured only on a terminal, never with NO_COLOR set) or
    /// `json` (one flat object per line: timestamp, level, message, target, fields).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// How config changes are noticed: inotify on the file's directory, or polling.
    #[arg(long, value_enum, default_value_t = Watch::Inotify)]
    pub watch: Watch,
    /// Seconds between safety-net re-checks of the file (in poll mode: between polls).
    #[arg(long, default_value_t = 30.0)]
    pub recheck_interval: f64,
    /// Milliseconds of quiet after a change event before the file is read.
    #[arg(long, default_value_t = 100)]
    pub debounce_ms: u64,
    /// Seconds live sessions get to end by themselves before they are closed: the sessions of
    /// a listener that a reload removes or re-binds, and every session when the process stops
    /// (SIGTERM or SIGINT; a second signal stops at once).
    #[arg(long, default_value_t = 30.0)]
    pub drain_timeout: f64,
    /// Start even if the file is missing or invalid, and wait (not ready) for a valid one.
    #[arg(long)]
    pub wait_for_config: bool,
    /// Address of the read-only admin endpoint (health, readiness, metrics, and the config and
    /// sessions, which stay local by default), or `none` for no endpoint.
    #[arg(long, value_name = "IP:PORT|none", default_value = "127.0.0.1:1234", value_parser = endpoint_address)]
    pub admin_address: EndpointAddress,
    /// Address serving only /metrics, /healthz and /readyz, or `none`. The default listens on
    /// every IPv4 address of the pod, so that kubelet probes and Prometheus reach it.
    #[arg(long, value_name = "IP:PORT|none", default_value = "0.0.0.0:9102", value_parser = endpoint_address)]
    pub metrics_address: EndpointAddress,
    /// UDP kernel offload: the kernel forwards the datagrams of established sessions whose
    /// route is one UDP hop. `auto`: where the kernel and the process's capabilities allow
    /// (else it says why once and forwards in user space); `on`: the start fails without it.
    #[arg(long, value_enum, default_value_t = Offload::Off)]
    pub offload: Offload,
    /// Interfaces (comma-separated) where clients' datagrams and endpoints' replies arrive:
    /// the offload program runs at their ingress. Where rewritten datagrams leave (any
    /// interface the routing table picks) needs no naming.
    #[arg(
        long,
        value_name = "IF,...",
        value_delimiter = ',',
        default_value = "lo"
    )]
    pub offload_interfaces: Vec<String>,
    /// Entries of the offload flow table (two per session); sessions beyond it stay in user
    /// space.
    #[arg(long, value_name = "N", default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(2..))]
    pub offload_flows: u32,
}

/// `--offload`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Offload {
    Off,
    Auto,
    On,
}

/// `--admin-address` and `--metrics-address`: an address, or `none`.
#[derive(Clone, Debug)]
pub struct EndpointAddress(pub Option<SocketAddr>);

fn endpoint_address(s: &str) -> Result<EndpointAddress, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(EndpointAddress(None));
    }
    s.parse()
        .map(|a| EndpointAddress(Some(a)))
        .map_err(|e| format!("{e} (expected IP:PORT or none)"))
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Watch {
    Inotify,
    Poll,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl From<LogFormat> for Format {
    fn from(f: LogFormat) -> Format {
        match f {
            LogFormat::Text => Format::Text,
            LogFormat::Json => Format::Json,
        }
    }
}

/// Whether `args` (the process's arguments after the program name) ask for JSON logs, for
/// reporting a command line that does not parse in the format it asked for.
pub fn asks_for_json(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let mut previous_was_flag = false;
    let mut json = false;
    for arg in args {
        let arg = arg.to_string_lossy();
        if previous_was_flag {
            json = arg == "json";
        } else if let Some(value) = arg.strip_prefix("--log-format=") {
            json = value == "json";
        }
        previous_was_flag = arg == "--log-format";
    }
    json
}

impl Cli {
    /// How the reload controller follows `path`.
    pub fn reload_options(&self, path: PathBuf) -> ReloadOptions {
        ReloadOptions {
            path,
            mode: match self.watch {
                Watch::Inotify => WatchMode::Inotify,
                Watch::Poll => WatchMode::Poll,
            },
            debounce: Duration::from_millis(self.debounce_ms),
            recheck: seconds(self.recheck_interval),
            drain: seconds(self.drain_timeout),
        }
    }

    /// The offload settings.
    pub fn offload_settings(&self) -> offload::Settings {
        offload::Settings {
            mode: match self.offload {
                Offload::Off => offload::Mode::Off,
                Offload::Auto => offload::Mode::Auto,
                Offload::On => offload::Mode::On,
            },
            interfaces: self.offload_interfaces.clone(),
            flows: self.offload_flows,
        }
    }

    /// Worker threads: as asked, else one per CPU.
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}

/// A duration from a command-line number of seconds; nonsense (negative, NaN) becomes a
/// short positive value rather than a panic.
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s)
        .unwrap_or(Duration::from_millis(10))
        .max(Duration::from_millis(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_asked_for_in_either_spelling_and_the_last_one_wins() {
        let ask = |args: &[&str]| asks_for_json(args.iter().map(Into::into));
        assert!(ask(&["-c", "x", "--log-format", "json"]));
        assert!(ask(&["--log-format=json", "--bogus"]));
        assert!(!ask(&["--log-format=json", "--log-format", "text"]));
        assert!(!ask(&["--config", "json"]));
    }
}
