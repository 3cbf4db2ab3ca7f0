//! The verdict and the markdown results file.

use std::fmt::Write;

use crate::chaos::{ConfigChange, Deletion};
use crate::classify::{Counts, Figures, NEAR_DELETION, quantile};
use crate::flat::{FD_LIMIT, Limit, RSS_LIMIT, Verdict, judge};
use crate::sample::Series;

/// What the run was asked to do, for the report's header.
pub struct Setup {
    /// Free text: build profile, machine notes.
    pub note: String,
    /// Run length, seconds.
    pub length: f64,
    /// Warm-up, seconds.
    pub warmup: f64,
    /// Steady sessions, and their datagrams per second in total.
    pub sessions: usize,
    pub rate: f64,
    /// New sessions per burst, and seconds between bursts.
    pub burst: usize,
    pub burst_every: f64,
    /// Seconds between config changes, and between pod deletions.
    pub config_every: f64,
    pub kill_every: f64,
    /// Answer timeouts, seconds: steady datagrams, burst sessions.
    pub timeout: f64,
    pub burst_timeout: f64,
    /// Seconds between samples.
    pub sample_every: f64,
    /// `/proc/loadavg` at the start and the end.
    pub load: (String, String),
}

/// Everything the run recorded.
pub struct Outcome<'a> {
    pub figures: &'a Figures,
    pub configs: &'a [ConfigChange],
    pub deletions: &'a [Deletion],
    pub series: &'a [Series],
    /// Steady sessions' answers to a datagram already answered, strays, socket errors.
    pub duplicates: u64,
    pub strays: u64,
    pub errors: u64,
}

/// One series' RSS and fd verdicts (`None`: too few samples to judge).
struct Judged<'a> {
    series: &'a Series,
    rss: Option<Verdict>,
    fds: Option<Verdict>,
}

fn judged<'a>(series: &'a Series, length: f64) -> Judged<'a> {
    let points = |f: fn(&crate::sample::Sample) -> f64| -> Vec<(f64, f64, f64)> {
        series
            .samples
            .iter()
            .filter_map(|s| Some((s.at, f(s), s.sessions?)))
            .collect()
    };
    Judged {
        series,
        rss: judge(&points(|s| s.rss_kib), length, RSS_LIMIT),
        fds: judge(&points(|s| s.fds), length, FD_LIMIT),
    }
}

/// Why the run failed; empty when it passed.
pub fn failures(setup: &Setup, o: &Outcome<'_>) -> Vec<String> {
    let f = o.figures;
    let mut out = Vec::new();
    if f.unchanged.lost() > 0 {
        out.push(format!(
            "{} datagrams lost on unchanged paths",
            f.unchanged.lost()
        ));
    }
    if f.bursts_calm.lost() > 0 {
        out.push(format!(
            "{} burst sessions lost with no deletion under way",
            f.bursts_calm.lost()
        ));
    }
    for j in o.series.iter().map(|s| judged(s, setup.length)) {
        let name = &j.series.proxy.name;
        if let Some(at) = j.series.vanished_at {
            out.push(format!("{name} was gone at {at:.0} s"));
        }
        for (what, v) in [("RSS", &j.rss), ("fds", &j.fds)] {
            match v {
                None => out.push(format!("{name}: too few samples to judge {what}")),
                Some(v) if !v.flat => out.push(format!(
                    "{name}: {what} grew by {:.0} (limit {:.0})",
                    v.last - v.second,
                    v.limit
                )),
                Some(_) => {}
            }
        }
    }
    let wrong = o.configs.iter().filter(|c| !c.as_expected()).count();
    if wrong > 0 {
        out.push(format!(
            "{wrong} config changes not handled as they must be"
        ));
    }
    let failed = o
        .deletions
        .iter()
        .filter(|d| d.error.is_some() || !matches!(d.replacement, Some((_, Some(_)))))
        .count();
    if failed > 0 {
        out.push(format!(
            "{failed} pod deletions failed or were not replaced by a ready pod"
        ));
    }
    out
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |s| format!("{:.1} ms", s * 1000.0))
}

fn row(out: &mut String, what: &str, c: &Counts) {
    let _ = writeln!(
        out,
        "| {what} | {} | {} | {} | {} |",
        c.sent,
        c.answered,
        c.lost(),
        c.late
    );
}

fn limit_text(l: Limit, unit: &str) -> String {
    format!("{:.0} {unit} or {:.0} %", l.floor, l.share * 100.0)
}

