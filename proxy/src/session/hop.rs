//! One hop of a session's route as the session keeps it: the cluster, the endpoint it
//! reached, and what is needed to eject that endpoint or reconnect the hop. Shared by the
//! general ring and the UDP pair session.

use std::io;
use std::sync::Arc;

use l7mp_config::config::RetryPolicy;
use l7mp_config::model::RetryOn;
use serde_json::Value;

use super::End;
use super::registry::SessionInfo;
use crate::cluster::endpoints::Address;
use crate::cluster::{Cluster, ConnectError, Connected};

/// One connected hop and what is needed to reconnect it.
pub(super) struct Hop {
    pub(super) cluster: Arc<Cluster>,
    /// Endpoint index of the current connection.
    index: usize,
    /// Where that endpoint is (`None` for an in-proxy transform), to eject it on a failure.
    address: Option<Address>,
    /// Endpoints that already failed for this hop.
    failed: Vec<usize>,
}

impl Hop {
    /// A hop of `cluster` connected as `connected` says, after the endpoints in `failed`
    /// failed.
    pub(super) fn new(cluster: Arc<Cluster>, connected: &Connected, failed: Vec<usize>) -> Hop {
        Hop {
            cluster,
            index: connected.index,
            address: connected.address.clone(),
            failed,
        }
    }

    /// The hop's connection failed with `error`: when the error says the endpoint itself is
    /// gone, the endpoint is left out of balancing for a while.
    pub(super) fn on_error(&self, error: &io::Error) {
        if let Some(address) = self.address.as_ref().filter(|_| endpoint_gone(error)) {
            self.cluster.endpoint_failed(address);
        }
    }

    /// Whether the hop's endpoint has left its cluster's resolved set (a deleted pod, gone
    /// from DNS). Only a connectionless stage needs asking: nothing tells it that its peer is
    /// gone until a message fails to reach it, so without the question a quiet session would
    /// stay pinned to the dead endpoint. A connection is left alone: a terminating pod may
    /// still finish it, and a dead one resets or times it out.
    pub(super) fn departed(&self) -> bool {
        let Some(address) = self.address.as_ref() else {
            return false;
        };
        !self
            .cluster
            .endpoints()
            .targets
            .iter()
            .any(|t| t.address == *address)
    }

    /// Reconnects the hop, stage `stage` of the session, after `error`, avoiding the
    /// endpoints that already failed; the session's `info` learns the new endpoint. The
    /// session ends (the returned `End`) when no endpoint can be connected.
    pub(super) async fn reconnect(
        &mut self,
        stage: usize,
        error: io::Error,
        metadata: &Value,
        retry: RetryPolicy,
        info: &SessionInfo,
    ) -> Result<Connected, End> {
        let mut failed = std::mem::take(&mut self.failed);
        failed.push(self.index);
        let attempts = retry.num_retries.max(1);
        let reconnect = connect_hop(&self.cluster, metadata, retry, attempts, failed);
        match Box::pin(reconnect).await {
            Ok((c, failed)) => {
                tracing::debug!(cluster = %self.cluster.config.name, endpoint = %c.endpoint, "reconnected after: {error}");
                info.set_endpoint(stage - 1, &c.endpoint);
                self.index = c.index;
                self.address = c.address.clone();
                self.failed = failed;
                Ok(c)
            }
            Err(e) => Err(End::Failed(
                stage,
                io::Error::other(format!("{error}; reconnect: {e}")),
            )),
        }
    }
}

/// Whether `error` says the endpoint itself is gone (nothing listens, it reset the
/// connection, or it cannot be reached), as opposed to the session ending.
fn endpoint_gone(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// The error a hop fails with when its endpoint left its cluster (see [`Hop::departed`]).
pub(super) fn departed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::HostUnreachable,
        "the endpoint is no longer one of its cluster's",
    )
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

/// Whether `retry` reconnects a hop that failed or closed after it was connected.
fn retries_disconnects(retry: RetryPolicy) -> bool {
    matches!(retry.retry_on, RetryOn::Disconnect | RetryOn::Always)
}

/// How a session reconnects a hop that failed or closed: the route's retry policy and the
/// session's metadata (for its balancing key), kept only when the route reconnects at all, and
/// boxed, so that most sessions give the metadata's memory back at once and keep one pointer
/// for their whole life instead of a policy and a JSON value.
pub(super) struct Reconnects(Option<Box<(RetryPolicy, Value)>>);

impl Reconnects {
    /// What a session on a route retrying as `retry` keeps to reconnect.
    pub(super) fn new(retry: RetryPolicy, metadata: Value) -> Self {
        Self(retries_disconnects(retry).then(|| Box::new((retry, metadata))))
    }

    /// The policy and metadata to reconnect with; `None` when the route does not reconnect.
    pub(super) fn get(&self) -> Option<(RetryPolicy, &Value)> {
        self.0
            .as_deref()
            .map(|(retry, metadata)| (*retry, metadata))
    }
}
