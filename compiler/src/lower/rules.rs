//! Listeners, rule lists, rules and routes.
//!
//! Every VirtualService with `rules` owns a named rule list, `NAMESPACE/NAME`; its listener and
//! every listener with `rulesRef` to it refer to the list by that name, and `apply` continues in
//! it. A route written with a `name` becomes a named route, `NAMESPACE/NAME`, that its own rule
//! and every `routeRef` to it refer to; routes without a name stay inline. Each list, route and
//! cluster is lowered once; [`super::assemble`] puts on each proxy what its listeners reach.

use std::collections::BTreeSet;

use l7mp_config::model::{self, Ref};

use super::{HopPlan, ListenerPlan, Lowering, Origin, spec};
use crate::crd::{ClusterOrRef, Listener, MatchRule, Route};
use crate::diagnostics::{Code, Diagnostics};
use crate::load::Kind;
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

/// A named route, lowered once where it is defined.
#[derive(Clone, Debug)]
pub struct RoutePlan {
    /// The proxy route, named.
    pub route: model::Route,
    /// Its hops in traffic order.
    pub hops: Vec<HopPlan>,
}

/// The rule list a VirtualService owns, as written (Rule objects are merged per proxy).
#[derive(Clone, Debug)]
pub struct ListPlan {
    /// Its name, `NAMESPACE/NAME` of the VirtualService.
    pub name: String,
    /// How many rules the VirtualService writes (the bound of a Rule's `position`).
    pub len: usize,
    /// The rules that lowered, with their index in the list.
    pub rules: Vec<(usize, RulePlan)>,
}

