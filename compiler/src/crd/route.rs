//! Listeners and their match-action rules, actions and routes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cluster::Cluster;
use super::protocol::ListenerSpec;

/// A VirtualService's listener: a protocol and port plus the rules that route its sessions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("oneOf" = [{"required": ["rules"]}, {"required": ["rulesRef"]}]))]
pub struct Listener {
    /// Name of the listener; the VirtualService's name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Protocol and its settings.
    pub spec: ListenerSpec,
    /// Inline rules, tried in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<MatchRule>>,
    /// The rule list of another VirtualService, shared (by name) instead of inline rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_ref: Option<String>,
    /// Listener options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ListenerOptions>,
}

/// Listener options.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct ListenerOptions {
    /// Seconds to keep a finished session visible for post-mortem analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<u32>,
}

/// A match-action rule; without `match` it matches every session.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct MatchRule {
    /// Name of the rule; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A JSON predicate (draft-snell-json-test) on the session metadata.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::free_form_object")]
    pub predicate: Option<Value>,
    /// What to do with a matching session.
    pub action: Action,
}

/// The action of a rule: rewrite metadata, then route, or continue in another rule list.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("not" = {"required": ["route", "routeRef"]}))]
pub struct Action {
    /// Metadata rewrites, applied in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<Vec<Rewrite>>,
    /// An inline route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    /// A route defined with a `name` in a rule of a VirtualService or Rule of the namespace
    /// (`NAME` or `NAMESPACE/NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_ref: Option<String>,
    /// The rule list of a VirtualService to evaluate next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<String>,
}

/// Sets the metadata at `path` to a value.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("oneOf" = [{"required": ["value"]}, {"required": ["valueStr"]}]))]
pub struct Rewrite {
    /// JSON pointer into the metadata; created when missing.
    pub path: String,
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::any_value")]
    pub value: Option<Value>,
    /// The value as a string, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_str: Option<String>,
}

/// A route: the destination cluster and the transform hops on the way there and back.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("oneOf" = [{"required": ["destination"]}, {"required": ["destinationRef"]}]))]
pub struct Route {
    /// Names the route so that `routeRef`s elsewhere in the namespace can use it; unique per
    /// namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An inline destination cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Box<Cluster>>,
    /// The Target whose cluster is the destination, or else a Kubernetes Service
    /// (`NAME[:PORT]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_ref: Option<String>,
    /// Hops from the listener towards the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<ClusterOrRef>>,
    /// Hops from the destination back towards the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<ClusterOrRef>>,
    /// When and how often to reconnect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
}

/// A hop: an inline cluster or a Target.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("oneOf" = [{"required": ["cluster"]}, {"required": ["clusterRef"]}]))]
pub struct ClusterOrRef {
    /// An inline cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Cluster>,
    /// The Target whose cluster is the hop, or else a Kubernetes Service (`NAME[:PORT]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<String>,
}

/// A route's retry policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct Retry {
    /// Which failures cause a retry.
    pub retry_on: RetryOn,
    /// How many times to retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_retries: Option<u32>,
    /// Connect timeout and retry delay, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// Which failures cause a retry: the proxy config's own enum, so the CRD and the proxy accept
/// exactly the same values.
pub use l7mp_config::model::RetryOn;
