//! `/metrics`: the proxy's counters in the Prometheus text format. A [`Collector`] reads the
//! counters the data path already keeps (listener and cluster stats, the reload status) at
//! scrape time, so nothing is counted twice and a reload needs no registration changes:
//! listeners and clusters appear and disappear with the config in force.
//!
//! Names: `l7mp_config_*` for the config, `l7mp_listener_*{listener}` and
//! `l7mp_cluster_*{cluster}` per object, traffic with `direction="rx|tx"` (rx: received from
//! the peer, the listener's clients or the cluster's endpoints), messages that in-proxy
//! transforms dropped as `l7mp_cluster_messages_dropped{cluster,reason}`, and the Metric
//! clusters' named counters as `l7mp_metric_bytes{counter}` and `l7mp_metric_packets{counter}`
//! (all counters get the `_total` suffix in the text format). Besides: how long sessions
//! lasted, as the histogram `l7mp_session_duration_seconds{listener}`, the build as
//! `l7mp_build_info{version,commit} 1`, and the conventional `process_*` metrics
//! ([`super::process`]).

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Registry;

use super::family::{Family, counters, gauges};
use super::process;
use crate::proxy::View;
use crate::reload::ReloadStatus;
use crate::stats::Traffic;

/// `Content-Type` of the text format.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Reads the proxy's counters on every scrape.
pub struct ProxyCollector {
    status: Arc<ReloadStatus>,
    view: Arc<View>,
}

impl fmt::Debug for ProxyCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProxyCollector")
    }
}

/// A registry holding the proxy's collector.
pub fn registry(status: Arc<ReloadStatus>, view: Arc<View>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ProxyCollector { status, view }));
    registry
}

/// The registry's metrics as Prometheus text.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, registry) {
        tracing::warn!("cannot encode metrics: {e}");
    }
    out
}

/// Bytes and packets of one object in both directions.
fn traffic<'a>(
    bytes: &mut Family<'a, u64>,
    packets: &mut Family<'a, u64>,
    label: &'static str,
    name: &'a str,
    t: &Traffic,
) {
    for (dir, b, p) in [
        ("rx", &t.rx_bytes, &t.rx_packets),
        ("tx", &t.tx_bytes, &t.tx_packets),
    ] {
        bytes.add(vec![(label, name), ("direction", dir)], b.get());
        packets.add(vec![(label, name), ("direction", dir)], p.get());
    }
}

impl ProxyCollector {
    fn build(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let mut info = Family::new(
            "l7mp_build_info",
            "The running build: its version and git commit. Always 1.",
        );
        info.add(
            vec![
                ("version", env!("CARGO_PKG_VERSION")),
                ("commit", env!("L7MP_COMMIT")),
            ],
            1,
        );
        gauges(e, &info)
    }

