//! Clusters: checks each spec (including JSONSocket transports and header entries), its
//! endpoints and its load balancer, and refuses endpoints on in-proxy clusters.

use super::{Kind, Resolver};
use crate::config::{ClusterConfig, EndpointConfig, Framing, LbPolicy};
use crate::model::{Bind, Cluster, ClusterSpec, HeaderCopy, HeaderEntry};
use crate::pointer::JsonPointer;

impl Resolver<'_> {
    pub(super) fn add_cluster(&mut self, name: String, c: &Cluster, at: &str) {
        if !self.define(Kind::Cluster, &name, at) {
            return;
        }
        let object = format!("cluster \"{name}\"");
        let mut spec = c.spec.clone();
        self.check_cluster_spec(&object, &mut spec, &format!("{at}/spec"));
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
            },
        );
    }

    /// Checks `spec`, leaving the pointers of its lenient paths (Sync query, JSONSocket
    /// header) in the form they are read as.
    fn check_cluster_spec(&mut self, object: &str, spec: &mut ClusterSpec, at: &str) {
        let bind = |b: &Option<Bind>| b.as_ref().and_then(|b| b.address.clone());
        match spec {
            ClusterSpec::Udp { port, bind: b } | ClusterSpec::Tcp { port, bind: b } => {
                self.check_port(object, *port, &format!("{at}/port"));
                self.check_ip(object, bind(b).as_deref(), &format!("{at}/bind/address"));
            }
            ClusterSpec::WebSocket {
                port,
                path,
                bind: b,
            } => {
                self.check_port(object, *port, &format!("{at}/port"));
                self.check_http_path(object, path.as_deref(), &format!("{at}/path"));
                self.check_ip(object, bind(b).as_deref(), &format!("{at}/bind/address"));
            }
            ClusterSpec::JsonSocket { transport, header } => {
                let transport_at = format!("{at}/transport");
                if Framing::of_cluster(transport) == Framing::Transparent
                    || matches!(**transport, ClusterSpec::JsonSocket { .. })
                {
                    self.error(
                        object,
                        &format!("{transport_at}/protocol"),
                        "JSONSocket runs over a remote protocol only".into(),
                        "use UDP, TCP, WebSocket or UnixDomainSocket as the transport",
                    );
                } else {
                    self.check_cluster_spec(object, transport, &transport_at);
                }
                for (i, entry) in header.iter_mut().enumerate() {
                    self.check_header_entry(object, entry, &format!("{at}/header/{i}"));
                }
            }
            ClusterSpec::Sync { query } => {
                self.normalise_path(object, query, &format!("{at}/query"));
            }
            ClusterSpec::UnixDomainSocket { .. }
            | ClusterSpec::Echo {}
            | ClusterSpec::Discard {}
            | ClusterSpec::Logger { .. }
            | ClusterSpec::JsonEncap {}
            | ClusterSpec::JsonDecap {}
            | ClusterSpec::Metric { .. }
            | ClusterSpec::Stdio {} => {}
        }
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
            out.push(EndpointConfig {
                name: e.name.clone().unwrap_or(format!("{cluster}-endpoint-{k}")),
                address: e.spec.address.clone(),
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
