//! The routing state sessions consult when they start: rules, routes and running clusters.
//! Routing is decided once per session, never per message; a session keeps the route it got.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use arc_swap::ArcSwap;

use l7mp_config::Config;
use l7mp_config::config::{RouteConfig, RuleTarget};
use serde_json::Value;

use crate::cluster::Cluster;
use crate::transform::metric::MetricCounters;

/// Depth limit for `apply` chains; the config loader already rejects cycles, so this only
/// guards against a bug turning into a hang.
const MAX_APPLY_DEPTH: usize = 32;

/// Rules, routes and clusters of one config.
pub struct Routing {
    config: Config,
    clusters: BTreeMap<String, Arc<Cluster>>,
    /// The Metric clusters' named counters, handed on from routing to routing.
    metrics: Arc<MetricCounters>,
}

/// Why a session got no route.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    /// No rule of the listener's rule list matched.
    #[error("no rule in rulelist \"{0}\" matches the session")]
    NoMatch(String),
    /// The config names an object that is not there (prevented by validation).
    #[error("{0} is not defined")]
    Missing(String),
}

impl Routing {
    /// Starts every cluster of `config`. Clusters that `previous` already runs with the same
    /// settings are reused as they are (endpoints, DNS refresh and counters); changed ones start
    /// anew but keep their counters. Sessions keep the connections they have either way.
    pub async fn build(config: Config, previous: Option<&Routing>) -> io::Result<Routing> {
        let metrics = previous.map(|p| p.metrics.clone()).unwrap_or_default();
        let mut clusters = BTreeMap::new();
        for (name, c) in &config.clusters {
            let old = previous.and_then(|p| p.clusters.get(name));
            let cluster = match old {
                Some(old) if old.config == *c => old.clone(),
                _ => {
                    let stats = old.map(|o| o.stats.clone()).unwrap_or_default();
                    Cluster::start(c.clone(), stats, &metrics)
                        .await
                        .map_err(|e| io::Error::new(e.kind(), format!("cluster \"{name}\": {e}")))?
                }
            };
            clusters.insert(name.clone(), cluster);
        }
        Ok(Routing {
            config,
            clusters,
            metrics,
        })
    }

    /// The Metric clusters' named counters (of this config and every earlier one).
    pub fn metric_counters(&self) -> &MetricCounters {
        &self.metrics
    }

    /// The config this routing was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The running cluster called `name`.
    pub fn cluster(&self, name: &str) -> Option<&Arc<Cluster>> {
        self.clusters.get(name)
    }

    /// Every running cluster, by name.
    pub fn clusters(&self) -> impl Iterator<Item = (&str, &Arc<Cluster>)> {
        self.clusters.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Evaluates `rulelist` against `metadata`: the first matching rule wins, its rewrites
    /// edit the metadata, and its route is returned (an `apply` continues in the named list
    /// after the applying rule's rewrites; its result is final).
    pub fn select(&self, rulelist: &str, metadata: &mut Value) -> Result<&RouteConfig, RouteError> {
        let mut list = rulelist;
        for _ in 0..MAX_APPLY_DEPTH {
            let rules = self
                .config
                .rulelists
                .get(list)
                .ok_or_else(|| RouteError::Missing(format!("rulelist \"{list}\"")))?;
            let rule = rules
                .iter()
                .filter_map(|name| self.config.rules.get(name))
                .find(|r| {
                    r.matcher
                        .as_ref()
                        .is_none_or(|m| m.predicate.matches(metadata))
                })
                .ok_or_else(|| RouteError::NoMatch(list.to_string()))?;
            for (path, value) in &rule.rewrite {
                if let Err(e) = path.set(metadata, value.clone()) {
                    tracing::warn!(rule = %rule.name, error = %e, "rewrite skipped");
                }
            }
            match &rule.target {
                RuleTarget::Route(route) => {
                    return self
                        .config
                        .routes
                        .get(route)
                        .ok_or_else(|| RouteError::Missing(format!("route \"{route}\"")));
                }
                RuleTarget::Apply(next) => list = next,
            }
        }
        Err(RouteError::Missing(format!(
            "an end to the apply chain from \"{rulelist}\""
        )))
    }
}

/// The routing in force, shared by every listener; a reload stores a new one, and sessions
/// that already started keep the snapshot they took.
pub struct RoutingHandle(ArcSwap<Routing>);

impl RoutingHandle {
    /// Wraps the first routing.
    pub fn new(routing: Routing) -> Self {
        Self(ArcSwap::from_pointee(routing))
    }

    /// Puts `routing` in force for sessions that start from now on.
    pub fn store(&self, routing: Routing) {
        self.0.store(Arc::new(routing));
    }

    /// The routing in force now.
    pub fn load(&self) -> Arc<Routing> {
        self.0.load_full()
    }
}
