//! Routes: the chain of clusters a session passes through, and their retry policy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Cluster, Ref};

/// A route: the chain of clusters a session passes through.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Unique among routes; optional for inline routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the session ends up (`cluster` is the original's older spelling).
    #[serde(alias = "cluster")]
    pub destination: Ref<Cluster>,
    /// Hops between the source and the destination.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Ref<Cluster>>,
    /// Hops between the destination and the source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<Ref<Cluster>>,
    /// Connect and reconnect policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
}

/// Retry policy of a route. Fields left out take their defaults (unlike the original, where a
/// partial object silently disabled retries).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// When to retry (default `never`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<RetryOn>,
    /// Extra attempts (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_retries: Option<u32>,
    /// Milliseconds each connect attempt may take (default 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// The failures a route retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RetryOn {
    /// Never: a failed connect or a disconnect ends the session.
    Never,
    /// Retry failed connects.
    ConnectFailure,
    /// Reconnect a hop that disconnects.
    Disconnect,
    /// Both.
    Always,
}
