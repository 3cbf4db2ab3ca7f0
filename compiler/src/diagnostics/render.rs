//! Rendering diagnostics for people (`human`), programs (`json`) and GitHub Actions (`github`).

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceCode};
use serde::Serialize;

use super::excerpt::{Excerpt, LineIndex};
use super::{Diagnostic, Severity};

/// Output formats of `l7mpc check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A report per diagnostic with the offending YAML and a caret under it.
    Human,
    /// One JSON array of all diagnostics.
    Json,
    /// GitHub Actions workflow commands, which annotate the pull request.
    Github,
}

/// Renders all diagnostics in one format. `source` returns a file's text for the caret
/// excerpts; `color` enables ANSI colour in the human format.
pub fn render<'s>(
    diagnostics: &[Diagnostic],
    source: impl Fn(&str) -> Option<&'s str>,
    format: Format,
    color: bool,
) -> String {
    match format {
        Format::Human => human(diagnostics, source, color),
        Format::Json => json(diagnostics),
        Format::Github => diagnostics.iter().map(github).collect(),
    }
}

fn human<'s>(
    diagnostics: &[Diagnostic],
    source: impl Fn(&str) -> Option<&'s str>,
    color: bool,
) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    // Each file is looked up and indexed once, however many diagnostics it has.
    let mut indexes: HashMap<&str, Option<LineIndex<'s>>> = HashMap::new();
    for diag in diagnostics {
        let index = indexes
            .entry(&diag.file)
            .or_insert_with(|| source(&diag.file).map(LineIndex::new));
        let loc = diag.location;
        let report = Report {
            diag,
            source: index
                .as_ref()
                .map(|index| index.excerpt(&diag.file, loc.offset, loc.len)),
        };
        // Writing into a String cannot fail; a renderer error would only lose decoration.
        let _ = handler.render_report(&mut out, &report);
    }
    if !diagnostics.is_empty() {
        let _ = writeln!(out, "{}", summary(diagnostics));
    }
    out
}

/// "2 errors, 1 warning".
fn summary(diagnostics: &[Diagnostic]) -> String {
    let count = |s| diagnostics.iter().filter(|d| d.severity == s).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "l7mpc: {}, {}",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning")
    )
}

/// A diagnostic with the lines of its file around its node, in the shape miette renders.
struct Report<'a> {
    diag: &'a Diagnostic,
    source: Option<Excerpt>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.diag.object {
            Some(object) => write!(f, "{object}: {}", self.diag.message),
            None => f.write_str(&self.diag.message),
        }
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let hint = self.diag.hint.as_ref()?;
        Some(Box::new(hint))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let node = self.source.as_ref()?.label();
        let label = (!self.diag.field.is_empty()).then(|| self.diag.field.clone());
        let span = LabeledSpan::new_with_span(label, node);
        Some(Box::new(std::iter::once(span)))
    }
}

/// The JSON shape of a diagnostic: flat, with the location spelled out.
#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: String,
    severity: String,
    file: &'a str,
    line: usize,
    column: usize,
    object: Option<String>,
    field: &'a str,
    message: &'a str,
    hint: Option<&'a str>,
}

fn json(diagnostics: &[Diagnostic]) -> String {
    let items: Vec<JsonDiagnostic<'_>> = diagnostics
        .iter()
        .map(|d| JsonDiagnostic {
            code: d.code.to_string(),
            severity: d.severity.to_string(),
            file: &d.file,
            line: d.location.line,
            column: d.location.column,
            object: d.object.as_ref().map(ToString::to_string),
            field: &d.field,
            message: &d.message,
            hint: d.hint.as_deref(),
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into());
    out.push('\n');
    out
}

/// `::error file=F,line=L,col=C,title=CODE::message`, escaped as the workflow command syntax
/// requires.
fn github(d: &Diagnostic) -> String {
    let mut message = match &d.object {
        Some(object) => format!("{object}: {}", d.message),
        None => d.message.clone(),
    };
    if let Some(hint) = &d.hint {
        message.push_str(&format!("\nhint: {hint}"));
    }
    format!(
        "::{} file={},line={},col={},title={}::{}\n",
        d.severity,
        escape(&d.file, true),
        d.location.line,
        d.location.column,
        d.code,
        escape(&message, false)
    )
}

fn escape(text: &str, property: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' if property => out.push_str("%3A"),
            ',' if property => out.push_str("%2C"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use l7mp_config::yaml::Location;

    use super::*;
    use crate::diagnostics::Code;

    fn sample() -> Diagnostic {
        let location = Location {
            line: 2,
            column: 9,
            offset: 14,
            len: 5,
        };
        Diagnostic::new(
            Code::OutOfRange,
            "a,b.yaml",
            location,
            "70000 > 65535\nport",
        )
        .hint("use a port from 1 to 65535")
    }

    #[test]
    fn human_has_caret_code_and_hint() {
        let text = "spec:\n  port: 70000\n";
        let out = render(&[sample()], |_| Some(text), Format::Human, false);
        assert!(out.contains("L7MPC0203"), "{out}");
        assert!(out.contains("port: 70000"), "{out}");
        assert!(out.contains("use a port"), "{out}");
        assert!(out.ends_with("l7mpc: 1 error, 0 warnings\n"), "{out}");
        assert!(!out.contains('\u{1b}'), "no colour: {out}");
    }

    #[test]
    fn each_file_is_looked_up_and_indexed_once() {
        let text = "spec:\n  port: 70000\n";
        let calls = std::cell::Cell::new(0);
        let diagnostics: Vec<Diagnostic> = (0..100)
            .map(|i| Diagnostic {
                file: ["a.yaml", "b.yaml"][i % 2].into(),
                ..sample()
            })
            .collect();
        let source = |_: &str| {
            calls.set(calls.get() + 1);
            Some(text)
        };
        let out = render(&diagnostics, source, Format::Human, false);
        assert_eq!(calls.get(), 2);
        assert_eq!(out.matches("port: 70000").count(), 100, "{out}");
    }

    #[test]
    fn human_survives_a_line_longer_than_miette_can_pad() {
        let text = format!("{{\"k\": \"{}\", \"port\": 70000}}", "x".repeat(70_000));
        let offset = text.find("70000").unwrap();
        let location = Location {
            line: 1,
            column: offset + 1,
            offset,
            len: 5,
        };
        let diag = Diagnostic::new(Code::OutOfRange, "a.json", location, "70000 > 65535");
        let out = render(&[diag], |_| Some(text.as_str()), Format::Human, false);
        assert!(out.contains("\"port\": 70000}"), "{out}");
        assert!(out.len() < 2000, "{out}");
    }

    #[test]
    fn github_escapes() {
        let out = render(&[sample()], |_| None, Format::Github, false);
        assert_eq!(
            out,
            "::error file=a%2Cb.yaml,line=2,col=9,title=L7MPC0203::70000 > 65535%0Aport%0Ahint: use a port from 1 to 65535\n"
        );
    }

    #[test]
    fn json_is_one_array() {
        let out = render(&[sample()], |_| None, Format::Json, false);
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value[0]["code"], "L7MPC0203");
        assert_eq!(value[0]["line"], 2);
    }
}
