//! The podman runtime (`up --runtime podman`): each container of a pod runs under podman from
//! the image its manifest names, inside the pod's network namespace, with the pod's volumes
//! bind-mounted from the same host directories the process runtime uses (so a ConfigMap update
//! reaches it by the kubelet's `..data` swap). Images are never pulled. Every container carries
//! the cluster's state directory as a label, so teardown finds all of them even when the state
//! lost track of one.

mod cli;
mod image;
mod list;
mod spec;
mod stop;

pub use cli::{Podman, output};
pub use image::{ImageConfig, image_config, never_pull};
pub use list::{Observed, list};
pub use spec::{RunSpec, run_args};
pub use stop::{remove_labelled, stop_and_remove};

/// The label holding the cluster's state directory.
pub const CLUSTER_LABEL: &str = "io.l7mp.localcluster";
/// The label holding the pod's name.
pub const POD_LABEL: &str = "io.l7mp.localcluster.pod";
/// The label holding the container's name in its pod.
pub const CONTAINER_LABEL: &str = "io.l7mp.localcluster.container";

/// The podman name of container `container` of pod `pod` of the cluster in `cluster_dir`: unique
/// per state directory (a hash of it), so clusters of the same name in other state directories
/// never clash.
pub fn container_name(cluster_dir: &str, pod: &str, container: &str) -> String {
    format!(
        "l7lc-{:08x}-{pod}-{container}",
        crate::net::fnv32a(cluster_dir.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differ_per_state_directory() {
        let a = container_name("/run/a/l7mp", "w-1", "echo");
        assert!(a.starts_with("l7lc-") && a.ends_with("-w-1-echo"), "{a}");
        assert_ne!(a, container_name("/run/b/l7mp", "w-1", "echo"));
    }
}
