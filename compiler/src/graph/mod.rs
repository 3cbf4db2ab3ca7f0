//! The mesh as one dataflow graph: a node per listener, cluster and endpoint on each workload
//! and per app the mesh sends to; an edge for every hop of every route (listener → cluster),
//! from each cluster to its endpoints, and from each endpoint to what it reaches: the listener
//! of the proxy on the target pods, or else the app behind the socket there.
//!
//! Problems that no single object shows (loops, unreachable endpoints) are found here, by
//! [`check`]; [`draw`] turns the graph into a picture for people.

mod apps;
mod checks;
mod describe;
mod draw;
mod graphviz;
mod layers;
mod render;
mod svg;

use std::collections::{BTreeMap, BTreeSet};

use l7mp_config::model::{ClusterSpec, ListenerSpec};
use petgraph::graph::{DiGraph, NodeIndex};

pub use checks::check;
pub use draw::{Drawing, GraphFormat, Renderer, draw};
pub use graphviz::GraphvizError;
pub use layers::columns;

use crate::diagnostics::ObjectId;
use crate::load::Object;
use crate::lower::{Lowered, Origin, ProxyPlan, network_port};
use apps::Socket;

/// What a node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A listener.
    Listener,
    /// A cluster.
    Cluster,
    /// An endpoint of a cluster.
    Endpoint,
    /// A program in a workload's pods that an endpoint reaches without a proxy listener between:
    /// a Unix socket in the pod, a port on localhost, or a port of pods whose proxy does not
    /// listen there.
    App,
}

/// A node: its kind, the workload it is on, what it is and where it is written.
#[derive(Clone, Debug)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// Index of the workload (its pod template).
    pub workload: usize,
    /// What it is on its workload: `listener NAME`, `cluster NAME`, `endpoint ADDRESS`, `app`
    /// or `app CONTAINER`.
    pub name: String,
    /// For drawings: the protocol and port or path (`UDP 9001`), or the pods an endpoint
    /// stands for; may be empty.
    pub detail: String,
    /// Where it is defined (for an app: the first endpoint that reaches it).
    pub origin: Origin,
}

/// The dataflow graph; edges are labelled with the hop's role, `endpoint`, `network` (to
/// another pod) or `local` (within the pod).
#[derive(Clone, Debug, Default)]
pub struct Mesh {
    /// The graph.
    pub graph: DiGraph<Node, String>,
    /// The workloads that hold nodes, by object index: the boxes of a drawing.
    pub workloads: BTreeMap<usize, ObjectId>,
    /// Consecutive hops of a route `(from, to)`: traffic passes all that `from` leads to before
    /// `to` (an ingress hop before the destination), so drawings place `to` after it.
    pub sequences: BTreeSet<(NodeIndex, NodeIndex)>,
}

impl Mesh {
    /// `namespace/workload: name` of node `n`, for messages.
    pub fn label(&self, n: NodeIndex) -> String {
        let node = &self.graph[n];
        match self.workloads.get(&node.workload) {
            Some(id) => format!("{}/{}: {}", id.namespace, id.name, node.name),
            None => node.name.clone(),
        }
    }

    fn add(&mut self, objects: &[Object], node: Node) -> NodeIndex {
        self.workloads
            .entry(node.workload)
            .or_insert_with(|| objects[node.workload].id());
        self.graph.add_node(node)
    }
}

