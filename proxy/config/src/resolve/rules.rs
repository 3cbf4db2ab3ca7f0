//! Rule lists and rules: names inline rules, compiles matches and rewrites, resolves each
//! rule's `route` or `apply` target, and finds `apply` cycles once everything is known.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Kind, Resolver};
use crate::config::{Match, RuleConfig, RuleTarget};
use crate::model::{Action, Ref, Rule};
use crate::pointer::JsonPointer;
use crate::predicate::Predicate;

impl Resolver<'_> {
    pub(super) fn add_rulelist(
        &mut self,
        name: String,
        items: &[Ref<Rule>],
        def_at: &str,
        items_at: &str,
    ) {
        if !self.define(Kind::RuleList, &name, def_at) {
            return;
        }
        let object = format!("rulelist \"{name}\"");
        let mut rules = Vec::with_capacity(items.len());
        for (j, item) in items.iter().enumerate() {
            let at = format!("{items_at}/{j}");
            match item {
                Ref::Name(rule) => {
                    self.reference(Kind::Rule, rule, &object, &at);
                    rules.push(rule.clone());
                }
                Ref::Inline(rule) => {
                    let rule_name = rule.name.clone().unwrap_or(format!("{name}-rule-{j}"));
                    self.add_rule(rule_name.clone(), rule, &at);
                    rules.push(rule_name);
                }
            }
        }
        self.config.rulelists.insert(name, rules);
    }

    pub(super) fn add_rule(&mut self, name: String, rule: &Rule, at: &str) {
        if !self.define(Kind::Rule, &name, at) {
            return;
        }
        let object = format!("rule \"{name}\"");
        let matcher = self.compile_match(&object, rule.matcher.as_ref(), &format!("{at}/match"));
        let rewrite = self.compile_rewrites(&object, &rule.action, at);
        let Some(target) = self.rule_target(&name, &object, &rule.action, at) else {
            return;
        };
        self.config.rules.insert(
            name.clone(),
            RuleConfig {
                name,
                matcher,
                rewrite,
                target,
            },
        );
    }

    fn compile_match(&mut self, object: &str, source: Option<&Value>, at: &str) -> Option<Match> {
        let source = source.filter(|v| !v.is_string() && !v.is_null())?;
        match Predicate::compile(source) {
            Ok(predicate) => Some(Match {
                source: source.clone(),
                predicate,
            }),
            Err(e) => {
                self.error(
                    object,
                    &format!("{at}{}", e.path),
                    e.message,
                    "see draft-snell-json-test for the predicate syntax",
                );
                None
            }
        }
    }

    fn compile_rewrites(
        &mut self,
        object: &str,
        action: &Action,
        at: &str,
    ) -> Vec<(JsonPointer, Value)> {
        let mut out = Vec::with_capacity(action.rewrite.len());
        for (k, rw) in action.rewrite.iter().enumerate() {
            let field = format!("{at}/action/rewrite/{k}/path");
            if let Some(p) = self.lenient_pointer(object, &rw.path, &field) {
                out.push((p, rw.value.clone()));
            }
        }
        out
    }

    fn rule_target(
        &mut self,
        name: &str,
        object: &str,
        action: &Action,
        at: &str,
    ) -> Option<RuleTarget> {
        let field = format!("{at}/action");
        match (&action.route, &action.apply) {
            (Some(_), Some(_)) => {
                self.error(
                    object,
                    &field,
                    "the action has both `route` and `apply`".into(),
                    "keep one: `route` routes the session, `apply` continues in another rule list",
                );
                None
            }
            (None, None) => {
                self.error(
                    object,
                    &field,
                    "the action has neither `route` nor `apply`".into(),
                    "add `route:` with a destination, or `apply: <rulelist>`",
                );
                None
            }
            (None, Some(list)) => {
                self.reference(Kind::RuleList, list, object, &format!("{field}/apply"));
                Some(RuleTarget::Apply(list.clone()))
            }
            (Some(Ref::Name(route)), None) => {
                self.reference(Kind::Route, route, object, &format!("{field}/route"));
                Some(RuleTarget::Route(route.clone()))
            }
            (Some(Ref::Inline(route)), None) => {
                let route_name = route.name.clone().unwrap_or(format!("{name}-route"));
                self.add_route(route_name.clone(), route, &format!("{field}/route"));
                Some(RuleTarget::Route(route_name))
            }
        }
    }

    /// Finds `apply` cycles (which would never finish) and warns where datagrams cross a
    /// byte-stream hop and lose their boundaries.
    pub(super) fn check_routing(&mut self) {
        let listeners = self.config.listeners.clone();
        for (i, l) in listeners.iter().enumerate() {
            let mut routes = BTreeSet::new();
            let mut stack = Vec::new();
            self.collect_routes(&l.rulelist, &mut stack, &mut routes);
            for route in routes {
                self.check_framing(l, &route, i);
            }
        }
    }

    fn collect_routes(&mut self, list: &str, stack: &mut Vec<String>, out: &mut BTreeSet<String>) {
        if stack.iter().any(|s| s == list) {
            stack.push(list.to_string());
            let cycle = stack.join(" -> ");
            let at = self.defined[&(Kind::RuleList, list.to_string())].clone();
            self.error(
                &format!("rulelist \"{list}\""),
                &at,
                format!("`apply` never ends: {cycle}"),
                "break the cycle so that some rule list routes instead of applying",
            );
            stack.pop();
            return;
        }
        stack.push(list.to_string());
        let rules = self.config.rulelists.get(list).cloned().unwrap_or_default();
        for rule in rules {
            match self.config.rules.get(&rule).map(|r| r.target.clone()) {
                Some(RuleTarget::Route(route)) => {
                    out.insert(route);
                }
                Some(RuleTarget::Apply(next)) => self.collect_routes(&next, stack, out),
                None => {}
            }
        }
        stack.pop();
    }
}
