//! Clusters: where a session's hops connect. A remote cluster picks an endpoint with its load
//! balancer and opens a connection of its protocol (one file per protocol); an in-proxy cluster
//! ([`crate::transform`]) builds a transform stage.
//!
//! A [`Cluster`] is shared by every session routed through it. Its endpoint set can be swapped
//! while sessions run (the periodic DNS refresh): a session keeps the connection it has, and
//! only new connects see the new set. A reload that changes the cluster's settings starts a new
//! `Cluster` (with the old one's counters); sessions that hold the old one keep it until they end.

pub mod endpoints;
pub mod health;
mod tcp;
mod udp;
mod unix;
mod websocket;

use std::io;
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use l7mp_config::config::{ClusterConfig, LocalAddress};
use l7mp_config::model::{ClusterSpec, UnixMode};
use serde_json::Value;
use tokio::time::Instant;

use crate::jsonsocket;
use crate::jsonsocket::wire::HeaderPlan;
use crate::stage::{Stage, WsStage};
use crate::stats::ClusterStats;
use crate::throttle::{Scope, Throttle};
use crate::transform::metric::MetricCounters;
use crate::transform::{self, Transform};
use crate::udp::UdpHop;
use endpoints::{Address, EndpointSet, Target};

/// How often endpoints given as DNS names are resolved again.
pub const RESOLVE_INTERVAL: Duration = Duration::from_secs(5);

/// A running cluster.
pub struct Cluster {
    /// As configured.
    pub config: ClusterConfig,
    /// Counters exported per cluster; carried over when a reload changes the cluster.
    pub stats: Arc<ClusterStats>,
    /// Rate limit for the connect failures its sessions log.
    pub warnings: Throttle,
    endpoints: ArcSwap<EndpointSet>,
    /// Endpoints left out of balancing after a failure.
    ejections: health::Ejections,
    transform: Option<Transform>,
    /// How a JSONSocket cluster builds its request header; `None` for other protocols.
    header: Option<HeaderPlan>,
}

/// A stage opened for a session, and which endpoint it reached.
pub struct Connected {
    /// The new stage.
    pub stage: Stage,
    /// Endpoint label, for logs and status; the endpoint's own, shared.
    pub endpoint: Arc<str>,
    /// The endpoint's index in the set it was picked from, to skip it on a retry.
    pub index: usize,
    /// Where the endpoint is, to eject it when the connection fails later (`None` for an
    /// in-proxy transform).
    pub address: Option<Address>,
    /// Payload the endpoint sent right behind its JSONSocket answer, to be forwarded first.
    pub pending: Option<Bytes>,
}

/// Why a connect attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Nothing to connect to.
    #[error("cluster \"{0}\" has no endpoints")]
    NoEndpoints(String),
    /// The endpoint refused or the connection failed.
    #[error("endpoint {endpoint}: {source}")]
    Io {
        /// Which endpoint.
        endpoint: String,
        /// What happened.
        source: io::Error,
    },
    /// The endpoint did not answer in time.
    #[error("endpoint {0}: connect timed out")]
    Timeout(String),
    /// An in-proxy cluster would not take the session (a Sync query without a value).
    #[error("cluster \"{cluster}\": {reason}")]
    Refused {
        /// Which cluster.
        cluster: String,
        /// Why, and what to do.
        reason: transform::NoLabel,
    },
}

