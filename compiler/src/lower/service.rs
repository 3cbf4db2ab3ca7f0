//! Naked Services: a `destinationRef`/`clusterRef` naming a plain `v1` Service becomes a cluster
//! of that Service's port.
//!
//! The port is the only one of the Service, or the one named by `NAME:PORT`. Its `protocol`
//! gives the cluster's (`UDP`, or `TCP` by default); `appProtocol: kubernetes.io/ws` (or `ws`)
//! on a TCP port makes it a WebSocket cluster. Endpoints are the Service's DNS name, or with
//! `--pods` the IPs of the pods it selects. Pod addresses (`--pods`, or the DNS name of a
//! headless Service) take the port's `targetPort` (a number; a named target port is not
//! supported) or else `port`; the virtual IP of a ClusterIP Service takes `port`, and then
//! Kubernetes, not the proxy, balances between the pods. The cluster is named `NAMESPACE/NAME` or
//! `NAMESPACE/NAME:PORT`.

use l7mp_config::model;
use serde_json::Value;

use super::{ClusterPlan, EndpointPlan, Lowering, Origin};
use crate::crd::{LoadBalancerPolicy, Selector};
use crate::diagnostics::{Code, Diagnostics};
use crate::endpoints::Site;

/// Why a Service port gives no cluster spec: the code and the message.
type PortError = (Code, String);

impl Lowering<'_> {
    /// Lowers the cluster of Service `service` that `text` (written at `origin`) names, unless
    /// done already; returns its name.
    pub(super) fn add_service(
        &mut self,
        service: usize,
        text: &str,
        origin: &Origin,
        diags: &mut Diagnostics,
    ) -> Option<String> {
        let object = &self.objects[service];
        let port = text.rsplit_once(':').map(|(_, port)| port);
        let name = match port {
            Some(port) => format!("{}/{}:{port}", object.namespace, object.name),
            None => format!("{}/{}", object.namespace, object.name),
        };
        if !self.clusters.contains_key(&name) {
            let plan = self.service_cluster(service, &name, port, origin, diags);
            self.clusters.insert(name.clone(), plan);
        }
        Some(name)
    }

    fn service_cluster(
        &mut self,
        service: usize,
        name: &str,
        port: Option<&str>,
        origin: &Origin,
        diags: &mut Diagnostics,
    ) -> Option<ClusterPlan> {
        let object = &self.objects[service];
        let headless = object
            .value()
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            == Some("None");
        let to_pods = headless || self.endpoints.has_snapshot();
        let spec = match port_spec(object.value(), port, to_pods) {
            Ok(spec) => spec,
            Err((code, message)) => {
                let message = format!("Service {}/{}: {message}", object.namespace, object.name);
                let hint = match code {
                    Code::ServicePort => {
                        "name the port: `SERVICE:PORTNAME`, after a `name` of one of the Service's ports"
                    }
                    _ => {
                        "give the Service port a numeric `targetPort` and a TCP or UDP `protocol`, or use a Target"
                    }
                };
                diags.push(
                    self.objects[origin.object]
                        .diag(code, &origin.pointer, message)
                        .hint(hint),
                );
                return None;
            }
        };
        let site = Site {
            owner: service,
            pointer: "/spec/selector".into(),
            holder: service,
            at: "/spec/selector".into(),
            selector: Selector {
                match_namespace: Some(object.namespace.clone()),
                match_service: Some(object.name.clone()),
                ..Selector::default()
            },
        };
        let set = self.endpoints.resolve(
            &site,
            super::spec::network_port(&spec),
            &mut self.services,
            diags,
        );
        let (endpoints, pods, workloads) = if self.endpoints.has_snapshot() {
            (set.endpoints, set.pods, set.workloads)
        } else {
            let address = format!("{}.{}.svc.cluster.local", object.name, object.namespace);
            let headless = object
                .value()
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                == Some("None");
            let endpoint = model::Endpoint {
                name: None,
                spec: model::EndpointSpec { address },
                weight: None,
            };
            // A ClusterIP Service balances by itself: one address on the Service's port, not the
            // pods' (so the dataflow graph leaves out the pods behind it).
            if headless {
                (vec![endpoint], set.pods, set.workloads)
            } else {
                (vec![endpoint], 1, Vec::new())
            }
        };
        let addresses = super::cluster::addresses(&endpoints);
        Some(ClusterPlan {
            name: name.to_string(),
            origin: origin.clone(),
            cluster: model::Cluster {
                name: Some(name.to_string()),
                spec,
                endpoints,
                loadbalancer: None,
                options: None,
            },
            endpoints: vec![EndpointPlan {
                origin: origin.clone(),
                workloads,
                pods,
                path: None,
                addresses,
            }],
            policy: LoadBalancerPolicy::Trivial,
        })
    }
}

