//! Endpoint selection for clusters.
//!
//! A cluster owns a set of endpoints and, on every connect or reconnect attempt of a session, asks its
//! [`Balancer`] which one to use. The balancer is pure: no I/O, no async, no locks. It is rebuilt from the
//! endpoint set whenever that set changes (configuration or DNS time), so everything that depends only on
//! the set is computed in [`Balancer::new`] and [`Balancer::pick`] stays cheap.
//!
//! Rules shared by all policies:
//! - Indices passed in `skip` (endpoints that already failed for this session) are avoided while any other
//!   endpoint exists; when every endpoint is skipped, the choice is made as if nothing were skipped, so a
//!   retry always gets an endpoint.
//! - Weight 0 marks an endpoint as drained: it is chosen only when no remaining candidate has a positive
//!   weight, which also makes drained endpoints a last resort for retries.

use std::sync::atomic::{AtomicUsize, Ordering};

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// How a cluster spreads sessions over its endpoints: the config model's policy, so that the
/// compiler, the validator and the balancer agree on the names.
pub use l7mp_config::config::LbPolicy as Policy;

/// One endpoint as the balancer sees it: its identity and its share of the load.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointWeight {
    /// Stable identity of the endpoint, e.g. `"10.0.0.3:9999"` or a UDS path. Consistent hashing is keyed
    /// on it rather than on the endpoint's position, so reordering or resolving the set again does not
    /// move sessions.
    pub id: String,
    /// Relative share of sessions under consistent hashing (and of keyless random picks); 0 drains the
    /// endpoint (see the module documentation).
    pub weight: u32,
}

/// What the balancer keeps per endpoint: everything [`Balancer::pick`] needs, nothing it can recompute.
#[derive(Debug)]
struct Slot {
    /// xxh3 of the endpoint id, used as the seed when hashing a key for this endpoint.
    seed: u64,
    weight: u32,
}

/// Chooses an endpoint index for a session, according to a [`Policy`].
///
/// Built once per endpoint set and shared by all sessions of the cluster; `pick` takes `&self` (round
/// robin keeps its position in an atomic), so the balancer is `Send + Sync` and needs no lock.
#[derive(Debug)]
pub struct Balancer {
    policy: Policy,
    slots: Box<[Slot]>,
    /// Round-robin position; wrapping on overflow only perturbs one rotation.
    next: AtomicUsize,
}

impl Balancer {
    /// Build a balancer for `endpoints`; indices returned by [`Balancer::pick`] refer to this slice.
    ///
    /// Endpoint ids are hashed here, once, so picks only hash the session key.
    pub fn new(policy: Policy, endpoints: &[EndpointWeight]) -> Balancer {
        let slots = endpoints
            .iter()
            .map(|e| Slot {
                seed: xxh3_64(e.id.as_bytes()),
                weight: e.weight,
            })
            .collect();
        Balancer {
            policy,
            slots,
            next: AtomicUsize::new(0),
        }
    }

    /// Index of the endpoint to connect to, or `None` only when there are no endpoints.
    ///
    /// `key` is the session's affinity key for [`Policy::ConsistentHash`]; without one, that policy picks
    /// at random in proportion to the weights (a fresh choice on every call). Other policies ignore `key`.
    /// `skip` lists indices that already failed for this session; out-of-range entries are ignored.
    pub fn pick(&self, key: Option<&[u8]>, skip: &[usize]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let usable = self.usable(skip);
        match self.policy {
            Policy::Trivial => (0..self.slots.len()).find(|&i| usable.admits(i)),
            Policy::RoundRobin => {
                let n = self.slots.len();
                let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
                (start..n).chain(0..start).find(|&i| usable.admits(i))
            }
            Policy::ConsistentHash => match key {
                Some(key) => self.rendezvous(key, &usable),
                None => self.rendezvous(&fastrand::u64(..).to_le_bytes(), &usable),
            },
        }
    }

    /// Decide which endpoints this pick may choose from, applying the skip and drain rules in that order.
    fn usable<'a>(&'a self, skip: &'a [usize]) -> Usable<'a> {
        let honour_skip = (0..self.slots.len()).any(|i| !skip.contains(&i));
        let skip = if honour_skip { skip } else { &[] };
        let positive_only = self
            .slots
            .iter()
            .enumerate()
            .any(|(i, s)| s.weight > 0 && !skip.contains(&i));
        Usable {
            slots: &self.slots,
            skip,
            positive_only,
        }
    }

    /// Highest-random-weight choice: each usable endpoint scores `weight / -ln(u)` with `u` in (0, 1)
    /// derived from xxh3 of the key seeded by the endpoint id, and the top score wins. The winner for a key
    /// depends only on the ids and weights present, so adding an endpoint moves only the keys it now wins
    /// and removing one moves only its own keys, each with probability proportional to weight.
    fn rendezvous(&self, key: &[u8], usable: &Usable<'_>) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (i, slot) in self.slots.iter().enumerate() {
            if !usable.admits(i) {
                continue;
            }
            // Only reached with weight 0 when every usable endpoint is drained; they then compete equally.
            let weight = f64::from(slot.weight.max(1));
            let hash = xxh3_64_with_seed(key, slot.seed);
            // 52 hash bits plus one half: exactly representable and strictly inside (0, 1), so the
            // logarithm is finite and negative.
            let u = ((hash >> 12) as f64 + 0.5) / (1u64 << 52) as f64;
            let score = weight / -u.ln();
            if best.is_none_or(|(_, top)| score > top) {
                best = Some((i, score));
            }
        }
        best.map(|(i, _)| i)
    }
}

