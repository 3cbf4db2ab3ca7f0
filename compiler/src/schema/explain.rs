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
    if let K::AdditionalProperties { unexpected } = error.kind() {
        return unexpected
            .iter()
            .map(|key| unknown_key(object, at, key, rule))
            .collect();
    }
    let found = object.value().pointer(at).unwrap_or(&Value::Null);
    let e = explain(error, rule, found, at);
    let diag = if e.whole {
        object.key_diag(e.code, at, e.message)
    } else {
        object.diag(e.code, at, e.message)
    };
    vec![match e.hint {
        Some(hint) => diag.hint(hint),
        None => diag,
    }]
}

/// What a schema error means for the user.
struct Explanation {
    code: Code,
    message: String,
    hint: Option<String>,
    /// The error is about an object as a whole and reads best under the key that introduces
    /// it, rather than under the object's (often multi-line) content.
    whole: bool,
}

fn explain(error: &ValidationError<'_>, rule: &Value, found: &Value, at: &str) -> Explanation {
    let value = |code, message| Explanation {
        code,
        message,
        hint: None,
        whole: false,
    };
    let whole = |code, message| Explanation {
        whole: true,
        ..value(code, message)
    };
    let port_hint = at
        .ends_with("/port")
        .then(|| "ports range from 1 to 65535".to_string());
    let keyword = error.kind().keyword();
    match error.kind() {
        K::Type { kind } => {
            let message = format!(
                "expected {}, found {}",
                expected_type(kind),
                type_name(found)
            );
            value(Code::WrongType, message)
        }
        K::Minimum { limit } | K::ExclusiveMinimum { limit } => Explanation {
            hint: port_hint,
            ..value(
                Code::OutOfRange,
                format!("{found} is below the minimum of {}", integral(limit)),
            )
        },
        K::Maximum { limit } | K::ExclusiveMaximum { limit } => Explanation {
            hint: port_hint,
            ..value(
                Code::OutOfRange,
                format!("{found} is above the maximum of {}", integral(limit)),
            )
        },
        K::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            whole(
                Code::MissingField,
                format!("missing required field `{name}`"),
            )
        }
        K::MinProperties { .. } | K::MaxProperties { .. } if is_protocol_map(rule) => {
            let count = found.as_object().map_or(0, |m| m.len());
            Explanation {
                hint: Some(format!("one of: {}", keys(rule).join(", "))),
                ..whole(
                    Code::ProtocolCount,
                    format!("names {count} protocols; exactly one is required"),
                )
            }
        }
        K::Enum { options } => invalid_enum(value, found, options),
        K::OneOfNotValid { .. } | K::AnyOf { .. } => {
            let message = format!("needs one of {}", alternatives(rule, keyword).join(" or "));
            whole(Code::InvalidCombination, message)
        }
        K::OneOfMultipleValid { .. } | K::Not { .. } => {
            let message = format!(
                "{} exclude each other",
                alternatives(rule, keyword).join(" and ")
            );
            whole(Code::InvalidCombination, message)
        }
        _ => value(Code::InvalidValue, error.to_string()),
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

fn invalid_enum(
    value: impl Fn(Code, String) -> Explanation,
    found: &Value,
    options: &Value,
) -> Explanation {
    let allowed: Vec<&str> = options
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let near = did_you_mean(found.as_str().unwrap_or_default(), allowed.iter().copied());
    Explanation {
        hint: near.map(|near| format!("did you mean `{near}`?")),
        ..value(
            Code::InvalidValue,
            format!("{found} is not one of {}", allowed.join(", ")),
        )
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
