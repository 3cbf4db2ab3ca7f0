//! The built-in SVG drawing, for machines without Graphviz: a layered layout whose columns are
//! the flow depth ([`columns`]) and whose rows are the workload boxes, topmost the box whose flow
//! starts leftmost. Nodes in one box and column stack downwards. Text is monospace, so its width
//! is known without fonts; coordinates are whole pixels, so the same mesh gives the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;

use super::render::{boxes, lines, style};
use super::{Mesh, NodeKind, columns};

/// Width of a character of the 11 px monospace text (0.6 em, rounded up).
const CHAR: usize = 7;
/// Height of a text line.
const LINE: usize = 14;
/// Space around a node's text.
const PAD: usize = 8;
/// Height of a row of nodes (a two-line node and the gap under it).
const ROW: usize = 2 * LINE + 2 * PAD + 12;
/// Space between columns, where edges and their labels run.
const GAP: usize = 80;
/// Space inside a box around its nodes.
const INSET: usize = 12;
/// Height of a box's title line.
const TITLE: usize = 22;
/// Space between boxes and around the picture.
const MARGIN: usize = 16;

/// Where a node is drawn: left, top, width, height, and the top of its row.
#[derive(Clone, Copy, Default)]
struct Place {
    x: usize,
    y: usize,
    w: usize,
    h: usize,
    row: usize,
}

impl Place {
    fn mid(self) -> usize {
        self.y + self.h / 2
    }
}

/// The mesh as an SVG document.
pub fn svg(mesh: &Mesh) -> String {
    let graph = &mesh.graph;
    let column = columns(mesh);
    let width_of = |n: NodeIndex| {
        let longest = lines(&graph[n]).iter().map(|l| l.chars().count()).max();
        longest.unwrap_or(0) * CHAR + 2 * PAD
    };
    let mut widths = vec![0; column.iter().max().map_or(0, |m| m + 1)];
    for n in graph.node_indices() {
        let c = column[n.index()];
        widths[c] = widths[c].max(width_of(n));
    }
    let mut left = Vec::with_capacity(widths.len());
    let mut x = MARGIN + INSET;
    for w in &widths {
        left.push(x);
        x += w + GAP;
    }
    let mut boxes = boxes(mesh);
    boxes.sort_by_key(|(_, nodes)| nodes.iter().map(|n| column[n.index()]).min());
    let mut out = String::new();
    let mut places = vec![Place::default(); graph.node_count()];
    let mut frames = String::new();
    let (mut right, mut y) = (0, MARGIN + legend(&mut frames));
    for (title, nodes) in &boxes {
        let mut stacked: BTreeMap<usize, usize> = BTreeMap::new();
        for &n in nodes {
            let c = column[n.index()];
            let slot = stacked.entry(c).or_default();
            let h = lines(&graph[n]).len() * LINE + 2 * PAD;
            let row = y + TITLE + *slot * ROW;
            places[n.index()] = Place {
                x: left[c],
                y: row + (ROW - 12 - h) / 2,
                w: widths[c],
                h,
                row,
            };
            *slot += 1;
        }
        let first = nodes.iter().map(|n| places[n.index()].x).min().unwrap_or(0);
        let last = nodes
            .iter()
            .map(|n| places[n.index()].x + places[n.index()].w);
        let x = first - INSET;
        let w = (last.max().unwrap_or(0) + INSET - x).max(title.chars().count() * CHAR + 2 * INSET);
        let h = TITLE + stacked.values().max().copied().unwrap_or(1) * ROW + INSET / 2;
        let _ = writeln!(
            frames,
            "<g class=\"workload\"><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"8\" fill=\"#f8f9fa\" stroke=\"#868e96\"/><text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text></g>",
            x + INSET,
            y + 16,
            xml(title)
        );
        right = right.max(x + w);
        y += h + MARGIN;
    }
    let mut edges = String::new();
    let mut labels = String::new();
    for e in graph.edge_references() {
        let (from, to) = (e.source().index(), e.target().index());
        let (a, b) = (places[from], places[to]);
        let (x1, y1, x2, y2) = (a.x + a.w, a.mid(), b.x, b.mid());
        let (d, label_x, label_y) = if column[to] == column[from] + 1 {
            // Next column: an S-curve through the gap; its midpoint is the mean of its ends.
            let bend = (x2 - x1) / 2;
            let d = format!(
                "M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}",
                x1 + bend,
                x2 - bend
            );
            (d, (x1 + x2) / 2, (y1 + y2) / 2 - 3)
        } else {
            // Farther (or back): along the gap under the source's row, clear of the nodes it
            // passes, labelled there.
            let lane = a.row + ROW - 6;
            let (out, into) = (x1 + GAP / 2, x2.saturating_sub(GAP / 2));
            let d = format!(
                "M{x1},{y1} C{out},{y1} {out},{lane} {},{lane} L{},{lane} C{into},{lane} {into},{y2} {x2},{y2}",
                x1 + GAP / 2,
                x2.saturating_sub(GAP / 2)
            );
            (d, (x1 + x2) / 2, lane - 2)
        };
        let _ = writeln!(
            edges,
            "<path d=\"{d}\" fill=\"none\" stroke=\"#495057\" marker-end=\"url(#arrow)\"/>"
        );
        let _ = writeln!(
            labels,
            "<text x=\"{label_x}\" y=\"{label_y}\" class=\"edge\">{}</text>",
            xml(e.weight())
        );
    }
    let mut nodes = String::new();
    for n in graph.node_indices() {
        node(&mut nodes, places[n.index()], mesh, n);
    }
    let (width, height) = (right.max(x) + MARGIN, y);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"monospace\" font-size=\"11\">\n<style>.edge {{ font-size: 9px; text-anchor: middle; fill: #495057; stroke: #ffffff; stroke-width: 3px; paint-order: stroke; }}</style>\n<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#495057\"/></marker></defs>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n{frames}{edges}{nodes}{labels}</svg>\n"
    );
    out
}

