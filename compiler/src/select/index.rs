//! Pods (templates and snapshot pods) indexed by label, so that a selector looks only at the
//! pods that carry one of its required labels instead of at every pod: with thousands of
//! selectors and workloads, a full scan per selector makes compiling quadratic.

use std::collections::HashMap;

use super::Pod;
use crate::crd::{LabelOperator, Selector};

/// Pods by object index, with a label index over them.
#[derive(Debug, Default)]
pub struct PodSet<'a> {
    pods: Vec<(usize, Pod<'a>)>,
    /// `(key, value)` → positions in `pods`, ascending.
    by_label: HashMap<(String, String), Vec<usize>>,
}

impl<'a> PodSet<'a> {
    /// Indexes `pods` (object index, pod as from [`super::as_pod`]).
    pub fn new(pods: Vec<(usize, Pod<'a>)>) -> Self {
        let mut by_label: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (position, (_, pod)) in pods.iter().enumerate() {
            let labels = pod.labels();
            for (k, v) in labels.into_iter().flatten() {
                if let Some(v) = v.as_str() {
                    by_label
                        .entry((k.clone(), v.to_string()))
                        .or_default()
                        .push(position);
                }
            }
        }
        Self { pods, by_label }
    }

    /// The pods that may match `selector`, in their original order: those carrying one of
    /// its required labels when it has one, else all. Callers still test each in full.
    pub fn candidates(&self, selector: &Selector) -> Vec<&(usize, Pod<'a>)> {
        let positions = match self.required_values(selector) {
            None => return self.pods.iter().collect(),
            Some((key, values)) => {
                let mut p: Vec<usize> = values
                    .iter()
                    .filter_map(|v| self.by_label.get(&(key.to_string(), v.to_string())))
                    .flatten()
                    .copied()
                    .collect();
                p.sort_unstable();
                p.dedup();
                p
            }
        };
        positions.into_iter().map(|i| &self.pods[i]).collect()
    }

    /// One label the selector requires, with the values it allows (`matchLabels` first, then
    /// an `In` expression), or `None` when it requires none.
    fn required_values<'s>(&self, selector: &'s Selector) -> Option<(&'s str, Vec<&'s str>)> {
        if let Some((k, v)) = selector.match_labels.iter().flatten().next() {
            return Some((k, vec![v.as_str()]));
        }
        selector
            .match_expressions
            .iter()
            .flatten()
            .find(|e| e.operator == LabelOperator::In)
            .map(|e| {
                let values = e.values.iter().flatten().map(String::as_str).collect();
                (e.key.as_str(), values)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn pod(metadata: &Value) -> Pod<'_> {
        Pod {
            namespace: Some("default"),
            metadata: Some(metadata),
            spec: None,
        }
    }

    #[test]
    fn candidates_are_the_pods_with_a_required_label_in_order() {
        let (a, b) = (
            json!({"labels": {"app": "a"}}),
            json!({"labels": {"app": "b"}}),
        );
        let set = PodSet::new(vec![(7, pod(&a)), (8, pod(&b)), (9, pod(&a))]);
        let by_labels: Selector =
            serde_json::from_value(json!({"matchLabels": {"app": "a"}})).unwrap();
        let got: Vec<usize> = set.candidates(&by_labels).iter().map(|p| p.0).collect();
        assert_eq!(got, vec![7, 9]);
        let by_in: Selector = serde_json::from_value(json!({"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["b", "a"]}]}))
        .unwrap();
        let got: Vec<usize> = set.candidates(&by_in).iter().map(|p| p.0).collect();
        assert_eq!(got, vec![7, 8, 9]);
        let any: Selector = serde_json::from_value(json!({})).unwrap();
        assert_eq!(set.candidates(&any).len(), 3);
    }
}
