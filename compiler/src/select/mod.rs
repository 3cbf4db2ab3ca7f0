//! Selection: which pod templates and pods each selector of an `l7mp.io` object picks.
//!
//! `spec.selector` places the object on workloads (their proxies get its listener, cluster or
//! rule); selectors inside clusters pick endpoint pods. Both are evaluated against every pod
//! template (Deployment, DaemonSet, StatefulSet) and Pod. As in the original operator, a
//! selector spans all namespaces unless it has `matchNamespace`.

mod eval;
mod index;
mod services;

use serde_json::Value;

pub use eval::{Pod, ServiceSelector, matches};
pub use index::PodSet;
pub use services::Services;

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
    let pods = PodSet::new(
        objects
            .iter()
            .enumerate()
            .filter_map(|(i, o)| Some((i, as_pod(o)?)))
            .collect(),
    );
    let services = Services::new(objects);
    let mut placements = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        let Some(nodes) = object.nodes() else {
            continue;
        };
        for (pointer, selector) in nodes.selectors {
            let site = Site {
                objects,
                services: &services,
                object,
                pointer: &pointer,
            };
            let Some(workloads) = site.evaluate(selector, &pods, diags) else {
                continue;
            };
            if pointer == "/spec/selector" {
                placements.push(Placement {
                    object: index,
                    workloads,
                });
            }
        }
    }
    placements
}

/// The pods among `candidates` (object index, pod as from [`as_pod`]) that `selector`, written in
/// `owner`, picks, with `services` those of the input. Problems with the selector were reported
/// by [`select`]; here they just match nothing.
pub fn pods_matching(
    services: &Services<'_>,
    owner: &Object,
    selector: &Selector,
    candidates: &PodSet<'_>,
) -> Vec<usize> {
    let service = match &selector.match_service {
        Some(name) => match services.named(&owner.namespace, name) {
            Some(service) => Some(service),
            None => return Vec::new(),
        },
        None => None,
    };
    candidates
        .candidates(selector)
        .into_iter()
        .filter(|(_, pod)| matches(selector, pod, service))
        .map(|(i, _)| *i)
        .collect()
}

/// A workload's pod template (or a Pod) as a pod, in its object's namespace: the form
/// [`matches()`] evaluates.
pub fn as_pod(object: &Object) -> Option<Pod<'_>> {
    let pod = object.value().pointer(object.kind.pod_pointer()?)?;
    let metadata = pod.get("metadata");
    let namespace = match metadata {
        None | Some(Value::Object(_)) => Some(object.namespace.as_str()),
        Some(_) => None,
    };
    Some(Pod {
        namespace,
        metadata,
        spec: pod.get("spec"),
    })
}

/// Where a selector is: all objects and their Services, its object, and its pointer there.
struct Site<'a> {
    objects: &'a [Object],
    services: &'a Services<'a>,
    object: &'a Object,
    pointer: &'a str,
}

impl<'a> Site<'a> {
    /// The pods (by object index) the selector picks, or None if it cannot be evaluated.
    fn evaluate(
        &self,
        selector: &Selector,
        pods: &PodSet<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Vec<usize>> {
        let well_formed = self.report_malformed(selector, diags);
        let service = match &selector.match_service {
            Some(name) => Some(self.find_service(name, diags)?),
            None => None,
        };
        if !well_formed {
            return None;
        }
        let chosen: Vec<usize> = pods
            .candidates(selector)
            .into_iter()
            .filter(|(_, pod)| matches(selector, pod, service))
            .map(|(i, _)| *i)
            .collect();
        if chosen.is_empty() {
            let message = "selector matches no pod template and no pod";
            diags.push(
                self.object
                    .diag(Code::SelectorMatchesNothing, self.pointer, message),
            );
        }
        Some(chosen)
    }

    /// Reports each requirement whose values do not fit its operator; true if there is none.
    fn report_malformed(&self, selector: &Selector, diags: &mut Diagnostics) -> bool {
        let expressions = selector.match_expressions.iter().flatten().enumerate();
        let fields = selector.match_fields.iter().flatten().enumerate();
        let requirements = expressions
            .map(|(i, e)| ("matchExpressions", i, as_field(e.operator), &e.values))
            .chain(fields.map(|(i, f)| ("matchFields", i, f.operator, &f.values)));
        let mut well_formed = true;
        for (list, i, op, values) in requirements {
            if let Some(message) = problem(op, values.as_deref()) {
                let at = format!("{}/{list}/{i}", self.pointer);
                diags.push(self.object.diag(Code::InvalidSelector, &at, message));
                well_formed = false;
            }
        }
        well_formed
    }

    /// The Service a `matchService` names, in the selecting object's namespace.
    fn find_service(&self, name: &str, diags: &mut Diagnostics) -> Option<ServiceSelector<'a>> {
        let namespace = &self.object.namespace;
        if let Some(service) = self.services.named(namespace, name) {
            return Some(service);
        }
        let services = || {
            self.objects
                .iter()
                .filter(|o| o.kind == Kind::Service && &o.namespace == namespace)
        };
        let at = format!("{}/matchService", self.pointer);
        let diag = self.object.diag(
            Code::UnknownService,
            &at,
            format!("no Service {namespace}/{name}"),
        );
        diags.push(
            match did_you_mean(name, services().map(|s| s.name.as_str())) {
                Some(near) => diag.hint(format!("did you mean `{near}`?")),
                None => diag.hint("add the Service's manifest to the input"),
            },
        );
        None
    }
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

#[cfg(test)]
mod tests;
