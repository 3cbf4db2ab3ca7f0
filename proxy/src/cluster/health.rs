//! Passive health checking (outlier detection): an endpoint that failed a connect, or whose
//! connection was refused, reset or found unreachable while a session used it, is left out of
//! load balancing for a back-off period, so that new sessions stop trying a dead pod at once
//! instead of until the next DNS re-resolution.
//!
//! The back-off starts at [`BASE_EJECTION`] and doubles with each ejection that follows soon
//! after the previous one, up to [`MAX_EJECTION`]. When it runs out the endpoint is chosen
//! again; a connect that it answers (anything but a plain UDP "connect", which sends nothing)
//! clears its record, and an endpoint whose address leaves the resolved set is forgotten, so
//! one that resolves again starts afresh. When every endpoint is ejected the balancer chooses
//! among all of them (panic mode) rather than failing the session.

use std::collections::HashMap;

use parking_lot::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::endpoints::{Address, Target};

/// How long the first ejection of an endpoint lasts: the DNS refresh interval, so that a
/// dead pod stays out until a re-resolution can have dropped it.
pub const BASE_EJECTION: Duration = super::RESOLVE_INTERVAL;
/// The longest an endpoint stays ejected, however often it failed.
pub const MAX_EJECTION: Duration = Duration::from_secs(60);

/// One endpoint's ejection record.
#[derive(Clone, Copy, Debug)]
struct Record {
    /// Until when it is left out.
    until: Instant,
    /// The back-off it got, doubled by the next ejection unless it stayed healthy for
    /// [`MAX_EJECTION`] after this one ended.
    backoff: Duration,
}

/// The ejected endpoints of one cluster, by address (which survives DNS refreshes, where an
/// endpoint's index does not).
#[derive(Debug, Default)]
pub struct Ejections {
    records: Mutex<HashMap<Address, Record>>,
}

impl Ejections {
    fn lock(&self) -> MutexGuard<'_, HashMap<Address, Record>> {
        self.records.lock()
    }

    /// Leaves `address` out of balancing; returns the back-off, or `None` when it is ejected
    /// already (sessions that saw the same failure at once do not stack their back-offs).
    pub fn eject(&self, address: &Address) -> Option<Duration> {
        self.eject_at(address, Instant::now())
    }

    fn eject_at(&self, address: &Address, now: Instant) -> Option<Duration> {
        let mut records = self.lock();
        let backoff = match records.get(address) {
            Some(r) if r.until > now => return None,
            Some(r) if now.duration_since(r.until) < MAX_EJECTION => {
                (r.backoff * 2).min(MAX_EJECTION)
            }
            _ => BASE_EJECTION,
        };
        records.insert(
            address.clone(),
            Record {
                until: now + backoff,
                backoff,
            },
        );
        Some(backoff)
    }

    /// `address` answered a connect: its record is cleared.
    pub fn answered(&self, address: &Address) {
        let mut records = self.lock();
        if !records.is_empty() {
            records.remove(address);
        }
    }

    /// The indexes of `targets` that are ejected now.
    pub fn ejected(&self, targets: &[Target]) -> Vec<usize> {
        let records = self.lock();
        if records.is_empty() {
            return Vec::new();
        }
        let now = Instant::now();
        targets
            .iter()
            .enumerate()
            .filter(|(_, t)| records.get(&t.address).is_some_and(|r| r.until > now))
            .map(|(i, _)| i)
            .collect()
    }

    /// Forgets the endpoints that are no longer in `targets`.
    pub fn retain(&self, targets: &[Target]) {
        self.lock()
            .retain(|a, _| targets.iter().any(|t| t.address == *a));
    }
}

/// What a pick should avoid: the endpoints that failed for this session and the ejected ones,
/// unless together they are every endpoint (panic mode: then only the session's own failures,
/// which the balancer itself ignores once they are every endpoint too).
pub fn avoid(failed: &[usize], ejected: &[usize], endpoints: usize) -> Vec<usize> {
    let mut skip = failed.to_vec();
    skip.extend(ejected.iter().filter(|i| !failed.contains(i)));
    let spare = (0..endpoints).any(|i| !skip.contains(&i));
    if spare { skip } else { failed.to_vec() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> Address {
        Address::Inet(([10, 0, 0, n], 80).into())
    }

    #[test]
    fn back_off_doubles_up_to_the_cap_and_decays_after_a_healthy_spell() {
        let e = Ejections::default();
        let t0 = Instant::now();
        assert_eq!(e.eject_at(&addr(1), t0), Some(BASE_EJECTION));
        // Ejected already: a second failure seen at once changes nothing.
        assert_eq!(e.eject_at(&addr(1), t0 + Duration::from_millis(500)), None);
        let mut now = t0 + BASE_EJECTION;
        let mut expected = BASE_EJECTION;
        for _ in 0..8 {
            expected = (expected * 2).min(MAX_EJECTION);
            assert_eq!(e.eject_at(&addr(1), now), Some(expected));
            now += expected;
        }
        assert_eq!(expected, MAX_EJECTION);
        // Healthy for the cap's length after the last back-off: it starts over.
        assert_eq!(
            e.eject_at(&addr(1), now + MAX_EJECTION),
            Some(BASE_EJECTION)
        );
        // Another endpoint has a record of its own.
        assert_eq!(e.eject_at(&addr(2), now), Some(BASE_EJECTION));
    }

    #[test]
    fn answering_or_leaving_the_set_clears_the_record() {
        let e = Ejections::default();
        let targets: Vec<Target> = (1..=3)
            .map(|n| Target {
                label: format!("e{n}").into(),
                host: format!("10.0.0.{n}"),
                address: addr(n),
            })
            .collect();
        e.eject(&addr(1));
        e.eject(&addr(3));
        assert_eq!(e.ejected(&targets), [0, 2]);
        e.answered(&addr(1));
        assert_eq!(e.ejected(&targets), [2]);
        e.retain(&targets[..2]);
        assert_eq!(e.ejected(&targets), Vec::<usize>::new());
        assert_eq!(
            e.eject(&addr(3)),
            Some(BASE_EJECTION),
            "forgotten, so afresh"
        );
    }

    #[test]
    fn avoid_falls_back_to_panic_mode() {
        assert_eq!(avoid(&[], &[1], 3), [1]);
        assert_eq!(avoid(&[0], &[1, 0], 3), [0, 1]);
        // Every endpoint is failed or ejected: only this session's failures are avoided.
        assert_eq!(avoid(&[0], &[1, 2], 3), [0]);
        assert_eq!(avoid(&[], &[0, 1, 2], 3), Vec::<usize>::new());
    }
}
