//! Starting a session: the rule lists pick a route, then every hop of it connects (with the
//! route's retries), in parallel.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::join_all;
use l7mp_config::config::RetryPolicy;
use l7mp_config::model::RetryOn;
use serde_json::Value;

use super::ListenerCtx;
use super::hop::{Hop, connect_hop};
use super::registry::{HopInfo, SessionInfo};
use crate::cluster::Cluster;
use crate::stage::Stage;

/// Why a session could not start: an HTTP-style status and what went wrong, for a client that
/// is told (JSONSocket).
pub(super) struct Refused {
    pub(super) status: u16,
    pub(super) message: String,
}

/// A session whose route is connected: what the ring or the UDP pair session runs.
pub(super) struct Routed {
    /// The source first, then one stage per hop.
    pub(super) stages: Vec<Stage>,
    /// `hops[k]` is `stages[k + 1]`.
    pub(super) hops: Vec<Hop>,
    /// Messages read ahead, as (stage, message), to be forwarded before anything else.
    pub(super) pending: Vec<(usize, Bytes)>,
    /// The route's retry policy.
    pub(super) retry: RetryPolicy,
    /// The session's metadata, after the rules' rewrites.
    pub(super) metadata: Value,
}

/// Picks the session's route and connects every hop. When the session cannot start (no rule
/// matched, a hop failed) it is counted and logged here, and the source is handed back with
/// the reason so that a client that expects an answer can get one.
pub(super) async fn setup(
    ctx: &ListenerCtx,
    source: Stage,
    mut metadata: Value,
    info: &Arc<SessionInfo>,
) -> Result<Routed, (Stage, Refused)> {
    let name = &*info.name;
    let routing = ctx.routing.load();
    let route = match routing.select(&ctx.config().rulelist, &mut metadata) {
        Ok(r) => r.clone(),
        Err(e) => {
            ctx.stats.sessions_refused.inc();
            tracing::info!(session = name, listener = %ctx.name, "refused: {e}");
            let message = format!("Not Found: {e}");
            return Err((
                source,
                Refused {
                    status: 404,
                    message,
                },
            ));
        }
    };
    let names = route
        .ingress
        .iter()
        .chain(std::iter::once(&route.destination))
        .chain(&route.egress);
    let Some(clusters) = names
        .map(|n| routing.cluster(n).cloned())
        .collect::<Option<Vec<Arc<Cluster>>>>()
    else {
        ctx.stats.session_errors.inc();
        tracing::error!(session = name, route = %route.name, "route names a missing cluster");
        let message = format!(
            "Service Unavailable: route {} names a missing cluster",
            route.name
        );
        return Err((
            source,
            Refused {
                status: 503,
                message,
            },
        ));
    };
    let attempts = match route.retry.retry_on {
        RetryOn::ConnectFailure | RetryOn::Always => 1 + route.retry.num_retries,
        RetryOn::Never | RetryOn::Disconnect => 1,
    };
    let connects = clusters
        .iter()
        .map(|c| connect_hop(c, &metadata, route.retry, attempts, Vec::new()));
    let results = join_all(connects).await;
    let mut hops = Vec::with_capacity(clusters.len());
    let mut shown = Vec::with_capacity(clusters.len());
    let mut stages = Vec::with_capacity(clusters.len() + 1);
    let mut pending = Vec::new();
    for (cluster, result) in clusters.into_iter().zip(results) {
        match result {
            Ok((c, failed)) => {
                tracing::debug!(session = name, cluster = %cluster.config.name, endpoint = %c.endpoint, "connected");
                let hop = Hop::new(cluster.clone(), &c, failed);
                if let Some(p) = c.pending {
                    // The hop's stage index: the source comes first.
                    pending.push((stages.len() + 1, p));
                }
                stages.push(c.stage);
                shown.push(HopInfo {
                    cluster: cluster.clone(),
                    endpoint: c.endpoint,
                });
                hops.push(hop);
            }
            Err(e) => {
                ctx.stats.session_errors.inc();
                if cluster.warnings.admit() {
                    tracing::warn!(session = name, cluster = %cluster.config.name, "connect failed: {e}");
                }
                let message = format!(
                    "Service Unavailable: cluster {} could not be connected: {e}",
                    cluster.config.name
                );
                return Err((
                    source,
                    Refused {
                        status: 503,
                        message,
                    },
                ));
            }
        }
    }
    stages.insert(0, source);
    info.set_hops(shown);
    Ok(Routed {
        stages,
        hops,
        pending,
        retry: route.retry,
        metadata,
    })
}
