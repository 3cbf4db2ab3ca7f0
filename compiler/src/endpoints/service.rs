//! Endpoint selectors as Kubernetes Service selectors, and the stable names of the headless
//! Services that carry them.
//!
//! A Service selects by exact label values in its own namespace, so only `matchLabels`,
//! single-value `In` expressions, `matchNamespace` and `matchService` (that Service's labels)
//! translate; anything else is reported so that the user picks `--pods` or rewrites it.

use serde_json::Value;

use crate::crd::{LabelOperator, Labels, Selector};
use crate::load::Object;
use crate::select::Services;

/// The namespace and labels of a headless Service that selects the same pods as a selector.
/// Every endpoint selector of a large mesh has one, so the labels are the compact [`Labels`]
/// rather than a map.
pub type ServiceKey = (String, Labels);

/// The Service equivalent of `selector` (written in `owner`, with `services` those of the
/// input), or why there is none.
pub fn translate(
    services: &Services<'_>,
    owner: &Object,
    selector: &Selector,
) -> Result<ServiceKey, String> {
    if selector
        .match_fields
        .as_ref()
        .is_some_and(|f| !f.is_empty())
    {
        return Err("`matchFields` has no Service selector equivalent".into());
    }
    let mut labels = selector
        .match_labels
        .as_ref()
        .map(Labels::to_map)
        .unwrap_or_default();
    for e in selector.match_expressions.iter().flatten() {
        match (e.operator, e.values.as_deref()) {
            (LabelOperator::In, Some([value])) => {
                if labels
                    .insert(e.key.clone(), value.clone())
                    .is_some_and(|v| &v != value)
                {
                    return Err(format!("label `{}` is required to have two values", e.key));
                }
            }
            _ => {
                return Err(format!(
                    "the `{:?}` requirement on `{}` is not a single-value `In`",
                    e.operator, e.key
                ));
            }
        }
    }
    if let Some(name) = &selector.match_service {
        let labels_of_service = services
            .named(&owner.namespace, name)
            .and_then(|s| s.labels)
            .ok_or_else(|| format!("Service `{name}` has no selector"))?;
        for (key, value) in labels_of_service {
            let Some(value) = value.as_str() else {
                return Err(format!("Service `{name}` has a non-string selector value"));
            };
            labels.insert(key.clone(), value.to_string());
        }
    }
    if labels.is_empty() {
        return Err(
            "the selector names no label, and a Service without labels selects no pod".into(),
        );
    }
    let namespace = selector
        .match_namespace
        .clone()
        .unwrap_or_else(|| owner.namespace.clone());
    Ok((namespace, labels.into()))
}

/// The headless Service name for an endpoint selector at `pointer` of `owner`: the owner's
/// name, plus a hash of the pointer unless it is the owner's main endpoint selector, as a
/// DNS-1035 label of at most 63 characters (truncated ones end in a hash of the full name, so
/// they stay distinct and stable).
pub fn service_name(owner: &str, pointer: &str) -> String {
    let main = matches!(
        pointer,
        "/spec/cluster/endpoints/0/selector" | "/spec/linkedVirtualService"
    );
    let mut name = sanitize(owner);
    if !main {
        name.push('-');
        name.push_str(&short_hash(pointer));
    }
    name.push_str("-endpoints");
    if name.len() > 63 {
        let hash = short_hash(&name);
        name.truncate(63 - hash.len() - 1);
        name = format!("{}-{hash}", name.trim_end_matches('-'));
    }
    name
}

/// `text` as lowercase letters, digits and dashes, starting with a letter.
fn sanitize(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    match trimmed.chars().next() {
        Some(c) if c.is_ascii_lowercase() => trimmed.to_string(),
        _ => format!("s-{trimmed}"),
    }
}

/// Eight hex digits of the SHA-256 of `text`.
fn short_hash(text: &str) -> String {
    l7mp_config::load::sha256_hex(text.as_bytes())[..8].to_string()
}

/// Whether a pod value carries a usable `status.podIP`.
pub fn pod_ip(pod: &Value) -> Option<&str> {
    pod.pointer("/status/podIP")
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels_even_when_long() {
        assert_eq!(sanitize("udp_Cluster.1"), "udp-cluster-1");
        assert_eq!(sanitize("9lives"), "s-9lives");
        assert_eq!(
            service_name("udp-cluster", "/spec/cluster/endpoints/0/selector"),
            "udp-cluster-endpoints"
        );
        let inline = service_name(
            "gw",
            "/spec/listener/rules/0/action/route/destination/endpoints/0/selector",
        );
        assert!(
            inline.starts_with("gw-") && inline.ends_with("-endpoints"),
            "{inline}"
        );
        let long = service_name(&"x".repeat(100), "/spec/linkedVirtualService");
        assert_eq!(long.len(), 63);
        assert_eq!(
            long,
            service_name(&"x".repeat(100), "/spec/linkedVirtualService")
        );
        assert_ne!(
            long,
            service_name(&"x".repeat(101), "/spec/linkedVirtualService")
        );
    }
}
