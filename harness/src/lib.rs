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
