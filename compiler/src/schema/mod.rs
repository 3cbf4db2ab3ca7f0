//! Schema validation of `l7mp.io` objects against the openAPIV3Schema of their generated CRD.
//!
//! Kubernetes silently prunes fields a structural schema does not define, so a typo such as
//! `destinatonRef` would be dropped on `kubectl apply` and surface only as a broken mesh. Here the
//! CRD schemas are tightened (`additionalProperties: false` on every closed object) so that such
//! fields are errors, with a "did you mean" when the intended name is close.

mod explain;

use std::sync::LazyLock;

use jsonschema::Validator;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use crate::crd;
use crate::diagnostics::Diagnostics;
use crate::load::{Kind, Object};

/// The compiled validators of the three CRDs with their schemas (for "did you mean" lookups),
/// built once per process: compiling takes far longer than validating.
static VALIDATORS: LazyLock<Vec<(Kind, Value, Validator)>> = LazyLock::new(|| {
    let kinds = [Kind::VirtualService, Kind::Target, Kind::Rule];
    kinds
        .into_iter()
        .zip(crd::definitions())
        .map(|(kind, definition)| {
            let schema = strict_schema(&definition);
            // Only a bug in the CRD types could make this fail, and the unit tests would show it.
            let validator = jsonschema::validator_for(&schema)
                .expect("the generated CRD schemas are valid JSON Schema");
            (kind, schema, validator)
        })
        .collect()
});

/// Validates an `l7mp.io` object, pushing a diagnostic per violation; other kinds pass.
pub fn validate(object: &Object, diags: &mut Diagnostics) {
    let Some((_, schema, validator)) = VALIDATORS.iter().find(|v| v.0 == object.kind) else {
        return;
    };
    for error in validator.iter_errors(object.value()) {
        for diag in explain::diagnostics(object, schema, &error) {
            diags.push(diag);
        }
    }
}

/// The CRD's openAPIV3Schema with unknown fields forbidden everywhere but in `metadata`,
/// `status` and objects explicitly left open (`x-kubernetes-preserve-unknown-fields`, maps).
fn strict_schema(definition: &CustomResourceDefinition) -> Value {
    let schema = definition
        .spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref());
    let mut schema = serde_json::to_value(schema).unwrap_or(Value::Bool(true));
    close_objects(&mut schema);
    // The CRD leaves the fields every object has implicit; added after closing so that
    // `metadata` and `status` stay open.
    if let Some(root) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        root.insert("apiVersion".into(), json!({"type": "string"}));
        root.insert("kind".into(), json!({"type": "string"}));
        root.insert("metadata".into(), json!({"type": "object"}));
        root.insert("status".into(), json!({"type": "object"}));
    }
    schema
}

/// Rewrites an OpenAPI schema into the JSON Schema that Kubernetes effectively applies, but
/// strict: closed objects reject unknown fields, and `nullable` fields accept null.
fn close_objects(schema: &mut Value) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    let is_object = map.get("type").and_then(Value::as_str) == Some("object");
    let open = map.contains_key("additionalProperties")
        || map.contains_key("x-kubernetes-preserve-unknown-fields");
    if is_object && !open {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    if map.get("nullable") == Some(&Value::Bool(true))
        && let Some(ty) = map.get("type").cloned()
    {
        map.insert("type".into(), json!([ty, "null"]));
    }
    for (key, child) in map.iter_mut() {
        match key.as_str() {
            "properties" => child
                .as_object_mut()
                .into_iter()
                .flat_map(|props| props.values_mut())
                .for_each(close_objects),
            "items" | "additionalProperties" => close_objects(child),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