    fn process(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let Some(p) = process::read() else {
            return Ok(());
        };
        let m = e.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(p.cpu_seconds).encode(m)?;
        let mut gauge = |name: &'static str, help: &'static str, value: f64| {
            let mut f = Family::new(name, help);
            f.add(Vec::new(), value);
            gauges(e, &f)
        };
        gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            p.resident_bytes as f64,
        )?;
        gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            p.open_fds as f64,
        )?;
        gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            p.max_fds as f64,
        )?;
        gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            p.start_time_seconds,
        )
    }

    fn config(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let s = &self.status;
        let mut generation = Family::new(
            "l7mp_config_generation",
            "Configs applied since start; 0 until the first valid config serves.",
        );
        generation.add(Vec::new(), s.generation() as i64);
        gauges(e, &generation)?;
        let sha256 = s.sha256();
        if s.generation() > 0 {
            let mut m = e.encode_descriptor(
                "l7mp_config",
                "The config in force, by the SHA-256 of its file.",
                None,
                MetricType::Info,
            )?;
            m.encode_info(&[("sha256", sha256.as_str())])?;
        }
        let mut reloads = Family::new(
            "l7mp_config_reloads",
            "Config loads by result (the first config counts; a bad file counts once).",
        );
        reloads.add(vec![("result", "ok")], s.reloads_ok.get());
        reloads.add(vec![("result", "error")], s.reloads_failed.get());
        counters(e, &reloads)?;
        let mut success = Family::new(
            "l7mp_config_last_reload_success",
            "1 when the latest config load succeeded, else 0.",
        );
        success.add(Vec::new(), i64::from(s.last_ok()));
        gauges(e, &success)?;
        let mut stamp = Family::new(
            "l7mp_config_last_reload_timestamp_seconds",
            "When the latest config load finished (Unix time; 0 = never).",
        );
        stamp.add(Vec::new(), s.last_attempt_ms() as f64 / 1000.0);
        gauges(e, &stamp)
    }

    fn listeners(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let listeners = self.view.listeners();
        let mut active = Family::new("l7mp_listener_sessions_active", "Sessions running now.");
        let mut total = Family::new("l7mp_listener_sessions", "Sessions accepted.");
        let mut refused = Family::new(
            "l7mp_listener_sessions_refused",
            "Sessions refused: no rule matched, or the session limit was reached.",
        );
        let mut errors = Family::new(
            "l7mp_listener_session_errors",
            "Sessions that ended in an error (a hop failed to connect or broke).",
        );
        let mut bytes = Family::new("l7mp_listener_bytes", "Bytes exchanged with clients.");
        let mut packets = Family::new(
            "l7mp_listener_packets",
            "Messages (datagrams, WebSocket messages, stream chunks) exchanged with clients.",
        );
        for (name, l) in &listeners {
            let label = || vec![("listener", name.as_str())];
            active.add(label(), l.stats.sessions_active.get());
            total.add(label(), l.stats.sessions_total.get());
            refused.add(label(), l.stats.sessions_refused.get());
            errors.add(label(), l.stats.session_errors.get());
            traffic(&mut bytes, &mut packets, "listener", name, &l.stats.traffic);
        }
        gauges(e, &active)?;
        for f in [&total, &refused, &errors, &bytes, &packets] {
            counters(e, f)?;
        }
        let mut m = e.encode_descriptor(
            "l7mp_session_duration_seconds",
            "How long the listener's sessions lasted, observed as each one ends.",
            None,
            MetricType::Histogram,
        )?;
        for (name, l) in &listeners {
            let h = l.stats.session_duration.snapshot();
            m.encode_family(&vec![("listener", name.as_str())])?
                .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?;
        }
        Ok(())
    }

    fn clusters(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let routing = self.view.routing();
        let mut connects = Family::new("l7mp_cluster_connects", "Successful connects.");
        let mut failures = Family::new(
            "l7mp_cluster_connect_failures",
            "Failed connect attempts (refused, unreachable or timed out).",
        );
        let mut ejections = Family::new(
            "l7mp_cluster_endpoint_ejections",
            "Times an endpoint was left out of load balancing after a failed connect, or a \
             refused, reset or unreachable connection.",
        );
        let mut bytes = Family::new("l7mp_cluster_bytes", "Bytes exchanged with endpoints.");
        let mut packets = Family::new(
            "l7mp_cluster_packets",
            "Messages exchanged with endpoints (or through the in-proxy transform).",
        );
        let mut dropped = Family::new(
            "l7mp_cluster_messages_dropped",
            "Messages an in-proxy cluster dropped: undecodable (JSONDecap) or overflow (a Sync \
             member that did not keep up, or a full backlog).",
        );
        for (name, c) in routing.clusters() {
            connects.add(vec![("cluster", name)], c.stats.connects.get());
            failures.add(vec![("cluster", name)], c.stats.connect_failures.get());
            ejections.add(vec![("cluster", name)], c.stats.ejections.get());
            traffic(&mut bytes, &mut packets, "cluster", name, &c.stats.traffic);
            let (undecodable, overflow) = (&c.stats.dropped_undecodable, &c.stats.dropped_overflow);
            dropped.add(
                vec![("cluster", name), ("reason", "undecodable")],
                undecodable.get(),
            );
            dropped.add(
                vec![("cluster", name), ("reason", "overflow")],
                overflow.get(),
            );
        }
        for f in [&connects, &failures, &ejections, &bytes, &packets, &dropped] {
            counters(e, f)?;
        }
        Ok(())
    }

    fn metric_clusters(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let routing = self.view.routing();
        let named = routing.metric_counters();
        let (byte_values, packet_values) = (named.bytes(), named.packets());
        let mut bytes = Family::new(
            "l7mp_metric_bytes",
            "Bytes through Metric clusters, by counter name.",
        );
        let mut packets = Family::new(
            "l7mp_metric_packets",
            "Messages through Metric clusters, by counter name.",
        );
        for (name, v) in &byte_values {
            bytes.add(vec![("counter", name.as_str())], *v);
        }
        for (name, v) in &packet_values {
            packets.add(vec![("counter", name.as_str())], *v);
        }
        counters(e, &bytes)?;
        counters(e, &packets)
    }
}

impl Collector for ProxyCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        // What the kernel forwarded for offloaded sessions, into the listener and cluster
        // counters first, so that they are exact.
        if let Some(offload) = self.view.offload() {
            offload.sync_all();
        }
        self.build(&mut encoder)?;
        self.process(&mut encoder)?;
        self.config(&mut encoder)?;
        self.listeners(&mut encoder)?;
        self.clusters(&mut encoder)?;
        self.metric_clusters(&mut encoder)?;
        match self.view.offload() {
            Some(offload) => super::offload_metrics::encode(&mut encoder, offload),
            None => Ok(()),
        }
    }
}
