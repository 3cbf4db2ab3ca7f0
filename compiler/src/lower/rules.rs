//! Rules and their actions: rewrites, and where a rule leads (a route, a named route or
//! `apply`, which continues in another VirtualService's rule list).

use l7mp_config::model;

use super::{HopPlan, Lowering, Origin};
use crate::crd::MatchRule;
use crate::diagnostics::{Code, Diagnostics};
use crate::resolve::route_name;

/// A lowered rule with what it leads to.
#[derive(Clone, Debug)]
pub struct RulePlan {
    /// The proxy rule (its route inline or by name).
    pub rule: model::Rule,
    /// The hops of its inline route (empty with a named route or `apply`).
    pub hops: Vec<HopPlan>,
    /// The named route it uses.
    pub route: Option<String>,
    /// The VirtualService owning the rule list it continues in (`apply`), and where the
    /// `apply` is written.
    pub apply: Option<(usize, Origin)>,
}

impl Lowering<'_> {
    /// The rule written in `owner` at `at`; None when it cannot be lowered (reported).
    pub(super) fn rule(
        &mut self,
        owner: usize,
        at: &str,
        rule: &MatchRule,
        diags: &mut Diagnostics,
    ) -> Option<RulePlan> {
        let object = &self.objects[owner];
        let action = &rule.action;
        let routed = action.route.is_some() || action.route_ref.is_some();
        if routed == action.apply.is_some() {
            let (pointer, message, hint) = if routed {
                (
                    format!("{at}/action/apply"),
                    "the action both routes and applies another rule list",
                    "keep one: `route`/`routeRef` routes the session, `apply` continues in another VirtualService's rules",
                )
            } else {
                (
                    format!("{at}/action"),
                    "the action has no `route`, `routeRef` or `apply`",
                    "add `route:` with a destination, `routeRef: <route name>` or `apply: <VirtualService>`",
                )
            };
            diags.push(
                object
                    .diag(Code::InvalidCombination, &pointer, message)
                    .hint(hint),
            );
            return None;
        }
        let rewrite = action.rewrite.iter().flatten().map(|r| model::Rewrite {
            path: r.path.clone(),
            value: r
                .value
                .clone()
                .unwrap_or_else(|| r.value_str.clone().unwrap_or_default().into()),
        });
        let mut plan = RulePlan {
            rule: model::Rule {
                name: None,
                matcher: rule.predicate.clone(),
                action: model::Action {
                    rewrite: rewrite.collect(),
                    route: None,
                    apply: None,
                },
            },
            hops: Vec::new(),
            route: None,
            apply: None,
        };
        if let Some(route) = &action.route {
            let pointer = format!("{at}/action/route");
            self.route_at(owner, &pointer, route, &mut plan, diags)?;
        } else if let Some(text) = &action.route_ref {
            let pointer = format!("{at}/action/routeRef");
            let to = *self.refs.get(&(owner, pointer))?;
            let (namespace, name) = route_name(text, &object.namespace)?;
            let site = *self
                .named_routes
                .get(&(namespace.to_string(), name.to_string()))
                .filter(|site| site.object == to)?;
            self.route_at(site.object, site.pointer, site.route, &mut plan, diags)?;
        } else {
            let pointer = format!("{at}/action/apply");
            let vsvc = *self.refs.get(&(owner, pointer.clone()))?;
            let list_owner = self.list_owner(vsvc, diags)?;
            self.list(list_owner, diags); // lowered once, unless under way (a cycle)
            let target = &self.objects[list_owner];
            plan.rule.action.apply = Some(format!("{}/{}", target.namespace, target.name));
            plan.apply = Some((list_owner, Origin::new(owner, &pointer)));
        }
        Some(plan)
    }
}
