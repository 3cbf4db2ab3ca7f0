//! A cluster's remote endpoints and the load-balancing policy that picks one per session.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One remote endpoint of a cluster.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// Optional label, shown in status and logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the endpoint is.
    pub spec: EndpointSpec,
    /// Relative share of sessions under `ConsistentHash` (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// An endpoint's address.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// An IP address, a DNS name (every address it resolves to is one endpoint) or, for Unix
    /// domain socket clusters, a socket path.
    pub address: String,
}

/// Endpoint selection.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// `Trivial`, `ConsistentHash` (alias `HashRing`) or `RoundRobin`.
    pub policy: String,
    /// For `ConsistentHash`: a JSON pointer into the session metadata whose value is hashed
    /// (`IP/src_addr`, the original's spelling, is read as `/IP/src_addr`, with a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}
