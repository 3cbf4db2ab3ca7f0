//! Sorting every datagram into what it says about the mesh.
//!
//! A steady session's **path** is the worker that answered its latest answered datagram
//! before the one in question (by sequence number; the transcoders are never deleted, so the
//! worker decides). A steady datagram is on an **unchanged path** unless its session's path
//! is a worker that was deleted before the datagram's answer deadline (sent + timeout): then
//! it is on a **deleted pod's path**, and so are the session's later datagrams until one is
//! answered by another worker. A datagram sent before the session's first answer has no path
//! yet and counts as unchanged (a loss there is a loss). Datagrams sent during the warm-up are
//! left out.
//!
//! A datagram is **answered** when its answer came within the timeout; a later answer counts
//! as lost (and as late).
//!
//! A burst is **near a deletion** when a deletion started in the 10 s before it or before its
//! answer deadline; otherwise **no deletion was under way**.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::chaos::Deletion;
use crate::traffic::{BurstLog, SessionLog};

/// How far before a burst a deletion still counts as under way.
pub const NEAR_DELETION: f64 = 10.0;

/// Datagrams (or burst sessions) sent, answered in time, answered late, and lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Sent.
    pub sent: u64,
    /// Answered within the timeout.
    pub answered: u64,
    /// Answered, but after the timeout (counted in `lost` too).
    pub late: u64,
}

impl Counts {
    /// Sent and not answered within the timeout.
    pub fn lost(&self) -> u64 {
        self.sent - self.answered
    }

    fn add(&mut self, latency: Option<f64>, timeout: f64) {
        self.sent += 1;
        match latency {
            Some(l) if l <= timeout => self.answered += 1,
            Some(_) => self.late += 1,
            None => {}
        }
    }
}

/// What one deletion did to the steady sessions whose path was the deleted worker.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KillImpact {
    /// Steady sessions whose path was the deleted worker.
    pub sessions: u64,
    /// Of those, the ones that lost at least one datagram.
    pub failed: u64,
    /// Datagrams they lost.
    pub lost: u64,
    /// The longest time from the deletion to a session's first answer from another worker
    /// (`None` when some session never got one).
    pub recovery: Option<f64>,
}

/// Everything counted.
#[derive(Debug, Default)]
pub struct Figures {
    /// Steady datagrams on unchanged paths.
    pub unchanged: Counts,
    /// Steady datagrams on a deleted pod's path.
    pub deleted_path: Counts,
    /// Steady datagrams sent during the warm-up (not judged).
    pub warmup: Counts,
    /// Latencies (seconds) of the answered datagrams on unchanged paths, sorted.
    pub latencies: Vec<f64>,
    /// Burst sessions with no deletion under way.
    pub bursts_calm: Counts,
    /// Burst sessions near a deletion.
    pub bursts_near: Counts,
    /// Latencies (seconds) of the answered burst sessions, sorted.
    pub burst_latencies: Vec<f64>,
    /// Per deletion, by its index in the deletions.
    pub kills: Vec<KillImpact>,
    /// The bursts that lost sessions.
    pub burst_losses: Vec<BurstLoss>,
}

/// A burst that lost sessions.
#[derive(Clone, Debug, PartialEq)]
pub struct BurstLoss {
    /// When it was sent.
    pub at: f64,
    /// Its sessions, and how many went unanswered.
    pub sent: usize,
    pub lost: usize,
    /// Whether a deletion was near.
    pub near: bool,
}

/// Sorts every datagram (see the module's doc).
pub fn classify(
    sessions: &[SessionLog],
    bursts: &[BurstLog],
    deletions: &[Deletion],
    warmup: f64,
    timeout: f64,
    burst_timeout: f64,
) -> Figures {
    let mut f = Figures {
        kills: vec![KillImpact::default(); deletions.len()],
        ..Figures::default()
    };
    let deleted: BTreeMap<&str, (usize, f64)> = deletions
        .iter()
        .enumerate()
        .map(|(i, d)| (d.victim.as_str(), (i, d.at)))
        .collect();
    let mut recovery: Vec<Vec<Option<f64>>> = vec![Vec::new(); deletions.len()];
    for session in sessions {
        let mut path: Option<Arc<str>> = None;
        // Per deletion this session was hit by: lost datagrams, and when it recovered.
        let mut hit: BTreeMap<usize, (u64, Option<f64>)> = BTreeMap::new();
        for d in &session.sent {
            let latency = d.answer.as_ref().map(|a| a.at - d.at);
            let kill = path
                .as_deref()
                .and_then(|w| deleted.get(w))
                .filter(|(_, at)| *at <= d.at + timeout)
                .map(|(i, _)| *i);
            if d.at < warmup {
                f.warmup.add(latency, timeout);
            } else if let Some(i) = kill {
                f.deleted_path.add(latency, timeout);
                let entry = hit.entry(i).or_default();
                if latency.is_none_or(|l| l > timeout) {
                    entry.0 += 1;
                }
            } else {
                f.unchanged.add(latency, timeout);
                if let Some(l) = latency.filter(|l| *l <= timeout) {
                    f.latencies.push(l);
                }
            }
            if let Some(a) = &d.answer {
                if let Some(i) = kill {
                    let moved = path.as_deref() != Some(&*a.worker);
                    let entry = hit.entry(i).or_default();
                    if moved {
                        let t = a.at - deletions[i].at;
                        entry.1 = Some(entry.1.map_or(t, |r: f64| r.min(t)));
                    }
                }
                path = Some(a.worker.clone());
            }
        }
        for (i, (lost, recovered)) in hit {
            let k = &mut f.kills[i];
            k.sessions += 1;
            k.failed += u64::from(lost > 0);
            k.lost += lost;
            recovery[i].push(recovered);
        }
    }
    for (k, times) in f.kills.iter_mut().zip(recovery) {
        k.recovery = times
            .iter()
            .try_fold(0.0f64, |max, t| t.map(|t| max.max(t)));
    }
    for b in bursts {
        let near = deletions
            .iter()
            .any(|d| d.at >= b.at - NEAR_DELETION && d.at <= b.at + burst_timeout);
        let mut lost = 0;
        for a in &b.answers {
            let latency = a.as_ref().map(|a| a.at - b.at);
            lost += usize::from(latency.is_none_or(|l| l > burst_timeout));
            let counts = if near {
                &mut f.bursts_near
            } else {
                &mut f.bursts_calm
            };
            counts.add(latency, burst_timeout);
            if let Some(l) = latency.filter(|l| *l <= burst_timeout) {
                f.burst_latencies.push(l);
            }
        }
        if lost > 0 {
            f.burst_losses.push(BurstLoss {
                at: b.at,
                sent: b.answers.len(),
                lost,
                near,
            });
        }
    }
    f.latencies.sort_by(f64::total_cmp);
    f.burst_latencies.sort_by(f64::total_cmp);
    f
}

