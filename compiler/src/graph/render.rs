//! Drawing the dataflow graph for people: Graphviz `dot` or a Mermaid flowchart. Node ids are
//! graph indexes, which follow the sorted input, so the drawing is as stable as the configs.

use petgraph::visit::EdgeRef;

use super::{Mesh, NodeKind};

/// The drawing languages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// The graph in `format`.
pub fn render(mesh: &Mesh, format: GraphFormat) -> String {
    let graph = &mesh.graph;
    let mut out = String::from(match format {
        GraphFormat::Dot => "digraph l7mp {\n  rankdir=LR;\n",
        GraphFormat::Mermaid => "flowchart LR\n",
    });
    for n in graph.node_indices() {
        let node = &graph[n];
        let label = node.label.replace('"', "'");
        let i = n.index();
        out.push_str(&match (format, node.kind) {
            (GraphFormat::Dot, kind) => {
                let shape = match kind {
                    NodeKind::Listener => "box",
                    NodeKind::Cluster => "ellipse",
                    NodeKind::Endpoint => "note",
                };
                format!("  n{i} [shape={shape}, label=\"{label}\"];\n")
            }
            (GraphFormat::Mermaid, NodeKind::Listener) => format!("  n{i}[\"{label}\"]\n"),
            (GraphFormat::Mermaid, NodeKind::Cluster) => format!("  n{i}([\"{label}\"])\n"),
            (GraphFormat::Mermaid, NodeKind::Endpoint) => format!("  n{i}{{{{\"{label}\"}}}}\n"),
        });
    }
    for e in graph.edge_references() {
        let (a, b) = (e.source().index(), e.target().index());
        let label = e.weight();
        out.push_str(&match format {
            GraphFormat::Dot => format!("  n{a} -> n{b} [label=\"{label}\"];\n"),
            GraphFormat::Mermaid => format!("  n{a} -->|{label}| n{b}\n"),
        });
    }
    if format == GraphFormat::Dot {
        out.push_str("}\n");
    }
    out
}
