//! What `inject` adds to a pod: the proxy container, the ConfigMap volume its config comes from,
//! and the annotations that let Prometheus scrape it. Everything is built as typed Kubernetes
//! objects; comparing their JSON with what a pod already has is how inject stays idempotent.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, HTTPGetAction, Probe,
    ResourceRequirements, SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::workload::config_map_name;

/// The proxy image of this version of l7mpc; users retag it for their registry.
pub const DEFAULT_IMAGE: &str = concat!("localhost/l7mp-rs:", env!("CARGO_PKG_VERSION"));
/// The sidecar container's name.
pub const CONTAINER: &str = "l7mp";
/// The name of the volume holding the proxy config.
pub const CONFIG_VOLUME: &str = "l7mp-config";
/// Where the config volume is mounted.
pub const CONFIG_DIR: &str = "/etc/l7mp";
/// The ConfigMap key (file name) of the config.
pub const CONFIG_KEY: &str = "config.yaml";
/// The port the proxy serves `/metrics`, `/healthz` and `/readyz` on (its `--metrics-address`
/// default).
pub const METRICS_PORT: u16 = 9102;
/// The user and group the proxy runs as: not root, and not a user an image is likely to own
/// files as (the distroless "nonroot" id).
const RUN_AS: i64 = 65532;

/// Worker threads of an injected sidecar. The proxy's own default is one per CPU it may use,
/// which for a container without a CPU limit is every core of the node: dozens of workers,
/// each with its own sockets and buffers, for one pod's traffic, on cores it shares with the
/// app (proxy/benches/README.md, "Worker count"). A pod that needs more sets `--workers`
/// itself.
pub const SIDECAR_WORKERS: u32 = 1;

/// The `--config` path.
pub fn config_path() -> String {
    format!("{CONFIG_DIR}/{CONFIG_KEY}")
}

/// The pod annotations that make Prometheus scrape the proxy, as `(key, value)`.
pub fn scrape_annotations() -> [(&'static str, String); 3] {
    [
        ("prometheus.io/scrape", "true".into()),
        ("prometheus.io/port", METRICS_PORT.to_string()),
        ("prometheus.io/path", "/metrics".into()),
    ]
}

/// The volume of the ConfigMap `compile` emits for the workload `name`.
pub fn config_volume(name: &str) -> Volume {
    Volume {
        name: CONFIG_VOLUME.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map_name(name),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// The proxy container running `image`, with the config mount first and then `shared`: the app
/// volumes that hold its Unix sockets.
pub fn container(image: &str, shared: Vec<VolumeMount>) -> Container {
    let probe = |path: &str| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("metrics".into()),
            ..HTTPGetAction::default()
        }),
        ..Probe::default()
    };
    let config = VolumeMount {
        name: CONFIG_VOLUME.into(),
        mount_path: CONFIG_DIR.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    };
    let requests = BTreeMap::from([
        ("cpu".to_string(), Quantity("10m".into())),
        ("memory".to_string(), Quantity("32Mi".into())),
    ]);
    Container {
        name: CONTAINER.into(),
        image: Some(image.into()),
        command: Some(vec!["l7mp".into()]),
        args: Some(vec![
            "--config".into(),
            config_path(),
            "--workers".into(),
            SIDECAR_WORKERS.to_string(),
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("metrics".into()),
            container_port: i32::from(METRICS_PORT),
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(probe("/readyz")),
        liveness_probe: Some(probe("/healthz")),
        resources: Some(ResourceRequirements {
            requests: Some(requests),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(std::iter::once(config).chain(shared).collect()),
        ..Container::default()
    }
}