/// The cluster spec of the Service port named `port` (or its only port) in `service`, sending
/// to the pods' port (`to_pods`) or to the Service's own.
fn port_spec(
    service: &Value,
    port: Option<&str>,
    to_pods: bool,
) -> Result<model::ClusterSpec, PortError> {
    let ports: &[Value] = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let name_of = |p: &Value| p.get("name").and_then(Value::as_str).map(str::to_string);
    let names = || {
        let names: Vec<String> = ports.iter().filter_map(name_of).collect();
        if names.is_empty() {
            "none of them has a name".to_string()
        } else {
            format!("its port names are {}", names.join(", "))
        }
    };
    let chosen = match (port, ports) {
        (_, []) => return Err((Code::ServicePort, "the Service has no ports".into())),
        (None, [only]) => only,
        (None, _) => {
            let message = format!(
                "the Service has {} ports and the reference names none ({})",
                ports.len(),
                names()
            );
            return Err((Code::ServicePort, message));
        }
        (Some(port), _) => ports
            .iter()
            .find(|p| name_of(p).as_deref() == Some(port))
            .ok_or_else(|| {
                let message = format!("the Service has no port named `{port}` ({})", names());
                (Code::ServicePort, message)
            })?,
    };
    let number = match chosen.get("targetPort").filter(|_| to_pods) {
        None => chosen.get("port"),
        Some(Value::String(named)) => {
            let message = format!("its target port `{named}` is a name; l7mpc needs the number");
            return Err((Code::Unsupported, message));
        }
        target => target,
    };
    let number = number
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            (
                Code::ServicePort,
                "the port has no valid number".to_string(),
            )
        })?;
    let protocol = chosen
        .get("protocol")
        .and_then(Value::as_str)
        .unwrap_or("TCP");
    let app = chosen.get("appProtocol").and_then(Value::as_str);
    match (protocol, app) {
        ("TCP", Some("kubernetes.io/ws" | "ws")) => Ok(model::ClusterSpec::WebSocket {
            port: number,
            path: None,
            bind: None,
        }),
        ("TCP", _) => Ok(model::ClusterSpec::Tcp {
            port: number,
            bind: None,
        }),
        ("UDP", _) => Ok(model::ClusterSpec::Udp {
            port: number,
            bind: None,
        }),
        (other, _) => Err((
            Code::Unsupported,
            format!("its port protocol {other} has no l7mp cluster"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_only_port_or_the_named_one() {
        let one = json!({"spec": {"ports": [{"port": 53, "protocol": "UDP"}]}});
        assert!(matches!(
            port_spec(&one, None, true),
            Ok(model::ClusterSpec::Udp { port: 53, .. })
        ));
        let two = json!({"spec": {"ports": [
            {"name": "web", "port": 80, "targetPort": 8080, "appProtocol": "kubernetes.io/ws"},
            {"name": "raw", "port": 81}
        ]}});
        assert!(
            matches!(port_spec(&two, None, true), Err((Code::ServicePort, m)) if m.contains("web, raw"))
        );
        assert!(matches!(
            port_spec(&two, Some("web"), true),
            Ok(model::ClusterSpec::WebSocket { port: 8080, .. })
        ));
        assert!(matches!(
            port_spec(&two, Some("web"), false),
            Ok(model::ClusterSpec::WebSocket { port: 80, .. })
        ));
        assert!(matches!(
            port_spec(&two, Some("raw"), true),
            Ok(model::ClusterSpec::Tcp { port: 81, .. })
        ));
        assert!(matches!(
            port_spec(&two, Some("x"), true),
            Err((Code::ServicePort, _))
        ));
    }

    #[test]
    fn unusable_ports_are_errors_not_panics() {
        for service in [
            json!({}),
            json!({"spec": {"ports": "x"}}),
            json!({"spec": {"ports": [{"port": 70000}]}}),
            json!({"spec": {"ports": [{"port": 1, "targetPort": "http"}]}}),
            json!({"spec": {"ports": [{"port": 1, "protocol": "SCTP"}]}}),
        ] {
            assert!(port_spec(&service, None, true).is_err(), "{service}");
        }
    }
}
