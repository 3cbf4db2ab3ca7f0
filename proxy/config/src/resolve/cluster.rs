//! Clusters: checks each spec (including JSONSocket transports and header entries), its
//! endpoints and its load balancer, and refuses endpoints on in-proxy clusters.

use std::net::IpAddr;
use std::path::PathBuf;

use super::{Kind, Resolver};
use crate::config::{
    ClusterConfig, EndpointAddress, EndpointConfig, Framing, LbPolicy, LocalAddress,
};
use crate::model::{Bind, Cluster, ClusterSpec, HeaderCopy, HeaderEntry};
use crate::pointer::JsonPointer;

impl Resolver<'_> {
    pub(super) fn add_cluster(&mut self, name: String, c: &Cluster, at: &str) {
        if !self.define(Kind::Cluster, &name, at) {
            return;
        }
        let object = format!("cluster \"{name}\"");
        let mut spec = c.spec.clone();
        let bind = self.check_cluster_spec(&object, &mut spec, &format!("{at}/spec"));
        let remote = Framing::of_cluster(&spec) != Framing::Transparent;
        if !remote && !c.endpoints.is_empty() {
            self.error(
                &object,
                &format!("{at}/endpoints"),
                "an in-proxy cluster has no endpoints".into(),
                "remove `endpoints`, or use a remote protocol such as UDP",
            );
        }
        let endpoints = self.endpoints(&name, &object, c, at);
        let (policy, key) = self.load_balancer(&object, c, at);
        self.config.clusters.insert(
            name.clone(),
            ClusterConfig {
                name,
                spec,
                endpoints,
                policy,
                key,
                bind,
            },
        );
    }

    /// Checks `spec`, leaving the pointers of its lenient paths (Sync query, JSONSocket
    /// header) in the form they are read as; returns its `bind`, parsed.
    fn check_cluster_spec(
        &mut self,
        object: &str,
        spec: &mut ClusterSpec,
        at: &str,
    ) -> Option<LocalAddress> {
        match spec {
            ClusterSpec::Udp { port, bind } | ClusterSpec::Tcp { port, bind } => {
                self.check_port(object, *port, &format!("{at}/port"));
                self.local_address(object, bind.as_ref(), &format!("{at}/bind"))
            }
            ClusterSpec::WebSocket { port, path, bind } => {
                self.check_port(object, *port, &format!("{at}/port"));
                self.check_http_path(object, path.as_deref(), &format!("{at}/path"));
                self.local_address(object, bind.as_ref(), &format!("{at}/bind"))
            }
            ClusterSpec::JsonSocket { transport, header } => {
                let transport_at = format!("{at}/transport");
                let bind = if Framing::of_cluster(transport) == Framing::Transparent
                    || matches!(**transport, ClusterSpec::JsonSocket { .. })
                {
                    self.error(
                        object,
                        &format!("{transport_at}/protocol"),
                        "JSONSocket runs over a remote protocol only".into(),
                        "use UDP, TCP, WebSocket or UnixDomainSocket as the transport",
                    );
                    None
                } else {
                    self.check_cluster_spec(object, transport, &transport_at)
                };
                for (i, entry) in header.iter_mut().enumerate() {
                    self.check_header_entry(object, entry, &format!("{at}/header/{i}"));
                }
                bind
            }
            ClusterSpec::Sync { query } => {
                self.normalise_path(object, query, &format!("{at}/query"));
                None
            }
            ClusterSpec::UnixDomainSocket { .. }
            | ClusterSpec::Echo {}
            | ClusterSpec::Discard {}
            | ClusterSpec::Logger { .. }
            | ClusterSpec::JsonEncap {}
            | ClusterSpec::JsonDecap {}
            | ClusterSpec::Metric { .. }
            | ClusterSpec::Stdio {} => None,
        }
    }

    /// `bind` with its address parsed (`None` when absent; a bad address is reported).
    fn local_address(
        &mut self,
        object: &str,
        bind: Option<&Bind>,
        at: &str,
    ) -> Option<LocalAddress> {
        let bind = bind?;
        Some(LocalAddress {
            address: self.ip(object, bind.address.as_deref(), &format!("{at}/address")),
            port: bind.port,
        })
    }

    fn check_header_entry(&mut self, object: &str, entry: &mut HeaderEntry, at: &str) {
        match (&mut entry.path, &mut entry.set) {
            (Some(HeaderCopy::From(from)), None) => {
                self.normalise_path(object, from, &format!("{at}/path"));
            }
            (Some(HeaderCopy::FromTo { from, to }), None) => {
                self.normalise_path(object, from, &format!("{at}/path/from"));
                self.normalise_path(object, to, &format!("{at}/path/to"));
            }
            (None, Some(set)) => {
                self.normalise_path(object, &mut set.key, &format!("{at}/set/key"));
            }
            _ => self.error(
                object,
                at,
                "a header entry needs exactly one of `path` and `set`".into(),
                "write `path: /metadata/pointer` to copy a value, or \
                 `set: {key: /field, value: ...}` to set a constant",
            ),
        }
    }

    fn endpoints(
        &mut self,
        cluster: &str,
        object: &str,
        c: &Cluster,
        at: &str,
    ) -> Vec<EndpointConfig> {
        let mut out = Vec::with_capacity(c.endpoints.len());
        for (k, e) in c.endpoints.iter().enumerate() {
            if e.spec.address.trim().is_empty() {
                self.error(
                    object,
                    &format!("{at}/endpoints/{k}/spec/address"),
                    "the endpoint address is empty".into(),
                    "give an IP address, a DNS name or (for UnixDomainSocket) a socket path",
                );
                continue;
            }
            let text = &e.spec.address;
            let address = if matches!(transport(&c.spec), ClusterSpec::UnixDomainSocket { .. }) {
                EndpointAddress::Path(PathBuf::from(text))
            } else {
                text.parse::<IpAddr>()
                    .map_or_else(|_| EndpointAddress::Name(text.clone()), EndpointAddress::Ip)
            };
            out.push(EndpointConfig {
                name: e.name.clone().unwrap_or(format!("{cluster}-endpoint-{k}")),
                address,
                weight: e.weight.unwrap_or(1),
            });
        }
        out
    }

    fn load_balancer(
        &mut self,
        object: &str,
        c: &Cluster,
        at: &str,
    ) -> (LbPolicy, Option<JsonPointer>) {
        let Some(lb) = &c.loadbalancer else {
            return (LbPolicy::Trivial, None);
        };
        let policy = LbPolicy::parse(&lb.policy).unwrap_or_else(|| {
            self.error(
                object,
                &format!("{at}/loadbalancer/policy"),
                format!("unknown load-balancing policy `{}`", lb.policy),
                "use Trivial, ConsistentHash (or HashRing) or RoundRobin",
            );
            LbPolicy::Trivial
        });
        let key_at = format!("{at}/loadbalancer/key");
        let key = lb
            .key
            .as_deref()
            .and_then(|k| self.lenient_pointer(object, k, &key_at));
        (policy, key)
    }
}

/// The spec that carries a cluster's connections: a JSONSocket cluster's transport, else the
/// spec itself.
fn transport(spec: &ClusterSpec) -> &ClusterSpec {
    match spec {
        ClusterSpec::JsonSocket { transport, .. } => transport,
        other => other,
    }
}
