//! The `l7mp.io/v1` custom resources (VirtualService, Target, Rule) as Rust types.
//!
//! The types are the single definition of the input format: the CRD manifests that `l7mpc crds`
//! prints and the JSON Schemas that [`crate::schema`] validates against are both generated from
//! them, so the two cannot drift. Shapes follow the original l7mp CRD (oa2).

mod cluster;
mod protocol;
mod route;
mod selector;
mod walk;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{CustomResource, CustomResourceExt};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

pub use cluster::{Cluster, Endpoint, EndpointSpec, LoadBalancer, LoadBalancerPolicy};
pub use protocol::{
    AddressPort, ClusterSpec, ClusterTransport, HeaderEntry, HeaderSet, ListenerSpec,
    ListenerTransport, Port, UdpMode,
};
pub use route::{Action, ClusterOrRef, Listener, MatchRule, Retry, RetryOn, Rewrite, Route};
pub use selector::{
    FieldOperator, FieldRequirement, LabelOperator, LabelRequirement, Labels, Selector,
};
pub use walk::{Nodes, Outline, RefField};

/// The typed `spec` of an `l7mp.io` object: what the schema stage reads each one into, once,
/// so that later stages work on these types rather than re-reading JSON. Each kind is boxed on
/// its own: a large mesh holds a spec per object, each the size of its own kind rather than
/// of the largest.
#[derive(Clone, Debug, PartialEq)]
pub enum Spec {
    /// A VirtualService's spec.
    VirtualService(Box<VirtualServiceSpec>),
    /// A Target's spec.
    Target(Box<TargetSpec>),
    /// A Rule's spec.
    Rule(Box<RuleSpec>),
}

impl Spec {
    /// The object's own selector, `spec.selector`, which places it on workloads.
    pub fn selector(&self) -> Option<&Selector> {
        match self {
            Spec::VirtualService(v) => Some(&v.selector),
            Spec::Target(t) => t.selector.as_ref(),
            Spec::Rule(r) => r.selector.as_ref(),
        }
    }

    /// The VirtualService spec, if this is one.
    pub fn virtual_service(&self) -> Option<&VirtualServiceSpec> {
        match self {
            Spec::VirtualService(v) => Some(v.as_ref()),
            _ => None,
        }
    }

    /// The Target spec, if this is one.
    pub fn target(&self) -> Option<&TargetSpec> {
        match self {
            Spec::Target(t) => Some(t.as_ref()),
            _ => None,
        }
    }

    /// The Rule spec, if this is one.
    pub fn rule(&self) -> Option<&RuleSpec> {
        match self {
            Spec::Rule(r) => Some(r.as_ref()),
            _ => None,
        }
    }
}

/// A listener placed on the proxies of the selected workloads.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "l7mp.io",
    version = "v1",
    kind = "VirtualService",
    namespaced,
    shortname = "vsvc"
)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    /// The workloads whose proxies get the listener.
    pub selector: Selector,
    /// The listener.
    pub listener: Listener,
    /// Accepted for compatibility with the original operator; has no effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_owners: Option<bool>,
}

/// A cluster placed on the proxies of the selected workloads, defined inline or as the
/// listener of a linked VirtualService.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(group = "l7mp.io", version = "v1", kind = "Target", namespaced)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("oneOf" = [{"required": ["cluster"]}, {"required": ["linkedVirtualService"]}]))]
pub struct TargetSpec {
    /// The workloads whose proxies get the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    /// The cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Cluster>,
    /// A VirtualService whose listener protocol and pods make up the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_virtual_service: Option<String>,
}

/// A rule inserted into the rule list of a VirtualService's listener, on the selected workloads.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(group = "l7mp.io", version = "v1", kind = "Rule", namespaced)]
#[serde(rename_all = "camelCase")]
pub struct RuleSpec {
    /// The workloads whose proxies get the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    /// The VirtualService whose rule list gets the rule.
    pub rulelist: String,
    /// Index in the rule list; appended when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// The rule.
    pub rule: MatchRule,
    /// Accepted for compatibility with the original operator; has no effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_owners: Option<bool>,
}

/// The three CRDs, in a fixed order.
pub fn definitions() -> [CustomResourceDefinition; 3] {
    [VirtualService::crd(), Target::crd(), Rule::crd()]
}

/// The CRDs as one multi-document YAML stream, byte-for-byte deterministic, for `l7mpc crds`
/// and `schemas/crds.yaml`.
pub fn crds_yaml() -> String {
    let docs: Vec<String> = definitions()
        .iter()
        .map(|crd| serde_saphyr::to_string(crd).unwrap_or_default())
        .collect();
    let mut out = String::new();
    for doc in docs {
        out.push_str("---\n");
        out.push_str(&doc);
    }
    out
}

/// Schema of a JSON object whose content is not checked (JSON predicates, free-form options):
/// Kubernetes keeps its fields instead of pruning them.
fn free_form_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// Schema of any JSON value (a rewrite's value may be a string, number or object).
fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"x-kubernetes-preserve-unknown-fields": true})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crds_are_self_contained() {
        // Kubernetes rejects `$ref` in a CRD schema, so every type must inline.
        assert!(!crds_yaml().contains("$ref"));
    }

    #[test]
    fn checked_in_crds_are_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/crds.yaml");
        let expected = crds_yaml();
        if std::env::var_os("L7MPC_ACCEPT").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            actual == expected,
            "schemas/crds.yaml is stale: regenerate it with \
             `cargo run -p l7mpc -- crds > schemas/crds.yaml` \
             (or `L7MPC_ACCEPT=1 cargo test -p l7mpc`)"
        );
    }
}
