//! Schema validation of `l7mp.io` objects against the openAPIV3Schema of their generated CRD.
//!
//! Kubernetes silently prunes fields a structural schema does not define, so a typo such as
//! `destinatonRef` would be dropped on `kubectl apply` and surface only as a broken mesh. Here the
//! CRD schemas are tightened (`additionalProperties: false` on every closed object) so that such
//! fields are errors, with a "did you mean" when the intended name is close.

mod explain;
mod outline;

use std::sync::LazyLock;

use jsonschema::Validator;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::crd::{self, Spec};
use crate::diagnostics::{Code, Diagnostics};
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

/// The schema stage: validates every `l7mp.io` object and reads its spec into
/// [`Object::crd`], once, dropping the JSON it was read from. Later stages take only the typed
/// spec; an object whose spec does not read as its type has none, and a diagnostic says why.
pub fn check(objects: &mut [Object], diags: &mut Diagnostics) {
    for object in objects {
        check_object(object, diags);
    }
}

/// The schema stage for one object (other kinds pass untouched): the front half runs it on
/// each object as it is loaded, so that the JSON of a large input is never all alive at once.
pub fn check_object(object: &mut Object, diags: &mut Diagnostics) {
    if !object.kind.is_l7mp() {
        return;
    }
    let reported = Reported(validate(object, diags));
    match read(object) {
        Ok(spec) => object.crd = Some(spec),
        Err(e) => {
            if !reported.any() {
                let message = format!("the spec does not read as a {}: {e}", object.kind.name());
                let hint = "change the value the message names to one of its type";
                diags.push(object.diag(Code::InvalidValue, "/spec", message).hint(hint));
            }
            object.outline = Some(Box::new(outline::outline(object, &reported, diags)));
        }
    }
    object.take_value();
}

/// Validates an `l7mp.io` object, pushing a diagnostic per violation; other kinds pass.
/// Returns the pointers of the violations.
pub fn validate(object: &Object, diags: &mut Diagnostics) -> Vec<String> {
    let Some((_, schema, validator)) = VALIDATORS.iter().find(|v| v.0 == object.kind) else {
        return Vec::new();
    };
    let mut reported = Vec::new();
    for error in validator.iter_errors(object.value()) {
        for diag in explain::diagnostics(object, schema, &error) {
            reported.push(diag.field.clone());
            diags.push(diag);
        }
    }
    reported
}

/// The pointers of the schema violations of one object.
struct Reported(Vec<String>);

impl Reported {
    fn any(&self) -> bool {
        !self.0.is_empty()
    }

    /// Whether a violation was reported at `pointer`, inside it or around it: then a node
    /// there that does not read needs no diagnostic of its own.
    fn covers(&self, pointer: &str) -> bool {
        let within = |inner: &str, outer: &str| {
            inner
                .strip_prefix(outer)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        self.0
            .iter()
            .any(|p| within(p, pointer) || within(pointer, p))
    }
}

/// The typed spec of `object`. The types and the schema come from the same definitions, so a
/// spec that passed validation reads; one that did not has been reported. Should the two ever
/// disagree, the caller reports the reading error rather than let the object drop out silently.
fn read(object: &Object) -> Result<Spec, serde_json::Error> {
    let spec = object.value().get("spec").unwrap_or(&Value::Null);
    Ok(match object.kind {
        Kind::VirtualService => Spec::VirtualService(Deserialize::deserialize(spec)?),
        Kind::Target => Spec::Target(Deserialize::deserialize(spec)?),
        // Kind::Rule: only `l7mp.io` objects are read.
        _ => Spec::Rule(Deserialize::deserialize(spec)?),
    })
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
