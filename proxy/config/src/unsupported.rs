//! The original's protocols that this proxy leaves out on purpose, found before the file is
//! deserialised. serde would stop at the first unknown `protocol`; scanning the raw document
//! first lets a file that uses several of them get one diagnostic for each, with the reason
//! and where to read more, instead of a bare "unknown variant".

use serde_json::Value;

use crate::diagnostic::{Diagnostic, Severity, object_at};
use crate::yaml::{Document, child_pointer};

/// Where the reasons are written down.
const DOCS: &str = "see \"Where we differ from the original on purpose\" in proxy/README.md";

/// Which kind of spec a `protocol` belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SpecKind {
    Listener,
    Cluster,
}

/// Why `protocol` is left out, for a spec of `kind`; `None` when it is not one of those.
fn reason(kind: SpecKind, protocol: &str) -> Option<&'static str> {
    match (kind, protocol) {
        (SpecKind::Listener, "HTTP") => Some(
            "the HTTP listener is not supported, by design: it served the original's REST API, \
             and this proxy has no write API (the config file is the only way in)",
        ),
        (SpecKind::Cluster, "L7mpController") => Some(
            "the L7mpController cluster is not supported, by design: this proxy has no write \
             API (the config file is the only way in; the admin endpoint only reads)",
        ),
        (SpecKind::Cluster, "Prometheus") => Some(
            "the Prometheus cluster is not supported, by design: the metrics are on the admin \
             endpoint's /metrics",
        ),
        _ => None,
    }
}

/// One error for every spec in `doc` whose protocol is left out on purpose, in file order.
pub fn scan(file: &str, doc: &Document) -> Vec<Diagnostic> {
    let mut scan = Scan {
        file,
        doc,
        found: Vec::new(),
    };
    let root = &doc.value;
    for (i, l) in items(root, "listeners") {
        let at = format!("/listeners/{i}");
        scan.spec(
            SpecKind::Listener,
            l.get("spec"),
            &format!("{at}/spec"),
            &at,
        );
        scan.rules(l.get("rules"), &format!("{at}/rules"), &at);
    }
    for (i, c) in items(root, "clusters") {
        let at = format!("/clusters/{i}");
        scan.cluster(c, &at, &at);
    }
    for (i, list) in items(root, "rulelists") {
        let at = format!("/rulelists/{i}");
        scan.rules(list.get("rules"), &format!("{at}/rules"), &at);
    }
    for (i, rule) in items(root, "rules") {
        let at = format!("/rules/{i}");
        scan.rule(rule, &at, &at);
    }
    for (i, route) in items(root, "routes") {
        let at = format!("/routes/{i}");
        scan.route(route, &at, &at);
    }
    scan.found
}

/// The elements of the top-level array `key`, with their indexes.
fn items<'a>(root: &'a Value, key: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    root.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

struct Scan<'a> {
    file: &'a str,
    doc: &'a Document,
    found: Vec<Diagnostic>,
}

impl Scan<'_> {
    /// A listener or cluster spec at `at`, and a JSONSocket transport inside it. `top` is the
    /// top-level object it belongs to, for naming it.
    fn spec(&mut self, kind: SpecKind, spec: Option<&Value>, at: &str, top: &str) {
        let Some(spec) = spec else { return };
        if let Some(why) = spec
            .get("protocol")
            .and_then(Value::as_str)
            .and_then(|p| reason(kind, p))
        {
            let field = child_pointer(at, "protocol");
            self.found.push(Diagnostic {
                severity: Severity::Error,
                file: self.file.to_string(),
                location: self.doc.locate(&field),
                object: object_at(self.doc, top),
                field,
                message: why.to_string(),
                hint: Some(format!("remove it; {DOCS}")),
            });
        }
        self.spec(kind, spec.get("transport"), &format!("{at}/transport"), top);
    }

    fn cluster(&mut self, cluster: &Value, at: &str, top: &str) {
        self.spec(
            SpecKind::Cluster,
            cluster.get("spec"),
            &format!("{at}/spec"),
            top,
        );
    }

    /// A listener's or rule list's rules: names, or rules written inline.
    fn rules(&mut self, rules: Option<&Value>, at: &str, top: &str) {
        for (j, rule) in rules
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.rule(rule, &format!("{at}/{j}"), top);
        }
    }

    fn rule(&mut self, rule: &Value, at: &str, top: &str) {
        if let Some(route) = rule.pointer("/action/route") {
            self.route(route, &format!("{at}/action/route"), top);
        }
    }

    /// A route (inline clusters in its destination and hops); a name is skipped.
    fn route(&mut self, route: &Value, at: &str, top: &str) {
        for key in ["destination", "cluster"] {
            if let Some(c) = route.get(key) {
                self.cluster(c, &format!("{at}/{key}"), top);
            }
        }
        for dir in ["ingress", "egress"] {
            for (j, c) in route
                .get(dir)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                self.cluster(c, &format!("{at}/{dir}/{j}"), top);
            }
        }
    }
}
