//! Flow depth: the column each node is drawn in, so that a picture reads left to right in the
//! order traffic flows. A node sits right of every node with an edge into it, and the next hop
//! of a route sits right of everything its previous hop leads to (the whole ingress chain, down
//! to the app that answers it, comes before the destination).
//!
//! Loops (which `check` reports) cannot all be drawn left to right: the edges that close a loop
//! in a depth-first search, started at nodes nothing leads to and then in index order, are left
//! out of the depth, so every mesh gets columns and the same mesh the same columns.

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{DfsPostOrder, EdgeRef, VisitMap};

use super::Mesh;

/// The column of each node, by node index; 0 is the leftmost.
pub fn columns(mesh: &Mesh) -> Vec<usize> {
    let mut layout: DiGraph<(), usize> = mesh.graph.map(|_, _| (), |_, _| 1);
    let height = longest(&layout, Direction::Outgoing);
    for &(from, to) in &mesh.sequences {
        layout.add_edge(from, to, height[from.index()] + 1);
    }
    longest(&layout, Direction::Incoming)
}

/// The longest weighted path into each node (`Incoming`: its depth) or out of it (`Outgoing`:
/// its height), over the edges that do not close a loop.
fn longest(graph: &DiGraph<(), usize>, direction: Direction) -> Vec<usize> {
    let order = topological(graph);
    let mut position = vec![0; order.len()];
    for (i, n) in order.iter().enumerate() {
        position[n.index()] = i;
    }
    let mut length = vec![0; order.len()];
    let mut visit = |n: NodeIndex| {
        for e in graph.edges_directed(n, direction) {
            let (from, to) = (e.source(), e.target());
            if position[from.index()] >= position[to.index()] {
                continue; // closes a loop
            }
            let other = match direction {
                Direction::Incoming => from,
                Direction::Outgoing => to,
            };
            length[n.index()] = length[n.index()].max(length[other.index()] + e.weight());
        }
    };
    match direction {
        Direction::Incoming => order.iter().copied().for_each(&mut visit),
        Direction::Outgoing => order.iter().rev().copied().for_each(&mut visit),
    }
    length
}

/// The nodes in reverse depth-first post-order: every edge that does not close a loop goes
/// forward in it.
fn topological(graph: &DiGraph<(), usize>) -> Vec<NodeIndex> {
    let sources = graph.node_indices().filter(|&n| {
        graph
            .neighbors_directed(n, Direction::Incoming)
            .next()
            .is_none()
    });
    let mut dfs = DfsPostOrder::empty(graph);
    let mut order = Vec::with_capacity(graph.node_count());
    for start in sources.chain(graph.node_indices()) {
        if dfs.discovered.is_visited(&start) {
            continue;
        }
        dfs.move_to(start);
        while let Some(n) = dfs.next(graph) {
            order.push(n);
        }
    }
    order.reverse();
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::mesh;

    #[test]
    fn a_node_sits_right_of_its_longest_way_in() {
        let m = mesh(4, &[(0, 1), (1, 2), (0, 2), (2, 3)]);
        assert_eq!(columns(&m), [0, 1, 2, 3]);
    }

    #[test]
    fn the_next_hop_comes_after_all_the_previous_one_leads_to() {
        // listener 0 → ingress 1 → 2 → 3 → 4; listener 0 → destination 5 → 6.
        let mut m = mesh(7, &[(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6)]);
        assert_eq!(columns(&m), [0, 1, 2, 3, 4, 1, 2]);
        m.sequences.insert((NodeIndex::new(1), NodeIndex::new(5)));
        assert_eq!(columns(&m), [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn loops_get_columns_too() {
        let mut m = mesh(3, &[(0, 1), (1, 2), (2, 0), (1, 1)]);
        m.sequences.insert((NodeIndex::new(2), NodeIndex::new(1)));
        let columns = columns(&m);
        assert_eq!(columns.len(), 3);
        assert_eq!(
            columns,
            super::columns(&m),
            "the same mesh, the same columns"
        );
        assert!(
            columns[0] < columns[1] || columns[1] < columns[2],
            "{columns:?}"
        );
    }

    #[test]
    fn long_chains_do_not_exhaust_the_stack() {
        let n = 200_000;
        let chain: Vec<(u32, u32)> = (0..n - 1).map(|i| (i, i + 1)).collect();
        let columns = columns(&mesh(n as usize, &chain));
        assert_eq!(columns.last(), Some(&(n as usize - 1)));
    }
}
