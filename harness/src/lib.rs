//! `l7mp-localcluster`: runs Kubernetes manifests (and the ConfigMaps and Services that `l7mpc`
//! emits) on one Linux machine as root, close enough to a cluster that the proxy behaves as it
//! would in one.
//!
//! - Each pod is a network namespace with its own IP on a bridge (or the host namespace for
//!   `hostNetwork` pods, reachable at the node IP), and each container runs in its own mount
//!   namespace where the pod's private `/tmp`, its volumes, `/etc/resolv.conf` and `/etc/hosts` are
//!   bind-mounted: the pod's containers share the same directories, nothing leaks to the host.
//! - Container commands run as written in the manifest, with the image's programs taken from the
//!   host (`socat`, `perl`, the repo's `l7mp`).
//! - Or, with the podman runtime ([`podman`]), each container runs under podman from the image
//!   its manifest names (never pulled), in the pod's network namespace with the same volumes.
//! - Readiness follows the containers' state and their probes ([`probe`]).
//! - ConfigMap volumes are written exactly as the kubelet's AtomicWriter writes them, and updated
//!   the same way on `apply`, so the proxy hot-reloads as it would in a cluster.
//! - Cluster DNS is a dnsmasq instance answering `<service>.<namespace>.svc.cluster.local`.
//!
//! Everything the harness creates is recorded in a state directory as it is created, so `down`
//! (and the teardown after a failure or a signal) removes exactly that and nothing else.

pub mod cluster;
pub mod dns;
pub mod kubelet;
pub mod manifest;
pub mod net;
pub mod pod;
pub mod podman;
pub mod probe;
pub mod process;
pub mod state;

use std::fmt;

/// An error with a message meant for people: what failed and, where it helps, what to do.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(e.to_string())
    }
}

/// The harness's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Builds an [`Error`] from a format string.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => { $crate::Error(format!($($arg)*)) };
}

/// Adds what was being done to an error.
pub trait Context<T> {
    /// Prefixes the error with `what`.
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error(format!("{}: {e}", what())))
    }
}
