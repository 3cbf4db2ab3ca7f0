//! The commands: `up`, `apply`, `down`, `run`, `status`, `exec`, `logs`, `delete-pod`.

mod apply;
mod delete;
mod inspect;
mod lifecycle;
mod observe;
mod podman_pods;
mod pods;
mod reconcile;
mod signals;
mod teardown;

use std::path::PathBuf;

use crate::state::Runtime;

pub use apply::apply;
pub use delete::delete_pod_command;
pub use inspect::{describe, exec, logs, status};
pub use lifecycle::{down, run, up};
pub use observe::{ContainerState, ContainerStatus, PodStatus, observe};
pub use signals::{install_signal_handlers, interrupted};

/// Options shared by the commands.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where cluster state directories live.
    pub state_root: PathBuf,
    /// Cluster name.
    pub cluster: String,
    /// Namespace of objects that name none.
    pub namespace: String,
}

/// Options of `up` and `run`.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// Bridge name.
    pub bridge: String,
    /// Pod network, `A.B.C.D/N`.
    pub subnet: String,
    /// Directory put first on the containers' PATH.
    pub bin_dir: PathBuf,
    /// Extra image → program mappings.
    pub images: Vec<(String, String)>,
    /// Give host-network pods cluster DNS whatever their dnsPolicy.
    pub hostnet_cluster_dns: bool,
    /// What runs the containers.
    pub runtime: Runtime,
}

/// Prints a progress line on stderr, prefixed with the program name.
fn say(msg: impl AsRef<str>) {
    eprintln!("l7mp-localcluster: {}", msg.as_ref());
}
