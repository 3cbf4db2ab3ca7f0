//! Clusters: a Target's cluster, an inline cluster of a route, or the cluster a
//! `linkedVirtualService` makes of a listener, each as a proxy cluster with its endpoints.

use l7mp_config::model;
use serde_json::Value;

use super::spec::{self, SpecError};
use super::{ClusterPlan, EndpointPlan, Lowering, Origin, Refs};
use crate::crd::{Cluster, LoadBalancerPolicy, Selector};
use crate::diagnostics::{Code, Diagnostics};
use crate::endpoints::Site;
use crate::load::{Kind, Object};

impl Lowering<'_> {
    /// The plan of Target `target`'s cluster, named `namespace/name`; None when it cannot be
    /// lowered (the reason has been reported).
    pub(super) fn target_cluster(
        &mut self,
        target: usize,
        diags: &mut Diagnostics,
    ) -> Option<ClusterPlan> {
        let object = &self.objects[target];
        let name = format!("{}/{}", object.namespace, object.name);
        let target_spec = self.spec(target)?.target()?;
        if let Some(cluster) = &target_spec.cluster {
            return self.cluster(&name, Origin::new(target, "/spec/cluster"), cluster, diags);
        }
        let vsvc = *self
            .refs
            .get(&(target, "/spec/linkedVirtualService".into()))?;
        let linked = self.spec(vsvc)?.virtual_service()?;
        let Ok(listener) = spec::listener(&linked.listener.spec) else {
            return None; // reported with the VirtualService
        };
        let site = linked_site(target, vsvc, &linked.selector);
        let cluster_spec = spec::linked_cluster(&listener);
        let set = self.endpoints.resolve(
            &site,
            spec::network_port(&cluster_spec),
            &mut self.services,
            diags,
        );
        let addresses = addresses(&set.endpoints);
        Some(ClusterPlan {
            name: name.clone(),
            origin: Origin::new(target, "/spec/linkedVirtualService"),
            cluster: model::Cluster {
                name: Some(name),
                spec: cluster_spec,
                endpoints: set.endpoints,
                loadbalancer: None,
                options: None,
            },
            endpoints: vec![EndpointPlan {
                origin: Origin::new(target, "/spec/linkedVirtualService"),
                workloads: set.workloads,
                pods: set.pods,
                path: None,
                addresses,
            }],
            policy: LoadBalancerPolicy::Trivial,
        })
    }

    /// Lowers `cluster`, defined at `origin`, under `name`.
    pub(super) fn cluster(
        &mut self,
        name: &str,
        origin: Origin,
        cluster: &Cluster,
        diags: &mut Diagnostics,
    ) -> Option<ClusterPlan> {
        let object = &self.objects[origin.object];
        let cluster_spec = match spec::cluster(&cluster.spec) {
            Ok(s) => s,
            Err(SpecError::Unsupported(spec::NO_PROTOCOL)) => return None,
            Err(SpecError::Unsupported(protocol)) => {
                let message = format!("the proxy does not implement {protocol} clusters yet");
                let at = format!("{}/spec", origin.pointer);
                diags.push(object.diag(Code::Unsupported, &at, message));
                return None;
            }
            Err(SpecError::Pointer { at, message }) => {
                let at = format!("{}/spec{at}", origin.pointer);
                let hint = l7mp_config::wording::POINTER_HINT;
                diags.push(object.diag(Code::InvalidPointer, &at, message).hint(hint));
                return None;
            }
        };
        let port = spec::network_port(&cluster_spec);
        // One plan per endpoint entry, sized up front: every cluster lives until emission, and a
        // Vec grown by its first push has room for four.
        let written = cluster.endpoints.as_ref().map_or(0, Vec::len);
        let mut endpoints = Vec::new();
        let mut plans = Vec::with_capacity(written);
        for (i, e) in cluster.endpoints.iter().flatten().enumerate() {
            let at = format!("{}/endpoints/{i}", origin.pointer);
            if let Some(fixed) = &e.spec {
                let address = fixed.address.clone().or_else(|| fixed.filename.clone());
                let address = address.unwrap_or_default();
                let path = fixed.filename.clone();
                endpoints.push(model::Endpoint {
                    name: e.name.clone(),
                    spec: model::EndpointSpec {
                        address: address.clone(),
                    },
                    weight: fixed.weight,
                });
                let origin = Origin::new(origin.object, &at);
                plans.push(EndpointPlan {
                    origin,
                    workloads: Vec::new(),
                    pods: 1,
                    path,
                    addresses: vec![address],
                });
            } else if let Some(selector) = &e.selector {
                let site = Site {
                    owner: origin.object,
                    pointer: format!("{at}/selector"),
                    holder: origin.object,
                    at: format!("{at}/selector"),
                    selector: selector.clone(),
                };
                let set = self
                    .endpoints
                    .resolve(&site, port, &mut self.services, diags);
                let origin = Origin::new(origin.object, &site.at);
                plans.push(EndpointPlan {
                    origin,
                    workloads: set.workloads,
                    pods: set.pods,
                    path: None,
                    addresses: addresses(&set.endpoints),
                });
                endpoints.extend(set.endpoints);
            }
        }
        let loadbalancer = cluster.loadbalancer.as_ref().map(|lb| model::LoadBalancer {
            policy: policy_name(lb.policy).to_string(),
            key: lb.key.clone(),
        });
        Some(ClusterPlan {
            name: name.to_string(),
            origin,
            cluster: model::Cluster {
                name: Some(name.to_string()),
                spec: cluster_spec,
                endpoints,
                loadbalancer,
                options: cluster
                    .options
                    .clone()
                    .filter(|o| !o.is_null() && o != &Value::Object(Default::default())),
            },
            endpoints: plans,
            policy: cluster
                .loadbalancer
                .as_ref()
                .map_or(LoadBalancerPolicy::Trivial, |lb| lb.policy),
        })
    }
}

