//! `apply` cycles: rule lists that continue in each other without end. The proxy refuses them
//! too; here they are reported at the `apply` that closes the cycle, with the lists on it.

use std::collections::BTreeMap;

use super::insert::InsertPlan;
use super::{Lowering, Origin};
use crate::diagnostics::{Code, Diagnostics};

impl Lowering<'_> {
    /// Reports every `apply` that closes a cycle among the rule lists and Rule objects.
    pub(super) fn apply_cycles(&self, inserts: &[InsertPlan], diags: &mut Diagnostics) {
        let mut edges: BTreeMap<usize, Vec<(usize, &Origin)>> = BTreeMap::new();
        for (owner, list) in &self.lists {
            let rules = list.iter().flat_map(|l| l.rules.iter().map(|(_, r)| r));
            for (next, origin) in rules.filter_map(|r| r.apply.as_ref()) {
                edges.entry(*owner).or_default().push((*next, origin));
            }
        }
        for insert in inserts {
            if let Some((next, origin)) = &insert.rule.apply {
                edges.entry(insert.list).or_default().push((*next, origin));
            }
        }
        let mut done = Vec::new();
        for &start in edges.keys() {
            let mut path = Vec::new();
            self.visit(start, &edges, &mut path, &mut done, diags);
        }
    }

    /// Depth first from `node`; `path` holds the lists being visited.
    fn visit(
        &self,
        node: usize,
        edges: &BTreeMap<usize, Vec<(usize, &Origin)>>,
        path: &mut Vec<usize>,
        done: &mut Vec<usize>,
        diags: &mut Diagnostics,
    ) {
        if done.contains(&node) {
            return;
        }
        path.push(node);
        for (next, origin) in edges.get(&node).into_iter().flatten() {
            if let Some(at) = path.iter().position(|n| n == next) {
                let names: Vec<String> = path[at..]
                    .iter()
                    .chain(std::iter::once(next))
                    .map(|&n| format!("{}/{}", self.objects[n].namespace, self.objects[n].name))
                    .collect();
                let message = format!("`apply` never ends: {}", names.join(" -> "));
                let hint = "break the cycle so that some rule list routes instead of applying";
                diags.push(
                    self.objects[origin.object]
                        .diag(Code::ForwardingLoop, &origin.pointer, message)
                        .hint(hint),
                );
            } else {
                self.visit(*next, edges, path, done, diags);
            }
        }
        path.pop();
        done.push(node);
    }
}
