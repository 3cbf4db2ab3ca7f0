//! In-proxy clusters: transforms that run inside the session instead of connecting anywhere.
//! As a destination they turn messages around; as an ingress or egress hop they pass them on.
//!
//! A cluster holds a [`Transform`] (what is shared by its sessions: a log file, named
//! counters, a Sync registry); each session that connects gets a [`Local`] stage with its own
//! state (its JSONEncap metadata, its Sync membership, its Stdio port). Sync and Stdio stages
//! also produce messages that nobody sent to them (from other members, from stdin).
//!
//! A top-level module, not part of [`crate::cluster`]: a [`Local`] is one kind of
//! [`Stage`](crate::stage::Stage), and clusters build stages, so transforms sit below both.

mod fanout;
mod json;
mod logger;
pub mod metric;
mod stdio;
mod sync;

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use l7mp_config::config::ClusterConfig;
use l7mp_config::model::ClusterSpec;
use l7mp_config::pointer::JsonPointer;
use serde_json::Value;

use crate::msg::Recv;
use crate::stats::ClusterStats;
pub use logger::LogSink;
use metric::{MetricCounters, MetricPair};
pub use sync::NoLabel;

/// What an in-proxy cluster shares between its sessions.
#[derive(Clone)]
pub enum Transform {
    /// Returns every message unchanged.
    Echo,
    /// Drops every message.
    Discard,
    /// Writes `prefix: message` to its sink, then returns the message.
    Logger(Arc<LogSink>),
    /// Wraps each message with the session's metadata (see the `json` module).
    JsonEncap,
    /// Unwraps JSONEncap messages; drops and counts the ones that do not decode.
    JsonDecap(Arc<ClusterStats>),
    /// Counts bytes and packets into named counters, then returns the message ([`metric`]).
    Metric(Arc<MetricPair>),
    /// Broadcast domains of sessions with the same label (see the `sync` module).
    Sync(Arc<sync::Registry>),
    /// The proxy's stdout and stdin (see the `stdio` module).
    Stdio,
}

impl Transform {
    /// The transform for an in-proxy cluster, or `None` for remote protocols. `stats` are the
    /// cluster's counters (for dropped messages); Metric clusters take theirs from `metrics`.
    pub fn for_cluster(
        config: &ClusterConfig,
        stats: &Arc<ClusterStats>,
        metrics: &MetricCounters,
    ) -> io::Result<Option<Transform>> {
        Ok(Some(match &config.spec {
            ClusterSpec::Echo {} => Transform::Echo,
            ClusterSpec::Discard {} => Transform::Discard,
            ClusterSpec::Logger {
                log_file,
                log_prefix,
            } => Transform::Logger(Arc::new(LogSink::open(
                log_file.as_deref(),
                log_prefix.clone().unwrap_or_default(),
            )?)),
            ClusterSpec::JsonEncap {} => Transform::JsonEncap,
            ClusterSpec::JsonDecap {} => Transform::JsonDecap(stats.clone()),
            ClusterSpec::Metric {
                byte_counter_name,
                packet_counter_name,
            } => Transform::Metric(Arc::new(metrics.pair(
                byte_counter_name.as_deref().unwrap_or(&config.name),
                packet_counter_name.as_deref().unwrap_or(&config.name),
            ))),
            ClusterSpec::Sync { query } => {
                // Validated by the loader; checked again so that a bug cannot panic here.
                let query = JsonPointer::parse(query).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("Sync query: {e}"))
                })?;
                Transform::Sync(sync::Registry::new(query, stats.clone()))
            }
            ClusterSpec::Stdio {} => Transform::Stdio,
            _ => return Ok(None),
        }))
    }

    /// A stage for one session whose metadata is `metadata`. Only Sync can refuse: when the
    /// metadata has no value at its query.
    pub fn open(&self, metadata: &Value) -> Result<Local, NoLabel> {
        let step = match self {
            Transform::Echo => Step::Echo,
            Transform::Discard => Step::Discard,
            Transform::Logger(sink) => Step::Logger(sink.clone()),
            Transform::JsonEncap => Step::Encap(json::Encap::new(metadata)),
            Transform::JsonDecap(stats) => Step::Decap {
                stats: stats.clone(),
                warned: false,
            },
            Transform::Metric(pair) => Step::Metric(pair.clone()),
            Transform::Sync(registry) => Step::Sync(Some(Box::new(registry.join(metadata)?))),
            Transform::Stdio => Step::Stdio(Some(stdio::StdioPort::open())),
        };
        Ok(Local {
            step,
            queue: VecDeque::new(),
            finished: false,
        })
    }

    /// For a Sync cluster, how many domains have members now.
    pub fn sync_domains(&self) -> Option<usize> {
        match self {
            Transform::Sync(r) => Some(r.domains()),
            _ => None,
        }
    }
}

