//! Listeners: a VirtualService's listener with its rules and their routes written inline, each
//! route's clusters resolved to named clusters (Targets by reference, inline ones hoisted under
//! a name derived from their position).

use std::collections::BTreeSet;

use l7mp_config::model::{self, Ref};

use super::{HopPlan, ListenerPlan, Lowering, Origin, spec};
use crate::crd::{ClusterOrRef, Listener, MatchRule, Route};
use crate::diagnostics::{Code, Diagnostics};

impl Lowering<'_> {
    /// The listener of VirtualService `vsvc`, named `namespace/name`; None when it cannot be
    /// lowered (the reason has been reported).
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
        // With `rulesRef` the rules are those of another VirtualService, copied inline.
        let owner = match &listener.rules_ref {
            Some(_) => *self.refs.get(&(vsvc, "/spec/listener/rulesRef".into()))?,
            None => vsvc,
        };
        let rules: Vec<MatchRule> = serde_json::from_value(
            self.objects[owner]
                .value()
                .pointer("/spec/listener/rules")?
                .clone(),
        )
        .ok()?;
        let mut plan = ListenerPlan {
            listener: model::Listener {
                name: format!("{}/{}", object.namespace, object.name),
                spec: listener_spec,
                rules: Ref::Inline(Vec::new()),
                options: listener.options.and_then(|o| o.track).map(|track| {
                    model::ListenerOptions {
                        track: Some(u64::from(track)),
                        ..model::ListenerOptions::default()
                    }
                }),
            },
            origin: Origin::new(vsvc, "/spec/listener"),
            routes: Vec::new(),
            clusters: BTreeSet::new(),
        };
        let mut lowered = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let at = format!("/spec/listener/rules/{i}");
            if let Some(rule) = self.rule(owner, &at, rule, &mut plan, diags) {
                lowered.push(Ref::Inline(rule));
            }
        }
        plan.listener.rules = Ref::Inline(lowered);
        Some(plan)
    }

    fn rule(
        &mut self,
        owner: usize,
        at: &str,
        rule: &MatchRule,
        plan: &mut ListenerPlan,
        diags: &mut Diagnostics,
    ) -> Option<model::Rule> {
        let object = &self.objects[owner];
        let action = &rule.action;
        for (field, set) in [
            ("apply", action.apply.is_some()),
            ("routeRef", action.route_ref.is_some()),
        ] {
            if set {
                let message = format!("`{field}` is not compiled yet; write the route inline");
                diags.push(object.diag(
                    Code::Unsupported,
                    &format!("{at}/action/{field}"),
                    message,
                ));
            }
        }
        let rewrite = action.rewrite.iter().flatten().map(|r| model::Rewrite {
            path: r.path.clone(),
            value: r
                .value
                .clone()
                .unwrap_or_else(|| r.value_str.clone().unwrap_or_default().into()),
        });
        let route = match &action.route {
            Some(route) => Some(Ref::Inline(self.route(
                owner,
                &format!("{at}/action/route"),
                route,
                plan,
                diags,
            )?)),
            None => None,
        };
        Some(model::Rule {
            name: None,
            matcher: rule.predicate.clone(),
            action: model::Action {
                rewrite: rewrite.collect(),
                route,
                apply: None,
            },
        })
    }

    fn route(
        &mut self,
        owner: usize,
        at: &str,
        route: &Route,
        plan: &mut ListenerPlan,
        diags: &mut Diagnostics,
    ) -> Option<model::Route> {
        let mut hops = Vec::new();
        let mut ingress = Vec::new();
        for (j, hop) in route.ingress.iter().flatten().enumerate() {
            ingress.push(self.hop(
                owner,
                &format!("{at}/ingress/{j}"),
                &format!("ingress {j}"),
                hop,
                &mut hops,
                diags,
            )?);
        }
        let destination = ClusterOrRef {
            cluster: route.destination.as_deref().cloned(),
            cluster_ref: route.destination_ref.clone(),
        };
        let destination = self.hop(owner, at, "destination", &destination, &mut hops, diags)?;
        let mut egress = Vec::new();
        for (j, hop) in route.egress.iter().flatten().enumerate() {
            egress.push(self.hop(
                owner,
                &format!("{at}/egress/{j}"),
                &format!("egress {j}"),
                hop,
                &mut hops,
                diags,
            )?);
        }
        plan.clusters
            .extend(hops.iter().map(|h: &HopPlan| h.cluster.clone()));
        plan.routes.push(hops);
        Some(model::Route {
            name: None,
            destination,
            ingress,
            egress,
            retry: route.retry.as_ref().map(|r| model::Retry {
                retry_on: Some(r.retry_on),
                num_retries: r.num_retries,
                timeout: r.timeout,
            }),
        })
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
        let (name, origin) = if hop.cluster_ref.is_some() {
            let pointer = format!("{at}/{field}");
            let target = *self.refs.get(&(owner, pointer.clone()))?;
            (self.add_target(target, diags), Origin::new(owner, &pointer))
        } else {
            let cluster = hop.cluster.as_ref()?;
            let object = &self.objects[owner];
            // `at` is /spec/listener/rules/N/action/route[/ingress/J]: name it by rule and role.
            let rule = at.split('/').nth(4).unwrap_or_default();
            let role = role.replace(' ', "-");
            let name = format!("{}/{}/rule-{rule}/{role}", object.namespace, object.name);
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
