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
use crate::endpoints::{Endpoints, ServicePlan};
use crate::load::{Kind, Object};
use crate::resolve::{self, Resolution, RouteIndex};
use crate::select::Placement;
use crate::workload::ProxyMount;

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

/// Lowering state: the inputs, the endpoint resolver and what has been lowered so far.
struct Lowering<'a> {
    objects: &'a [Object],
    refs: Refs,
    endpoints: Endpoints<'a>,
    clusters: BTreeMap<String, Option<ClusterPlan>>,
    /// Rule lists by the VirtualService that writes them.
    lists: BTreeMap<usize, Option<listener::ListPlan>>,
    /// Named routes by where they are defined.
    routes: BTreeMap<(usize, String), Option<route::RoutePlan>>,
    /// Where each named route is defined, by namespace and name.
    named_routes: RouteIndex<'a>,
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
    let refs: Refs = resolutions
        .iter()
        .map(|r| ((r.from, r.pointer.clone()), r.to))
        .collect();
    let defined = resolve::routes(objects);
    let sites = cluster::sites(objects, &refs);
    let endpoints = Endpoints::new(objects, &sites, snapshot, diags);
    let mut lowering = Lowering {
        objects,
        refs,
        endpoints,
        clusters: BTreeMap::new(),
        lists: BTreeMap::new(),
        routes: BTreeMap::new(),
        named_routes: resolve::route_index(objects, &defined, None),
    };
    let mut listeners = BTreeMap::new();
    for placement in placements {
        match objects[placement.object].kind {
            Kind::VirtualService => {
                let plan = lowering.listener(placement.object, diags);
                listeners.insert(placement.object, plan);
            }
            Kind::Target => {
                lowering.add_target(placement.object, diags);
            }
            _ => {}
        }
    }
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
        services: lowering.endpoints.services.into_values().collect(),
    }
}

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
