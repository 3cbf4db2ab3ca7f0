//! Turns a parsed [`ConfigFile`] into a [`Config`]: names every inline object, checks every
//! reference, compiles predicates and pointers, applies defaults, and reports every problem it
//! finds (not just the first) with the file, line, object and field.
//!
//! Inline objects get names derived from their parent (`<listener>-rules`, `<rulelist>-rule-<i>`,
//! `<rule>-route`, `<route>-destination`, `<route>-ingress-<i>`, `<route>-egress-<i>`), never from
//! counters, so the same file always yields the same names.
//!
//! One `Resolver` walks the file; its methods live with the object kind they check, one file
//! each: `listener`, `rules` (rule lists, rules and `apply` cycles), `route` (routes and
//! framing), `cluster` (clusters, endpoints, load balancers) and `checks` (field checks and
//! reference checks shared by all of them).

mod checks;
mod cluster;
mod listener;
mod route;
mod rules;

use std::collections::BTreeMap;
use std::fmt;

use crate::config::Config;
use crate::diagnostic::{Diagnostic, Severity};
use crate::log_level;
use crate::model::ConfigFile;
use crate::yaml::Document;

/// The object kinds that share a name space each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Listener,
    Cluster,
    RuleList,
    Rule,
    Route,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Listener => "listener",
            Kind::Cluster => "cluster",
            Kind::RuleList => "rulelist",
            Kind::Rule => "rule",
            Kind::Route => "route",
        })
    }
}

/// A reference, checked once every object is known.
struct PendingRef {
    kind: Kind,
    name: String,
    from: String,
    field: String,
}

/// Checks `raw` (parsed from `doc` of `file`) and returns the config, or every error found.
/// Warnings come back either way.
pub fn resolve(file: &str, doc: &Document, raw: &ConfigFile) -> (Option<Config>, Vec<Diagnostic>) {
    let mut r = Resolver {
        file,
        doc,
        diags: Vec::new(),
        config: Config::default(),
        defined: BTreeMap::new(),
        refs: Vec::new(),
    };
    r.log_level(raw.admin.log_level.as_deref());
    r.walk(raw);
    r.check_refs();
    r.check_listener_clashes();
    if !r.diags.iter().any(Diagnostic::is_error) {
        r.check_routing();
    }
    let ok = !r.diags.iter().any(Diagnostic::is_error);
    (ok.then_some(r.config), r.diags)
}

struct Resolver<'a> {
    file: &'a str,
    doc: &'a Document,
    diags: Vec<Diagnostic>,
    config: Config,
    /// Where each named object was defined, to report duplicates and drive lookups.
    defined: BTreeMap<(Kind, String), String>,
    refs: Vec<PendingRef>,
}

impl Resolver<'_> {
    fn walk(&mut self, raw: &ConfigFile) {
        for (i, c) in raw.clusters.iter().enumerate() {
            let at = format!("/clusters/{i}");
            if let Some(name) = self.top_level_name(Kind::Cluster, c.name.as_deref(), &at) {
                self.add_cluster(name, c, &at);
            }
        }
        for (i, rule) in raw.rules.iter().enumerate() {
            let at = format!("/rules/{i}");
            if let Some(name) = self.top_level_name(Kind::Rule, rule.name.as_deref(), &at) {
                self.add_rule(name, rule, &at);
            }
        }
        for (i, route) in raw.routes.iter().enumerate() {
            let at = format!("/routes/{i}");
            if let Some(name) = self.top_level_name(Kind::Route, route.name.as_deref(), &at) {
                self.add_route(name, route, &at);
            }
        }
        for (i, list) in raw.rulelists.iter().enumerate() {
            let at = format!("/rulelists/{i}");
            self.add_rulelist(list.name.clone(), &list.rules, &at, &format!("{at}/rules"));
        }
        for (i, l) in raw.listeners.iter().enumerate() {
            self.add_listener(l, &format!("/listeners/{i}"));
        }
    }

    /// `admin.log_level`, as the filter the proxy runs with.
    fn log_level(&mut self, spec: Option<&str>) {
        let Some(spec) = spec else { return };
        match log_level::to_filter(spec) {
            Ok(filter) => self.config.log_level = Some(filter),
            Err(e) => self.error("admin", "/admin/log_level", e.to_string(), log_level::HINT),
        }
    }

    fn top_level_name(&mut self, kind: Kind, name: Option<&str>, at: &str) -> Option<String> {
        if name.is_none() {
            self.error(
                "",
                at,
                format!("a top-level {kind} needs a `name`"),
                "add `name: <unique name>`; only objects written inline may leave it out",
            );
        }
        name.map(str::to_string)
    }

    /// Records a definition; false (with an error) when the name is taken or malformed.
    fn define(&mut self, kind: Kind, name: &str, at: &str) -> bool {
        let object = format!("{kind} \"{name}\"");
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            self.error(
                &object,
                &format!("{at}/name"),
                "a name must be non-empty and contain no whitespace".into(),
                "use letters, digits, `-`, `_`, `.` or `/`",
            );
            return false;
        }
        if let Some(first) = self.defined.get(&(kind, name.to_string())) {
            let line = self.doc.locate(first).line;
            self.error(
                &object,
                at,
                format!("{kind} \"{name}\" is defined twice"),
                &format!("the first definition is on line {line}; rename or remove one of them"),
            );
            return false;
        }
        self.defined
            .insert((kind, name.to_string()), at.to_string());
        true
    }

    fn reference(&mut self, kind: Kind, name: &str, from: &str, field: &str) {
        self.refs.push(PendingRef {
            kind,
            name: name.to_string(),
            from: from.to_string(),
            field: field.to_string(),
        });
    }

    fn error(&mut self, object: &str, at: &str, message: String, hint: &str) {
        let d = self.diagnostic(Severity::Error, object, at, message, hint);
        self.diags.push(d);
    }

    fn diagnostic(
        &self,
        severity: Severity,
        object: &str,
        at: &str,
        message: String,
        hint: &str,
    ) -> Diagnostic {
        Diagnostic {
            severity,
            file: self.file.to_string(),
            location: self.doc.locate(at),
            object: object.to_string(),
            field: at.to_string(),
            message,
            hint: Some(hint.to_string()),
        }
    }
}
