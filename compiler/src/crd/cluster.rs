//! Clusters: where a route sends traffic, with their endpoints and load balancer.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::protocol::ClusterSpec;
use super::selector::Selector;

/// A cluster, defined in a Target or inline in a route.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// Name of an inline cluster; a Target's cluster takes the Target's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Protocol and its settings.
    pub spec: ClusterSpec,
    /// The upstream endpoints, static or selected pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<Endpoint>>,
    /// How an endpoint is picked for a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loadbalancer: Option<LoadBalancer>,
    /// Free-form options, accepted for compatibility with oa2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::free_form_object")]
    pub options: Option<Value>,
}

/// An endpoint: a fixed address or socket (`spec`) or the pods a `selector` matches.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[schemars(extend("anyOf" = [{"required": ["spec"]}, {"required": ["selector"]}]))]
pub struct Endpoint {
    /// Name of the endpoint; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A fixed address or socket path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<EndpointSpec>,
    /// Pods that are endpoints, one endpoint each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
}

/// Where a fixed endpoint is: an address for network protocols, a file for Unix sockets.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[schemars(extend("oneOf" = [{"required": ["address"]}, {"required": ["filename"]}]))]
pub struct EndpointSpec {
    /// IP address or DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Unix domain socket path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Relative weight for the ConsistentHash load balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// A cluster's load balancer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct LoadBalancer {
    /// The policy.
    pub policy: LoadBalancerPolicy,
    /// JSON pointer into the session metadata to hash on; random when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Load balancing policies of the original l7mp.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum LoadBalancerPolicy {
    /// Always the first endpoint.
    Trivial,
    /// Hash ring on `key`, with endpoint weights.
    ConsistentHash,
    /// The original's alias for `ConsistentHash`.
    HashRing,
}
