//! One proxy's config: the listeners, Targets and Rules placed on its workload, the rule lists
//! its listeners reach (through `rulesRef` and `apply`), the named routes those lists use and
//! every cluster on the way, each emitted once and sorted by name.

use std::collections::{BTreeMap, BTreeSet};

use l7mp_config::model::{self, Ref};

use super::insert::InsertPlan;
use super::route::RoutePlan;
use super::rules::RulePlan;
use super::{ListenerPlan, Lowering, ProxyPlan, Shared};
use crate::load::Kind;
use crate::workload::ProxyMount;

impl Lowering<'_> {
    /// The plan of the proxy at `mount`, from what has been lowered, without its clusters, and
    /// the names of those clusters; `placed` are the objects placed on its workload, in
    /// placement order, and `here` the Rule objects, in order; `named` is
    /// [`Lowering::named_routes`].
    pub(super) fn assemble(
        &self,
        mount: &ProxyMount,
        placed: &[usize],
        listeners: &mut Shared<usize, ListenerPlan>,
        here: &[&InsertPlan],
        named: &BTreeMap<&str, &RoutePlan>,
    ) -> (ProxyPlan, BTreeSet<String>) {
        let is = |kind: Kind| move |&&object: &&usize| self.objects[object].kind == kind;
        // Sized up front: every proxy keeps its listeners until emission, and a grown Vec of
        // these large plans has room for up to twice as many.
        let mut plans = Vec::with_capacity(placed.iter().filter(is(Kind::VirtualService)).count());
        for &object in placed.iter().filter(is(Kind::VirtualService)) {
            plans.extend(listeners.take(&object));
        }
        let mut clusters: BTreeSet<String> = placed
            .iter()
            .filter(is(Kind::Target))
            .map(|&object| self.target_name(object))
            .collect();
        let mut lists: BTreeMap<String, Vec<&RulePlan>> = BTreeMap::new();
        let mut routes: BTreeMap<String, &RoutePlan> = BTreeMap::new();
        for plan in &mut plans {
            let mut reached = BTreeSet::new();
            let mut stack = vec![plan.list];
            while let Some(owner) = stack.pop() {
                if !reached.insert(owner) {
                    continue;
                }
                let Some(Some(list)) = self.lists.get(&owner) else {
                    continue;
                };
                let rules = merged(&list.rules, list.len, owner, here);
                for rule in &rules {
                    if !rule.hops.is_empty() {
                        plan.routes.push(rule.hops.clone());
                    }
                    if let Some(&route) = rule.route.as_ref().and_then(|n| named.get(n.as_str())) {
                        plan.routes.push(route.hops.clone());
                        routes.insert(route.route.name.clone().unwrap_or_default(), route);
                    }
                    stack.extend(rule.apply.as_ref().map(|(next, _)| *next));
                }
                lists.insert(list.name.clone(), rules);
            }
            clusters.extend(plan.routes.iter().flatten().map(|h| h.cluster.clone()));
        }
        plans.sort_by(|a, b| a.listener.name.cmp(&b.listener.name));
        let proxy = ProxyPlan {
            mount: mount.clone(),
            listeners: plans,
            clusters: Vec::new(),
            rulelists: lists
                .into_iter()
                .map(|(name, rules)| model::RuleList {
                    name,
                    rules: rules.iter().map(|r| Ref::Inline(r.rule.clone())).collect(),
                })
                .collect(),
            routes: routes.into_values().map(|r| r.route.clone()).collect(),
        };
        (proxy, clusters)
    }

    /// The named routes by name, looked up once per rule of every proxy: where two define
    /// one name, the first by where it is defined, as a scan of them all finds it.
    pub(super) fn named_routes(&self) -> BTreeMap<&str, &RoutePlan> {
        let mut index = BTreeMap::new();
        for route in self.routes.values().flatten() {
            if let Some(name) = route.route.name.as_deref() {
                index.entry(name).or_insert(route);
            }
        }
        index
    }
}

/// The rules of list `owner` (its written `rules`, `len` long) with the Rule objects of `inserts`
/// that go into it, each before the written rule at its position (`inserts` is sorted).
fn merged<'a>(
    rules: &'a [(usize, RulePlan)],
    len: usize,
    owner: usize,
    inserts: &[&'a InsertPlan],
) -> Vec<&'a RulePlan> {
    let mut out = Vec::new();
    for i in 0..=len {
        out.extend(
            inserts
                .iter()
                .filter(|r| r.list == owner && r.position == i)
                .map(|r| &r.rule),
        );
        out.extend(rules.iter().filter(|(j, _)| *j == i).map(|(_, r)| r));
    }
    out
}

#[cfg(test)]
mod tests {
    use l7mp_config::model;

    use super::*;

    fn rule(tag: &str) -> RulePlan {
        RulePlan {
            rule: model::Rule {
                name: Some(tag.into()),
                matcher: None,
                action: model::Action {
                    rewrite: Vec::new(),
                    route: None,
                    apply: Some("x".into()),
                },
            },
            hops: Vec::new(),
            route: None,
            apply: None,
        }
    }

    fn insert(list: usize, position: usize, tag: &str) -> InsertPlan {
        InsertPlan {
            list,
            position,
            rule: rule(tag),
            workloads: Vec::new(),
            key: ("default".into(), tag.into()),
        }
    }

    #[test]
    fn rules_go_before_the_written_rule_at_their_position() {
        // Written rule 1 failed to lower: positions still count it.
        let written = vec![(0, rule("w0")), (2, rule("w2"))];
        let inserts = [
            insert(7, 0, "a"),
            insert(7, 1, "b"),
            insert(7, 1, "c"),
            insert(7, 3, "end"),
            insert(8, 0, "other-list"),
        ];
        let here: Vec<&InsertPlan> = inserts.iter().collect();
        let names: Vec<&str> = merged(&written, 3, 7, &here)
            .iter()
            .filter_map(|r| r.rule.name.as_deref())
            .collect();
        assert_eq!(names, ["a", "w0", "b", "c", "w2", "end"]);
    }
}
