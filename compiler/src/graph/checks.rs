//! The mesh-wide checks: forwarding loops, listener clashes, endpoints that reach no listener,
//! unused Targets, framing loss and `Trivial` load balancing over several pods.

use std::collections::BTreeMap;

use super::apps::{Socket, containers};
use super::{Mesh, NodeKind, proxy_of, serves};
use crate::crd::LoadBalancerPolicy;
use crate::diagnostics::{Code, Diagnostics};
use crate::load::{Kind, Object};
use crate::lower::{Lowered, Origin, network_port};
use crate::resolve::Resolution;
use l7mp_config::config::{Framing, ListenerIdentity};
use l7mp_config::model::ClusterSpec;
use l7mp_config::wording;
use petgraph::algo::kosaraju_scc;
use petgraph::graph::NodeIndex;

/// Runs every check, pushing what it finds.
pub fn check(
    objects: &[Object],
    resolutions: &[Resolution],
    lowered: &Lowered,
    mesh: &Mesh,
    diags: &mut Diagnostics,
) {
    let diag = |code, origin: &Origin, message: String| {
        objects[origin.object].diag(code, &origin.pointer, message)
    };
    loops(mesh, &mut |origin, message, hint| {
        diags.push(diag(Code::ForwardingLoop, origin, message).hint(hint));
    });
    for proxy in &lowered.proxies {
        let workload = objects[proxy.mount.workload].id();
        let mut seen = BTreeMap::new();
        for l in &proxy.listeners {
            let identity = ListenerIdentity::of(&l.listener.spec);
            if let Some(first) = seen.insert(identity, &l.listener.name) {
                let message = format!("on {workload}, {}", wording::listener_clash(first));
                let hint = wording::LISTENER_CLASH_HINT;
                diags.push(diag(Code::ListenerClash, &l.origin, message).hint(hint));
            }
            for hops in &l.routes {
                let mut current = Framing::of_listener(&l.listener.spec);
                for hop in hops {
                    let Some(c) = proxy.clusters.iter().find(|c| c.name == hop.cluster) else {
                        continue;
                    };
                    let framing = Framing::of_cluster(&c.cluster.spec);
                    if current == Framing::Datagram && framing == Framing::Stream {
                        let route = format!("the route of listener \"{}\"", l.listener.name);
                        let message = wording::framing_loss(&hop.role, &hop.cluster, &route);
                        let hint = wording::FRAMING_LOSS_HINT;
                        diags.push(diag(Code::FramingLoss, &hop.origin, message).hint(hint));
                    }
                    if framing != Framing::Transparent {
                        current = framing;
                    }
                }
            }
        }
        for c in &proxy.clusters {
            let pods: usize = c.endpoints.iter().map(|e| e.pods).sum();
            if c.policy == LoadBalancerPolicy::Trivial && pods > 1 {
                let message = format!(
                    "cluster {} balances {pods} pods with `Trivial`: every session goes to the first",
                    c.name
                );
                let hint = "set `loadbalancer: {policy: ConsistentHash}` to spread sessions";
                diags.push(diag(Code::TrivialOverMany, &c.origin, message).hint(hint));
            }
            for e in &c.endpoints {
                for &w in &e.workloads {
                    if let Some(missing) = unserved(objects, lowered, w, &c.cluster.spec) {
                        let message = format!(
                            "cluster {} sends to {} on {missing}, which serves no such port",
                            c.name,
                            objects[w].id()
                        );
                        let hint = "add a VirtualService with that listener there, or declare the containerPort of the app that serves it";
                        diags.push(diag(Code::NoListenerAtEndpoint, &e.origin, message).hint(hint));
                    }
                }
            }
        }
    }
    unused_targets(objects, resolutions, diags);
}

/// `PROTOCOL PORT` when workload `w` runs a proxy that has no listener for a cluster of
/// `spec` and declares no such containerPort either.
fn unserved(objects: &[Object], lowered: &Lowered, w: usize, spec: &ClusterSpec) -> Option<String> {
    let proxy = proxy_of(lowered, w)?;
    let (port, protocol) = network_port(spec)?;
    if proxy
        .listeners
        .iter()
        .any(|l| serves(&l.listener.spec, spec))
    {
        return None;
    }
    let declared = !containers(&objects[w], &Socket::Port(protocol, port)).is_empty();
    (!declared).then(|| format!("{protocol} {port}"))
}

/// Reports every strongly connected part of the graph as a loop, hop by hop.
fn loops(mesh: &Mesh, report: &mut dyn FnMut(&Origin, String, &str)) {
    let graph = &mesh.graph;
    for component in kosaraju_scc(graph) {
        let Some(&start) = component.iter().min() else {
            continue;
        };
        let self_loop = graph.contains_edge(start, start);
        if component.len() < 2 && !self_loop {
            continue;
        }
        let mut cycle = cycle_through(mesh, start, &component);
        // Start at a listener: that is where the looping traffic enters.
        let first = cycle
            .iter()
            .position(|&n| graph[n].kind == NodeKind::Listener);
        cycle.rotate_left(first.unwrap_or(0));
        let path: Vec<String> = cycle.iter().map(|&n| mesh.label(n)).collect();
        let at = &graph[cycle[0]];
        let message = format!(
            "forwarding loop: {} -> back to the start",
            path.join(" -> ")
        );
        report(
            &at.origin,
            message,
            "route the listener to a cluster that does not lead back to it",
        );
    }
}

/// A cycle from `start` back to it within `component`, found breadth first.
fn cycle_through(mesh: &Mesh, start: NodeIndex, component: &[NodeIndex]) -> Vec<NodeIndex> {
    let graph = &mesh.graph;
    let mut parent: BTreeMap<NodeIndex, NodeIndex> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        let mut next: Vec<NodeIndex> = graph
            .neighbors(n)
            .filter(|m| component.contains(m))
            .collect();
        next.sort();
        for m in next {
            if m == start {
                let mut path = vec![n];
                while let Some(&p) = path.last().and_then(|l| parent.get(l)) {
                    path.push(p);
                }
                path.reverse();
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = parent.entry(m) {
                e.insert(n);
                queue.push_back(m);
            }
        }
    }
    vec![start]
}

/// Warns about Targets that no `destinationRef` or `clusterRef` names. The named objects are
/// marked in one pass over the resolutions: scanning them for each Target grew with the square
/// of the mesh.
fn unused_targets(objects: &[Object], resolutions: &[Resolution], diags: &mut Diagnostics) {
    let mut used = vec![false; objects.len()];
    for r in resolutions {
        let names = r.pointer.ends_with("/destinationRef") || r.pointer.ends_with("/clusterRef");
        if names && let Some(named) = used.get_mut(r.to) {
            *named = true;
        }
    }
    for (i, target) in objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind == Kind::Target)
    {
        if !used[i] {
            let message = format!(
                "Target {}/{} is used by no route",
                target.namespace, target.name
            );
            let hint = "name it in a route's destinationRef or clusterRef, or delete it";
            diags.push(
                target
                    .diag(Code::UnusedTarget, "/metadata/name", message)
                    .hint(hint),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::mesh;

    #[test]
    fn a_long_chain_into_a_loop_is_one_loop_and_no_stack_overflow() {
        let n = 200_000;
        let mut edges: Vec<(u32, u32)> = (0..n - 1).map(|i| (i, i + 1)).collect();
        edges.push((n - 1, n - 3));
        let mut found = Vec::new();
        loops(&mesh(n as usize, &edges), &mut |origin, message, _| {
            found.push((origin.clone(), message));
        });
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .1
                .starts_with("forwarding loop: n199997 -> n199998 -> n199999")
        );
    }
}