/// The results file.
pub fn markdown(setup: &Setup, o: &Outcome<'_>) -> String {
    let f = o.figures;
    let fails = failures(setup, o);
    let mut m = String::new();
    let _ = writeln!(m, "# Soak test results\n");
    let _ = writeln!(
        m,
        "- Run: {}; {:.0} s ({:.1} min) with a {:.0} s warm-up",
        setup.note,
        setup.length,
        setup.length / 60.0,
        setup.warmup
    );
    let _ = writeln!(
        m,
        "- Load average (1, 5, 15 min) at the start: {}; at the end: {}",
        setup.load.0, setup.load.1
    );
    let _ = writeln!(
        m,
        "- Traffic: {} steady UDP sessions (each its own source port) sending {:.0} datagrams/s in \
         total; a burst of {} new sessions (one datagram each) every {:.0} s; answer timeout \
         {:.1} s (bursts {:.1} s)",
        setup.sessions,
        setup.rate,
        setup.burst,
        setup.burst_every,
        setup.timeout,
        setup.burst_timeout
    );
    let _ = writeln!(
        m,
        "- Disturbances: a gateway ConfigMap change every {:.0} s, alternating good and bad; a \
         worker pod deleted every {:.0} s; the proxies sampled every {:.0} s\n",
        setup.config_every, setup.kill_every, setup.sample_every
    );
    let verdict = if fails.is_empty() {
        "PASS".to_string()
    } else {
        format!("FAIL: {}", fails.join("; "))
    };
    let _ = writeln!(m, "**Verdict: {verdict}**\n");

    let _ = writeln!(m, "## Datagrams\n");
    let _ = writeln!(
        m,
        "| | sent | answered | lost | of the lost, answered late |"
    );
    let _ = writeln!(m, "| --- | ---: | ---: | ---: | ---: |");
    row(&mut m, "steady datagrams, unchanged paths", &f.unchanged);
    row(
        &mut m,
        "steady datagrams, a deleted pod's path",
        &f.deleted_path,
    );
    row(&mut m, "steady datagrams, warm-up (not judged)", &f.warmup);
    row(
        &mut m,
        "burst sessions, no deletion under way",
        &f.bursts_calm,
    );
    row(
        &mut m,
        &format!("burst sessions, within {NEAR_DELETION:.0} s of a deletion"),
        &f.bursts_near,
    );
    let _ = writeln!(
        m,
        "\nLatency of the answered steady datagrams on unchanged paths: p50 {}, p99 {}, max {}. \
         Burst sessions: p50 {}, p99 {}, max {}.",
        ms(quantile(&f.latencies, 0.5)),
        ms(quantile(&f.latencies, 0.99)),
        ms(f.latencies.last().copied()),
        ms(quantile(&f.burst_latencies, 0.5)),
        ms(quantile(&f.burst_latencies, 0.99)),
        ms(f.burst_latencies.last().copied()),
    );
    for b in &f.burst_losses {
        let configs: Vec<String> = o
            .configs
            .iter()
            .filter(|c| (c.at - b.at).abs() <= setup.burst_timeout)
            .map(|c| {
                let kind = if c.good { "good" } else { "bad" };
                format!("a {kind} config change at {:.1} s", c.at)
            })
            .collect();
        let _ = writeln!(
            m,
            "- The burst at {:.1} s lost {} of {} sessions ({}{}).",
            b.at,
            b.lost,
            b.sent,
            if b.near {
                "near a deletion"
            } else {
                "no deletion under way"
            },
            if configs.is_empty() {
                String::new()
            } else {
                format!("; {}", configs.join(", "))
            }
        );
    }
    if !f.burst_losses.is_empty() {
        m.push('\n');
    }
    let _ = writeln!(
        m,
        "Steady sessions also saw {} duplicate answers, {} datagrams that answered nothing sent \
         and {} socket errors.\n",
        o.duplicates, o.strays, o.errors
    );

    let _ = writeln!(m, "## Pod deletions\n");
    let _ = writeln!(
        m,
        "| # | at | deleted pod | `delete-pod` took | replacement ready after | steady sessions on it | of them failed | datagrams they lost | recovered within |"
    );
    let _ = writeln!(
        m,
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (i, (d, k)) in o.deletions.iter().zip(&f.kills).enumerate() {
        let ready = match &d.replacement {
            Some((_, Some(t))) => format!("{t:.1} s"),
            Some((name, None)) => format!("{name} never ready"),
            None => d.error.clone().unwrap_or_else(|| "no replacement".into()),
        };
        let recovered = match (k.sessions, k.recovery) {
            (0, _) => "-".to_string(),
            (_, Some(t)) => format!("{t:.1} s"),
            (_, None) => "not all".to_string(),
        };
        let _ = writeln!(
            m,
            "| {} | {:.0} s | {} | {:.1} s | {ready} | {} | {} | {} | {recovered} |",
            i + 1,
            d.at,
            d.victim,
            d.took,
            k.sessions,
            k.failed,
            k.lost
        );
    }
    let on: u64 = f.kills.iter().map(|k| k.sessions).sum();
    let failed: u64 = f.kills.iter().map(|k| k.failed).sum();
    let _ = writeln!(
        m,
        "\nSessions failed during pod kills: {failed} of the {on} steady sessions on a deleted \
         worker lost datagrams, and {} of the {} burst sessions sent within {NEAR_DELETION:.0} s \
         of a deletion went unanswered.\n",
        f.bursts_near.lost(),
        f.bursts_near.sent
    );

    let _ = writeln!(m, "## Config changes\n");
    let _ = writeln!(m, "| # | at | config | ConfigMap | what the gateway did |");
    let _ = writeln!(m, "| ---: | ---: | --- | --- | --- |");
    for (i, c) in o.configs.iter().enumerate() {
        let did = match &c.outcome {
            Ok(true) => "took it (reloads ok +1, new config in force)".to_string(),
            Ok(false) => "refused it (reloads failed +1, config in force kept)".to_string(),
            Err(e) => e.clone(),
        };
        let file = c.file.file_name().unwrap_or_default().to_string_lossy();
        let _ = writeln!(
            m,
            "| {} | {:.0} s | {} | {file} | {did} |",
            i + 1,
            c.at,
            if c.good { "good" } else { "bad" },
        );
    }
    let count = |good: bool| {
        let all = o.configs.iter().filter(|c| c.good == good);
        let right = all.clone().filter(|c| c.as_expected()).count();
        (right, all.count())
    };
    let ((good_ok, good_all), (bad_ok, bad_all)) = (count(true), count(false));
    let _ = writeln!(
        m,
        "\nGood configs applied: {good_ok} of {good_all}; bad configs refused with the good one \
         kept: {bad_ok} of {bad_all} (read from the gateway's `l7mp_config_reloads_total` and \
         `l7mp_config_info`).\n"
    );

    proxies_section(&mut m, setup, o.series);
    m
}

fn proxies_section(m: &mut String, setup: &Setup, series: &[Series]) {
    let _ = writeln!(m, "## Proxy memory and file descriptors\n");
    let _ = writeln!(
        m,
        "Method: the first quarter of the run is the warm-up and is left out. RSS and fds follow \
         the live session count, so a least-squares line `value = a + b * sessions` is fitted \
         to the later samples and each is adjusted to the mean session count; the medians of \
         the adjusted samples of the second and the last quarter are compared (samples during \
         which the session count changed are left out). Flat: growth within {} (RSS) and {} \
         (fds) of the second quarter's median, whichever is larger.\n",
        limit_text(RSS_LIMIT, "KiB"),
        limit_text(FD_LIMIT, "fds"),
    );
    let _ = writeln!(
        m,
        "| proxy | samples | RSS Q2 → Q4 (MiB) | RSS per session (KiB) | RSS | fds Q2 → Q4 | fds per session | fds |"
    );
    let _ = writeln!(m, "| --- | ---: | ---: | ---: | --- | ---: | ---: | --- |");
    let verdict = |v: &Option<Verdict>, scale: f64, digits: usize| match v {
        None => ("-".to_string(), "-".to_string(), "no verdict".to_string()),
        Some(v) => (
            format!(
                "{:.digits$} → {:.digits$}",
                v.second / scale,
                v.last / scale
            ),
            format!("{:.2}", v.per_session),
            if v.flat { "flat" } else { "GROWING" }.to_string(),
        ),
    };
    for s in series {
        let j = judged(s, setup.length);
        let (rss, rss_b, rss_v) = verdict(&j.rss, 1024.0, 1);
        let (fds, fds_b, fds_v) = verdict(&j.fds, 1.0, 1);
        let _ = writeln!(
            m,
            "| {} | {} | {rss} | {rss_b} | {rss_v} | {fds} | {fds_b} | {fds_v} |",
            s.proxy.name,
            s.samples.len()
        );
    }
    let _ = writeln!(
        m,
        "\nThe series (about 30 rows; RSS MiB / fds / live sessions):\n"
    );
    let mut header = "| t |".to_string();
    let mut rule = "| ---: |".to_string();
    for s in series {
        let _ = write!(header, " {} |", s.proxy.name);
        rule.push_str(" ---: |");
    }
    let _ = writeln!(m, "{header}\n{rule}");
    let rows = series.iter().map(|s| s.samples.len()).max().unwrap_or(0);
    let step = rows.div_ceil(30).max(1);
    for i in (0..rows).step_by(step) {
        let at = series
            .iter()
            .find_map(|s| s.samples.get(i))
            .map_or(0.0, |s| s.at);
        let mut line = format!("| {at:.0} s |");
        for s in series {
            match s.samples.get(i) {
                Some(x) => {
                    let sessions = x.sessions.map_or("-".into(), |n| format!("{n:.0}"));
                    let _ = write!(
                        line,
                        " {:.1} / {:.0} / {sessions} |",
                        x.rss_kib / 1024.0,
                        x.fds
                    );
                }
                None => line.push_str(" - |"),
            }
        }
        let _ = writeln!(m, "{line}");
    }
}
