//! The dataflow graph as text for Graphviz (`dot`) or Mermaid: one box per workload holding its
//! listeners, clusters, endpoints and apps, flowing left to right. Each route's next hop gets an
//! invisible edge from its previous one, as long as the flow depth between them ([`columns`]),
//! so the ingress chain is drawn before the destination. Node ids are graph indexes, which
//! follow the sorted input, so the text is as stable as the configs.

use std::collections::BTreeMap;

use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;

use super::{Mesh, Node, NodeKind, columns};

/// How drawings tell the kinds apart: the Graphviz shape and the fill colour.
pub fn style(kind: NodeKind) -> (&'static str, &'static str) {
    match kind {
        NodeKind::Listener => ("box", "#cfe2ff"),
        NodeKind::Cluster => ("ellipse", "#fff3bf"),
        NodeKind::Endpoint => ("note", "#f1f3f5"),
        NodeKind::App => ("component", "#d3f9d8"),
    }
}

/// The lines of a node's label: its name, then its detail if any.
pub fn lines(node: &Node) -> Vec<&str> {
    std::iter::once(node.name.as_str())
        .chain(Some(node.detail.as_str()).filter(|d| !d.is_empty()))
        .collect()
}

/// The workload boxes in drawing order (by their first node), each with its title and nodes.
pub fn boxes(mesh: &Mesh) -> Vec<(String, Vec<NodeIndex>)> {
    let mut boxes: Vec<(String, Vec<NodeIndex>)> = Vec::new();
    let mut position = BTreeMap::new();
    for n in mesh.graph.node_indices() {
        let w = mesh.graph[n].workload;
        let i = *position.entry(w).or_insert_with(|| {
            let title = mesh.workloads.get(&w).map(ToString::to_string);
            boxes.push((title.unwrap_or_default(), Vec::new()));
            boxes.len() - 1
        });
        boxes[i].1.push(n);
    }
    boxes
}

/// Graphviz `dot` text.
pub fn dot(mesh: &Mesh) -> String {
    let graph = &mesh.graph;
    let mut out = String::from(
        "digraph l7mp {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10, style=filled];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    for (i, (title, nodes)) in boxes(mesh).iter().enumerate() {
        out.push_str(&format!(
            "  subgraph cluster_{i} {{\n    label=\"{}\";\n    style=rounded;\n    color=\"#868e96\";\n",
            dot_text(title)
        ));
        for &n in nodes {
            let node = &graph[n];
            let (shape, fill) = style(node.kind);
            let label: Vec<String> = lines(node).into_iter().map(dot_text).collect();
            out.push_str(&format!(
                "    n{} [shape={shape}, fillcolor=\"{fill}\", label=\"{}\"];\n",
                n.index(),
                label.join("\\n")
            ));
        }
        out.push_str("  }\n");
    }
    for e in graph.edge_references() {
        let (a, b) = (e.source().index(), e.target().index());
        out.push_str(&format!(
            "  n{a} -> n{b} [label=\"{}\"];\n",
            dot_text(e.weight())
        ));
    }
    let columns = columns(mesh);
    for &(a, b) in &mesh.sequences {
        let length = columns[b.index()].saturating_sub(columns[a.index()]).max(1);
        out.push_str(&format!(
            "  n{} -> n{} [style=invis, weight=0, minlen={length}];\n",
            a.index(),
            b.index()
        ));
    }
    out.push_str("}\n");
    out
}

/// A Mermaid flowchart.
pub fn mermaid(mesh: &Mesh) -> String {
    let graph = &mesh.graph;
    let mut out = String::from("flowchart LR\n");
    for (i, (title, nodes)) in boxes(mesh).iter().enumerate() {
        out.push_str(&format!("  subgraph w{i} [\"{}\"]\n", mermaid_text(title)));
        for &n in nodes {
            let node = &graph[n];
            let label: Vec<String> = lines(node).into_iter().map(mermaid_text).collect();
            let label = label.join("<br/>");
            let i = n.index();
            out.push_str(&match node.kind {
                NodeKind::Listener => format!("    n{i}[\"{label}\"]\n"),
                NodeKind::Cluster => format!("    n{i}([\"{label}\"])\n"),
                NodeKind::Endpoint => format!("    n{i}{{{{\"{label}\"}}}}\n"),
                NodeKind::App => format!("    n{i}[[\"{label}\"]]\n"),
            });
        }
        out.push_str("  end\n");
    }
    for e in graph.edge_references() {
        let (a, b) = (e.source().index(), e.target().index());
        out.push_str(&format!("  n{a} -->|{}| n{b}\n", mermaid_text(e.weight())));
    }
    for &(a, b) in &mesh.sequences {
        out.push_str(&format!("  n{} ~~~ n{}\n", a.index(), b.index()));
    }
    out
}

/// Text inside a `dot` double-quoted string: backslashes and quotes escaped, control
/// characters dropped.
fn dot_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().filter(|c| !c.is_control()) {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Text inside a quoted Mermaid label: quotes and markup characters as entities.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().filter(|c| !c.is_control()) {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_end_a_string_early() {
        assert_eq!(dot_text("a\"b\\c\nd"), "a\\\"b\\\\cd");
        assert_eq!(mermaid_text("a\"<b>|"), "a#quot;#lt;b#gt;#124;");
    }
}
