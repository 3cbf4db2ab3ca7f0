//! Starting a session: the rule lists pick a route, then every hop of it connects (with the
//! route's retries), in parallel.

use std::sync::Arc;

use futures_util::future::join_all;
use l7mp_config::config::RetryPolicy;
use l7mp_config::model::RetryOn;
use serde_json::Value;

use super::ListenerCtx;
use super::registry::{HopInfo, SessionInfo};
use super::ring::{Hop, Ring};
use crate::cluster::{Cluster, ConnectError, Connected};
use crate::stage::Stage;

/// Why a session could not start: an HTTP-style status and what went wrong, for a client that
/// is told (JSONSocket).
pub(super) struct Refused {
    pub(super) status: u16,
    pub(super) message: String,
}

/// Picks the session's route and connects every hop. When the session cannot start (no rule
/// matched, a hop failed) it is counted and logged here, and the source is handed back with
/// the reason so that a client that expects an answer can get one.
pub(super) async fn setup(
    ctx: &ListenerCtx,
    source: Stage,
    mut metadata: Value,
    info: &Arc<SessionInfo>,
) -> Result<Ring, (Stage, Refused)> {
    let name = info.name.as_str();
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
                    endpoint: c.endpoint.into_boxed_str(),
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
    Ok(Ring::new(
        stages,
        hops,
        pending,
        route.retry,
        metadata,
        info.clone(),
    ))
}

/// Connects one hop, trying up to `attempts` times; each attempt asks the load balancer again
/// and skips endpoints that already failed while another exists. Returns the failures seen, so
/// that a later reconnect keeps avoiding them.
///
/// Attempts are spaced as the original spaces them: once every endpoint has failed, the next
/// attempt waits the route's `retry.timeout`, so `num_retries` × `timeout` is how long a hop
/// waits for an upstream that is not up yet. An endpoint not tried yet is tried at once.
pub(super) async fn connect_hop(
    cluster: &Cluster,
    metadata: &Value,
    retry: RetryPolicy,
    attempts: u32,
    mut failed: Vec<usize>,
) -> Result<(Connected, Vec<usize>), ConnectError> {
    let mut attempt = 0;
    loop {
        match cluster.connect(metadata, retry.timeout, &mut failed).await {
            Ok(c) => return Ok((c, failed)),
            Err(e) if attempt + 1 >= attempts => return Err(e),
            Err(e) => {
                tracing::debug!(cluster = %cluster.config.name, attempt, "connect failed, retrying: {e}");
                attempt += 1;
                // Every endpoint failed once already: wait before the next round.
                if failed.len() >= cluster.endpoints().targets.len() {
                    tokio::time::sleep(retry.timeout).await;
                }
            }
        }
    }
}
