//! Endpoints: the selector endpoints of clusters turned into proxy endpoints.
//!
//! By default a selector becomes a headless Service (one per distinct Service selector) whose
//! cluster DNS name the proxy resolves and re-resolves, so pods may come and go without a
//! recompile. With a `--pods` snapshot each matching pod's IP is written instead.

mod service;

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use l7mp_config::model;
use serde_json::Value;

pub use service::{ServiceKey, service_name};

use crate::crd::Selector;
use crate::diagnostics::{Code, Diagnostics};
use crate::load::Object;
use crate::select::{PodSet, Services, as_pod, pods_matching};

/// An endpoint selector in the input: the object it is named after, where it sits, and the
/// object that holds the selector (a linked VirtualService for `linkedVirtualService`).
#[derive(Clone, Debug)]
pub struct Site {
    /// Index of the object the endpoints belong to (a Target or VirtualService).
    pub owner: usize,
    /// Pointer of the selector in the owner (`/spec/linkedVirtualService` for linked ones).
    pub pointer: String,
    /// Index of the object holding the selector.
    pub holder: usize,
    /// Pointer of the selector in the holder.
    pub at: String,
    /// The selector.
    pub selector: Selector,
}

/// A headless Service to emit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePlan {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its selector.
    pub labels: BTreeMap<String, String>,
    /// Port numbers and protocols (`UDP`/`TCP`) of the clusters that use it.
    pub ports: BTreeSet<(u16, &'static str)>,
}

/// The endpoints of one selector.
#[derive(Clone, Debug, Default)]
pub struct EndpointSet {
    /// The proxy endpoints.
    pub endpoints: Vec<model::Endpoint>,
    /// The workloads (object indexes) whose pods they are, for the dataflow graph.
    pub workloads: Vec<usize>,
    /// How many pods they are (DaemonSets count as many).
    pub pods: usize,
}

/// Pods as [`crate::select::matches`] sees them, by object index, indexed by label.
type Pods<'a> = PodSet<'a>;

/// Resolves endpoint selectors in one of the two modes, remembering the Services it needs.
pub struct Endpoints<'a> {
    objects: &'a [Object],
    /// The Services among `objects`, for `matchService`.
    known: Services<'a>,
    workload_pods: Pods<'a>,
    snapshot: Option<(&'a [Object], Pods<'a>)>,
    names: BTreeMap<ServiceKey, String>,
    keys: BTreeMap<(usize, String), Option<ServiceKey>>,
    /// How many pods each workload runs, by object index (see [`replicas`]), read once here
    /// rather than from each workload's JSON at every selector that picks it.
    replicas: Vec<usize>,
}

/// The headless Services that resolved endpoints use, by namespace and name. Resolving only
/// records into it, so several lowering threads can each keep their own and merge them.
#[derive(Debug, Default)]
pub struct UsedServices(BTreeMap<(String, String), ServicePlan>);

impl UsedServices {
    /// Adds what `other` recorded: its Services, and the ports of the ones both use.
    pub fn merge(&mut self, other: UsedServices) {
        for (key, plan) in other.0 {
            match self.0.entry(key) {
                Entry::Vacant(entry) => {
                    entry.insert(plan);
                }
                Entry::Occupied(mut entry) => entry.get_mut().ports.extend(plan.ports),
            }
        }
    }

    /// The Services, sorted by namespace and name.
    pub fn into_plans(self) -> Vec<ServicePlan> {
        self.0.into_values().collect()
    }
}

impl<'a> Endpoints<'a> {
    /// Prepares the resolver. In Service mode (`snapshot` None) it translates every site up
    /// front, reporting the untranslatable ones, so that each Service gets the smallest name
    /// among the sites that share it whatever is placed where.
    pub fn new(
        objects: &'a [Object],
        sites: &[Site],
        snapshot: Option<&'a [Object]>,
        diags: &mut Diagnostics,
    ) -> Self {
        let pods_of = |objects: &'a [Object]| -> Pods<'a> {
            let pods = objects.iter().enumerate();
            PodSet::new(pods.filter_map(|(i, o)| Some((i, as_pod(o)?))).collect())
        };
        let mut this = Self {
            objects,
            known: Services::new(objects),
            workload_pods: pods_of(objects),
            snapshot: snapshot.map(|s| (s, pods_of(s))),
            names: BTreeMap::new(),
            keys: BTreeMap::new(),
            replicas: objects.iter().map(replicas).collect(),
        };
        if this.snapshot.is_none() {
            for site in sites {
                let key = this.translate(site, diags);
                this.keys.insert((site.owner, site.pointer.clone()), key);
            }
        }
        this
    }

