//! `l7mpc diff`: the compiled objects against what a cluster (or an output directory) holds, as
//! a unified diff per object that differs, like `kubectl diff`.
//!
//! Both sides go through the same [`live::normalise`] and the same YAML printer, so only
//! content differences show, never formatting or the fields the API server adds. Objects of
//! the other side take part when l7mpc manages them (its label) or when the compiled output has
//! one of the same kind, namespace and name: a managed object that is no longer compiled shows
//! as removed, everything else in a dump is left out.

use std::collections::BTreeMap;

use serde_json::Value;
use similar::TextDiff;

use crate::emit::{Emitted, MANAGED_BY};

pub mod live;

/// An object's identity: kind, namespace, name.
type Key = (String, String, String);

/// The unified diff of `compiled` against `other` (empty when they agree). `namespace` is the
/// namespace of objects of `other` that name none.
///
/// # Errors
/// A compiled document that does not parse back: an l7mpc bug (see [`Emitted::value`]).
pub fn diff(compiled: &[&Emitted], other: Vec<Value>, namespace: &str) -> Result<String, String> {
    let mut sides: BTreeMap<Key, (Option<String>, Option<String>)> = BTreeMap::new();
    for doc in compiled {
        let key = (doc.kind.clone(), doc.namespace.clone(), doc.name.clone());
        sides.entry(key).or_default().1 = Some(text(doc.value()?));
    }
    for value in other {
        let field = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
        let key = (
            field("/kind").unwrap_or_default().to_string(),
            field("/metadata/namespace")
                .unwrap_or(namespace)
                .to_string(),
            field("/metadata/name").unwrap_or_default().to_string(),
        );
        let label = format!("/metadata/labels/{}", MANAGED_BY.0.replace('/', "~1"));
        if field(&label) == Some(MANAGED_BY.1) || sides.contains_key(&key) {
            sides.entry(key).or_default().0 = Some(text(value));
        }
    }
    let mut out = String::new();
    for ((kind, namespace, name), (old, new)) in &sides {
        if old == new {
            continue;
        }
        let header = |side: &str, text: &Option<String>| match text {
            Some(_) => format!("{side}/{kind}/{namespace}/{name}"),
            None => "/dev/null".to_string(),
        };
        let old_text = old.as_deref().unwrap_or_default();
        let new_text = new.as_deref().unwrap_or_default();
        let lines = TextDiff::from_lines(old_text, new_text);
        let mut unified = lines.unified_diff();
        unified.header(&header("against", old), &header("compiled", new));
        out.push_str(&unified.to_string());
    }
    Ok(out)
}

/// An object as normalised YAML text; printing a `Value` cannot fail.
fn text(mut value: Value) -> String {
    live::normalise(&mut value);
    serde_saphyr::to_string(&value).unwrap_or_default()
}

#[cfg(test)]
mod tests;