/// Builds the graph of the lowered mesh.
pub fn build(objects: &[Object], lowered: &Lowered) -> Mesh {
    let mut mesh = Mesh::default();
    // By workload, so that each endpoint looks only at the listeners of the pods it reaches.
    let mut listeners: BTreeMap<usize, Vec<(&ListenerSpec, NodeIndex)>> = BTreeMap::new();
    let mut endpoints = Vec::new();
    for proxy in &lowered.proxies {
        let w = proxy.mount.workload;
        let mut clusters = Vec::new();
        for cluster in &proxy.clusters {
            let node = Node {
                kind: NodeKind::Cluster,
                workload: w,
                name: format!("cluster {}", cluster.name),
                detail: describe::cluster(&cluster.cluster.spec),
                origin: cluster.origin.clone(),
            };
            let c = mesh.add(objects, node);
            clusters.push((cluster.name.as_str(), c));
            for e in &cluster.endpoints {
                let node = Node {
                    kind: NodeKind::Endpoint,
                    workload: w,
                    name: format!("endpoint {}", e.addresses.join(", ")),
                    detail: describe::pods(e),
                    origin: e.origin.clone(),
                };
                let end = mesh.add(objects, node);
                mesh.graph.add_edge(c, end, "endpoint".into());
                endpoints.push((proxy, &cluster.cluster.spec, e, end));
            }
        }
        for listener in &proxy.listeners {
            let node = Node {
                kind: NodeKind::Listener,
                workload: w,
                name: format!("listener {}", listener.listener.name),
                detail: describe::listener(&listener.listener.spec),
                origin: listener.origin.clone(),
            };
            let l = mesh.add(objects, node);
            listeners
                .entry(w)
                .or_default()
                .push((&listener.listener.spec, l));
            for hops in &listener.routes {
                let mut previous = None;
                for hop in hops {
                    let Some(c) = node_of(&clusters, &hop.cluster) else {
                        continue;
                    };
                    mesh.graph.add_edge(l, c, hop.role.clone());
                    if let Some(p) = previous.replace(c) {
                        mesh.sequences.insert((p, c));
                    }
                }
            }
        }
    }
    let mut apps: BTreeMap<(usize, Socket), NodeIndex> = BTreeMap::new();
    for (proxy, spec, endpoint, node) in endpoints {
        let own = proxy.mount.workload;
        for (w, socket) in apps::targets(own, spec, endpoint) {
            let mut taken = false;
            for (listener, l) in listeners.get(&w).into_iter().flatten() {
                if apps::socket_of(listener) != socket {
                    continue;
                }
                taken = true;
                let reached = match socket {
                    Socket::Unix(_) => true,
                    Socket::Port(..) => serves(listener, spec),
                };
                if reached {
                    mesh.graph.add_edge(node, *l, "network".into());
                }
            }
            if taken {
                continue;
            }
            let role = if w == own { "local" } else { "network" };
            let app = match apps.get(&(w, socket.clone())) {
                Some(&app) => app,
                None => {
                    let container = proxy_of(lowered, w).map(|p| p.mount.container.as_str());
                    let node = Node {
                        kind: NodeKind::App,
                        workload: w,
                        name: apps::name(&objects[w], &socket, container),
                        detail: describe::socket(&socket),
                        origin: endpoint.origin.clone(),
                    };
                    let app = mesh.add(objects, node);
                    apps.insert((w, socket), app);
                    app
                }
            };
            mesh.graph.add_edge(node, app, role.into());
        }
    }
    mesh
}

/// The node of a cluster of the current proxy (lowering puts every hop's cluster there).
fn node_of(clusters: &[(&str, NodeIndex)], name: &str) -> Option<NodeIndex> {
    clusters.iter().find(|(n, _)| *n == name).map(|(_, i)| *i)
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
    // The proxies are in object order, one per workload.
    let i = (lowered.proxies)
        .binary_search_by_key(&w, |p| p.mount.workload)
        .ok()?;
    lowered.proxies.get(i)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A mesh of `nodes` clusters on workload 0 and the `edges` between them, for unit tests.
    pub(crate) fn mesh(nodes: usize, edges: &[(u32, u32)]) -> Mesh {
        let mut mesh = Mesh::default();
        for i in 0..nodes {
            mesh.graph.add_node(Node {
                kind: NodeKind::Cluster,
                workload: 0,
                name: format!("n{i}"),
                detail: String::new(),
                origin: Origin {
                    object: 0,
                    pointer: String::new(),
                },
            });
        }
        for &(a, b) in edges {
            let (a, b) = (NodeIndex::new(a as usize), NodeIndex::new(b as usize));
            mesh.graph.add_edge(a, b, "x".into());
        }
        mesh
    }
}
