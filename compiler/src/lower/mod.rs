//! Lowering: the `l7mp.io` objects placed on each proxy-running workload, as that proxy's fully
//! resolved config file.
//!
//! Listeners and clusters do not depend on the workload they land on, so each is lowered once
//! (and reported about once) and then shared by every workload it is placed on. Names derive
//! from namespaces, object names and positions, never from counters, so the output is stable.
//! Each plan keeps where its parts came from, for the dataflow graph and its diagnostics.

mod assemble;
mod cluster;
mod cycles;
mod insert;
mod listener;
mod route;
mod rules;
mod service;
mod spec;

use std::collections::{BTreeMap, BTreeSet};

use l7mp_config::model::{self, ConfigFile};

pub use spec::network_port;

use crate::crd::{LoadBalancerPolicy, Spec};
use crate::diagnostics::Diagnostics;
use crate::endpoints::{Endpoints, ServicePlan, UsedServices};
use crate::load::{Kind, Object};
use crate::parallel;
use crate::resolve::{self, Resolution, RouteIndex};
use crate::select::Placement;
use crate::workload::ProxyMount;

/// The routes one object defines, by pointer ([`resolve::routes`]).
type DefinedRoutes<'a> = (usize, Vec<(String, &'a crate::crd::Route)>);

/// Resolved references by referring object and pointer.
type Refs = BTreeMap<(usize, String), usize>;

/// Where in the input a compiled part came from: an object and a JSON pointer in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// Object index.
    pub object: usize,
    /// Pointer within the object.
    pub pointer: String,
}

impl Origin {
    fn new(object: usize, pointer: &str) -> Self {
        Self {
            object,
            pointer: pointer.to_string(),
        }
    }
}

/// One route hop: the cluster a rule's route sends through, and in which role.
#[derive(Clone, Debug)]
pub struct HopPlan {
    /// `ingress 0`, `destination`, `egress 0`, ...
    pub role: String,
    /// The cluster's name.
    pub cluster: String,
    /// Where the hop is written.
    pub origin: Origin,
}

/// A listener with the hops of its routes, each route's hops in traffic order.
#[derive(Clone, Debug)]
pub struct ListenerPlan {
    /// The proxy listener.
    pub listener: model::Listener,
    /// The VirtualService's listener.
    pub origin: Origin,
    /// The VirtualService owning its rule list.
    pub list: usize,
    /// Per route it can reach (through its rule list and `apply`): its hops (ingress, destination, egress).
    pub routes: Vec<Vec<HopPlan>>,
}

/// One endpoint entry of a cluster, with the workloads whose pods it reaches.
#[derive(Clone, Debug)]
pub struct EndpointPlan {
    /// Where the endpoint is written.
    pub origin: Origin,
    /// The workloads whose pods it reaches (empty for fixed addresses).
    pub workloads: Vec<usize>,
    /// How many pods it stands for.
    pub pods: usize,
    /// The socket path of a fixed Unix socket endpoint.
    pub path: Option<String>,
    /// The proxy endpoint addresses it became (a DNS name, pod IPs, or its fixed address), for
    /// the dataflow graph.
    pub addresses: Vec<String>,
}

/// A cluster with the endpoints it reaches.
#[derive(Clone, Debug)]
pub struct ClusterPlan {
    /// Its name.
    pub name: String,
    /// Where it is defined.
    pub origin: Origin,
    /// The proxy cluster.
    pub cluster: model::Cluster,
    /// Its endpoints.
    pub endpoints: Vec<EndpointPlan>,
    /// Its load balancing policy (default `Trivial`).
    pub policy: LoadBalancerPolicy,
}

/// The config of one proxy-running workload.
#[derive(Clone, Debug)]
pub struct ProxyPlan {
    /// The workload and where its proxy reads the config.
    pub mount: ProxyMount,
    /// Its listeners, by name.
    pub listeners: Vec<ListenerPlan>,
    /// Its clusters, by name.
    pub clusters: Vec<ClusterPlan>,
    /// The rule lists its listeners reach, by name.
    pub rulelists: Vec<model::RuleList>,
    /// The named routes those rule lists use, by name.
    pub routes: Vec<model::Route>,
}

impl ProxyPlan {
    /// The proxy config file, every part sorted by name.
    pub fn config(&self, objects: &[Object]) -> ConfigFile {
        let workload = &objects[self.mount.workload];
        ConfigFile {
            listeners: self.listeners.iter().map(|l| l.listener.clone()).collect(),
            clusters: self.clusters.iter().map(|c| c.cluster.clone()).collect(),
            rulelists: self.rulelists.clone(),
            routes: self.routes.clone(),
            generated: Some(model::Generated {
                by: Some("l7mpc".into()),
                workload: Some(format!(
                    "{}/{}/{}",
                    workload.namespace,
                    workload.kind.name(),
                    workload.name
                )),
            }),
            ..ConfigFile::default()
        }
    }
}

