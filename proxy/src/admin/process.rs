//! The process metrics Prometheus clients conventionally export (`process_*`), read from
//! `/proc/self` at scrape time: CPU time, resident memory, open and allowed file
//! descriptors, and the start time. Elsewhere than Linux there is no `/proc` and no metrics.

use std::path::Path;

/// One reading of the process's resources.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory, in bytes.
    pub resident_bytes: u64,
    /// Start time, in seconds since the Unix epoch.
    pub start_time_seconds: f64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on open file descriptors.
    pub max_fds: u64,
}

/// Reads the process's resources; `None` where `/proc` is missing or unreadable.
pub fn read() -> Option<ProcessStats> {
    let proc = Path::new("/proc");
    let stat = std::fs::read_to_string(proc.join("self/stat")).ok()?;
    let boot = boot_time(&std::fs::read_to_string(proc.join("stat")).ok()?)?;
    // SAFETY: sysconf only reads configuration values.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let fields = StatFields::parse(&stat)?;
    let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0)? as f64;
    let open_fds = std::fs::read_dir(proc.join("self/fd")).ok()?.count() as u64;
    let (max_fds, _) = rlimit::Resource::NOFILE.get().ok()?;
    Some(ProcessStats {
        cpu_seconds: (fields.utime + fields.stime) as f64 / ticks,
        resident_bytes: fields.rss_pages.saturating_mul(u64::try_from(page).ok()?),
        start_time_seconds: boot as f64 + fields.start_ticks as f64 / ticks,
        // The directory listing itself holds one descriptor while it is read.
        open_fds: open_fds.saturating_sub(1),
        max_fds,
    })
}

/// The fields of `/proc/self/stat` the metrics need (proc(5)), in clock ticks and pages.
#[derive(Debug, PartialEq)]
struct StatFields {
    utime: u64,
    stime: u64,
    start_ticks: u64,
    rss_pages: u64,
}

impl StatFields {
    /// Parses the line; the command name (field 2) may hold spaces and parentheses, so the
    /// fields are counted from after its last `)`.
    fn parse(stat: &str) -> Option<StatFields> {
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state).
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(StatFields {
            utime: field(14)?,
            stime: field(15)?,
            start_ticks: field(22)?,
            rss_pages: field(24)?,
        })
    }
}

/// The boot time (`btime` of `/proc/stat`), in seconds since the Unix epoch.
fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (l7mp (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 3 0 \
                    12345 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 \
                    0 0 0 0\n";
        assert_eq!(
            StatFields::parse(stat),
            Some(StatFields {
                utime: 250,
                stime: 50,
                start_ticks: 12345,
                rss_pages: 2048,
            })
        );
        assert_eq!(StatFields::parse("4242 (l7mp) S 1"), None);
    }

    #[test]
    fn boot_time_from_proc_stat() {
        assert_eq!(
            boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
        assert_eq!(boot_time("cpu 1\n"), None);
    }

    #[test]
    fn this_process_reads_sensibly() {
        let s = read().expect("/proc on Linux");
        assert!(s.resident_bytes > 0, "{s:?}");
        assert!(s.open_fds >= 3 && s.open_fds <= s.max_fds, "{s:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            s.start_time_seconds > 1e9 && s.start_time_seconds <= now + 1.0,
            "{s:?}"
        );
    }
}
