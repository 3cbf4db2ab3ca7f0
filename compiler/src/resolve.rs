//! Reference resolution: every `destinationRef`, `clusterRef`, `linkedVirtualService`,
//! `rulesRef`, `apply`, `routeRef` and Rule `spec.rulelist` must name an existing object of the
//! right kind, and no two objects may share a kind, namespace and name.
//!
//! A reference is `/apis/l7mp.io/v1/namespaces/NS/PLURAL/NAME` (a Kubernetes self link),
//! `NS/NAME`, or `NAME` in the referring object's namespace. Rule lists have no resource of their
//! own: `rulesRef`, `apply` and `rulelist` name the VirtualService whose listener owns the list,
//! and `routeRef` names the Rule whose action holds the route.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::diagnostics::{Code, Diagnostics, did_you_mean};
use crate::load::{Kind, Object};

/// The reference fields, anywhere in a spec, and the kind each must name.
const FIELDS: [(&str, Kind); 6] = [
    ("destinationRef", Kind::Target),
    ("clusterRef", Kind::Target),
    ("linkedVirtualService", Kind::VirtualService),
    ("rulesRef", Kind::VirtualService),
    ("apply", Kind::VirtualService),
    ("routeRef", Kind::Rule),
];

/// A resolved reference: object `from` names object `to` at `pointer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// Index of the referring object.
    pub from: usize,
    /// JSON pointer of the reference within it.
    pub pointer: String,
    /// Index of the object referred to.
    pub to: usize,
}

/// Objects by kind, namespace and name.
type Index<'a> = BTreeMap<(Kind, &'a str, &'a str), usize>;

/// Checks names and references of all objects; returns the references that resolved.
pub fn resolve(objects: &[Object], diags: &mut Diagnostics) -> Vec<Resolution> {
    let index = index(objects, diags);
    let mut resolved = Vec::new();
    for (from, object) in objects.iter().enumerate().filter(|(_, o)| o.kind.is_l7mp()) {
        for (pointer, text, expected) in references(object) {
            match lookup(&index, object, &text, expected) {
                Ok(to) => resolved.push(Resolution { from, pointer, to }),
                Err((code, message, hint)) => {
                    let diag = object.diag(code, &pointer, message);
                    diags.push(match hint {
                        Some(hint) => diag.hint(hint),
                        None => diag,
                    });
                }
            }
        }
    }
    resolved
}

fn index<'a>(objects: &'a [Object], diags: &mut Diagnostics) -> Index<'a> {
    let mut index = Index::new();
    for (i, object) in objects.iter().enumerate() {
        let key = (object.kind, object.namespace.as_str(), object.name.as_str());
        if let Some(&first) = index.get(&key) {
            let first: &Object = &objects[first];
            let loc = first.locate("/metadata/name");
            let message = format!(
                "defined twice: also at {}:{}:{}",
                first.file, loc.line, loc.column
            );
            diags.push(object.diag(Code::DuplicateObject, "/metadata/name", message));
        } else {
            index.insert(key, i);
        }
    }
    index
}

/// `(pointer, reference text, kind it must name)` for every reference in the object.
fn references(object: &Object) -> Vec<(String, String, Kind)> {
    let names = FIELDS.map(|(name, _)| name);
    let mut found: Vec<(String, String, Kind)> = object
        .spec_fields(&names)
        .into_iter()
        .filter_map(|(pointer, key, value)| {
            let kind = FIELDS.iter().find(|(name, _)| *name == key)?.1;
            Some((pointer, value.as_str()?.to_string(), kind))
        })
        .collect();
    if object.kind == Kind::Rule
        && let Some(list) = object
            .value()
            .pointer("/spec/rulelist")
            .and_then(Value::as_str)
    {
        found.push((
            "/spec/rulelist".into(),
            list.to_string(),
            Kind::VirtualService,
        ));
    }
    found
}

type Failure = (Code, String, Option<String>);

fn lookup(index: &Index<'_>, from: &Object, text: &str, expected: Kind) -> Result<usize, Failure> {
    let (kind, namespace, name) = parse(text, &from.namespace).ok_or_else(|| {
        let hint =
            "write NAME, NAMESPACE/NAME or /apis/l7mp.io/v1/namespaces/NAMESPACE/PLURAL/NAME";
        (
            Code::MalformedReference,
            format!("malformed reference `{text}`"),
            Some(hint.into()),
        )
    })?;
    let wrong_kind = |actual: Kind| {
        let message = format!(
            "`{text}` names a {}, but this field needs a {}",
            actual.name(),
            expected.name()
        );
        (Code::WrongKindReference, message, None)
    };
    match kind {
        Some(actual) if actual != expected => return Err(wrong_kind(actual)),
        _ => {}
    }
    if let Some(&to) = index.get(&(expected, namespace, name)) {
        return Ok(to);
    }
    let other = [Kind::VirtualService, Kind::Target, Kind::Rule]
        .into_iter()
        .find(|k| index.contains_key(&(*k, namespace, name)));
    if let Some(actual) = other {
        return Err(wrong_kind(actual));
    }
    let names = index
        .keys()
        .filter(|(k, ns, _)| *k == expected && *ns == namespace)
        .map(|(_, _, n)| *n);
    let hint = did_you_mean(name, names).map(|near| format!("did you mean `{near}`?"));
    let message = format!("no {} {namespace}/{name}", expected.name());
    Err((Code::UnresolvedReference, message, hint))
}

/// Splits a reference into the kind it names (self links only), namespace and name.
fn parse<'a>(text: &'a str, namespace: &'a str) -> Option<(Option<Kind>, &'a str, &'a str)> {
    let valid = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
    let parts: Vec<&str> = text.split('/').collect();
    let (kind, namespace, name) = match parts.as_slice() {
        ["", "apis", "l7mp.io", "v1", "namespaces", ns, plural, name] => {
            (Some(Kind::from_plural(plural)?), *ns, *name)
        }
        [ns, name] => (None, *ns, *name),
        [name] => (None, namespace, *name),
        _ => return None,
    };
    (valid(namespace) && valid(name)).then_some((kind, namespace, name))
}

#[cfg(test)]
mod tests;
