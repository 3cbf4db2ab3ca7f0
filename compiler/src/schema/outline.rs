//! The outline of an `l7mp.io` object whose spec does not read as a whole: its selectors,
//! routes and references, each read on its own, so that one bad field (already reported) does
//! not also hide where the object is placed and what it refers to.

use serde::Deserialize;
use serde_json::Value;

use super::Reported;
use crate::crd::{Outline, RefField};
use crate::diagnostics::{Code, Diagnostics};
use crate::load::{Kind, Object};

/// The reference fields, found at any depth of a spec.
const REFERENCES: [&str; 6] = [
    "destinationRef",
    "clusterRef",
    "linkedVirtualService",
    "rulesRef",
    "apply",
    "routeRef",
];

/// Reads the outline of `object`, whose violations are `reported`. A part that does not read
/// although no violation was reported there gets a diagnostic of its own.
pub(super) fn outline(object: &Object, reported: &Reported, diags: &mut Diagnostics) -> Outline {
    let mut outline = Outline::default();
    let mut unread = |pointer: &str, what: &str, e: &dyn std::fmt::Display| {
        if !reported.covers(pointer) {
            let message = format!("this does not read as {what}: {e}");
            let hint = "write it in the form the CRD gives its field (`l7mpc crds` prints them)";
            diags.push(object.diag(Code::InvalidValue, pointer, message).hint(hint));
        }
    };
    for (pointer, _, value) in object.spec_fields(&["selector"]) {
        match Deserialize::deserialize(value) {
            Ok(selector) => outline.selectors.push((pointer, selector)),
            Err(e) => unread(&pointer, "a selector", &e),
        }
    }
    for (pointer, _, value) in object.spec_fields(&["route"]) {
        match Deserialize::deserialize(value) {
            Ok(route) => outline.routes.push((pointer, route)),
            Err(e) => unread(&pointer, "a route", &e),
        }
    }
    let mut references = object.spec_fields(&REFERENCES);
    if object.kind == Kind::Rule
        && let Some(list) = object.value().pointer("/spec/rulelist")
    {
        references.push(("/spec/rulelist".into(), "rulelist".into(), list));
    }
    for (pointer, key, value) in references {
        match (RefField::named(&key), value) {
            (Some(field), Value::String(text)) => {
                outline.references.push((pointer, field, text.clone()));
            }
            _ => unread(&pointer, "a reference", &"expected a string"),
        }
    }
    outline
}
