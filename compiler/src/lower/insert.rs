//! The `Rule` CRD: a rule inserted into a VirtualService's rule list, on the proxies of the
//! selected workloads (without a selector: where that VirtualService's listener is).
//!
//! `position` counts in the list as the VirtualService writes it, from 0 (first) to its length
//! (append, also the default), so a Rule's place does not depend on other Rules. Rules with the
//! same position go in order of namespace and name. A position past the end is an error.

use std::collections::BTreeMap;

use super::Lowering;
use super::rules::RulePlan;
use crate::diagnostics::{Code, Diagnostics};
use crate::select::Placement;

/// A lowered Rule object.
#[derive(Clone, Debug)]
pub struct InsertPlan {
    /// The VirtualService owning the rule list.
    pub list: usize,
    /// Where in the written list it goes.
    pub position: usize,
    /// The rule.
    pub rule: RulePlan,
    /// The workloads whose proxies get it.
    pub workloads: Vec<usize>,
    /// Namespace and name, the order among Rules of one position.
    pub key: (String, String),
}

impl Lowering<'_> {
    /// Every Rule object that lowers, sorted by list, position, namespace and name.
    pub(super) fn inserts(
        &mut self,
        placements: &[Placement],
        diags: &mut Diagnostics,
    ) -> Vec<InsertPlan> {
        let rules = self
            .objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o.kind == crate::load::Kind::Rule)
            .map(|(i, _)| i)
            .collect::<Vec<_>>();
        // The workloads each object is placed on, looked up per Rule: a scan of the placements
        // per Rule would make many Rules quadratic.
        let placed: BTreeMap<usize, &[usize]> = placements
            .iter()
            .map(|p| (p.object, p.workloads.as_slice()))
            .collect();
        let mut plans: Vec<InsertPlan> = rules
            .into_iter()
            .filter_map(|i| self.insert(i, &placed, diags))
            .collect();
        plans.sort_by(|a, b| (a.list, a.position, &a.key).cmp(&(b.list, b.position, &b.key)));
        plans
    }

    fn insert(
        &mut self,
        object: usize,
        placed: &BTreeMap<usize, &[usize]>,
        diags: &mut Diagnostics,
    ) -> Option<InsertPlan> {
        let spec = self.spec(object)?.rule()?;
        let vsvc = *self.refs.get(&(object, "/spec/rulelist".into()))?;
        let list = self.list_owner(vsvc, diags)?;
        let (len, name) = {
            let plan = self.list(list, diags)?;
            (plan.len, plan.name.clone())
        };
        let position = spec.position.map_or(len, |p| p as usize);
        let this = &self.objects[object];
        let key = (this.namespace.clone(), this.name.clone());
        // Named after the Rule, as the original operator does, so logs say which one matched.
        let rule = self
            .rule(object, "/spec/rule", &spec.rule, diags)
            .map(|mut plan| {
                plan.rule.name = Some(format!("{}/{}", key.0, key.1));
                plan
            });
        let this = &self.objects[object];
        if position > len {
            let message = format!(
                "position {position} is past the end of rule list {name}, which has {len} rule{}",
                if len == 1 { "" } else { "s" }
            );
            let hint = format!(
                "use a position from 0 (first) to {len} (append), or leave `position` out to append"
            );
            diags.push(
                this.diag(Code::RulePositionOutOfRange, "/spec/position", message)
                    .hint(hint),
            );
            return None;
        }
        let workloads = if spec.selector.is_some() {
            placed.get(&object)?.to_vec()
        } else {
            placed.get(&vsvc).map(|w| w.to_vec()).unwrap_or_default()
        };
        Some(InsertPlan {
            list,
            position,
            rule: rule?,
            workloads,
            key,
        })
    }
}
