//! Metric families as the `/metrics` collectors build them: named, helped, typed sets of
//! samples, encoded at scrape time. Shared by the proxy's collector ([`super::metrics`]) and
//! the offload's part ([`super::offload_metrics`]), which neither owns.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

pub(super) type Labels<'a> = Vec<(&'static str, &'a str)>;

/// One metric family: a name, a help text, a type and its samples.
pub(super) struct Family<'a, V> {
    name: &'static str,
    help: &'static str,
    samples: Vec<(Labels<'a>, V)>,
}

impl<'a, V> Family<'a, V> {
    pub(super) fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            samples: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, labels: Labels<'a>, value: V) {
        self.samples.push((labels, value));
    }
}

pub(super) fn counters(e: &mut DescriptorEncoder<'_>, f: &Family<'_, u64>) -> fmt::Result {
    let mut m = e.encode_descriptor(f.name, f.help, None, MetricType::Counter)?;
    for (labels, v) in &f.samples {
        ConstCounter::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

pub(super) fn gauges<V: Copy>(e: &mut DescriptorEncoder<'_>, f: &Family<'_, V>) -> fmt::Result
where
    ConstGauge<V>: EncodeMetric,
{
    let mut m = e.encode_descriptor(f.name, f.help, None, MetricType::Gauge)?;
    for (labels, v) in &f.samples {
        ConstGauge::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}
