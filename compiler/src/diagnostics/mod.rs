//! Diagnostics: what every stage reports about the user's input, and how it is shown.
//!
//! Stages never stop at the first problem: they push into a [`Diagnostics`] sink and go on, so one
//! run reports everything. Each diagnostic carries a stable [`Code`], the file and location of the
//! offending YAML node, the object and field it concerns, and a hint where one helps.

mod codes;
mod excerpt;
mod render;

use std::fmt;

use l7mp_config::yaml::Location;

pub use codes::{Code, codes_markdown};
pub use render::{Format, render};

/// How serious a diagnostic is. Errors fail `check`; warnings only under `--deny-warnings`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The input is wrong: no config can be produced from it.
    Error,
    /// The input is suspicious but usable.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// Names the Kubernetes object a diagnostic concerns, as people write it: `Kind ns/name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    /// The object's kind.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// One problem found in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// What kind of problem.
    pub code: Code,
    /// The code's severity, copied so consumers need not look it up.
    pub severity: Severity,
    /// The file, as named on the command line (`-` for stdin).
    pub file: String,
    /// Where in the file.
    pub location: Location,
    /// The object concerned, once the document is known to be one.
    pub object: Option<ObjectId>,
    /// JSON pointer to the offending field within the object (empty for the whole document).
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, where the compiler can tell.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at a location; add the object, field and hint with the builder methods.
    pub fn new(code: Code, file: &str, location: Location, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: code.severity(),
            file: file.to_string(),
            location,
            object: None,
            field: String::new(),
            message: message.into(),
            hint: None,
        }
    }

    /// Names the object and field concerned.
    pub fn at(mut self, object: ObjectId, field: &str) -> Self {
        self.object = Some(object);
        self.field = field.to_string();
        self
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// File, line, column, code and message, then every other field: a total order, so that
    /// equal diagnostics (one found by two threads) sort next to each other.
    fn sort_key(&self) -> impl Ord + '_ {
        let loc = self.location;
        let rest = (loc, &self.object, &self.field, &self.hint);
        (
            &self.file,
            loc.line,
            loc.column,
            self.code,
            &self.message,
            rest,
        )
    }
}

/// The sink every stage pushes into.
#[derive(Debug, Default)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// Records a diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// Records every diagnostic of `other`, in its order: a stage that may have to take back
    /// what it found (a file that turns out not to parse) collects apart and then keeps it.
    pub fn append(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// The diagnostics so far, in the order pushed.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// All diagnostics in a deterministic order (file, line, column, code), without duplicates,
    /// so that the same input gives the same output bytes.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.0.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.0.dedup();
        self.0
    }
}

/// The closest of `candidates` to `wanted` by edit distance, if it is close enough to be a typo.
pub fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (wanted.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(wanted, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_only_for_near_misses() {
        let names = ["udp-cluster", "websocket-cluster"];
        assert_eq!(did_you_mean("udp-clustr", names), Some("udp-cluster"));
        assert_eq!(did_you_mean("zzz", names), None);
    }

    #[test]
    fn sorted_by_file_line_column_code() {
        let at = |line, column| Location {
            line,
            column,
            ..Location::default()
        };
        let mut sink = Diagnostics::default();
        sink.push(Diagnostic::new(Code::WrongType, "b.yaml", at(1, 1), "x"));
        sink.push(Diagnostic::new(Code::WrongType, "a.yaml", at(2, 1), "x"));
        sink.push(Diagnostic::new(Code::UnknownField, "a.yaml", at(2, 1), "x"));
        sink.push(Diagnostic::new(Code::UnknownField, "a.yaml", at(2, 1), "x"));
        let sorted = sink.into_sorted();
        let keys: Vec<_> = sorted.iter().map(|d| (d.file.as_str(), d.code)).collect();
        assert_eq!(
            keys,
            [
                ("a.yaml", Code::UnknownField),
                ("a.yaml", Code::WrongType),
                ("b.yaml", Code::WrongType)
            ]
        );
    }
}
