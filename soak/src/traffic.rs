//! The client side: steady sessions (one UDP socket each, its own source port, a datagram
//! every interval) and bursts of new sessions (one datagram each), every datagram's send and
//! answer times and which worker and transcoder answered it.
//!
//! Each datagram is one line, `s<session>-<seq>` or `b<burst>-<n>`; the seed's apps answer it
//! with `Echo on <worker>: \nTranscoded on <transcoder>: <line>\n`, so an answer says which
//! path it took.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;

/// Who answered a datagram, and when (seconds since the start).
#[derive(Clone, Debug)]
pub struct Answer {
    /// When the answer arrived.
    pub at: f64,
    /// The worker pod named in it.
    pub worker: Arc<str>,
}

/// One datagram of a steady session.
#[derive(Clone, Debug)]
pub struct Sent {
    /// When it was sent.
    pub at: f64,
    /// Its first answer, if any came (however late).
    pub answer: Option<Answer>,
}

/// Everything one steady session sent and got.
#[derive(Debug, Default)]
pub struct SessionLog {
    /// The datagrams by sequence number.
    pub sent: Vec<Sent>,
    /// Answers to a datagram already answered.
    pub duplicates: u64,
    /// Datagrams that are no answer to anything sent (wrong shape or unknown message).
    pub strays: u64,
    /// Socket errors (such as "connection refused" when the gateway's port is closed).
    pub errors: u64,
}

/// One burst: `sessions` new sockets, one datagram each, sent at `at`.
#[derive(Debug)]
pub struct BurstLog {
    /// When the burst was sent.
    pub at: f64,
    /// Each session's answer (its time and worker), `None` when none came in time.
    pub answers: Vec<Option<Answer>>,
}

/// The parts of an answer: `Echo on <worker>: \nTranscoded on <transcoder>: <message>\n`.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The worker pod.
    pub worker: &'a str,
    /// The transcoder pod.
    pub transcoder: &'a str,
    /// The line that was sent.
    pub message: &'a str,
}

/// Splits an answer into its parts; `None` for anything of another shape.
pub fn parse_reply(text: &str) -> Option<Reply<'_>> {
    let (worker, rest) = text
        .strip_prefix("Echo on ")?
        .split_once(": \nTranscoded on ")?;
    let (transcoder, message) = rest.strip_suffix('\n')?.split_once(": ")?;
    Some(Reply {
        worker,
        transcoder,
        message,
    })
}

/// Shares one `Arc<str>` per worker name, so a long run's records stay small.
#[derive(Default)]
struct Names(HashMap<String, Arc<str>>);

impl Names {
    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.0.get(name) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(name);
        self.0.insert(name.to_string(), n.clone());
        n
    }
}

/// A client socket of its own (so its own source port: one gateway session), connected to
/// the gateway.
fn client(target: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.connect(target)?;
    Ok(socket)
}

