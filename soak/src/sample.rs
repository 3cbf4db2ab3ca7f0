//! Sampling the long-lived proxies every few seconds: resident memory (`VmRSS` in
//! `/proc/PID/status`), open file descriptors (entries of `/proc/PID/fd`) and live sessions
//! (their `/metrics`), so that growth can be told apart from load.

use std::net::SocketAddr;

use crate::clock::Clock;
use crate::cluster::Proxy;
use crate::metrics::scrape;

/// The port the proxies serve `/metrics` on (the examples' `containerPort: 9102`).
pub const METRICS_PORT: u16 = 9102;

/// One sample of one proxy.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it was taken.
    pub at: f64,
    /// Resident memory, KiB.
    pub rss_kib: f64,
    /// Open file descriptors.
    pub fds: f64,
    /// Live sessions over all its listeners (`None` when `/metrics` did not answer, or the
    /// count changed while the sample was taken).
    pub sessions: Option<f64>,
}

/// One proxy's samples.
#[derive(Debug)]
pub struct Series {
    /// The proxy.
    pub proxy: Proxy,
    /// Its samples, in time order.
    pub samples: Vec<Sample>,
    /// Set when the process was gone at a sample (it died or was restarted).
    pub vanished_at: Option<f64>,
}

/// Samples every proxy every `every` seconds until the clock stops.
pub fn sample(clock: &Clock, proxies: Vec<Proxy>, every: f64) -> Vec<Series> {
    let mut series: Vec<Series> = proxies
        .into_iter()
        .map(|proxy| Series {
            proxy,
            samples: Vec::new(),
            vanished_at: None,
        })
        .collect();
    let mut next = clock.now();
    while clock.sleep_until(next) {
        for s in series.iter_mut().filter(|s| s.vanished_at.is_none()) {
            let at = clock.now();
            let metrics = SocketAddr::from((s.proxy.ip, METRICS_PORT));
            let before = scrape(metrics).ok().map(|m| m.sessions);
            match (rss_kib(s.proxy.pid), fds(s.proxy.pid)) {
                (Some(rss_kib), Some(fds)) => {
                    // Sessions counted before and after the memory and descriptors: a sample
                    // taken while they changed (a burst arriving or expiring) cannot say what
                    // one session costs, so it is left out of the verdict.
                    let after = scrape(metrics).ok().map(|m| m.sessions);
                    let sessions = before.filter(|_| before == after);
                    s.samples.push(Sample {
                        at,
                        rss_kib,
                        fds,
                        sessions,
                    });
                }
                _ => s.vanished_at = Some(at),
            }
        }
        next += every;
    }
    series
}

/// `VmRSS` of a process, KiB.
fn rss_kib(pid: i32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// How many file descriptors a process has open.
fn fds(pid: i32) -> Option<f64> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(dir.count() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_memory_and_descriptors() {
        // The tests beside this one open and close a few descriptors of this process as it
        // runs, so it opens many and allows for theirs.
        let me = std::process::id() as i32;
        let before = fds(me).unwrap();
        let extra: Vec<std::fs::File> = (0..100)
            .map(|_| std::fs::File::open("/proc/self/status").unwrap())
            .collect();
        let during = fds(me).unwrap();
        drop(extra);
        assert!(
            (during - before - 100.0).abs() <= 16.0,
            "{before} then {during}"
        );
        assert!(rss_kib(me).unwrap() > 0.0);
        assert_eq!(rss_kib(-1), None);
    }
}