impl Cluster {
    /// Starts a cluster: resolves its endpoints once and, when some are DNS names, keeps
    /// resolving them in the background for as long as the cluster lives. A Metric cluster
    /// counts into `metrics`.
    pub async fn start(
        config: ClusterConfig,
        stats: Arc<ClusterStats>,
        metrics: &MetricCounters,
    ) -> io::Result<Arc<Cluster>> {
        let transform = Transform::for_cluster(&config, &stats, metrics)?;
        let header = match &config.spec {
            ClusterSpec::JsonSocket { header, .. } => {
                Some(HeaderPlan::new(header).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("cluster \"{}\": {e}", config.name),
                    )
                })?)
            }
            _ => None,
        };
        let set = endpoints::resolve(&config).await;
        let refresh = endpoints::has_names(&config);
        let cluster = Arc::new(Cluster {
            warnings: Throttle::new(Scope::Cluster, &config.name),
            config,
            stats,
            endpoints: ArcSwap::from_pointee(set),
            ejections: health::Ejections::default(),
            transform,
            header,
        });
        if refresh {
            tokio::spawn(refresh_endpoints(Arc::downgrade(&cluster)));
        }
        Ok(cluster)
    }

    /// The current endpoint set.
    pub fn endpoints(&self) -> Arc<EndpointSet> {
        self.endpoints.load_full()
    }

    fn set_endpoints(&self, set: EndpointSet) {
        self.endpoints.store(Arc::new(set));
    }

    /// Opens one stage for a session whose metadata is `metadata`, avoiding the endpoints in
    /// `failed` (indexes into the current set) when another exists; a failed endpoint is added.
    pub async fn connect(
        &self,
        metadata: &Value,
        timeout: Duration,
        failed: &mut Vec<usize>,
    ) -> Result<Connected, ConnectError> {
        if let Some(t) = &self.transform {
            return match t.open(metadata) {
                Ok(local) => Ok(Connected {
                    stage: Stage::Local(local),
                    endpoint: "local".into(),
                    index: 0,
                    address: None,
                    pending: None,
                }),
                Err(reason) => {
                    self.stats.connect_failures.inc();
                    Err(ConnectError::Refused {
                        cluster: self.config.name.clone(),
                        reason,
                    })
                }
            };
        }
        let mut set = self.endpoints();
        if set.targets.is_empty() && endpoints::has_names(&self.config) {
            // Names that did not resolve before (pods not up yet) may resolve now: ask again
            // instead of failing until the next periodic refresh.
            let fresh = endpoints::resolve(&self.config).await;
            self.set_endpoints(fresh);
            set = self.endpoints();
        }
        let key = self.balancing_key(metadata);
        let ejected = self.ejections.ejected(&set.targets);
        let skip = health::avoid(failed, &ejected, set.targets.len());
        let Some(index) = set.balancer.pick(key.as_deref(), &skip) else {
            return Err(ConnectError::NoEndpoints(self.config.name.clone()));
        };
        let target = &set.targets[index];
        let deadline = Instant::now() + timeout;
        let result = tokio::time::timeout_at(deadline, self.open(target, metadata, deadline)).await;
        let error = match result {
            Ok(Ok((stage, pending))) => {
                self.stats.connects.inc();
                // A plain UDP connect sends nothing, so it proves nothing about the endpoint.
                if !matches!(self.config.spec, ClusterSpec::Udp { .. }) {
                    self.ejections.answered(&target.address);
                }
                return Ok(Connected {
                    stage,
                    endpoint: target.label.clone(),
                    index,
                    address: Some(target.address.clone()),
                    pending,
                });
            }
            Ok(Err(source)) => ConnectError::Io {
                endpoint: target.label.to_string(),
                source,
            },
            Err(_) => ConnectError::Timeout(target.label.to_string()),
        };
        self.stats.connect_failures.inc();
        self.endpoint_failed(&target.address);
        failed.push(index);
        Err(error)
    }

    /// The endpoint at `address` failed a connect, or a connection to it was refused, reset
    /// or found unreachable: leave it out of balancing for a while.
    pub fn endpoint_failed(&self, address: &Address) {
        if let Some(backoff) = self.ejections.eject(address) {
            self.stats.ejections.inc();
            tracing::info!(
                cluster = %self.config.name, endpoint = %address,
                backoff_seconds = backoff.as_secs_f64(),
                "endpoint ejected from load balancing"
            );
        }
    }

    /// For a Sync cluster, how many broadcast domains have members now (for status and
    /// tests); `None` for other clusters.
    pub fn sync_domains(&self) -> Option<usize> {
        self.transform.as_ref().and_then(Transform::sync_domains)
    }

    /// The bytes `ConsistentHash` hashes: the metadata value at the cluster's key, strings as
    /// their text and anything else as JSON. `None` (random choice) when unset or missing.
    fn balancing_key(&self, metadata: &Value) -> Option<Vec<u8>> {
        let value = self.config.key.as_ref()?.get(metadata)?;
        Some(match value {
            Value::String(s) => s.as_bytes().to_vec(),
            other => other.to_string().into_bytes(),
        })
    }

    /// Opens a connection to `target` by `deadline`; a JSONSocket cluster then does its
    /// header exchange and may return payload that arrived behind the server's answer.
    async fn open(
        &self,
        target: &Target,
        metadata: &Value,
        deadline: Instant,
    ) -> io::Result<(Stage, Option<Bytes>)> {
        let bind = self.config.bind.as_ref();
        match (&self.config.spec, &self.header) {
            (ClusterSpec::JsonSocket { transport, .. }, Some(plan)) => {
                let stage = open_transport(transport, bind, target, metadata, deadline).await?;
                jsonsocket::client::connect(stage, plan.build(metadata)).await
            }
            (spec, _) => Ok((
                open_transport(spec, bind, target, metadata, deadline).await?,
                None,
            )),
        }
    }
}

/// Opens a connection of protocol `spec` to `target` for a session with `metadata` (which a
/// WebSocket request carries on); `deadline` bounds the retries of a Unix connect that met a
/// busy or restarting server.
async fn open_transport(
    spec: &ClusterSpec,
    bind: Option<&LocalAddress>,
    target: &Target,
    metadata: &Value,
    deadline: Instant,
) -> io::Result<Stage> {
    match (spec, &target.address) {
        (ClusterSpec::Udp { .. }, Address::Inet(a)) => {
            udp::connect(*a, bind).map(|s| Stage::Udp(UdpHop::new(s)))
        }
        (ClusterSpec::Tcp { .. }, Address::Inet(a)) => tcp::connect(*a, bind).await.map(Stage::Tcp),
        (ClusterSpec::WebSocket { path, .. }, Address::Inet(a)) => {
            let stream = tcp::connect(*a, bind).await?;
            websocket::handshake(stream, &target.host, a.port(), path.as_deref(), metadata)
                .await
                .map(|ws| Stage::WebSocket(Box::new(WsStage::new(ws))))
        }
        (ClusterSpec::UnixDomainSocket { mode, .. }, Address::Unix(path)) => {
            match mode.unwrap_or_default() {
                UnixMode::Stream => unix::connect_stream(path, deadline).await.map(Stage::Unix),
                UnixMode::Seqpacket => unix::connect_seqpacket(path, deadline)
                    .await
                    .map(Stage::Seqpacket),
            }
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "endpoint address does not suit the cluster protocol",
        )),
    }
}

async fn refresh_endpoints(cluster: Weak<Cluster>) {
    loop {
        tokio::time::sleep(RESOLVE_INTERVAL).await;
        let Some(c) = cluster.upgrade() else { return };
        let set = endpoints::resolve(&c.config).await;
        if set.targets != c.endpoints().targets {
            tracing::info!(
                cluster = %c.config.name,
                endpoints = %set.targets.iter().map(|t| &*t.label).collect::<Vec<_>>().join(","),
                "endpoints changed"
            );
            c.ejections.retain(&set.targets);
            c.set_endpoints(set);
        }
    }
}
