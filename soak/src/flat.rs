//! Whether a proxy's memory or file descriptors stay flat once warmed up.
//!
//! The run is cut in quarters; the first is the warm-up and is left out. Both figures follow
//! the load (each gateway session holds a socket to its worker and a WebSocket connection to
//! its transcoder, and the burst sessions live until their idle timeout), so the samples after
//! the warm-up are first adjusted for the live session count: a least-squares line
//! `value = a + b * sessions` is fitted to them and `b * (sessions - mean sessions)` taken off
//! each. The verdict compares the medians of the adjusted samples of the second and the last
//! quarter (medians, so that a sample or two taken at a bad moment do not decide): flat when
//! the last exceeds the second by no more than the limit.

/// Limits on growth: `floor` or `share` of the second quarter's median, whichever is larger.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    /// Absolute growth always allowed (KiB or descriptors).
    pub floor: f64,
    /// Growth allowed relative to the second quarter's median.
    pub share: f64,
}

/// RSS may grow by 4 MiB or 5 %, whichever is larger.
pub const RSS_LIMIT: Limit = Limit {
    floor: 4096.0,
    share: 0.05,
};

/// File descriptors may grow by 8 or 1 %, whichever is larger.
pub const FD_LIMIT: Limit = Limit {
    floor: 8.0,
    share: 0.01,
};

/// One series judged.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Median of the adjusted samples of the second quarter.
    pub second: f64,
    /// Median of the adjusted samples of the last quarter.
    pub last: f64,
    /// The fitted cost of one live session.
    pub per_session: f64,
    /// The growth allowed.
    pub limit: f64,
    /// `last - second <= limit`.
    pub flat: bool,
}

/// Judges `(time, value, live sessions)` samples of a run of `length` seconds; `None` when the
/// second or the last quarter holds no sample.
pub fn judge(samples: &[(f64, f64, f64)], length: f64, limit: Limit) -> Option<Verdict> {
    let after: Vec<(f64, f64, f64)> = samples
        .iter()
        .copied()
        .filter(|(t, _, _)| *t >= length / 4.0)
        .collect();
    let n = after.len() as f64;
    let mean_s = after.iter().map(|s| s.2).sum::<f64>() / n;
    let mean_v = after.iter().map(|s| s.1).sum::<f64>() / n;
    let var_s: f64 = after.iter().map(|s| (s.2 - mean_s).powi(2)).sum();
    let cov: f64 = after.iter().map(|s| (s.2 - mean_s) * (s.1 - mean_v)).sum();
    let per_session = if var_s > 1e-9 { cov / var_s } else { 0.0 };
    let median_in = |from: f64, to: f64| {
        let mut v: Vec<f64> = after
            .iter()
            .filter(|(t, _, _)| *t >= from && *t < to)
            .map(|(_, v, s)| v - per_session * (s - mean_s))
            .collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        (n > 0).then(|| (v[(n - 1) / 2] + v[n / 2]) / 2.0)
    };
    let second = median_in(length / 4.0, length / 2.0)?;
    let last = median_in(length * 3.0 / 4.0, f64::INFINITY)?;
    let allowed = limit.floor.max(limit.share * second);
    Some(Verdict {
        second,
        last,
        per_session,
        limit: allowed,
        flat: last - second <= allowed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_is_told_apart_from_growth() {
        // 100 KiB a session, the sessions higher late in the run: flat once adjusted.
        let loaded: Vec<(f64, f64, f64)> = (0..40)
            .map(|i| {
                let sessions = if i < 30 { 100.0 } else { 300.0 };
                (f64::from(i), 10_000.0 + 100.0 * sessions, sessions)
            })
            .collect();
        let v = judge(&loaded, 40.0, RSS_LIMIT).unwrap();
        assert!(v.flat, "{v:?}");
        assert!((v.per_session - 100.0).abs() < 1e-6);

        // The same load with 2 MiB more every second: a leak.
        let leaking: Vec<(f64, f64, f64)> = loaded
            .iter()
            .map(|(t, v, s)| (*t, v + 2048.0 * t, *s))
            .collect();
        let v = judge(&leaking, 40.0, RSS_LIMIT).unwrap();
        assert!(!v.flat, "{v:?}");
    }

    #[test]
    fn one_odd_sample_does_not_decide() {
        // 2 fds a session; one late sample read as a burst of 50 sessions expired.
        let mut samples: Vec<(f64, f64, f64)> = (0..40)
            .map(|i| (f64::from(i), 26.0 + 2.0 * 200.0, 200.0))
            .collect();
        samples[35].1 += 100.0;
        let v = judge(&samples, 40.0, FD_LIMIT).unwrap();
        assert!(v.flat, "{v:?}");
        assert_eq!(v.last - v.second, 0.0);
    }

    #[test]
    fn no_samples_late_is_no_verdict() {
        let early = [(1.0, 5.0, 1.0), (12.0, 5.0, 1.0)];
        assert_eq!(judge(&early, 40.0, FD_LIMIT), None);
    }
}