/// Runs steady session `id` until the clock stops: a datagram every `interval` (the first
/// after `offset`, so that sessions do not send in lockstep), then waits `timeout` for the
/// last answers.
pub fn steady(
    clock: &Clock,
    target: SocketAddr,
    id: usize,
    interval: Duration,
    offset: Duration,
    timeout: Duration,
) -> std::io::Result<SessionLog> {
    let socket = client(target)?;
    let mut log = SessionLog::default();
    let mut names = Names::default();
    let mut next = clock.now() + offset.as_secs_f64();
    let prefix = format!("s{id}-");
    let mut buf = [0u8; 2048];
    loop {
        let stopping = clock.stopped();
        let until = if stopping {
            log.sent.last().map_or(clock.now(), |s| s.at) + timeout.as_secs_f64()
        } else {
            next
        };
        // Answers until the next send (or, stopping, until the last one's deadline).
        loop {
            let left = until - clock.now();
            if left <= 0.0 {
                break;
            }
            socket.set_read_timeout(Some(Duration::from_secs_f64(left.max(0.001))))?;
            match socket.recv(&mut buf) {
                Ok(n) => {
                    let at = clock.now();
                    let text = String::from_utf8_lossy(&buf[..n]);
                    let hit = parse_reply(&text).and_then(|r| {
                        let seq: usize = r.message.strip_prefix(&prefix)?.parse().ok()?;
                        Some((seq, r.worker))
                    });
                    match hit {
                        Some((seq, worker)) if seq < log.sent.len() => {
                            let sent = &mut log.sent[seq];
                            if sent.answer.is_some() {
                                log.duplicates += 1;
                            } else {
                                sent.answer = Some(Answer {
                                    at,
                                    worker: names.get(worker),
                                });
                            }
                        }
                        _ => log.strays += 1,
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break;
                }
                // An ICMP error for an earlier datagram (the gateway's port was closed).
                Err(_) => log.errors += 1,
            }
        }
        if stopping {
            return Ok(log);
        }
        let seq = log.sent.len();
        let at = clock.now();
        if socket.send(format!("{prefix}{seq}\n").as_bytes()).is_err() {
            log.errors += 1;
        }
        log.sent.push(Sent { at, answer: None });
        next += interval.as_secs_f64();
        // Behind schedule (a stalled machine): skip ahead rather than send a catch-up burst.
        if next < clock.now() {
            next = clock.now() + interval.as_secs_f64();
        }
    }
}

/// The source ports the bursts used lately. The kernel hands out ephemeral ports at random,
/// so a burst socket may get the port of an earlier one whose gateway session is still alive
/// (until its idle timeout): its datagram would join that session, pinned to whatever worker
/// it chose then, rather than start a new one. A burst's sessions must be new ones.
pub struct RecentPorts {
    /// Port → when a burst last used it.
    used: HashMap<u16, f64>,
    /// How long a port stays unusable: longer than the gateway's session idle timeout.
    quarantine: f64,
}

impl RecentPorts {
    /// No port used yet; each stays unusable for `quarantine` seconds after its burst.
    pub fn new(quarantine: Duration) -> RecentPorts {
        RecentPorts {
            used: HashMap::new(),
            quarantine: quarantine.as_secs_f64(),
        }
    }

    /// A client socket on a port no burst used within the quarantine (a few tries, then
    /// an error).
    fn fresh_client(&mut self, target: SocketAddr, now: f64) -> std::io::Result<UdpSocket> {
        self.used.retain(|_, at| now - *at < self.quarantine);
        for _ in 0..100 {
            let socket = client(target)?;
            let port = socket.local_addr()?.port();
            if let std::collections::hash_map::Entry::Vacant(e) = self.used.entry(port) {
                e.insert(now);
                return Ok(socket);
            }
        }
        Err(std::io::Error::other(
            "no fresh source port in 100 tries (widen net.ipv4.ip_local_port_range)",
        ))
    }
}

/// Sends burst `number`: `sessions` new sockets (on ports no recent burst used), each one
/// datagram, all sent before any answer is read; then collects answers until all came or
/// `timeout` passed.
pub fn burst(
    clock: &Clock,
    target: SocketAddr,
    number: usize,
    sessions: usize,
    timeout: Duration,
    recent: &mut RecentPorts,
) -> std::io::Result<BurstLog> {
    let now = clock.now();
    let sockets = (0..sessions)
        .map(|_| recent.fresh_client(target, now))
        .collect::<std::io::Result<Vec<_>>>()?;
    let at = clock.now();
    for (i, s) in sockets.iter().enumerate() {
        // A send error leaves the session unanswered, which is how it is counted.
        let _ = s.send(format!("b{number}-{i}\n").as_bytes());
    }
    let deadline = at + timeout.as_secs_f64();
    let mut names = Names::default();
    let mut answers = vec![None; sessions];
    let mut buf = [0u8; 2048];
    for s in &sockets {
        s.set_nonblocking(true)?;
    }
    // Every socket in turn, so that each answer's time is when it came, not when its socket
    // was read.
    while clock.now() < deadline && answers.iter().any(Option::is_none) {
        for (i, s) in sockets.iter().enumerate() {
            while answers[i].is_none() {
                let Ok(n) = s.recv(&mut buf) else { break };
                let text = String::from_utf8_lossy(&buf[..n]);
                let want = format!("b{number}-{i}");
                if let Some(r) = parse_reply(&text).filter(|r| r.message == want) {
                    answers[i] = Some(Answer {
                        at: clock.now(),
                        worker: names.get(r.worker),
                    });
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(BurstLog { at, answers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_ports_are_not_reused_within_the_quarantine() {
        let target: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut recent = RecentPorts::new(Duration::from_secs(90));
        let mut seen = std::collections::HashSet::new();
        // Sockets are dropped at once, so the kernel may hand their ports out again.
        for _ in 0..2000 {
            let s = recent.fresh_client(target, 1.0).unwrap();
            assert!(seen.insert(s.local_addr().unwrap().port()));
        }
        let later = recent.fresh_client(target, 200.0).unwrap();
        assert_eq!(recent.used.len(), 1, "older ports forgotten");
        drop(later);
    }

    #[test]
    fn replies_name_the_path() {
        let r = parse_reply("Echo on worker-a: \nTranscoded on tc-b: s3-17\n").unwrap();
        assert_eq!(
            r,
            Reply {
                worker: "worker-a",
                transcoder: "tc-b",
                message: "s3-17"
            }
        );
        assert_eq!(parse_reply("Echo on worker-a: \ns3-17\n"), None);
        assert_eq!(
            parse_reply("Echo on w: \nTranscoded on t: s3-17"),
            None,
            "a cut answer"
        );
    }
}
