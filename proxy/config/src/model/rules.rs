//! Rule lists, rules and their actions: what decides a session's route, and the metadata
//! rewrites applied before routing.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Ref, Route};

/// A named list of rules, evaluated in order; the first match wins.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleList {
    /// Unique among rule lists.
    pub name: String,
    /// Rules by name or inline.
    pub rules: Vec<Ref<Rule>>,
}

/// A rule: a predicate on the session metadata and what to do when it holds.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique among rules; optional for inline rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A JSON predicate (draft-snell-json-test); absent or a string means "always".
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub matcher: Option<Value>,
    /// What the rule does.
    pub action: Action,
}

/// A rule's action.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Metadata edits, applied in order before routing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite: Vec<Rewrite>,
    /// The route for the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Ref<Route>>,
    /// Continue in this named rule list instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<String>,
}

/// Sets a metadata field.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rewrite {
    /// JSON pointer of the field; missing parents are created. The original's spelling without
    /// the leading `/` (or with a trailing one) is read as that pointer, with a warning.
    pub path: String,
    /// The new value.
    pub value: Value,
}
