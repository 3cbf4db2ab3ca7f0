//! One container as a host process: its command line and environment as Kubernetes builds them,
//! and the namespaces it runs in. Each container gets its own mount namespace (inside its pod's
//! network namespace) in which the pod's directories are bind-mounted: `/tmp`, the volumes at
//! their `mountPath`, `/etc/resolv.conf` and `/etc/hosts`. The pod's containers bind the same
//! directories, so they share them exactly as a pod's containers share its volumes; the host sees
//! none of these mounts, and they vanish with the processes.

mod env;
mod expand;
mod files;
mod mounts;
mod plan;
mod program;
mod spawn;
mod volumes;

use serde_json::Value;

pub use env::{container_env, manifest_env};
pub use expand::{expand, expand_list};
pub use files::prepare_files;
pub use mounts::{Mount, container_mounts, ensure_targets, mount_points};
pub use plan::{ContainerPlan, plan_container};
pub use program::{default_images, image_base};
pub use spawn::{command, detach};
pub use volumes::{prepare_volumes, volume_dirs};

/// The name of the environment variable that marks every process of a cluster (teardown finds
/// stray descendants by it).
pub const MARKER: &str = "L7MP_LOCALCLUSTER";

/// The containers of a pod spec (`containers` or `initContainers`).
pub fn containers<'a>(spec: &'a Value, field: &str) -> Vec<&'a Value> {
    spec.get(field)
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}
