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
    pub match_labels: Option<Labels>,
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

/// `matchLabels`: label keys with the values they must have, sorted by key, as a
/// `BTreeMap<String, String>` reads, writes and describes them. A large mesh has a selector or
/// two per object, mostly with one label, and a map allocates room for eleven: this holds
/// exactly its labels. Ordered as the map is, so that it can stand in for one as a key.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Labels(Box<[(String, String)]>);

impl Labels {
    /// The labels, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The labels as a map.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0.iter().cloned().collect()
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Self {
        Labels(map.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(BTreeMap::<String, String>::deserialize(deserializer)?.into())
    }
}

impl JsonSchema for Labels {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        BTreeMap::<String, String>::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        BTreeMap::<String, String>::schema_id()
    }

    fn inline_schema() -> bool {
        BTreeMap::<String, String>::inline_schema()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        BTreeMap::<String, String>::json_schema(generator)
    }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn labels_read_and_write_as_a_sorted_map_and_hold_only_their_labels() {
        let labels: Labels = serde_json::from_value(json!({"b": "2", "a": "1"})).unwrap();
        assert_eq!(labels.0.len(), 2);
        let keys: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(
            serde_json::to_string(&labels).unwrap(),
            r#"{"a":"1","b":"2"}"#
        );
        // Ordered as their maps are.
        let one = |pairs: &[(&str, &str)]| {
            let map: BTreeMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (Labels::from(map.clone()), map)
        };
        let (a, b) = (one(&[("a", "2")]), one(&[("a", "1"), ("b", "1")]));
        assert_eq!(a.0.cmp(&b.0), a.1.cmp(&b.1));
        assert_eq!(a.0.cmp(&a.0.clone()), std::cmp::Ordering::Equal);
        assert_eq!(
            schemars::schema_for!(Labels),
            schemars::schema_for!(BTreeMap<String, String>)
        );
    }
}