/// One session's in-proxy stage: what is sent to it comes back out after the transform
/// (plus, for Sync and Stdio, what arrives from elsewhere).
pub struct Local {
    step: Step,
    queue: VecDeque<Bytes>,
    finished: bool,
}

/// A session's state of its transform.
enum Step {
    Echo,
    Discard,
    Logger(Arc<LogSink>),
    Encap(json::Encap),
    Decap {
        stats: Arc<ClusterStats>,
        /// Whether this session already logged an undecodable message at warn level.
        warned: bool,
    },
    Metric(Arc<MetricPair>),
    /// `None` once the session stopped sending: it has left the domain.
    Sync(Option<Box<sync::Member>>),
    /// `None` once the session stopped sending: it no longer gets stdin.
    Stdio(Option<stdio::StdioPort>),
}

impl Local {
    /// Takes one message from the session.
    pub async fn send(&mut self, data: Bytes) {
        let out = match &mut self.step {
            Step::Echo => Some(data),
            Step::Discard => None,
            Step::Logger(sink) => {
                sink.write(&data);
                Some(data)
            }
            Step::Encap(e) => Some(e.wrap(&data)),
            Step::Decap { stats, warned } => decap(&data, stats, warned),
            Step::Metric(pair) => {
                pair.count(data.len());
                Some(data)
            }
            Step::Sync(member) => {
                if let Some(m) = member {
                    m.publish(&data);
                }
                None
            }
            Step::Stdio(port) => {
                if let Some(p) = port {
                    p.write(data).await;
                }
                None
            }
        };
        if let Some(out) = out {
            self.queue.push_back(out);
        }
    }

    /// The next message out of the stage: `Closed` once the session stopped sending to it and
    /// everything it produced has been taken.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Recv> {
        if let Some(b) = self.queue.pop_front() {
            return Poll::Ready(Recv::Data(b));
        }
        let inbox = match &mut self.step {
            Step::Sync(Some(m)) => Some(&mut m.inbox),
            Step::Stdio(Some(p)) => Some(&mut p.inbox),
            _ => None,
        };
        if let Some(inbox) = inbox
            && let Poll::Ready(Some(b)) = inbox.poll_recv(cx)
        {
            return Poll::Ready(Recv::Data(b));
        }
        if self.finished {
            Poll::Ready(Recv::Closed)
        } else {
            Poll::Pending
        }
    }

    /// Nothing more will be sent: a Sync member leaves its domain and a Stdio session stops
    /// getting stdin, and the stage closes once its queue is drained.
    pub fn finish(&mut self) {
        self.finished = true;
        match &mut self.step {
            Step::Sync(m) => *m = None,
            Step::Stdio(p) => *p = None,
            _ => {}
        }
    }
}

/// Unwraps one message; an undecodable one is dropped, counted, and logged (at warn level the
/// first time per session, then at debug, so a bad peer cannot flood the log).
fn decap(data: &[u8], stats: &ClusterStats, warned: &mut bool) -> Option<Bytes> {
    match json::unwrap(data) {
        Ok(payload) => Some(payload),
        Err(e) => {
            stats.dropped_undecodable.inc();
            if *warned {
                tracing::debug!("JSONDecap dropped a message: {e}");
            } else {
                *warned = true;
                tracing::warn!(
                    "JSONDecap dropped a message (further drops in this session are logged at debug level): {e}"
                );
            }
            None
        }
    }
}