    fn translate(&mut self, site: &Site, diags: &mut Diagnostics) -> Option<ServiceKey> {
        let holder = &self.objects[site.holder];
        match service::translate(&self.known, holder, &site.selector) {
            Ok(key) => {
                let name = service_name(&self.objects[site.owner].name, &site.pointer);
                let entry = self
                    .names
                    .entry(key.clone())
                    .or_insert_with(|| name.clone());
                if name < *entry {
                    *entry = name;
                }
                Some(key)
            }
            Err(why) => {
                let message = format!("this endpoint selector is no Service selector: {why}");
                let hint = "compile with `--pods FILE` (a `kubectl get pods -o yaml` snapshot), \
                            or select with matchLabels or single-value `In` expressions";
                diags.push(
                    holder
                        .diag(Code::EndpointSelectorNotExpressible, &site.at, message)
                        .hint(hint),
                );
                None
            }
        }
    }

    /// Whether endpoints are pod IPs from a `--pods` snapshot (else DNS names).
    pub fn has_snapshot(&self) -> bool {
        self.snapshot.is_some()
    }

    /// The endpoints of `site` for a cluster on `port` (`None` for protocols without one),
    /// recording the Service they use into `used`.
    pub fn resolve(
        &self,
        site: &Site,
        port: Option<(u16, &'static str)>,
        used: &mut UsedServices,
        diags: &mut Diagnostics,
    ) -> EndpointSet {
        let holder = &self.objects[site.holder];
        let workloads = pods_matching(&self.known, holder, &site.selector, &self.workload_pods);
        let replicas = workloads.iter().map(|&w| self.replicas[w]).sum();
        let endpoints = match &self.snapshot {
            Some((pods, values)) => {
                let chosen = pods_matching(&self.known, holder, &site.selector, values);
                let mut found: Vec<(&Object, &str)> = Vec::new();
                for i in chosen {
                    let pod = &pods[i];
                    match service::pod_ip(pod.value()) {
                        Some(ip) => found.push((pod, ip)),
                        None => diags.push(pod.diag(
                            Code::PodWithoutIp,
                            "/status",
                            format!(
                                "pod {}/{} has no podIP; it is left out",
                                pod.namespace, pod.name
                            ),
                        )),
                    }
                }
                found.sort_by(|a, b| (&a.0.namespace, &a.0.name).cmp(&(&b.0.namespace, &b.0.name)));
                let pods = found.len();
                let endpoints = found
                    .into_iter()
                    .map(|(pod, ip)| endpoint(Some(format!("{}/{}", pod.namespace, pod.name)), ip))
                    .collect();
                return EndpointSet {
                    endpoints,
                    workloads,
                    pods,
                };
            }
            None => self.service_endpoint(site, port, used),
        };
        EndpointSet {
            endpoints,
            workloads,
            pods: replicas,
        }
    }

    fn service_endpoint(
        &self,
        site: &Site,
        port: Option<(u16, &'static str)>,
        used: &mut UsedServices,
    ) -> Vec<model::Endpoint> {
        let Some(Some(key)) = self.keys.get(&(site.owner, site.pointer.clone())) else {
            return Vec::new();
        };
        let Some(name) = self.names.get(key) else {
            return Vec::new();
        };
        let (namespace, labels) = key.clone();
        let address = format!("{name}.{namespace}.svc.cluster.local");
        let plan = used
            .0
            .entry((namespace.clone(), name.clone()))
            .or_insert_with(|| ServicePlan {
                namespace,
                name: name.clone(),
                labels: labels.to_map(),
                ports: BTreeSet::new(),
            });
        plan.ports.extend(port);
        vec![endpoint(None, &address)]
    }
}

fn endpoint(name: Option<String>, address: &str) -> model::Endpoint {
    model::Endpoint {
        name,
        spec: model::EndpointSpec {
            address: address.to_string(),
        },
        weight: None,
    }
}

/// How many pods a workload runs: `spec.replicas` (default 1), a Pod one, a DaemonSet one per
/// node, which is counted as two: more than one.
fn replicas(object: &Object) -> usize {
    match object.kind {
        crate::load::Kind::DaemonSet => 2,
        crate::load::Kind::Pod => 1,
        _ => object
            .value()
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .map_or(1, |n| usize::try_from(n).unwrap_or(usize::MAX)),
    }
}
