//! Independent work spread over the cores the process may use, with results in input order:
//! what a stage produces never depends on how many cores there are or how they were scheduled,
//! so the compiler's output stays byte-identical from one machine to the next.

use std::num::NonZero;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The cores the process may use (at least one).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZero::get)
}

/// `f` of every item, computed on up to [`cores`] threads, in the order of `items`. Each thread
/// takes the next item not yet taken, so items of unequal cost even out. A panic in `f` is
/// passed on, as the sequential loop would have had it.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = cores().min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else {
                return done;
            };
            done.push((index, f(item)));
        }
    };
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    done.sort_unstable_by_key(|&(index, _)| index);
    done.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_item_order_whatever_each_costs() {
        let items: Vec<u64> = (0..200).collect();
        // Early items cost the most, so later ones finish first on the other threads.
        let costly_double = |&n: &u64| {
            (0..(200 - n) * 1_000).for_each(|i| {
                std::hint::black_box(i);
            });
            n * 2
        };
        let doubled = map(&items, costly_double);
        assert_eq!(doubled, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        assert!(map(&[] as &[u8], |_| 1).is_empty());
    }
}