/// The addresses of `endpoints`, for [`EndpointPlan::addresses`].
pub(super) fn addresses(endpoints: &[model::Endpoint]) -> Vec<String> {
    endpoints.iter().map(|e| e.spec.address.clone()).collect()
}

/// The endpoint site of a `linkedVirtualService` Target: `selector`, that of VirtualService
/// `vsvc`.
fn linked_site(target: usize, vsvc: usize, selector: &Selector) -> Site {
    Site {
        owner: target,
        pointer: "/spec/linkedVirtualService".into(),
        holder: vsvc,
        at: "/spec/selector".into(),
        selector: selector.clone(),
    }
}

/// Every endpoint selector of every Target and VirtualService, plus the VirtualService selector
/// behind each `linkedVirtualService`, for [`crate::endpoints::Endpoints::new`].
pub(super) fn sites(objects: &[Object], refs: &Refs) -> Vec<Site> {
    let mut sites = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        if !matches!(object.kind, Kind::Target | Kind::VirtualService) {
            continue;
        }
        let Some(nodes) = object.nodes() else {
            continue;
        };
        // All but the object's own selector, which places it.
        let endpoint_selectors = nodes
            .selectors
            .into_iter()
            .filter(|(at, _)| at != OWN_SELECTOR);
        for (at, selector) in endpoint_selectors {
            sites.push(Site {
                owner: i,
                pointer: at.clone(),
                holder: i,
                at,
                selector: selector.clone(),
            });
        }
        if let Some(&vsvc) = refs.get(&(i, "/spec/linkedVirtualService".into()))
            && let Some(nodes) = objects[vsvc].nodes()
            && let Some((_, selector)) = nodes.selectors.iter().find(|(at, _)| at == OWN_SELECTOR)
        {
            sites.push(linked_site(i, vsvc, selector));
        }
    }
    sites
}

/// The pointer of an object's own selector, which places it (the others pick endpoints).
const OWN_SELECTOR: &str = "/spec/selector";

/// The proxy's name of a load balancing policy.
fn policy_name(policy: LoadBalancerPolicy) -> &'static str {
    match policy {
        LoadBalancerPolicy::Trivial => "Trivial",
        LoadBalancerPolicy::ConsistentHash => "ConsistentHash",
        LoadBalancerPolicy::HashRing => "HashRing",
    }
}
