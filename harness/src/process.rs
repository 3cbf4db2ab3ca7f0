//! Processes the harness started: identified by pid plus start time (so a reused pid is never
//! signalled), stopped as whole process groups.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitOptions};
use serde::{Deserialize, Serialize};

/// A process the harness started, as recorded in the state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Proc {
    /// Its pid, also its process group (every process is started with `setsid`).
    pub pid: i32,
    /// Its start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start: u64,
}

impl Proc {
    /// Records a just-started process.
    pub fn of(pid: i32) -> Proc {
        Proc {
            pid,
            start: start_time(pid).unwrap_or(0),
        }
    }

    /// Whether this very process is still running (not a zombie, not a reused pid).
    pub fn alive(&self) -> bool {
        match stat(self.pid) {
            Some((state, start)) => state != 'Z' && state != 'X' && start == self.start,
            None => false,
        }
    }
}

/// `(state, start time)` of a pid, from `/proc/PID/stat`.
fn stat(pid: i32) -> Option<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); starttime is field 22.
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// The start time of a pid, if it exists.
pub fn start_time(pid: i32) -> Option<u64> {
    stat(pid).map(|(_, s)| s)
}

/// Reaps any exited children of this process (the `run` mode's containers), without blocking:
/// stops when no child has exited (`None`) or there are no children (an error).
pub fn reap_children() {
    while let Ok(Some(_)) = rustix::process::wait(WaitOptions::NOHANG) {}
}

/// Sends `signal` to process `pid`. A pid that names no single process (0 or below: a group,
/// or every process) is ignored rather than signalled, and so is a process already gone.
pub fn signal(pid: i32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Stops the processes (and everything in their process groups): SIGTERM, then SIGKILL to what
/// is left after `grace`. Returns once all are gone or after the SIGKILL round.
pub fn stop_all(procs: &[Proc], grace: Duration) {
    let live: Vec<&Proc> = procs.iter().filter(|p| p.alive()).collect();
    for p in &live {
        signal_group(p.pid, Signal::TERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && live.iter().any(|p| p.alive() || group_exists(p.pid)) {
        reap_children();
        std::thread::sleep(Duration::from_millis(50));
    }
    for p in &live {
        if p.alive() || group_exists(p.pid) {
            signal_group(p.pid, Signal::KILL);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && live.iter().any(|p| p.alive()) {
        reap_children();
        std::thread::sleep(Duration::from_millis(20));
    }
    reap_children();
}

/// Sends `signal` to every process in group `pgid` (ignored when the group is gone).
fn signal_group(pgid: i32, signal: Signal) {
    if let Some(pgid) = Pid::from_raw(pgid) {
        let _ = rustix::process::kill_process_group(pgid, signal);
    }
}

/// Whether process group `pgid` still has a member.
fn group_exists(pgid: i32) -> bool {
    Pid::from_raw(pgid).is_some_and(|pgid| rustix::process::test_kill_process_group(pgid).is_ok())
}

/// Pids whose environment holds `marker` (`NAME=VALUE`, exact) or a value starting with it when
/// it ends with `/`: finds every descendant of the containers, even ones that left their group.
pub fn find_by_env(marker: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    let me = std::process::id() as i32;
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(env) = fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let hit = env.split(|b| *b == 0).any(|var| {
            let var = String::from_utf8_lossy(var);
            if marker.ends_with('/') {
                var.starts_with(marker)
            } else {
                var == marker
            }
        });
        if hit && stat(pid).is_some_and(|(s, _)| s != 'Z') {
            out.push(pid);
        }
    }
    out
}

/// Kills (SIGKILL) the given pids and waits briefly for them to go.
pub fn kill_pids(pids: &[i32]) {
    for &pid in pids {
        signal(pid, Signal::KILL);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && pids.iter().any(|&p| stat(p).is_some_and(|(s, _)| s != 'Z'))
    {
        reap_children();
        std::thread::sleep(Duration::from_millis(20));
    }
    reap_children();
}

/// Runs `cmd` (stdio to /dev/null) for at most `timeout`: its exit code (128 + the signal when
/// one ended it), or `None` when it was killed for taking longer.
pub fn exit_code_within(cmd: &mut Command, timeout: Duration) -> std::io::Result<Option<i32>> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            let signal = std::os::unix::process::ExitStatusExt::signal(&status);
            return Ok(status.code().or(signal.map(|s| 128 + s)));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = Proc::of(std::process::id() as i32);
        assert!(me.alive());
        let other = Proc {
            pid: me.pid,
            start: me.start + 1,
        };
        assert!(!other.alive());
    }

    #[test]
    fn exit_codes_within_a_timeout() {
        let sh = |script: &str| {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        };
        let quick = Duration::from_secs(20);
        assert_eq!(exit_code_within(&mut sh("exit 3"), quick).unwrap(), Some(3));
        assert_eq!(
            exit_code_within(&mut sh("kill -9 $$"), quick).unwrap(),
            Some(137)
        );
        let slow = exit_code_within(&mut sh("exec sleep 30"), Duration::from_millis(100));
        assert_eq!(slow.unwrap(), None);
    }
}