/// Everything lowering produced.
#[derive(Clone, Debug, Default)]
pub struct Lowered {
    /// One plan per proxy-running workload, in object order.
    pub proxies: Vec<ProxyPlan>,
    /// The headless Services the endpoints need.
    pub services: Vec<ServicePlan>,
}

/// What every lowering thread reads and none changes: the inputs, their resolved references,
/// the endpoint resolver and the named routes.
struct Context<'a> {
    objects: &'a [Object],
    refs: Refs,
    endpoints: Endpoints<'a>,
    /// Where each named route is defined, by namespace and name.
    named_routes: RouteIndex<'a>,
}

impl<'a> Context<'a> {
    /// The context of lowering `objects`, whose references resolved to `resolutions` and
    /// whose routes are `defined` ([`resolve::routes`]); `snapshot` holds the `--pods` objects.
    fn new(
        objects: &'a [Object],
        resolutions: &[Resolution],
        defined: &'a [DefinedRoutes<'a>],
        snapshot: Option<&'a [Object]>,
        diags: &mut Diagnostics,
    ) -> Self {
        let refs: Refs = resolutions
            .iter()
            .map(|r| ((r.from, r.pointer.clone()), r.to))
            .collect();
        let sites = cluster::sites(objects, &refs);
        Self {
            objects,
            endpoints: Endpoints::new(objects, &sites, snapshot, diags),
            named_routes: resolve::route_index(objects, defined, None),
            refs,
        }
    }
}

/// Lowering state: the shared context and what has been lowered so far. Each part is lowered
/// once per state, on demand, and is a function of the input alone: states that lowered
/// different objects merge ([`Lowering::merge`]) into the state one thread would have reached.
struct Lowering<'a> {
    objects: &'a [Object],
    refs: &'a Refs,
    endpoints: &'a Endpoints<'a>,
    named_routes: &'a RouteIndex<'a>,
    clusters: BTreeMap<String, Option<ClusterPlan>>,
    /// Rule lists by the VirtualService that writes them.
    lists: BTreeMap<usize, Option<listener::ListPlan>>,
    /// Named routes by where they are defined.
    routes: BTreeMap<(usize, String), Option<route::RoutePlan>>,
    /// The headless Services the endpoints lowered so far use.
    services: UsedServices,
    /// The listeners of the VirtualServices placed so far, by object.
    listeners: BTreeMap<usize, Option<ListenerPlan>>,
}

/// Builds the config of every workload in `mounts`. `snapshot` holds the `--pods` objects.
pub fn lower(
    objects: &[Object],
    resolutions: &[Resolution],
    placements: &[Placement],
    mounts: &[ProxyMount],
    snapshot: Option<&[Object]>,
    diags: &mut Diagnostics,
) -> Lowered {
    let defined = resolve::routes(objects);
    let context = Context::new(objects, resolutions, &defined, snapshot, diags);
    let parts = parallel::cores();
    let mut lowering = match place_in_runs(&context, placements, parts) {
        Some((lowering, found)) => {
            diags.append(found);
            lowering
        }
        None => {
            let mut lowering = Lowering::new(&context);
            lowering.place(placements, diags);
            lowering
        }
    };
    let inserts = lowering.inserts(placements, diags);
    lowering.apply_cycles(&inserts, diags);
    // The objects placed on each workload, in placement order: assembling each proxy from its
    // own, not by scanning every placement, keeps this linear in the mesh.
    let mut placed: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for p in placements {
        for &w in &p.workloads {
            placed.entry(w).or_default().push(p.object);
        }
    }
    // Likewise the Rule objects, in order.
    let mut inserts_on: BTreeMap<usize, Vec<&insert::InsertPlan>> = BTreeMap::new();
    for plan in &inserts {
        for &w in &plan.workloads {
            let here = inserts_on.entry(w).or_default();
            if !here.last().is_some_and(|last| std::ptr::eq(*last, plan)) {
                here.push(plan);
            }
        }
    }
    let none = Vec::new();
    let placed_on = |mount: &ProxyMount| placed.get(&mount.workload).unwrap_or(&none);
    let no_inserts = Vec::new();
    let inserts_here = |mount: &ProxyMount| inserts_on.get(&mount.workload).unwrap_or(&no_inserts);
    let listeners = std::mem::take(&mut lowering.listeners);
    let mut listeners = Shared::new(listeners, mounts.iter().flat_map(placed_on).copied());
    let named = lowering.named_routes();
    let assembled: Vec<(ProxyPlan, BTreeSet<String>)> = mounts
        .iter()
        .map(|mount| {
            let (placed, here) = (placed_on(mount), inserts_here(mount));
            lowering.assemble(mount, placed, &mut listeners, here, &named)
        })
        .collect();
    drop(named);
    let names = assembled.iter().flat_map(|(_, names)| names).cloned();
    let mut clusters = Shared::new(std::mem::take(&mut lowering.clusters), names);
    let proxies = assembled
        .into_iter()
        .map(|(mut proxy, names)| {
            proxy.clusters = names.iter().filter_map(|n| clusters.take(n)).collect();
            proxy
        })
        .collect();
    Lowered {
        proxies,
        services: lowering.services.into_plans(),
    }
}