/// Draws node `n` at `place`, its full label as its tooltip.
fn node(out: &mut String, place: Place, mesh: &Mesh, n: NodeIndex) {
    let node = &mesh.graph[n];
    let _ = write!(
        out,
        "<g class=\"node\"><title>{}</title>",
        xml(&mesh.label(n))
    );
    shape(out, place, node.kind);
    let center = place.x + place.w / 2;
    let _ = write!(out, "<text text-anchor=\"middle\">");
    for (i, line) in lines(node).iter().enumerate() {
        let _ = write!(
            out,
            "<tspan x=\"{center}\" y=\"{}\">{}</tspan>",
            place.y + PAD + (i + 1) * LINE - 3,
            xml(line)
        );
    }
    let _ = writeln!(out, "</text></g>");
}

/// The outline of a node of `kind`: listeners square, clusters round, endpoints dashed, apps
/// bold.
fn shape(out: &mut String, p: Place, kind: NodeKind) {
    let (_, fill) = style(kind);
    let (rx, extra) = match kind {
        NodeKind::Listener => (2, ""),
        NodeKind::Cluster => (p.h / 2, ""),
        NodeKind::Endpoint => (2, " stroke-dasharray=\"4 2\""),
        NodeKind::App => (6, " stroke-width=\"2\""),
    };
    let _ = write!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"#343a40\"{extra}/>",
        p.x, p.y, p.w, p.h
    );
}

/// Draws the key of node kinds at the top; returns its height.
fn legend(out: &mut String) -> usize {
    let mut x = MARGIN;
    for (kind, name) in [
        (NodeKind::Listener, "listener"),
        (NodeKind::Cluster, "cluster"),
        (NodeKind::Endpoint, "endpoint"),
        (NodeKind::App, "app"),
    ] {
        let place = Place {
            x,
            y: MARGIN,
            w: name.len() * CHAR + 2 * PAD,
            h: LINE + PAD,
            row: MARGIN,
        };
        let _ = write!(out, "<g class=\"legend\">");
        shape(out, place, kind);
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{name}</text></g>",
            x + place.w / 2,
            place.y + LINE + 1
        );
        x += place.w + MARGIN;
    }
    LINE + PAD + 2 * MARGIN
}

/// `text` as XML character data or attribute value: markup escaped, and control characters,
/// which XML 1.0 does not allow, dropped.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().filter(|c| !c.is_control()) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
