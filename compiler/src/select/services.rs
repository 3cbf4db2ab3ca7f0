//! The Services of the input by namespace and name, for `matchService`: every selector with one
//! looks its Service up, and a scan of every object per selector made a large mesh quadratic.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ServiceSelector;
use crate::load::{Kind, Object};

/// The Services among some objects, by namespace and name; of two with one name, the first
/// (resolution reports the other).
#[derive(Debug)]
pub struct Services<'a> {
    objects: &'a [Object],
    by_name: BTreeMap<(&'a str, &'a str), usize>,
}

impl<'a> Services<'a> {
    /// Indexes the Services among `objects`.
    pub fn new(objects: &'a [Object]) -> Self {
        let mut by_name = BTreeMap::new();
        for (i, object) in objects.iter().enumerate() {
            if object.kind == Kind::Service {
                let key = (object.namespace.as_str(), object.name.as_str());
                by_name.entry(key).or_insert(i);
            }
        }
        Self { objects, by_name }
    }

    /// The Service `namespace/name`, as a selector.
    pub fn named(&self, namespace: &str, name: &str) -> Option<ServiceSelector<'a>> {
        let service = self.objects.get(*self.by_name.get(&(namespace, name))?)?;
        Some(ServiceSelector {
            namespace: &service.namespace,
            labels: service
                .value()
                .pointer("/spec/selector")
                .and_then(Value::as_object),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Diagnostics;
    use crate::load::{SourceFile, parse};

    #[test]
    fn a_service_is_found_by_namespace_and_name_and_the_first_of_two_wins() {
        let service = |ns: &str, app: &str| {
            format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: s, namespace: {ns}}}\nspec: {{selector: {{app: {app}}}}}\n---\n"
            )
        };
        let text = service("a", "first") + &service("b", "other") + &service("a", "second");
        let files = [SourceFile {
            name: "s.yaml".into(),
            text: text.into(),
        }];
        let objects = parse(&files, "default", &mut Diagnostics::default()).objects;
        let services = Services::new(&objects);
        let app = |ns: &str| {
            let found = services.named(ns, "s")?;
            Some((found.namespace, found.labels?.get("app")?.as_str()?))
        };
        assert_eq!(app("a"), Some(("a", "first")));
        assert_eq!(app("b"), Some(("b", "other")));
        assert_eq!(app("c"), None);
        assert!(services.named("a", "t").is_none());
    }
}
