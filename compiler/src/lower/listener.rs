//! The listener of a VirtualService and the rule list it refers to.
//!
//! Every VirtualService with `rules` owns a named rule list, `NAMESPACE/NAME`; its listener and
//! every listener with `rulesRef` to it refer to the list by that name, and `apply` continues in
//! it. Each list is lowered once; [`super::assemble`] puts on each proxy what its listeners reach.

use l7mp_config::model::{self, Ref};

use super::rules::RulePlan;
use super::{ListenerPlan, Lowering, Origin, spec};
use crate::diagnostics::{Code, Diagnostics};

/// The rule list a VirtualService owns, as written (Rule objects are merged per proxy).
#[derive(Clone, Debug)]
pub struct ListPlan {
    /// Its name, `NAMESPACE/NAME` of the VirtualService.
    pub name: String,
    /// How many rules the VirtualService writes (the bound of a Rule's `position`).
    pub len: usize,
    /// The rules that lowered, with their index in the list.
    pub rules: Vec<(usize, RulePlan)>,
}

impl<'a> Lowering<'a> {
    /// The listener of VirtualService `vsvc`, named `namespace/name`, referring to its rule list
    /// by name; None when it cannot be lowered (the reason has been reported).
    pub(super) fn listener(
        &mut self,
        vsvc: usize,
        diags: &mut Diagnostics,
    ) -> Option<ListenerPlan> {
        let object = &self.objects[vsvc];
        let listener = &self.spec(vsvc)?.virtual_service()?.listener;
        let listener_spec = match spec::listener(&listener.spec) {
            Ok(s) => s,
            Err(spec::NO_PROTOCOL) => return None,
            Err(protocol) => {
                let message = format!(
                    "the proxy does not implement {protocol} listeners, by design (it has no write API; see proxy/README.md)"
                );
                diags.push(object.diag(Code::Unsupported, "/spec/listener/spec", message));
                return None;
            }
        };
        let owner = self.list_owner(vsvc, diags)?;
        let list = self.list(owner, diags)?.name.clone();
        Some(ListenerPlan {
            listener: model::Listener {
                name: format!("{}/{}", object.namespace, object.name),
                spec: listener_spec,
                rules: Ref::Name(list),
                options: listener
                    .options
                    .as_ref()
                    .and_then(|o| o.track)
                    .map(|track| model::ListenerOptions {
                        track: Some(u64::from(track)),
                        ..model::ListenerOptions::default()
                    }),
            },
            origin: Origin::new(vsvc, "/spec/listener"),
            list: owner,
            routes: Vec::new(),
        })
    }

    /// The VirtualService whose `rules` make up `vsvc`'s rule list: itself, or where its
    /// `rulesRef` chain ends. None (reported) for a chain that comes back to itself.
    pub(super) fn list_owner(&self, vsvc: usize, diags: &mut Diagnostics) -> Option<usize> {
        let mut current = vsvc;
        let mut seen = vec![vsvc];
        loop {
            let listener = &self.spec(current)?.virtual_service()?.listener;
            if listener.rules_ref.is_none() {
                return Some(current);
            }
            current = *self
                .refs
                .get(&(current, "/spec/listener/rulesRef".into()))?;
            if seen.contains(&current) {
                if current == vsvc {
                    let message = "this `rulesRef` chain comes back here: no VirtualService in it writes `rules`";
                    let hint = "make one VirtualService of the chain write `rules`";
                    diags.push(
                        self.objects[vsvc]
                            .diag(
                                Code::UnresolvedReference,
                                "/spec/listener/rulesRef",
                                message,
                            )
                            .hint(hint),
                    );
                }
                return None;
            }
            seen.push(current);
        }
    }

    /// The rule list VirtualService `owner` writes, lowered once; None when it has no `rules`.
    pub(super) fn list(&mut self, owner: usize, diags: &mut Diagnostics) -> Option<&ListPlan> {
        if !self.lists.contains_key(&owner) {
            // Marks the list as under way: an `apply` cycle must not lower it again.
            self.lists.insert(owner, None);
            let plan = self.lower_list(owner, diags);
            self.lists.insert(owner, plan);
        }
        self.lists.get(&owner)?.as_ref()
    }

    fn lower_list(&mut self, owner: usize, diags: &mut Diagnostics) -> Option<ListPlan> {
        let object = &self.objects[owner];
        let name = format!("{}/{}", object.namespace, object.name);
        let rules = self
            .spec(owner)?
            .virtual_service()?
            .listener
            .rules
            .as_ref()?;
        // Sized up front: a growing Vec of these large plans keeps room for four, and every
        // VirtualService's list lives until lowering ends.
        let mut lowered = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let at = format!("/spec/listener/rules/{i}");
            if let Some(rule) = self.rule(owner, &at, rule, diags) {
                lowered.push((i, rule));
            }
        }
        Some(ListPlan {
            name,
            len: rules.len(),
            rules: lowered,
        })
    }
}
