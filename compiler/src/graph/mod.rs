//! The mesh as one dataflow graph: a node per listener, cluster and endpoint on each workload;
//! an edge for every hop of every route (listener → cluster), from each cluster to its endpoints,
//! and from each endpoint to the listener it reaches on the workload its pods belong to.
//!
//! Problems that no single object shows (loops, unreachable endpoints) are found here, by
//! [`check`]; [`render`] draws the graph for people.

mod checks;
mod render;

use l7mp_config::model::{ClusterSpec, ListenerSpec};
use petgraph::graph::{DiGraph, NodeIndex};

pub use checks::check;
pub use render::{GraphFormat, render};

use crate::load::Object;
use crate::lower::{Lowered, Origin, ProxyPlan};

/// What a node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A listener.
    Listener,
    /// A cluster.
    Cluster,
    /// An endpoint of a cluster.
    Endpoint,
}

/// A node: its kind, the workload whose proxy holds it, a label and where it is written.
#[derive(Clone, Debug)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// Index of the workload.
    pub workload: usize,
    /// `namespace/workload: name` for people.
    pub label: String,
    /// Where it is defined.
    pub origin: Origin,
}

/// The dataflow graph; edges are labelled with the hop's role or `endpoint`/`network`.
#[derive(Clone, Debug, Default)]
pub struct Mesh {
    /// The graph.
    pub graph: DiGraph<Node, String>,
}

/// Builds the graph of the lowered mesh.
pub fn build(objects: &[Object], lowered: &Lowered) -> Mesh {
    let mut graph = DiGraph::new();
    let mut listeners: Vec<(usize, &ListenerSpec, NodeIndex)> = Vec::new();
    let mut endpoints = Vec::new();
    for proxy in &lowered.proxies {
        let w = proxy.mount.workload;
        let prefix = format!("{}/{}", objects[w].namespace, objects[w].name);
        let mut clusters = Vec::new();
        for cluster in &proxy.clusters {
            let label = format!("{prefix}: cluster {}", cluster.name);
            let c = graph.add_node(node(NodeKind::Cluster, w, label, &cluster.origin));
            clusters.push((cluster.name.as_str(), c));
            for (k, e) in cluster.endpoints.iter().enumerate() {
                let address = cluster
                    .cluster
                    .endpoints
                    .get(k)
                    .map_or("", |e| e.spec.address.as_str());
                let label = format!("{prefix}: endpoint {address}");
                let end = graph.add_node(node(NodeKind::Endpoint, w, label, &e.origin));
                if let Some(c) = node_of(&clusters, &cluster.name) {
                    graph.add_edge(c, end, "endpoint".into());
                }
                endpoints.push((proxy, &cluster.cluster.spec, e, end));
            }
        }
        for listener in &proxy.listeners {
            let label = format!("{prefix}: listener {}", listener.listener.name);
            let l = graph.add_node(node(NodeKind::Listener, w, label, &listener.origin));
            listeners.push((w, &listener.listener.spec, l));
            for hop in listener.routes.iter().flatten() {
                if let Some(c) = node_of(&clusters, &hop.cluster) {
                    graph.add_edge(l, c, hop.role.clone());
                }
            }
        }
    }
    for (proxy, spec, endpoint, node) in endpoints {
        let local = endpoint
            .path
            .as_ref()
            .map(|path| (proxy.mount.workload, path));
        for (w, listener, l) in &listeners {
            let reached = match local {
                Some((owner, path)) => *w == owner && unix_path(listener) == Some(path.as_str()),
                None => endpoint.workloads.contains(w) && serves(listener, spec),
            };
            if reached {
                graph.add_edge(node, *l, "network".into());
            }
        }
    }
    Mesh { graph }
}

fn node(kind: NodeKind, workload: usize, label: String, origin: &Origin) -> Node {
    Node {
        kind,
        workload,
        label,
        origin: origin.clone(),
    }
}

/// The node of a cluster of the current proxy (lowering puts every hop's cluster there).
fn node_of(clusters: &[(&str, NodeIndex)], name: &str) -> Option<NodeIndex> {
    clusters.iter().find(|(n, _)| *n == name).map(|(_, i)| *i)
}

fn unix_path(listener: &ListenerSpec) -> Option<&str> {
    match listener {
        ListenerSpec::UnixDomainSocket { filename, .. } => Some(filename),
        ListenerSpec::JsonSocket { transport, .. } => unix_path(transport),
        _ => None,
    }
}

/// Whether `listener` accepts what a cluster of `spec` sends: the same protocol on its port.
/// A JSONSocket cluster is served by a JSONSocket listener over a serving transport.
pub fn serves(listener: &ListenerSpec, spec: &ClusterSpec) -> bool {
    match (listener, spec) {
        (
            ListenerSpec::JsonSocket { transport: l, .. },
            ClusterSpec::JsonSocket { transport: c, .. },
        ) => serves(l, c),
        (ListenerSpec::Udp { port: a, .. }, ClusterSpec::Udp { port: b, .. })
        | (ListenerSpec::Tcp { port: a, .. }, ClusterSpec::Tcp { port: b, .. })
        | (ListenerSpec::WebSocket { port: a, .. }, ClusterSpec::WebSocket { port: b, .. }) => {
            a == b
        }
        _ => false,
    }
}

/// The plan of the proxy on workload `w`, if it runs one.
fn proxy_of(lowered: &Lowered, w: usize) -> Option<&ProxyPlan> {
    lowered.proxies.iter().find(|p| p.mount.workload == w)
}
