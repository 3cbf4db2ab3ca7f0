//! Selectors: which pods an object is placed on, or which pods are a cluster's endpoints.
//!
//! The shape is the original l7mp operator's: Kubernetes label selectors plus `matchFields`
//! (dotted paths into the pod), `matchNamespace` and `matchService`. Evaluation lives in
//! [`crate::select`]; this module only defines the format.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A set of requirements, all of which a pod must meet.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// Labels the pod must carry with exactly these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Requirements on label values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_expressions: Option<Vec<LabelRequirement>>,
    /// Requirements on pod fields named by dotted paths such as `spec.nodeName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_fields: Option<Vec<FieldRequirement>>,
    /// The namespace the pod must be in; without it selectors span all namespaces, as in the
    /// original operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_namespace: Option<String>,
    /// A Service (in the selecting object's namespace) whose selector the pod must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_service: Option<String>,
}

/// One requirement on a label.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct LabelRequirement {
    /// The label key.
    pub key: String,
    /// How the label's value relates to `values`.
    pub operator: LabelOperator,
    /// The values for `In` and `NotIn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// The Kubernetes label selector operators.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum LabelOperator {
    /// The label exists and its value is one of `values`.
    In,
    /// The label is absent or its value is none of `values`.
    NotIn,
    /// The label exists.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// One requirement on a pod field.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct FieldRequirement {
    /// A dotted path into the pod, e.g. `metadata.name` or `spec.nodeName`.
    pub key: String,
    /// How the field's value relates to `values`.
    pub operator: FieldOperator,
    /// The values; `Gt` and `Lt` take one integer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// The operators of a field requirement: the label operators plus integer comparison.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum FieldOperator {
    /// The field's value is one of `values`.
    In,
    /// The field is absent or its value is none of `values`.
    NotIn,
    /// The field exists.
    Exists,
    /// The field is absent.
    DoesNotExist,
    /// The field is an integer greater than `values[0]`.
    Gt,
    /// The field is an integer less than `values[0]`.
    Lt,
}
