//! `l7mp-localcluster`: a one-machine Kubernetes stand-in for running manifests and `l7mpc`
//! output. Exit codes: 0 success, 1 failure (after tearing down what a failed `up` made),
//! 2 usage; `exec` exits with the command's code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use l7mp_localcluster::cluster::{self, Options, UpOptions};
use l7mp_localcluster::state::Runtime;

/// Runs Kubernetes manifests on this machine as a one-node cluster: pods as network namespaces
/// on a bridge, ConfigMap volumes in the kubelet's layout, cluster DNS from dnsmasq. Needs root.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Directory holding the clusters' state.
    #[arg(
        long,
        global = true,
        env = "L7MP_LOCALCLUSTER_STATE",
        default_value = "/run/l7mp-localcluster"
    )]
    state_dir: PathBuf,
    /// Cluster name (several can run side by side, each with its own bridge and subnet).
    #[arg(long, global = true, env = "L7MP_LOCALCLUSTER", default_value = "l7mp")]
    cluster: String,
    /// Namespace of objects whose manifest names none.
    #[arg(short = 'n', long, global = true, default_value = "default")]
    namespace: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates the cluster and runs the manifests' workloads, then returns (they keep running).
    Up(UpArgs),
    /// Like `up`, then waits for Ctrl-C or SIGTERM and tears everything down.
    Run(UpArgs),
    /// Applies manifests to a running cluster: ConfigMaps (swapped kubelet-style in every pod that
    /// mounts them), Services (DNS), new or changed workloads.
    Apply {
        /// Files or directories (recursively, *.yaml, *.yml, *.json); `-` reads stdin.
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        files: Vec<PathBuf>,
    },
    /// Stops every process and removes every namespace, link, mount point and the state.
    /// Idempotent.
    Down,
    /// Lists pods (name, IP, readiness) and what Services resolve to.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Runs a command in a pod as its container sees the world (network, mounts, env).
    Exec {
        /// Pod name.
        pod: String,
        /// Container (default: the first).
        #[arg(short = 'c', long)]
        container: Option<String>,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Shows a pod as `kubectl describe pod` does: each container's image, state (with the reason
    /// and message of a waiting or terminated one), readiness and failing probe.
    Describe {
        /// Pod name.
        pod: String,
    },
    /// Deletes a pod as `kubectl delete pod` does: out of DNS, its containers stopped, its
    /// namespace and IP gone; its Deployment, DaemonSet or StatefulSet starts a replacement
    /// (a bare Pod is not replaced).
    DeletePod {
        /// Pod name.
        pod: String,
    },
    /// Prints a container's output.
    Logs {
        /// Pod name.
        pod: String,
        /// Container (default: the first by name).
        #[arg(short = 'c', long)]
        container: Option<String>,
    },
}

#[derive(Args)]
struct UpArgs {
    /// Files or directories (recursively, *.yaml, *.yml, *.json): workloads, Services,
    /// ConfigMaps (e.g. the manifests plus l7mpc's output); other kinds are skipped.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// Bridge name.
    #[arg(long, default_value = "l7mpbr0")]
    bridge: String,
    /// Pod network; its first address is the node IP (bridge, DNS, host-network pods).
    #[arg(long, default_value = "10.244.0.0/24")]
    subnet: String,
    /// Directory put first on the containers' PATH (default: where this binary is, i.e. the
    /// cargo target directory that also holds `l7mp`).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Maps an image to the host program its containers run when they give no command
    /// (IMAGE=PROGRAM, IMAGE being the last path element without tag); repeatable.
    #[arg(long = "image", value_parser = parse_image)]
    images: Vec<(String, String)>,
    /// Give host-network pods cluster DNS even without dnsPolicy: ClusterFirstWithHostNet
    /// (Kubernetes gives them the node's resolver).
    #[arg(long)]
    hostnet_cluster_dns: bool,
    /// What runs the containers: `process` (host programs in the pod's namespaces) or `podman`
    /// (the images the manifests name, never pulled: build them with scripts/image.sh).
    #[arg(long, default_value = "process")]
    runtime: Runtime,
}

fn parse_image(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| format!("expected IMAGE=PROGRAM, got {s:?}"))
}

impl UpArgs {
    fn options(&self) -> UpOptions {
        let bin_dir = self.bin_dir.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("."))
        });
        UpOptions {
            bridge: self.bridge.clone(),
            subnet: self.subnet.clone(),
            bin_dir,
            images: self.images.clone(),
            hostnet_cluster_dns: self.hostnet_cluster_dns,
            runtime: self.runtime,
        }
    }
}

fn main() -> ExitCode {
    // `ip` and `dnsmasq` live in sbin, which a non-login root shell may lack on its PATH.
    let path = std::env::var("PATH").unwrap_or_default();
    let mut dirs: Vec<&str> = path.split(':').filter(|d| !d.is_empty()).collect();
    for d in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    // SAFETY: no other thread exists yet, so none reads the environment while it changes.
    // (Not a system call rustix could wrap: the environment is the C library's, and every
    // program the harness starts, through `ip`, `dnsmasq`, `podman` or a pod's command, must
    // find its tools on this PATH.)
    unsafe { std::env::set_var("PATH", dirs.join(":")) };
    let cli = Cli::parse();
    let opts = Options {
        state_root: cli.state_dir,
        cluster: cli.cluster,
        namespace: cli.namespace,
    };
    let result = match &cli.command {
        Command::Up(a) => {
            cluster::install_signal_handlers();
            cluster::up(&opts, &a.options(), &a.files)
        }
        Command::Run(a) => cluster::run(&opts, &a.options(), &a.files),
        Command::Apply { files } => cluster::apply(&opts, files),
        Command::Down => cluster::down(&opts),
        Command::Status { json } => cluster::status(&opts, *json),
        Command::Exec {
            pod,
            container,
            command,
        } => match cluster::exec(&opts, pod, container.as_deref(), command) {
            Ok(code) => return ExitCode::from(code.clamp(0, 255) as u8),
            Err(e) => Err(e),
        },
        Command::Describe { pod } => cluster::describe(&opts, pod),
        Command::DeletePod { pod } => cluster::delete_pod_command(&opts, pod),
        Command::Logs { pod, container } => {
            cluster::logs(&opts, pod, container.as_deref()).map(|text| print!("{text}"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("l7mp-localcluster: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