impl Lowering<'_> {
    /// The listener of VirtualService `vsvc`, named `namespace/name`, referring to its rule list
    /// by name; None when it cannot be lowered (the reason has been reported).
    pub(super) fn listener(
        &mut self,
        vsvc: usize,
        diags: &mut Diagnostics,
    ) -> Option<ListenerPlan> {
        let object = &self.objects[vsvc];
        let value = object.value().pointer("/spec/listener")?;
        let listener: Listener = serde_json::from_value(value.clone()).ok()?;
        let listener_spec = match spec::listener(&listener.spec) {
            Ok(s) => s,
            Err(protocol) => {
                let message = format!("the proxy does not implement {protocol} listeners yet");
                diags.push(object.diag(Code::Unsupported, "/spec/listener/spec", message));
                return None;
            }
        };
        let owner = self.list_owner(vsvc, diags)?;
        let list = self.list(owner, diags)?.name.clone();
        Some(ListenerPlan {
            listener: model::Listener {
                name: format!("{}/{}", object.namespace, object.name),
                spec: listener_spec,
                rules: Ref::Name(list),
                options: listener.options.and_then(|o| o.track).map(|track| {
                    model::ListenerOptions {
                        track: Some(u64::from(track)),
                        ..model::ListenerOptions::default()
                    }
                }),
            },
            origin: Origin::new(vsvc, "/spec/listener"),
            list: owner,
            routes: Vec::new(),
            clusters: BTreeSet::new(),
        })
    }

    /// The VirtualService whose `rules` make up `vsvc`'s rule list: itself, or where its
    /// `rulesRef` chain ends. None (reported) for a chain that comes back to itself.
    pub(super) fn list_owner(&self, vsvc: usize, diags: &mut Diagnostics) -> Option<usize> {
        let mut current = vsvc;
        let mut seen = vec![vsvc];
        loop {
            let has_ref = self.objects[current]
                .value()
                .pointer("/spec/listener/rulesRef")
                .is_some();
            if !has_ref {
                return Some(current);
            }
            current = *self
                .refs
                .get(&(current, "/spec/listener/rulesRef".into()))?;
            if seen.contains(&current) {
                if current == vsvc {
                    let message = "this `rulesRef` chain comes back here: no VirtualService in it writes `rules`";
                    let hint = "make one VirtualService of the chain write `rules`";
                    diags.push(
                        self.objects[vsvc]
                            .diag(
                                Code::UnresolvedReference,
                                "/spec/listener/rulesRef",
                                message,
                            )
                            .hint(hint),
                    );
                }
                return None;
            }
            seen.push(current);
        }
    }

    /// The rule list VirtualService `owner` writes, lowered once; None when it has no `rules`.
    pub(super) fn list(&mut self, owner: usize, diags: &mut Diagnostics) -> Option<&ListPlan> {
        if !self.lists.contains_key(&owner) {
            // Marks the list as under way: an `apply` cycle must not lower it again.
            self.lists.insert(owner, None);
            let plan = self.lower_list(owner, diags);
            self.lists.insert(owner, plan);
        }
        self.lists.get(&owner)?.as_ref()
    }

    fn lower_list(&mut self, owner: usize, diags: &mut Diagnostics) -> Option<ListPlan> {
        let object = &self.objects[owner];
        let name = format!("{}/{}", object.namespace, object.name);
        let rules: Vec<MatchRule> =
            serde_json::from_value(object.value().pointer("/spec/listener/rules")?.clone()).ok()?;
        let mut lowered = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let at = format!("/spec/listener/rules/{i}");
            if let Some(rule) = self.rule(owner, &at, rule, diags) {
                lowered.push((i, rule));
            }
        }
        Some(ListPlan {
            name,
            len: rules.len(),
            rules: lowered,
        })
    }

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
        if action.route.is_some() {
            let pointer = format!("{at}/action/route");
            self.route_at(owner, &pointer, &mut plan, diags)?;
        } else if let Some(text) = &action.route_ref {
            let pointer = format!("{at}/action/routeRef");
            let to = *self.refs.get(&(owner, pointer))?;
            let (namespace, name) = route_name(text, &object.namespace)?;
            let (site_object, site) = self
                .named_routes
                .get(&(namespace.to_string(), name.to_string()))
                .filter(|(o, _)| *o == to)?
                .clone();
            self.route_at(site_object, &site, &mut plan, diags)?;
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

    /// Puts the route written in `object` at `pointer` into `plan`: by name when it has one
    /// (lowered once), else inline.
    fn route_at(
        &mut self,
        object: usize,
        pointer: &str,
        plan: &mut RulePlan,
        diags: &mut Diagnostics,
    ) -> Option<()> {
        let key = (object, pointer.to_string());
        if let Some(named) = self.routes.get(&key) {
            let named = named.as_ref()?;
            let name = named.route.name.clone()?;
            plan.rule.action.route = Some(Ref::Name(name.clone()));
            plan.route = Some(name);
            return Some(());
        }
        let value = self.objects[object].value().pointer(pointer)?;
        let route: Route = serde_json::from_value(value.clone()).ok()?;
        let lowered = self.route(object, pointer, &route, diags);
        let Some(name) = &route.name else {
            let (route, hops) = lowered?;
            plan.rule.action.route = Some(Ref::Inline(route));
            plan.hops = hops;
            return Some(());
        };
        let namespace = &self.objects[object].namespace;
        let name = format!("{namespace}/{name}");
        let named = lowered.map(|(mut route, hops)| {
            route.name = Some(name.clone());
            RoutePlan { route, hops }
        });
        let ok = named.is_some();
        self.routes.insert(key, named);
        ok.then_some(())?;
        plan.rule.action.route = Some(Ref::Name(name.clone()));
        plan.route = Some(name);
        Some(())
    }

    /// The route at `at` in `owner` and its hops in traffic order.
    fn route(
        &mut self,
        owner: usize,
        at: &str,
        route: &Route,
        diags: &mut Diagnostics,
    ) -> Option<(model::Route, Vec<HopPlan>)> {
        let mut hops = Vec::new();
        let mut ingress = Vec::new();
        for (j, hop) in route.ingress.iter().flatten().enumerate() {
            let at = format!("{at}/ingress/{j}");
            ingress.push(self.hop(owner, &at, &format!("ingress {j}"), hop, &mut hops, diags)?);
        }
        let destination = ClusterOrRef {
            cluster: route.destination.as_deref().cloned(),
            cluster_ref: route.destination_ref.clone(),
        };
        let destination = self.hop(owner, at, "destination", &destination, &mut hops, diags)?;
        let mut egress = Vec::new();
        for (j, hop) in route.egress.iter().flatten().enumerate() {
            let at = format!("{at}/egress/{j}");
            egress.push(self.hop(owner, &at, &format!("egress {j}"), hop, &mut hops, diags)?);
        }
        let route = model::Route {
            name: None,
            destination,
            ingress,
            egress,
            retry: route.retry.as_ref().map(|r| model::Retry {
                retry_on: Some(r.retry_on),
                num_retries: r.num_retries,
                timeout: r.timeout,
            }),
        };
        Some((route, hops))
    }

    /// One hop at `at` (a ClusterOrRef, or the route itself for its destination): the cluster's
    /// name, its plan lowered on the way.
    fn hop(
        &mut self,
        owner: usize,
        at: &str,
        role: &str,
        hop: &ClusterOrRef,
        hops: &mut Vec<HopPlan>,
        diags: &mut Diagnostics,
    ) -> Option<Ref<model::Cluster>> {
        let (field, suffix) = if role == "destination" {
            ("destinationRef", "destination")
        } else {
            ("clusterRef", "cluster")
        };
        let (name, origin) = if let Some(text) = &hop.cluster_ref {
            let pointer = format!("{at}/{field}");
            let target = *self.refs.get(&(owner, pointer.clone()))?;
            let origin = Origin::new(owner, &pointer);
            let name = if self.objects[target].kind == Kind::Service {
                self.add_service(target, text, &origin, diags)?
            } else {
                self.add_target(target, diags)
            };
            (name, origin)
        } else {
            let cluster = hop.cluster.as_ref()?;
            let object = &self.objects[owner];
            let name = format!(
                "{}/{}/{}/{}",
                object.namespace,
                object.name,
                rule_label(at),
                role.replace(' ', "-")
            );
            let origin = Origin::new(owner, &format!("{at}/{suffix}"));
            if !self.clusters.contains_key(&name) {
                let plan = self.cluster(&name, origin.clone(), cluster, diags);
                self.clusters.insert(name.clone(), plan);
            }
            (name, origin)
        };
        self.clusters.get(&name)?.as_ref()?;
        hops.push(HopPlan {
            role: role.to_string(),
            cluster: name.clone(),
            origin,
        });
        Some(Ref::Name(name))
    }
}

/// `rule-N` for a route in rule N of a VirtualService (`/spec/listener/rules/N/...`), `rule`
/// for the one rule of a Rule object: the part of an inline cluster's name saying which rule.
fn rule_label(at: &str) -> String {
    match at.strip_prefix("/spec/listener/rules/") {
        Some(rest) => format!("rule-{}", rest.split('/').next().unwrap_or_default()),
        None => "rule".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::rule_label;

    #[test]
    fn inline_clusters_are_named_after_their_rule() {
        assert_eq!(rule_label("/spec/listener/rules/3/action/route"), "rule-3");
        assert_eq!(
            rule_label("/spec/listener/rules/12/action/route/ingress/0"),
            "rule-12"
        );
        assert_eq!(rule_label("/spec/rule/action/route"), "rule");
    }
}