/// The candidate set of one pick.
struct Usable<'a> {
    slots: &'a [Slot],
    /// Indices to avoid; empty when every endpoint was skipped.
    skip: &'a [usize],
    /// Whether some candidate has a positive weight, in which case drained ones are excluded.
    positive_only: bool,
}

impl Usable<'_> {
    fn admits(&self, i: usize) -> bool {
        !self.skip.contains(&i) && (!self.positive_only || self.slots[i].weight > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn endpoints(weights: &[u32]) -> Vec<EndpointWeight> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| EndpointWeight {
                id: format!("10.0.0.{i}:9999"),
                weight,
            })
            .collect()
    }

    fn key(i: usize) -> Vec<u8> {
        format!("session-{i}").into_bytes()
    }

    /// The endpoint id each of `keys` maps to under consistent hashing.
    fn assignment(eps: &[EndpointWeight], keys: usize) -> Vec<String> {
        let lb = Balancer::new(Policy::ConsistentHash, eps);
        (0..keys)
            .map(|k| eps[lb.pick(Some(&key(k)), &[]).unwrap()].id.clone())
            .collect()
    }

    #[test]
    fn balancer_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<Balancer>();
    }

    #[test]
    fn empty_set_picks_nothing() {
        for policy in [Policy::Trivial, Policy::ConsistentHash, Policy::RoundRobin] {
            let lb = Balancer::new(policy, &[]);
            assert_eq!(lb.pick(Some(b"k"), &[]), None);
            assert_eq!(lb.pick(None, &[0, 1]), None);
        }
    }

    #[test]
    fn trivial_takes_first_usable() {
        let lb = Balancer::new(Policy::Trivial, &endpoints(&[1, 1, 1]));
        assert_eq!(lb.pick(Some(b"any"), &[]), Some(0));
        assert_eq!(lb.pick(None, &[]), Some(0));
        assert_eq!(lb.pick(None, &[0]), Some(1));
        assert_eq!(lb.pick(None, &[1, 0]), Some(2));
        assert_eq!(lb.pick(None, &[0, 1, 2]), Some(0));

        let drained_first = Balancer::new(Policy::Trivial, &endpoints(&[0, 1]));
        assert_eq!(drained_first.pick(None, &[]), Some(1));
        assert_eq!(drained_first.pick(None, &[1]), Some(0));
    }

    #[test]
    fn round_robin_spreads_evenly() {
        let k = 5;
        let rounds = 200;
        let lb = Balancer::new(Policy::RoundRobin, &endpoints(&vec![1; k]));
        let mut counts = vec![0; k];
        for _ in 0..k * rounds {
            counts[lb.pick(None, &[]).unwrap()] += 1;
        }
        assert_eq!(counts, vec![rounds; k]);
    }

    #[test]
    fn round_robin_rotates_past_skipped() {
        let lb = Balancer::new(Policy::RoundRobin, &endpoints(&[1, 1, 1]));
        let picks: Vec<_> = (0..6).map(|_| lb.pick(None, &[1]).unwrap()).collect();
        assert!(picks.iter().all(|&i| i != 1), "{picks:?}");
        assert!(picks.contains(&0) && picks.contains(&2), "{picks:?}");
        assert!(lb.pick(None, &[0, 1, 2]).is_some());
    }

    #[test]
    fn consistent_hash_is_sticky_and_order_independent() {
        let eps = endpoints(&[1, 2, 1, 3]);
        let mut reversed = eps.clone();
        reversed.reverse();
        let first = Balancer::new(Policy::ConsistentHash, &eps);
        let rebuilt = Balancer::new(Policy::ConsistentHash, &eps);
        let reordered = Balancer::new(Policy::ConsistentHash, &reversed);
        for k in 0..1000 {
            let key = key(k);
            let chosen = first.pick(Some(&key), &[]).unwrap();
            assert_eq!(first.pick(Some(&key), &[]), Some(chosen));
            assert_eq!(rebuilt.pick(Some(&key), &[]), Some(chosen));
            let other = reordered.pick(Some(&key), &[]).unwrap();
            assert_eq!(reversed[other].id, eps[chosen].id);
        }
    }

    #[test]
    fn adding_an_endpoint_moves_only_onto_it() {
        let keys = 10_000;
        let four = endpoints(&[1; 4]);
        let five = endpoints(&[1; 5]);
        let before = assignment(&four, keys);
        let after = assignment(&five, keys);
        let mut moved = 0;
        for (old, new) in before.iter().zip(&after) {
            if old != new {
                moved += 1;
                assert_eq!(new, &five[4].id, "a key moved between old endpoints");
            }
        }
        let share = f64::from(moved) / keys as f64;
        assert!((0.15..=0.25).contains(&share), "moved {share}");
    }

    #[test]
    fn removing_an_endpoint_moves_only_its_keys() {
        let keys = 10_000;
        let five = endpoints(&[1, 2, 1, 1, 3]);
        let mut four = five.clone();
        let removed = four.remove(1);
        let before = assignment(&five, keys);
        let after = assignment(&four, keys);
        let mut moved = 0;
        for (old, new) in before.iter().zip(&after) {
            if old != new {
                moved += 1;
                assert_eq!(old, &removed.id, "a key left a surviving endpoint");
            }
        }
        let owned = before.iter().filter(|id| **id == removed.id).count();
        assert_eq!(moved, owned);
    }

    #[test]
    fn weights_are_proportional() {
        let keys = 30_000;
        let eps = endpoints(&[1, 3, 1]);
        let heavy = assignment(&eps, keys)
            .iter()
            .filter(|id| **id == eps[1].id)
            .count();
        let share = heavy as f64 / keys as f64;
        assert!((0.58..=0.62).contains(&share), "heavy share {share}");
    }

    #[test]
    fn drained_endpoints_only_when_nothing_else() {
        let lb = Balancer::new(Policy::ConsistentHash, &endpoints(&[0, 1, 0]));
        for k in 0..1000 {
            assert_eq!(lb.pick(Some(&key(k)), &[]), Some(1));
        }
        for _ in 0..100 {
            assert_eq!(lb.pick(None, &[]), Some(1));
        }
        // The weighted endpoint failed: a drained one is better than none.
        assert_ne!(lb.pick(Some(b"k"), &[1]), Some(1));

        let all_drained = Balancer::new(Policy::ConsistentHash, &endpoints(&[0, 0, 0]));
        let mut hit = [false; 3];
        for k in 0..300 {
            hit[all_drained.pick(Some(&key(k)), &[]).unwrap()] = true;
        }
        assert_eq!(hit, [true; 3]);
    }

    #[test]
    fn consistent_hash_retry_takes_next_choice() {
        let eps = endpoints(&[1, 1, 2, 1]);
        let lb = Balancer::new(Policy::ConsistentHash, &eps);
        for k in 0..1000 {
            let key = key(k);
            let first = lb.pick(Some(&key), &[]).unwrap();
            let second = lb.pick(Some(&key), &[first]).unwrap();
            assert_ne!(second, first);
            // The retry lands where the key would go if the failed endpoint were gone, so it is sticky too.
            let mut without = eps.clone();
            without.remove(first);
            let expected = &without[Balancer::new(Policy::ConsistentHash, &without)
                .pick(Some(&key), &[])
                .unwrap()];
            assert_eq!(eps[second].id, expected.id);
            // Everything failed: start over with the normal choice.
            assert_eq!(lb.pick(Some(&key), &[0, 1, 2, 3]), Some(first));
            // Indices beyond the set are ignored.
            assert_eq!(lb.pick(Some(&key), &[7, usize::MAX]), Some(first));
        }
    }

    #[test]
    fn keyless_picks_are_random_and_cover_all() {
        let lb = Balancer::new(Policy::ConsistentHash, &endpoints(&[1, 1, 1, 1]));
        let mut counts = [0; 4];
        for _ in 0..4000 {
            counts[lb.pick(None, &[]).unwrap()] += 1;
        }
        assert!(counts.iter().all(|&c| c > 700), "{counts:?}");
        for _ in 0..100 {
            assert_ne!(lb.pick(None, &[2]), Some(2));
        }
    }

    #[test]
    fn extreme_weights_are_fine() {
        let lb = Balancer::new(Policy::ConsistentHash, &endpoints(&[u32::MAX, 1, u32::MAX]));
        for k in 0..1000 {
            assert_ne!(lb.pick(Some(&key(k)), &[]), Some(1));
        }
        assert_eq!(lb.pick(Some(b""), &[0, 2]), Some(1));
    }

    fn policy() -> impl Strategy<Value = Policy> {
        prop_oneof![
            Just(Policy::Trivial),
            Just(Policy::ConsistentHash),
            Just(Policy::RoundRobin),
        ]
    }

    proptest! {
        #[test]
        fn pick_never_panics_and_stays_in_range(
            policy in policy(),
            set in prop::collection::vec(
                (".{0,12}", prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()]),
                0..8,
            ),
            key in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
            skip in prop::collection::vec(prop_oneof![0usize..10, any::<usize>()], 0..10),
        ) {
            let eps: Vec<_> = set
                .into_iter()
                .map(|(id, weight)| EndpointWeight { id, weight })
                .collect();
            let lb = Balancer::new(policy, &eps);
            for _ in 0..3 {
                let chosen = lb.pick(key.as_deref(), &skip);
                match chosen {
                    None => prop_assert!(eps.is_empty()),
                    Some(i) => {
                        prop_assert!(i < eps.len());
                        let spare = (0..eps.len()).any(|j| !skip.contains(&j));
                        prop_assert!(!spare || !skip.contains(&i));
                    }
                }
            }
        }
    }
}