/// Lowers the placed objects in `parts` runs of `placements`, each on a thread of its own with
/// its own state, merged in run order, with the diagnostics of all runs; None when two runs
/// lowered one cluster name from different places (two objects of one name, a Target and a
/// Service of one name), since which of them a proxy gets depends on which is lowered first:
/// then the caller lowers in one run, in placement order.
fn place_in_runs<'a>(
    context: &'a Context<'a>,
    placements: &[Placement],
    parts: usize,
) -> Option<(Lowering<'a>, Diagnostics)> {
    if parts <= 1 {
        return None;
    }
    let runs: Vec<&[Placement]> = placements
        .chunks(placements.len().div_ceil(parts).max(1))
        .collect();
    let lowered = parallel::map(&runs, |&run| {
        let mut lowering = Lowering::new(context);
        let mut found = Diagnostics::default();
        lowering.place(run, &mut found);
        (lowering, found)
    });
    let mut merged = Lowering::new(context);
    let mut diags = Diagnostics::default();
    for (run, found) in lowered {
        merged.merge(run).ok()?;
        diags.append(found);
    }
    Some((merged, diags))
}

/// Two lowering states hold one cluster name lowered from different places.
struct NameClash;

/// Lowered parts (listeners, clusters) that each proxy they are placed on gets a copy of: the
/// last proxy to take one gets the part itself, so that the mesh is not held twice (the peak of
/// a large mesh).
struct Shared<K, V> {
    parts: BTreeMap<K, Option<V>>,
    /// How many takes of each part are still to come.
    uses: BTreeMap<K, usize>,
}

impl<K: Ord + Clone, V: Clone> Shared<K, V> {
    /// `parts`, each to be taken once per occurrence of its key in `takes`.
    fn new(parts: BTreeMap<K, Option<V>>, takes: impl IntoIterator<Item = K>) -> Self {
        let mut uses = BTreeMap::new();
        for key in takes {
            *uses.entry(key).or_insert(0) += 1;
        }
        Self { parts, uses }
    }

    /// The part at `key` (None when it failed to lower), moved out on its last take.
    fn take(&mut self, key: &K) -> Option<V> {
        let left = self.uses.get_mut(key).map(|n| {
            *n = n.saturating_sub(1);
            *n
        });
        match left {
            Some(0) | None => self.parts.remove(key).flatten(),
            Some(_) => self.parts.get(key).cloned().flatten(),
        }
    }
}

impl<'a> Lowering<'a> {
    /// A state that has lowered nothing yet.
    fn new(context: &'a Context<'a>) -> Self {
        Self {
            objects: context.objects,
            refs: &context.refs,
            endpoints: &context.endpoints,
            named_routes: &context.named_routes,
            clusters: BTreeMap::new(),
            lists: BTreeMap::new(),
            routes: BTreeMap::new(),
            services: UsedServices::default(),
            listeners: BTreeMap::new(),
        }
    }

    /// Lowers the listener of each placed VirtualService and the cluster of each placed Target.
    fn place(&mut self, placements: &[Placement], diags: &mut Diagnostics) {
        for placement in placements {
            match self.objects[placement.object].kind {
                Kind::VirtualService => {
                    let plan = self.listener(placement.object, diags);
                    self.listeners.insert(placement.object, plan);
                }
                Kind::Target => {
                    self.add_target(placement.object, diags);
                }
                _ => {}
            }
        }
    }

    /// Takes in what another state lowered. A part both lowered from the same place is the
    /// same in each (a function of the input), so either copy will do; a cluster name both
    /// lowered from different places is a [`NameClash`].
    fn merge(&mut self, other: Lowering<'a>) -> Result<(), NameClash> {
        let Lowering {
            clusters,
            mut lists,
            mut routes,
            services,
            mut listeners,
            ..
        } = other;
        fn origin(plan: &Option<ClusterPlan>) -> Option<&Origin> {
            plan.as_ref().map(|p| &p.origin)
        }
        for (name, plan) in clusters {
            match self.clusters.get(&name) {
                Some(mine) if origin(mine) != origin(&plan) => return Err(NameClash),
                Some(_) => {}
                None => {
                    self.clusters.insert(name, plan);
                }
            }
        }
        self.lists.append(&mut lists);
        self.routes.append(&mut routes);
        self.listeners.append(&mut listeners);
        self.services.merge(services);
        Ok(())
    }

