//! A cluster's current endpoints, resolved to socket addresses or paths, with the balancer built
//! for exactly that set. DNS names stand for every address they resolve to and are re-resolved
//! periodically, so endpoints follow pods without a config change.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use l7mp_config::config::{ClusterConfig, EndpointAddress};
use l7mp_config::model::ClusterSpec;

use crate::lb::{Balancer, EndpointWeight};

/// Where one endpoint is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// An IP address and port.
    Inet(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl std::fmt::Display for Address {
    /// `IP:PORT` or the socket's path, as logs and status show it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Inet(a) => a.fmt(f),
            Address::Unix(p) => p.display().fmt(f),
        }
    }
}

/// One connectable endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// For logs and status: the configured endpoint name, plus the address for DNS names.
    /// Shared: every session connected to the endpoint shows it without a copy of its own.
    pub label: Arc<str>,
    /// The address as configured (a DNS name stays a name), for WebSocket `Host` headers.
    pub host: String,
    /// Where to connect.
    pub address: Address,
}

/// The endpoints of a cluster at one moment, with their balancer.
pub struct EndpointSet {
    /// Indexed as the balancer's picks are.
    pub targets: Vec<Target>,
    /// Built for `targets`.
    pub balancer: Balancer,
}

impl EndpointSet {
    /// Builds the set for `targets` under the cluster's policy.
    pub fn new(config: &ClusterConfig, targets: Vec<Target>, weights: &[u32]) -> Self {
        let ids: Vec<EndpointWeight> = targets
            .iter()
            .zip(weights)
            .map(|(t, w)| EndpointWeight {
                id: match &t.address {
                    Address::Inet(a) => a.to_string(),
                    Address::Unix(p) => p.display().to_string(),
                },
                weight: *w,
            })
            .collect();
        Self {
            balancer: Balancer::new(config.policy, &ids),
            targets,
        }
    }
}

/// The port remote endpoints of `spec` listen on (`None` for Unix sockets and local clusters).
pub fn cluster_port(spec: &ClusterSpec) -> Option<u16> {
    match spec {
        ClusterSpec::Udp { port, .. }
        | ClusterSpec::Tcp { port, .. }
        | ClusterSpec::WebSocket { port, .. } => Some(*port),
        ClusterSpec::JsonSocket { transport, .. } => cluster_port(transport),
        _ => None,
    }
}

/// True when some endpoint is a DNS name that needs (re-)resolving.
pub fn has_names(config: &ClusterConfig) -> bool {
    config
        .endpoints
        .iter()
        .any(|e| matches!(e.address, EndpointAddress::Name(_)))
}

/// Resolves every endpoint of `config`. A name that does not resolve contributes no endpoint
/// (and is logged); the rest still work.
pub async fn resolve(config: &ClusterConfig) -> EndpointSet {
    let mut targets = Vec::new();
    let mut weights = Vec::new();
    let port = cluster_port(&config.spec);
    for e in &config.endpoints {
        let host = e.address.to_string();
        match (&e.address, port) {
            (EndpointAddress::Path(path), _) => {
                targets.push(Target {
                    label: e.name.as_str().into(),
                    host,
                    address: Address::Unix(path.clone()),
                });
                weights.push(e.weight);
            }
            (EndpointAddress::Ip(ip), Some(port)) => {
                targets.push(Target {
                    label: e.name.as_str().into(),
                    host,
                    address: Address::Inet(SocketAddr::new(*ip, port)),
                });
                weights.push(e.weight);
            }
            (EndpointAddress::Name(name), Some(port)) => {
                match tokio::net::lookup_host((name.as_str(), port)).await {
                    Ok(addrs) => {
                        let mut addrs: Vec<SocketAddr> = addrs.collect();
                        addrs.sort();
                        addrs.dedup();
                        for a in addrs {
                            targets.push(Target {
                                label: format!("{}/{}", e.name, a.ip()).into(),
                                host: host.clone(),
                                address: Address::Inet(a),
                            });
                            weights.push(e.weight);
                        }
                    }
                    Err(err) => tracing::warn!(
                        cluster = %config.name, endpoint = %name, error = %err,
                        "endpoint name does not resolve"
                    ),
                }
            }
            // Network addresses exist only on network clusters, which have a port (load
            // refuses endpoints on in-proxy clusters).
            (EndpointAddress::Ip(_) | EndpointAddress::Name(_), None) => {}
        }
    }
    EndpointSet::new(config, targets, &weights)
}
