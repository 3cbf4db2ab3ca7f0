//! Log levels as people write them: `admin.log_level` in a config file and the proxy's
//! `--log-level`. Both take a level name or a `tracing` filter (`l7mp=debug,info`), and both
//! accept the original l7mp's level names (its logger's `silly`, `verbose`, `notice` and
//! `silent`; most of its example configs use `silly`).
//!
//! A filter that names no known level somewhere is refused rather than passed on: the filter
//! syntax reads a bare unknown word (`silly`, `inof`) as a target name, which silently turns
//! all logging off.

use std::fmt;

/// The level names a filter may use, as `tracing` spells them (plus `off`).
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// The original l7mp's level names without a `tracing` equivalent, and what they mean here.
/// `notice` sits between `info` and `warn` there; `info` keeps every message it showed.
const ALIASES: [(&str, &str); 4] = [
    ("verbose", "debug"),
    ("silly", "trace"),
    ("notice", "info"),
    ("silent", "off"),
];

/// A log filter that names an unknown level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownLevel(pub String);

impl fmt::Display for UnknownLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown log level \"{}\"", self.0)
    }
}

impl std::error::Error for UnknownLevel {}

/// What to do about an [`UnknownLevel`], for diagnostics and the command line alike.
pub const HINT: &str = "use one of error, warn, info, debug, trace, off (or the original's \
                        silly, verbose, notice and silent), or a filter such as `l7mp=debug,info`";

/// The `tracing` filter for `spec`: each comma-separated part is a level, or `TARGET=LEVEL`
/// (a part with a span filter, `TARGET[SPAN]`, is passed on as it is). Level names are
/// case-insensitive; `verbose` becomes `debug`, `silly` `trace`, `notice` `info` and `silent`
/// `off`.
pub fn to_filter(spec: &str) -> Result<String, UnknownLevel> {
    let parts: Vec<String> = spec
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            if part.ends_with(']') {
                return Ok(part.to_string());
            }
            match part.rsplit_once('=') {
                Some((target, level)) => Ok(format!("{target}={}", level_name(level)?)),
                None => level_name(part).map(str::to_string),
            }
        })
        .collect::<Result<_, _>>()?;
    if parts.is_empty() {
        return Err(UnknownLevel(spec.to_string()));
    }
    Ok(parts.join(","))
}

/// The `tracing` name of the level `word` (also its number, 0 = off to 5 = trace).
fn level_name(word: &str) -> Result<&'static str, UnknownLevel> {
    let lower = word.trim().to_ascii_lowercase();
    if let Ok(n) = lower.parse::<usize>() {
        return LEVELS.get(n).copied().ok_or(UnknownLevel(word.to_string()));
    }
    LEVELS
        .iter()
        .copied()
        .find(|l| *l == lower || (lower == "warning" && *l == "warn"))
        .or_else(|| ALIASES.iter().find(|(a, _)| *a == lower).map(|(_, l)| *l))
        .ok_or(UnknownLevel(word.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_the_originals_levels() {
        assert_eq!(to_filter("info").unwrap(), "info");
        assert_eq!(to_filter("WARN").unwrap(), "warn");
        assert_eq!(to_filter("silly").unwrap(), "trace");
        assert_eq!(to_filter("verbose").unwrap(), "debug");
        assert_eq!(to_filter("notice").unwrap(), "info");
        assert_eq!(to_filter("Silent").unwrap(), "off");
        assert_eq!(to_filter("5").unwrap(), "trace");
    }

    #[test]
    fn filters_keep_their_targets() {
        assert_eq!(to_filter("l7mp=debug,info").unwrap(), "l7mp=debug,info");
        assert_eq!(
            to_filter("l7mp::reload=silly, warn").unwrap(),
            "l7mp::reload=trace,warn"
        );
        assert_eq!(
            to_filter("l7mp[session{id=1}]").unwrap(),
            "l7mp[session{id=1}]"
        );
    }

    #[test]
    fn unknown_levels_are_refused() {
        assert_eq!(to_filter("inof"), Err(UnknownLevel("inof".into())));
        assert_eq!(to_filter("l7mp=loud"), Err(UnknownLevel("loud".into())));
        assert_eq!(to_filter("9"), Err(UnknownLevel("9".into())));
        assert!(to_filter(" , ").is_err());
    }
}
