//! Selection: which pod templates and pods each selector of an `l7mp.io` object picks.
//!
//! `spec.selector` places the object on workloads (their proxies get its listener, cluster or
//! rule); selectors inside clusters pick endpoint pods. Both are evaluated against every pod
//! template (Deployment, DaemonSet, StatefulSet) and Pod. As in the original operator, a
//! selector spans all namespaces unless it has `matchNamespace`.

mod eval;

use serde_json::{Value, json};

pub use eval::{ServiceSelector, matches};

use crate::crd::{FieldOperator, LabelOperator, Selector};
use crate::diagnostics::{Code, Diagnostics, did_you_mean};
use crate::load::{Kind, Object};

/// The workloads an object's `spec.selector` places it on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Index of the `l7mp.io` object.
    pub object: usize,
    /// Indexes of the selected workloads.
    pub workloads: Vec<usize>,
}

/// Evaluates every selector; returns the placements and reports selectors that are malformed,
/// name a missing Service, or match nothing.
pub fn select(objects: &[Object], diags: &mut Diagnostics) -> Vec<Placement> {
    let pods: Vec<(usize, Value)> = objects
        .iter()
        .enumerate()
        .filter_map(|(i, o)| Some((i, as_pod(o)?)))
        .collect();
    let mut placements = Vec::new();
    for (index, object) in objects.iter().enumerate().filter(|(_, o)| o.kind.is_l7mp()) {
        for (pointer, _, value) in object.spec_fields(&["selector"]) {
            let Ok(selector) = serde_json::from_value::<Selector>(value.clone()) else {
                continue; // malformed: the schema stage has reported it
            };
            let Some(service) = check_selector(objects, object, &pointer, &selector, diags) else {
                continue;
            };
            let chosen: Vec<usize> = pods
                .iter()
                .filter(|(_, pod)| matches(&selector, pod, service))
                .map(|(i, _)| *i)
                .collect();
            if chosen.is_empty() {
                let message = "selector matches no pod template and no pod";
                diags.push(object.diag(Code::SelectorMatchesNothing, &pointer, message));
            }
            if pointer == "/spec/selector" {
                placements.push(Placement {
                    object: index,
                    workloads: chosen,
                });
            }
        }
    }
    placements
}

/// A workload's pod template (or a Pod) as a pod, with its namespace filled in.
fn as_pod(object: &Object) -> Option<Value> {
    let pod = object.value().pointer(object.kind.pod_pointer()?)?;
    let mut metadata = pod.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(map) = metadata.as_object_mut() {
        map.insert("namespace".into(), object.namespace.clone().into());
    }
    Some(json!({"metadata": metadata, "spec": pod.get("spec").cloned().unwrap_or(Value::Null)}))
}

/// Reports malformed requirements and a missing `matchService` Service. Returns None when the
/// selector cannot be evaluated, else the Service it names (if any).
fn check_selector<'o>(
    objects: &'o [Object],
    object: &Object,
    pointer: &str,
    selector: &Selector,
    diags: &mut Diagnostics,
) -> Option<Option<ServiceSelector<'o>>> {
    let labels = selector
        .match_expressions
        .iter()
        .flatten()
        .map(|e| (as_field(e.operator), &e.values));
    let fields = selector
        .match_fields
        .iter()
        .flatten()
        .map(|f| (f.operator, &f.values));
    let problems: Vec<(String, &str)> = labels
        .enumerate()
        .map(|(i, r)| (format!("{pointer}/matchExpressions/{i}"), r))
        .chain(
            fields
                .enumerate()
                .map(|(i, r)| (format!("{pointer}/matchFields/{i}"), r)),
        )
        .filter_map(|(at, (op, values))| Some((at, problem(op, values.as_deref())?)))
        .collect();
    for (at, message) in &problems {
        diags.push(object.diag(Code::InvalidSelector, at, *message));
    }
    let service = match &selector.match_service {
        Some(name) => Some(find_service(objects, object, pointer, name, diags)?),
        None => None,
    };
    problems.is_empty().then_some(service)
}

fn as_field(op: LabelOperator) -> FieldOperator {
    match op {
        LabelOperator::In => FieldOperator::In,
        LabelOperator::NotIn => FieldOperator::NotIn,
        LabelOperator::Exists => FieldOperator::Exists,
        LabelOperator::DoesNotExist => FieldOperator::DoesNotExist,
    }
}

/// What is wrong with a requirement's values for its operator, as Kubernetes defines it.
fn problem(op: FieldOperator, values: Option<&[String]>) -> Option<&'static str> {
    let values = values.unwrap_or_default();
    match op {
        FieldOperator::In | FieldOperator::NotIn if values.is_empty() => {
            Some("`In` and `NotIn` need at least one value")
        }
        FieldOperator::Exists | FieldOperator::DoesNotExist if !values.is_empty() => {
            Some("`Exists` and `DoesNotExist` take no values")
        }
        FieldOperator::Gt | FieldOperator::Lt
            if values.len() != 1 || values[0].trim().parse::<i64>().is_err() =>
        {
            Some("`Gt` and `Lt` take exactly one integer value")
        }
        _ => None,
    }
}

fn find_service<'o>(
    objects: &'o [Object],
    object: &Object,
    pointer: &str,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<ServiceSelector<'o>> {
    let services = || {
        objects
            .iter()
            .filter(|o| o.kind == Kind::Service && o.namespace == object.namespace)
    };
    if let Some(service) = services().find(|s| s.name == name) {
        return Some(ServiceSelector {
            namespace: &service.namespace,
            labels: service
                .value()
                .pointer("/spec/selector")
                .and_then(Value::as_object),
        });
    }
    let at = format!("{pointer}/matchService");
    let message = format!("no Service {}/{name}", object.namespace);
    let diag = object.diag(Code::UnknownService, &at, message);
    diags.push(
        match did_you_mean(name, services().map(|s| s.name.as_str())) {
            Some(near) => diag.hint(format!("did you mean `{near}`?")),
            None => diag.hint("add the Service's manifest to the input"),
        },
    );
    None
}

#[cfg(test)]
mod tests;
