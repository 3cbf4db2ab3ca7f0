//! The nodes of a typed spec that later stages look up, each with its JSON pointer: the
//! pointer is the node's key in its document's span table, so diagnostics about a typed node
//! still point at its text.

use super::{Cluster, ClusterOrRef, MatchRule, Route, Selector, Spec};

/// A field that names another object (or, for `routeRef`, a named route).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefField {
    /// A route's `destinationRef`: a Target or Service.
    DestinationRef,
    /// A hop's `clusterRef`: a Target or Service.
    ClusterRef,
    /// A Target's `linkedVirtualService`.
    LinkedVirtualService,
    /// A listener's `rulesRef`: the VirtualService owning a rule list.
    RulesRef,
    /// An action's `apply`: the VirtualService owning a rule list.
    Apply,
    /// An action's `routeRef`: a named route.
    RouteRef,
    /// A Rule's `rulelist`: the VirtualService owning a rule list.
    Rulelist,
}

/// What later stages still use of an `l7mp.io` object whose spec does not read as a whole (the
/// schema stage reported why): its selectors, routes and references, each read on its own, so
/// that one bad field does not also hide where the object is placed and what it refers to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outline {
    /// Selectors that read, with their pointers.
    pub selectors: Vec<(String, Selector)>,
    /// Routes that read, with their pointers.
    pub routes: Vec<(String, Route)>,
    /// References, with their pointers and fields.
    pub references: Vec<(String, RefField, String)>,
}

impl RefField {
    /// The field of this name.
    pub fn named(name: &str) -> Option<RefField> {
        Some(match name {
            "destinationRef" => RefField::DestinationRef,
            "clusterRef" => RefField::ClusterRef,
            "linkedVirtualService" => RefField::LinkedVirtualService,
            "rulesRef" => RefField::RulesRef,
            "apply" => RefField::Apply,
            "routeRef" => RefField::RouteRef,
            "rulelist" => RefField::Rulelist,
            _ => return None,
        })
    }
}

