//! The proxy's log output, made for log pipelines as much as for people.
//!
//! Two formats, both on stderr: `text`, one line per event, coloured only on a terminal and
//! never when `NO_COLOR` is set; and `json`, one flat JSON object per line (`timestamp`,
//! `level`, `message`, `target` and the event's fields at the top level), for every line the
//! process writes once logging is set up, config diagnostics included ([`diagnostic`]).

use std::ffi::OsStr;
use std::sync::atomic::{AtomicBool, Ordering};

use l7mp_config::Diagnostic;
use l7mp_config::diagnostic::Severity;
use l7mp_config::log_level;
use tracing_subscriber::EnvFilter;

/// Whether events carry their data as fields (JSON lines) rather than in the message text.
static STRUCTURED: AtomicBool = AtomicBool::new(false);

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One human-readable line per event.
    Text,
    /// One flat JSON object per line.
    Json,
}

/// The filter for a log level or filter as written on the command line or in the config
/// (see [`log_level::to_filter`]); the error names `source` and says what to write instead.
pub fn filter(spec: &str, source: &str) -> Result<EnvFilter, String> {
    let problem =
        |why: &dyn std::fmt::Display| format!("{source} \"{spec}\": {why}; {}", log_level::HINT);
    let directives = log_level::to_filter(spec).map_err(|e| problem(&e))?;
    EnvFilter::try_new(directives).map_err(|e| problem(&e))
}

/// Whether text logs are coloured: only on a terminal, and never when `NO_COLOR` has a
/// non-empty value (<https://no-color.org>).
pub fn colour(terminal: bool, no_color: Option<&OsStr>) -> bool {
    terminal && no_color.is_none_or(OsStr::is_empty)
}

/// Installs the process's logger: `format` on stderr, events passing `filter`.
pub fn init(format: Format, filter: EnvFilter) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    STRUCTURED.store(format == Format::Json, Ordering::Relaxed);
    match format {
        Format::Text => {
            let ansi = colour(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            );
            builder.with_ansi(ansi).init();
        }
        Format::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// The target of config diagnostics' events.
const TARGET: &str = "l7mp::config";

/// Logs a config diagnostic at its severity's level, on one line: in text logs as its usual
/// rendering ([`Diagnostic::headline`]) with the hint as a field, in JSON logs as the message with `file`, `line`, `column`, `object`, `field`
/// and `hint` fields (`object` and `hint` only when there is one).
pub fn diagnostic(d: &Diagnostic) {
    let hint = d.hint.as_deref();
    if !STRUCTURED.load(Ordering::Relaxed) {
        let headline = d.headline();
        match d.severity {
            Severity::Error => tracing::error!(target: TARGET, hint, "{headline}"),
            Severity::Warning => tracing::warn!(target: TARGET, hint, "{headline}"),
        }
        return;
    }
    let object = (!d.object.is_empty()).then_some(d.object.as_str());
    let (line, column) = (d.location.line, d.location.column);
    macro_rules! event {
        ($level:ident) => {
            tracing::$level!(
                target: TARGET,
                file = d.file.as_str(),
                line,
                column,
                object,
                field = d.field.as_str(),
                hint,
                "{}",
                d.message
            )
        };
    }
    match d.severity {
        Severity::Error => event!(error),
        Severity::Warning => event!(warn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
    }

    #[test]
    fn filters_name_their_source() {
        assert!(filter("verbose", "--log-level").is_ok());
        assert!(filter("l7mp=debug,info", "--log-level").is_ok());
        let e = filter("loud", "--log-level").unwrap_err();
        assert!(
            e.starts_with("--log-level \"loud\": unknown log level \"loud\"; use one of"),
            "{e}"
        );
    }
}