/// The `q` quantile (0..=1) of sorted values, nearest rank; `None` for none.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::{Answer, Sent};

    fn sent(at: f64, answer: Option<(f64, &str)>) -> Sent {
        Sent {
            at,
            answer: answer.map(|(t, w)| Answer {
                at: t,
                worker: Arc::from(w),
            }),
        }
    }

    fn deletion(at: f64, victim: &str) -> Deletion {
        Deletion {
            at,
            took: 0.5,
            victim: victim.into(),
            replacement: None,
            error: None,
        }
    }

    #[test]
    fn a_session_on_a_deleted_worker_is_not_an_unchanged_path_until_it_moves() {
        let on_a = SessionLog {
            sent: vec![
                sent(0.0, Some((0.01, "a"))),   // warm-up
                sent(10.0, Some((10.01, "a"))), // unchanged
                sent(19.0, None),               // deadline 21 >= the deletion at 20: deleted path
                sent(20.5, None),               // deleted path
                sent(21.0, Some((23.5, "b"))),  // deleted path, late; the session moved to b
                sent(22.0, Some((22.02, "b"))), // unchanged: the datagram before was b's
                sent(23.0, Some((23.01, "b"))), // unchanged
            ],
            ..SessionLog::default()
        };
        let on_b = SessionLog {
            sent: vec![sent(10.0, Some((10.1, "b"))), sent(20.0, None)],
            ..SessionLog::default()
        };
        let f = classify(&[on_a, on_b], &[], &[deletion(20.0, "a")], 5.0, 2.0, 5.0);
        let counts = |sent, answered, late| Counts {
            sent,
            answered,
            late,
        };
        assert_eq!(f.warmup, counts(1, 1, 0));
        assert_eq!(f.unchanged, counts(5, 4, 0));
        assert_eq!(f.unchanged.lost(), 1, "b's lost datagram counts");
        assert_eq!(f.deleted_path, counts(3, 0, 1));
        assert_eq!(f.kills.len(), 1);
        let k = &f.kills[0];
        assert_eq!((k.sessions, k.failed, k.lost), (1, 1, 3));
        assert!((k.recovery.unwrap() - 3.5).abs() < 1e-9, "{k:?}");
        assert_eq!(f.latencies.len(), 4);
    }

    #[test]
    fn bursts_near_a_deletion_are_counted_apart() {
        let answered = |at: f64| {
            Some(Answer {
                at,
                worker: Arc::from("b"),
            })
        };
        let bursts = [
            BurstLog {
                at: 10.0,
                answers: vec![answered(10.1), None],
            },
            BurstLog {
                at: 25.0,
                answers: vec![None, answered(25.2)],
            },
            BurstLog {
                at: 40.0,
                answers: vec![answered(40.1), answered(46.0)],
            },
        ];
        let f = classify(&[], &bursts, &[deletion(20.0, "a")], 5.0, 2.0, 5.0);
        assert_eq!(
            f.bursts_near,
            Counts {
                sent: 2,
                answered: 1,
                late: 0
            }
        );
        assert_eq!(
            f.bursts_calm,
            Counts {
                sent: 4,
                answered: 2,
                late: 1
            }
        );
        let loss = |at, lost, near| BurstLoss {
            at,
            sent: 2,
            lost,
            near,
        };
        assert_eq!(
            f.burst_losses,
            [
                loss(10.0, 1, false),
                loss(25.0, 1, true),
                loss(40.0, 1, false)
            ]
        );
        let median = quantile(&f.burst_latencies, 0.5).unwrap();
        assert!((median - 0.1).abs() < 1e-9, "{median}");
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
