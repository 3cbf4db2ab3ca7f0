//! Evaluating a selector against one pod. Pure functions over JSON, so the same code serves pod
//! templates (seen as pods) and real pods.

use serde_json::{Map, Value};

use crate::crd::{FieldOperator, LabelOperator, Selector};

/// The Service named by a `matchService` selector: its namespace and label selector.
#[derive(Clone, Copy, Debug)]
pub struct ServiceSelector<'a> {
    /// The Service's namespace; it selects pods of that namespace only.
    pub namespace: &'a str,
    /// `spec.selector`; a Service without one selects no pods.
    pub labels: Option<&'a Map<String, Value>>,
}

/// A pod (template) as selectors see it: its metadata and spec where its object has them, in
/// its object's namespace. Borrowed, not built: endpoint resolution keeps every workload's pod
/// for as long as lowering runs.
#[derive(Clone, Copy, Debug)]
pub struct Pod<'a> {
    /// The namespace the pod is in; None when its metadata is not a mapping, as such a pod
    /// carries no namespace for a selector to match.
    pub namespace: Option<&'a str>,
    /// Its `metadata`, if it has any.
    pub metadata: Option<&'a Value>,
    /// Its `spec`, if it has one.
    pub spec: Option<&'a Value>,
}

impl<'a> Pod<'a> {
    /// Its labels.
    pub fn labels(&self) -> Option<&'a Map<String, Value>> {
        self.metadata?.get("labels")?.as_object()
    }
}

/// Whether `pod` meets every requirement of `selector`. `service` is the Service named by
/// `matchService` (None when that Service does not exist: nothing matches).
pub fn matches(selector: &Selector, pod: &Pod<'_>, service: Option<ServiceSelector<'_>>) -> bool {
    let labels = pod.labels();
    let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
    let namespace = pod.namespace;
    let match_labels = selector.match_labels.iter().flatten();
    let expressions = selector.match_expressions.iter().flatten();
    let fields = selector.match_fields.iter().flatten();
    match_labels
        .into_iter()
        .all(|(k, v)| label(k) == Some(v.as_str()))
        && expressions.into_iter().all(|e| {
            label_matches(
                e.operator,
                label(&e.key),
                e.values.as_deref().unwrap_or_default(),
            )
        })
        && fields.into_iter().all(|f| {
            field_matches(
                f.operator,
                field(pod, &f.key).as_deref(),
                f.values.as_deref().unwrap_or_default(),
            )
        })
        && selector
            .match_namespace
            .as_deref()
            .is_none_or(|ns| namespace == Some(ns))
        && (selector.match_service.is_none() || service.is_some_and(|s| service_matches(s, pod)))
}

fn label_matches(op: LabelOperator, value: Option<&str>, values: &[String]) -> bool {
    let listed = value.is_some_and(|v| values.iter().any(|x| x == v));
    match op {
        LabelOperator::In => listed,
        LabelOperator::NotIn => !listed,
        LabelOperator::Exists => value.is_some(),
        LabelOperator::DoesNotExist => value.is_none(),
    }
}

fn field_matches(op: FieldOperator, value: Option<&str>, values: &[String]) -> bool {
    let compare = |want: std::cmp::Ordering| {
        let number = |s: &str| s.trim().parse::<i64>().ok();
        match (
            value.and_then(number),
            values.first().and_then(|v| number(v)),
        ) {
            (Some(have), Some(limit)) => have.cmp(&limit) == want,
            _ => false,
        }
    };
    match op {
        FieldOperator::In => label_matches(LabelOperator::In, value, values),
        FieldOperator::NotIn => label_matches(LabelOperator::NotIn, value, values),
        FieldOperator::Exists => value.is_some(),
        FieldOperator::DoesNotExist => value.is_none(),
        FieldOperator::Gt => compare(std::cmp::Ordering::Greater),
        FieldOperator::Lt => compare(std::cmp::Ordering::Less),
    }
}

/// The scalar at a dotted path of the pod, as text; objects, lists and absent fields are None.
/// `metadata.namespace` is the pod's namespace.
fn field(pod: &Pod<'_>, dotted: &str) -> Option<String> {
    let mut keys = dotted.split('.');
    let base = match keys.next()? {
        "metadata" => {
            let mut rest = keys.clone();
            if let (Some("namespace"), Some(namespace)) = (rest.next(), pod.namespace) {
                return rest.next().is_none().then(|| namespace.to_string());
            }
            pod.metadata
        }
        "spec" => pod.spec,
        _ => None,
    };
    let value = keys.try_fold(base?, |v, key| v.get(key))?;
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

/// A Service selects the pods of its namespace that carry all of its selector's labels.
fn service_matches(service: ServiceSelector<'_>, pod: &Pod<'_>) -> bool {
    let Some(wanted) = service.labels.filter(|w| !w.is_empty()) else {
        return false;
    };
    let labels = pod.labels();
    pod.namespace == Some(service.namespace)
        && wanted
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn selector(value: Value) -> Selector {
        serde_json::from_value(value).unwrap()
    }

    fn pod() -> Pod<'static> {
        static POD: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
            json!({"metadata": {"labels": {"app": "worker", "tier": "2"}},
                   "spec": {"nodeName": "n1", "priority": 5}})
        });
        Pod {
            namespace: Some("default"),
            metadata: POD.get("metadata"),
            spec: POD.get("spec"),
        }
    }

    #[test]
    fn labels_and_expressions() {
        let yes = [
            json!({}),
            json!({"matchLabels": {"app": "worker"}}),
            json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["worker", "x"]}]}),
            json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}]}),
            json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
            json!({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}),
        ];
        for s in yes {
            assert!(matches(&selector(s.clone()), &pod(), None), "{s}");
        }
        let no = json!({"matchLabels": {"app": "worker", "tier": "3"}});
        assert!(!matches(&selector(no), &pod(), None));
    }

    #[test]
    fn fields_and_namespace() {
        let yes = [
            json!({"matchFields": [{"key": "spec.nodeName", "operator": "In", "values": ["n1"]}]}),
            json!({"matchFields": [{"key": "spec.priority", "operator": "Gt", "values": ["4"]}]}),
            json!({"matchFields": [{"key": "spec.priority", "operator": "Lt", "values": ["6"]}]}),
            json!({"matchFields": [{"key": "spec.missing", "operator": "DoesNotExist"}]}),
            json!({"matchNamespace": "default"}),
            json!({"matchFields": [{"key": "metadata.namespace", "operator": "In", "values": ["default"]}]}),
        ];
        for s in yes {
            assert!(matches(&selector(s.clone()), &pod(), None), "{s}");
        }
        assert!(!matches(
            &selector(json!({"matchNamespace": "kube-system"})),
            &pod(),
            None
        ));
    }

    #[test]
    fn services() {
        let s = selector(json!({"matchService": "worker"}));
        let labels = json!({"app": "worker"});
        let service = |namespace| ServiceSelector {
            namespace,
            labels: labels.as_object(),
        };
        assert!(matches(&s, &pod(), Some(service("default"))));
        assert!(!matches(&s, &pod(), Some(service("other"))));
        assert!(!matches(&s, &pod(), None));
    }
}
