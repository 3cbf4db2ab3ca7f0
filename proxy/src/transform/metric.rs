//! The Metric cluster's named counters. Metric clusters pass messages on unchanged and count
//! their bytes and packets into counters named in the cluster (default: the cluster's name).
//! Counters live in a registry that a reload hands on to the next config, so a counter keeps
//! counting across reloads for as long as some cluster uses its name, and clusters that name
//! the same counter add up. A counter no cluster uses any more stays exported at its last
//! value (Prometheus counters do not go backwards or vanish while the process runs).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::stats::Counter;

/// Byte and packet counters by name, shared by every config the proxy runs.
#[derive(Default)]
pub struct MetricCounters {
    bytes: Mutex<BTreeMap<String, Arc<Counter>>>,
    packets: Mutex<BTreeMap<String, Arc<Counter>>>,
}

/// The two counters one Metric cluster adds to.
pub struct MetricPair {
    bytes: Arc<Counter>,
    packets: Arc<Counter>,
}

impl MetricPair {
    /// Counts one message of `len` bytes.
    pub fn count(&self, len: usize) {
        self.bytes.add(len as u64);
        self.packets.inc();
    }
}

impl MetricCounters {
    /// The counters called `bytes` and `packets`, made on first use.
    pub fn pair(&self, bytes: &str, packets: &str) -> MetricPair {
        MetricPair {
            bytes: named(&self.bytes, bytes),
            packets: named(&self.packets, packets),
        }
    }

    /// Every byte counter by name with its value.
    pub fn bytes(&self) -> Vec<(String, u64)> {
        snapshot(&self.bytes)
    }

    /// Every packet counter by name with its value.
    pub fn packets(&self) -> Vec<(String, u64)> {
        snapshot(&self.packets)
    }
}

fn named(map: &Mutex<BTreeMap<String, Arc<Counter>>>, name: &str) -> Arc<Counter> {
    let mut m = map.lock();
    m.entry(name.to_string()).or_default().clone()
}

fn snapshot(map: &Mutex<BTreeMap<String, Arc<Counter>>>) -> Vec<(String, u64)> {
    let m = map.lock();
    m.iter().map(|(k, c)| (k.clone(), c.get())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_with_the_same_name_add_up() {
        let counters = MetricCounters::default();
        counters.pair("a", "p").count(2);
        counters.pair("a", "q").count(3);
        assert_eq!(counters.bytes(), vec![("a".to_string(), 5)]);
        assert_eq!(
            counters.packets(),
            vec![("p".to_string(), 1), ("q".to_string(), 1)]
        );
    }
}
