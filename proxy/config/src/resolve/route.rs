//! Routes: names their inline clusters, fills in the retry policy, and warns where a route
//! carries datagrams across a byte-stream hop.

use std::time::Duration;

use super::{Kind, Resolver};
use crate::config::{Framing, ListenerConfig, RetryPolicy, RouteConfig};
use crate::diagnostic::Severity;
use crate::model::{Cluster, Ref, Route};
use crate::wording;

impl Resolver<'_> {
    pub(super) fn add_route(&mut self, name: String, route: &Route, at: &str) {
        if !self.define(Kind::Route, &name, at) {
            return;
        }
        let object = format!("route \"{name}\"");
        let destination = self.cluster_ref(
            &object,
            &route.destination,
            format!("{name}-destination"),
            &format!("{at}/destination"),
        );
        let mut hops = |dir: &str, list: &[Ref<Cluster>]| -> Vec<String> {
            list.iter()
                .enumerate()
                .map(|(j, c)| {
                    let fallback = format!("{name}-{dir}-{j}");
                    self.cluster_ref(&object, c, fallback, &format!("{at}/{dir}/{j}"))
                })
                .collect()
        };
        let ingress = hops("ingress", &route.ingress);
        let egress = hops("egress", &route.egress);
        let raw = route.retry.clone().unwrap_or_default();
        let defaults = RetryPolicy::default();
        let retry = RetryPolicy {
            retry_on: raw.retry_on.unwrap_or(defaults.retry_on),
            num_retries: raw.num_retries.unwrap_or(defaults.num_retries),
            timeout: raw.timeout.map_or(defaults.timeout, Duration::from_millis),
        };
        if retry.timeout.is_zero() {
            self.error(
                &object,
                &format!("{at}/retry/timeout"),
                "a connect timeout of 0 ms fails every connect".into(),
                "give the milliseconds a connect may take, such as 2000",
            );
        }
        self.config.routes.insert(
            name.clone(),
            RouteConfig {
                name,
                destination,
                ingress,
                egress,
                retry,
            },
        );
    }

    fn cluster_ref(
        &mut self,
        object: &str,
        c: &Ref<Cluster>,
        fallback: String,
        at: &str,
    ) -> String {
        match c {
            Ref::Name(name) => {
                self.reference(Kind::Cluster, name, object, at);
                name.clone()
            }
            Ref::Inline(cluster) => {
                let name = cluster.name.clone().unwrap_or(fallback);
                self.add_cluster(name.clone(), cluster, at);
                name
            }
        }
    }

    pub(super) fn check_framing(&mut self, listener: &ListenerConfig, route: &str, index: usize) {
        let Some(r) = self.config.routes.get(route).cloned() else {
            return;
        };
        let hops = (r.ingress.iter().map(|h| ("ingress", h)))
            .chain(std::iter::once(("destination", &r.destination)))
            .chain(r.egress.iter().map(|h| ("egress", h)));
        let mut current = Framing::of_listener(&listener.spec);
        for (role, hop) in hops {
            let Some(framing) = self
                .config
                .clusters
                .get(hop)
                .map(|c| Framing::of_cluster(&c.spec))
            else {
                continue;
            };
            if current == Framing::Datagram && framing == Framing::Stream {
                self.diags.push(self.diagnostic(
                    Severity::Warning,
                    &format!("listener \"{}\"", listener.name),
                    &format!("/listeners/{index}"),
                    wording::framing_loss(role, hop, &format!("route \"{route}\"")),
                    wording::FRAMING_LOSS_HINT,
                ));
            }
            if framing != Framing::Transparent {
                current = framing;
            }
        }
    }
}
