//! How much a target runs and from which seed, read from the environment, and the loop that
//! runs a target's cases through proptest within [`crate::bounds`].
//!
//! By default a target runs its CI number of cases from [`DEFAULT_SEED`], so a CI failure
//! reproduces anywhere. `L7MP_FUZZ_SEED` picks another seed; `L7MP_FUZZ_SECONDS` runs rounds
//! of cases, each from the next seed, until that many seconds have passed (the long mode).

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

use crate::bounds::{self, Case, Failure};

/// The seed CI runs from.
pub const DEFAULT_SEED: u64 = 0x0717_6d70;

/// The run's seed and, in long mode, its duration.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The first round's seed (`L7MP_FUZZ_SEED`, decimal or 0x hex).
    pub seed: u64,
    /// Run rounds until this much time has passed (`L7MP_FUZZ_SECONDS`); one round without it.
    pub duration: Option<Duration>,
}

impl Settings {
    /// Reads the environment; an unreadable value is an error that names the variable.
    pub fn from_env() -> Result<Settings, String> {
        let seed = match std::env::var("L7MP_FUZZ_SEED") {
            Ok(text) => parse_u64(&text).ok_or_else(|| {
                format!("L7MP_FUZZ_SEED={text:?} is not a number; give e.g. 42 or 0x2a")
            })?,
            Err(_) => DEFAULT_SEED,
        };
        let duration = match std::env::var("L7MP_FUZZ_SECONDS") {
            Ok(text) => Some(Duration::from_secs(parse_u64(&text).ok_or_else(|| {
                format!("L7MP_FUZZ_SECONDS={text:?} is not a number of seconds; give e.g. 3600")
            })?)),
            Err(_) => None,
        };
        Ok(Settings { seed, duration })
    }

    /// Whether another round should start after `elapsed`.
    pub fn more(&self, elapsed: Duration) -> bool {
        self.duration.is_some_and(|d| elapsed < d)
    }
}

fn parse_u64(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// What a target ran.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// Cases run, shrinking included.
    pub cases: u64,
    /// Rounds run (one per seed).
    pub rounds: u64,
    /// The largest number of bytes a case had live.
    pub peak: usize,
    /// How long it took.
    pub elapsed: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cases in {} round(s), {:.1} s, peak {:.1} MiB live in a case",
            self.cases,
            self.rounds,
            self.elapsed.as_secs_f64(),
            self.peak as f64 / f64::from(1 << 20)
        )
    }
}

/// Runs `case` on inputs from `strategy`: `cases` of them per round, one round (or rounds until
/// time is up in long mode). Panics with the smallest failing input proptest finds, the
/// failure, and the seed that reproduces it. Prints and returns what ran.
pub fn fuzz<S>(target: &str, cases: u32, strategy: S, case: Case<S::Value>) -> Summary
where
    S: Strategy,
    S::Value: Clone + Debug + Send + 'static,
{
    let settings = Settings::from_env().unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    let ran = AtomicU64::new(0);
    let peak = AtomicUsize::new(0);
    let mut rounds = 0;
    loop {
        let seed = settings.seed.wrapping_add(rounds);
        let config = Config {
            cases,
            rng_seed: RngSeed::Fixed(seed),
            failure_persistence: None,
            ..Config::default()
        };
        // After a hang every later case passes at once: shrinking would only leave more
        // threads spinning, and the hanging input is already the one to report.
        let hung = AtomicBool::new(false);
        let result = TestRunner::new(config).run(&strategy, |input| {
            if hung.load(Ordering::Relaxed) {
                return Ok(());
            }
            ran.fetch_add(1, Ordering::Relaxed);
            let shown = format!("{input:#?}");
            match bounds::run(input, shown, &case) {
                Ok(p) => {
                    peak.fetch_max(p, Ordering::Relaxed);
                    Ok(())
                }
                Err(failure) => {
                    hung.store(matches!(failure, Failure::Hung), Ordering::Relaxed);
                    Err(TestCaseError::fail(failure.to_string()))
                }
            }
        });
        rounds += 1;
        if let Err(e) = result {
            panic!("l7mp-fuzz {target}: {e}\n(reproduce with L7MP_FUZZ_SEED={seed})");
        }
        if !settings.more(start.elapsed()) {
            break;
        }
    }
    let summary = Summary {
        cases: ran.into_inner(),
        rounds,
        peak: peak.into_inner(),
        elapsed: start.elapsed(),
    };
    eprintln!("l7mp-fuzz {target}: {summary} (seed {})", settings.seed);
    summary
}
