//! What the benchmark reads of a proxy's process tree in /proc: resident memory and CPU time.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

/// VmRSS in KiB of `root` and all its descendants, as (pid, KiB) pairs.
pub fn tree_rss_kb(root: u32) -> Vec<(u32, u64)> {
    process_tree(root)
        .into_iter()
        .filter_map(|pid| vm_rss_kb(pid).map(|kb| (pid, kb)))
        .collect()
}

/// CPU time that `root` and its descendants spend between `from` and `to` (both in the
/// future or now), from the per-thread scheduler statistics.
pub fn cpu_between(root: u32, from: Instant, to: Instant) -> Duration {
    thread::sleep(from.saturating_duration_since(Instant::now()));
    let before = tree_cpu_ns(root);
    thread::sleep(to.saturating_duration_since(Instant::now()));
    Duration::from_nanos(tree_cpu_ns(root).saturating_sub(before))
}

/// Nanoseconds on CPU of every thread of `root` and its descendants
/// (`/proc/PID/task/TID/schedstat`, first field).
fn tree_cpu_ns(root: u32) -> u64 {
    process_tree(root)
        .iter()
        .filter_map(|pid| fs::read_dir(format!("/proc/{pid}/task")).ok())
        .flatten()
        .filter_map(|task| {
            let stat = fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

/// `root` and every process under it.
fn process_tree(root: u32) -> Vec<u32> {
    let mut pids = vec![root];
    let parents = parent_map();
    let mut i = 0;
    while i < pids.len() {
        let parent = pids[i];
        pids.extend(
            parents
                .iter()
                .filter(|&&(_, ppid)| ppid == parent)
                .map(|&(pid, _)| pid),
        );
        i += 1;
    }
    pids
}

/// (pid, parent pid) of every process in /proc.
fn parent_map() -> Vec<(u32, u32)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may hold spaces and parentheses; the fields
            // after its closing parenthesis are "state ppid ...".
            let rest = &stat[stat.rfind(')')? + 1..];
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}

/// VmRSS of one process in KiB, from /proc/PID/status.
fn vm_rss_kb(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