    /// The typed spec of object `i`; None for kinds without one and for a spec that did not
    /// read as its type (the schema stage reported why).
    fn spec(&self, i: usize) -> Option<&'a Spec> {
        self.objects[i].crd.as_ref()
    }

    /// The cluster name of a Target.
    fn target_name(&self, target: usize) -> String {
        let object = &self.objects[target];
        format!("{}/{}", object.namespace, object.name)
    }

    /// Lowers Target `target`'s cluster unless done already; returns its name.
    fn add_target(&mut self, target: usize, diags: &mut Diagnostics) -> String {
        let name = self.target_name(target);
        if !self.clusters.contains_key(&name) {
            let plan = self.target_cluster(target, diags);
            self.clusters.insert(name.clone(), plan);
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::Options;
    use crate::front;
    use crate::load::{self, SourceFile};

    /// Every golden case with an input folder, with its `--pods` snapshot when it has one.
    fn golden_cases() -> Vec<(Vec<SourceFile>, Option<Vec<SourceFile>>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden");
        let mut dirs: Vec<_> = std::fs::read_dir(&root)
            .expect("the golden cases are readable")
            .map(|entry| entry.expect("a readable entry").path())
            .filter(|dir| dir.join("input").is_dir())
            .collect();
        dirs.sort();
        dirs.into_iter()
            .filter_map(|dir| {
                let files = load::read_sources(&[dir.join("input")]).ok()?;
                let pods = dir.join("pods.yaml");
                let pods = pods
                    .is_file()
                    .then(|| load::read_sources(&[pods]).expect("a readable pods snapshot"));
                Some((files, pods))
            })
            .collect()
    }

    /// What a lowering state holds, as text to compare.
    fn state(lowering: &Lowering<'_>) -> String {
        let Lowering {
            clusters,
            lists,
            routes,
            services,
            listeners,
            ..
        } = lowering;
        format!("{clusters:#?}\n{lists:#?}\n{routes:#?}\n{services:#?}\n{listeners:#?}")
    }

    /// Placing in several runs on several threads gives what one run gives: the same lowered
    /// parts and, once sorted, the same diagnostics; or, on a cluster name two runs lowered
    /// from different places, nothing (the caller then lowers in one run).
    #[test]
    fn placing_in_runs_gives_what_one_run_gives() {
        let cases = golden_cases();
        assert!(cases.len() > 30, "found {} golden cases", cases.len());
        let mut merged = 0;
        for (files, pods) in cases {
            let options = Options::default();
            let mut diags = Diagnostics::default();
            let front = front::front(&files, &options, &mut diags);
            let snapshot: Option<Vec<Object>> = pods.map(|pods| {
                let inputs = load::parse(&pods, &options.namespace, &mut Diagnostics::default());
                inputs
                    .objects
                    .into_iter()
                    .filter(|o| o.kind == Kind::Pod)
                    .collect()
            });
            let objects = &front.inputs.objects;
            let defined = resolve::routes(objects);
            let (resolutions, pods) = (&front.resolutions, snapshot.as_deref());
            let context = Context::new(objects, resolutions, &defined, pods, &mut diags);
            let mut one = Lowering::new(&context);
            let mut found = Diagnostics::default();
            one.place(&front.placements, &mut found);
            let whole = (state(&one), found.into_sorted());
            for parts in [2, 3, 7] {
                let Some((runs, found)) = place_in_runs(&context, &front.placements, parts) else {
                    continue;
                };
                merged += 1;
                let name = &files[0].name;
                assert!(state(&runs) == whole.0, "{name} in {parts} runs differs");
                assert_eq!(found.into_sorted(), whole.1, "{name} in {parts} runs");
            }
        }
        assert!(merged > 90, "only {merged} merges");
    }

    #[test]
    fn a_shared_part_is_copied_until_its_last_take_moves_it_out() {
        let parts = BTreeMap::from([(1, Some("a".to_string())), (2, None)]);
        let mut shared = Shared::new(parts, [1, 2, 1]);
        assert_eq!(shared.take(&1).as_deref(), Some("a"));
        assert!(shared.parts.contains_key(&1));
        assert_eq!(shared.take(&2), None);
        assert_eq!(shared.take(&1).as_deref(), Some("a"));
        assert!(shared.parts.is_empty());
    }
}