/// Every selector, cluster, route and reference of one spec, with its pointer.
#[derive(Debug, Default)]
pub struct Nodes<'a> {
    /// Selectors: the object's own (`/spec/selector`) and every endpoint selector.
    pub selectors: Vec<(String, &'a Selector)>,
    /// Clusters: a Target's, and the inline ones of routes (destinations and hops).
    pub clusters: Vec<(String, &'a Cluster)>,
    /// Routes written inline in an action.
    pub routes: Vec<(String, &'a Route)>,
    /// References, with the field each is written in.
    pub references: Vec<(String, RefField, &'a str)>,
}

impl<'a> Nodes<'a> {
    /// The nodes of `spec`, in document order.
    pub fn of(spec: &'a Spec) -> Self {
        let mut nodes = Nodes::default();
        match spec {
            Spec::VirtualService(v) => {
                nodes.selectors.push(("/spec/selector".into(), &v.selector));
                if let Some(list) = &v.listener.rules_ref {
                    nodes.reference("/spec/listener/rulesRef".into(), RefField::RulesRef, list);
                }
                for (i, rule) in v.listener.rules.iter().flatten().enumerate() {
                    nodes.rule(&format!("/spec/listener/rules/{i}"), rule);
                }
            }
            Spec::Target(t) => {
                if let Some(selector) = &t.selector {
                    nodes.selectors.push(("/spec/selector".into(), selector));
                }
                if let Some(cluster) = &t.cluster {
                    nodes.cluster("/spec/cluster".into(), cluster);
                }
                if let Some(vsvc) = &t.linked_virtual_service {
                    let at = "/spec/linkedVirtualService".into();
                    nodes.reference(at, RefField::LinkedVirtualService, vsvc);
                }
            }
            Spec::Rule(r) => {
                if let Some(selector) = &r.selector {
                    nodes.selectors.push(("/spec/selector".into(), selector));
                }
                nodes.reference("/spec/rulelist".into(), RefField::Rulelist, &r.rulelist);
                nodes.rule("/spec/rule", &r.rule);
            }
        }
        nodes
    }

    /// The nodes an outline kept (it has no clusters: an object without a spec lowers none).
    pub fn of_outline(outline: &'a Outline) -> Self {
        Nodes {
            selectors: pairs(&outline.selectors),
            clusters: Vec::new(),
            routes: pairs(&outline.routes),
            references: (outline.references.iter())
                .map(|(at, field, text)| (at.clone(), *field, text.as_str()))
                .collect(),
        }
    }

    fn reference(&mut self, at: String, field: RefField, text: &'a str) {
        self.references.push((at, field, text));
    }

    fn rule(&mut self, at: &str, rule: &'a MatchRule) {
        let action = &rule.action;
        if let Some(route) = &action.route {
            self.route(format!("{at}/action/route"), route);
        }
        if let Some(name) = &action.route_ref {
            self.reference(format!("{at}/action/routeRef"), RefField::RouteRef, name);
        }
        if let Some(vsvc) = &action.apply {
            self.reference(format!("{at}/action/apply"), RefField::Apply, vsvc);
        }
    }

    fn route(&mut self, at: String, route: &'a Route) {
        for (j, hop) in route.ingress.iter().flatten().enumerate() {
            self.hop(&format!("{at}/ingress/{j}"), hop);
        }
        if let Some(cluster) = &route.destination {
            self.cluster(format!("{at}/destination"), cluster);
        }
        if let Some(target) = &route.destination_ref {
            let pointer = format!("{at}/destinationRef");
            self.reference(pointer, RefField::DestinationRef, target);
        }
        for (j, hop) in route.egress.iter().flatten().enumerate() {
            self.hop(&format!("{at}/egress/{j}"), hop);
        }
        self.routes.push((at, route));
    }

    fn hop(&mut self, at: &str, hop: &'a ClusterOrRef) {
        if let Some(cluster) = &hop.cluster {
            self.cluster(format!("{at}/cluster"), cluster);
        }
        if let Some(target) = &hop.cluster_ref {
            self.reference(format!("{at}/clusterRef"), RefField::ClusterRef, target);
        }
    }

    fn cluster(&mut self, at: String, cluster: &'a Cluster) {
        for (k, endpoint) in cluster.endpoints.iter().flatten().enumerate() {
            if let Some(selector) = &endpoint.selector {
                self.selectors
                    .push((format!("{at}/endpoints/{k}/selector"), selector));
            }
        }
        self.clusters.push((at, cluster));
    }
}

/// `(pointer, &node)` for each of `nodes`.
fn pairs<T>(nodes: &[(String, T)]) -> Vec<(String, &T)> {
    nodes.iter().map(|(at, node)| (at.clone(), node)).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Every node is found at the pointer it has in the document.
    #[test]
    fn nodes_carry_their_document_pointers() {
        let spec: super::super::VirtualServiceSpec = serde_json::from_value(json!({
            "selector": {},
            "listener": {"spec": {"UDP": {"port": 1}}, "rules": [
                {"action": {"apply": "x"}},
                {"action": {"route": {
                    "destination": {"spec": {"UDP": {"port": 2}},
                                    "endpoints": [{"spec": {"address": "a"}},
                                                  {"selector": {}}]},
                    "ingress": [{"clusterRef": "t"}]}}}]}
        }))
        .expect("a valid spec");
        let spec = Spec::VirtualService(Box::new(spec));
        let nodes = Nodes::of(&spec);
        let selectors: Vec<&str> = nodes.selectors.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(
            selectors,
            [
                "/spec/selector",
                "/spec/listener/rules/1/action/route/destination/endpoints/1/selector"
            ]
        );
        let references: Vec<(&str, RefField)> = nodes
            .references
            .iter()
            .map(|(at, field, _)| (at.as_str(), *field))
            .collect();
        assert_eq!(
            references,
            [
                ("/spec/listener/rules/0/action/apply", RefField::Apply),
                (
                    "/spec/listener/rules/1/action/route/ingress/0/clusterRef",
                    RefField::ClusterRef
                ),
            ]
        );
        assert_eq!(nodes.routes[0].0, "/spec/listener/rules/1/action/route");
        assert_eq!(
            nodes.clusters[0].0,
            "/spec/listener/rules/1/action/route/destination"
        );
    }
}
