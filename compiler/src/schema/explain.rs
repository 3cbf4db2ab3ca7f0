//! Turns JSON Schema errors into diagnostics that say what is wrong in the user's terms.

use jsonschema::error::{TypeKind, ValidationErrorKind as K};
use jsonschema::{JsonType, ValidationError};
use l7mp_config::yaml::child_pointer;
use serde_json::Value;

use crate::diagnostics::{Code, Diagnostic, did_you_mean};
use crate::load::Object;

/// The diagnostics for one schema error of `object` (several for several unknown fields).
pub(super) fn diagnostics(
    object: &Object,
    schema: &Value,
    error: &ValidationError<'_>,
) -> Vec<Diagnostic> {
    let at = error.instance_path().as_str();
    let keyword_path = error.schema_path().as_str();
    let parent = keyword_path.rsplit_once('/').map_or("", |(p, _)| p);
    let rule = schema.pointer(parent).unwrap_or(&Value::Null);
    let found = object.value().pointer(at).unwrap_or(&Value::Null);
    let diag = |code, message: String| object.diag(code, at, message);
    // Errors about an object as a whole read best under the key that introduces it.
    let whole = |code, message: String| object.key_diag(code, at, message);
    match error.kind() {
        K::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|key| unknown_key(object, at, key, rule))
            .collect(),
        K::Type { kind } => vec![diag(
            Code::WrongType,
            format!(
                "expected {}, found {}",
                expected_type(kind),
                type_name(found)
            ),
        )],
        K::Minimum { limit } | K::ExclusiveMinimum { limit } => {
            vec![out_of_range(
                diag(
                    Code::OutOfRange,
                    format!("{found} is below the minimum of {}", integral(limit)),
                ),
                at,
            )]
        }
        K::Maximum { limit } | K::ExclusiveMaximum { limit } => {
            vec![out_of_range(
                diag(
                    Code::OutOfRange,
                    format!("{found} is above the maximum of {}", integral(limit)),
                ),
                at,
            )]
        }
        K::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![diag(
                Code::MissingField,
                format!("missing required field `{name}`"),
            )]
        }
        K::MinProperties { .. } | K::MaxProperties { .. } if is_protocol_map(rule) => {
            let count = found.as_object().map_or(0, |m| m.len());
            vec![
                whole(
                    Code::ProtocolCount,
                    format!("names {count} protocols; exactly one is required"),
                )
                .hint(format!("one of: {}", keys(rule).join(", "))),
            ]
        }
        K::Enum { options } => vec![invalid_enum(diag, found, options)],
        K::OneOfNotValid { .. } | K::AnyOf { .. } => vec![whole(
            Code::InvalidCombination,
            format!(
                "needs one of {}",
                alternatives(rule, error.kind().keyword()).join(" or ")
            ),
        )],
        K::OneOfMultipleValid { .. } | K::Not { .. } => vec![whole(
            Code::InvalidCombination,
            format!(
                "{} exclude each other",
                alternatives(rule, error.kind().keyword()).join(" and ")
            ),
        )],
        _ => vec![diag(Code::InvalidValue, error.to_string())],
    }
}

fn unknown_key(object: &Object, at: &str, key: &str, rule: &Value) -> Diagnostic {
    let known = keys(rule);
    let (code, what) = if is_protocol_map(rule) {
        (Code::UnknownProtocol, "protocol")
    } else {
        (Code::UnknownField, "field")
    };
    let pointer = child_pointer(at, key);
    let diag = object.key_diag(code, &pointer, format!("unknown {what} `{key}`"));
    match did_you_mean(key, known.iter().map(String::as_str)) {
        Some(near) => diag.hint(format!("did you mean `{near}`?")),
        None if known.is_empty() => diag.hint("this object takes no fields"),
        None => diag.hint(format!("known {what}s: {}", known.join(", "))),
    }
}

fn out_of_range(diag: Diagnostic, at: &str) -> Diagnostic {
    if at.ends_with("/port") {
        diag.hint("ports range from 1 to 65535")
    } else {
        diag
    }
}

fn invalid_enum(
    diag: impl Fn(Code, String) -> Diagnostic,
    found: &Value,
    options: &Value,
) -> Diagnostic {
    let allowed: Vec<&str> = options
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let d = diag(
        Code::InvalidValue,
        format!("{found} is not one of {}", allowed.join(", ")),
    );
    match did_you_mean(found.as_str().unwrap_or_default(), allowed.iter().copied()) {
        Some(near) => d.hint(format!("did you mean `{near}`?")),
        None => d,
    }
}

/// A listener's or cluster's `spec`: one key per protocol, exactly one allowed.
fn is_protocol_map(rule: &Value) -> bool {
    rule.get("minProperties") == Some(&1.into()) && rule.get("maxProperties") == Some(&1.into())
}

fn keys(rule: &Value) -> Vec<String> {
    rule.get("properties")
        .and_then(Value::as_object)
        .map(|props| props.keys().cloned().collect())
        .unwrap_or_default()
}

/// The field names (quoted) in the `required` lists of a oneOf/anyOf/not rule.
fn alternatives(rule: &Value, keyword: &str) -> Vec<String> {
    let required = |v: &Value| -> Vec<String> {
        v.get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|s| format!("`{s}`"))
            .collect()
    };
    match rule.get(keyword) {
        Some(Value::Array(branches)) => branches.iter().flat_map(required).collect(),
        Some(single) => required(single),
        None => Vec::new(),
    }
}

/// The expected type, leaving out the `null` that optional fields also accept: nobody means
/// to write null there.
fn expected_type(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => t.to_string(),
        TypeKind::Multiple(set) => set
            .iter()
            .filter(|t| *t != JsonType::Null)
            .map(|t: JsonType| t.to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

/// A schema limit as people write it: `65535`, not `65535.0`.
fn integral(limit: &Value) -> String {
    match limit.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => limit.to_string(),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
