//! Problems found in a config file, each naming the file, the line, the object and the field, and
//! saying what to do about it.

use std::fmt;

use crate::yaml::{Document, Location};

/// Whether a problem stops the file from being used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The file is rejected.
    Error,
    /// The file is used, but probably does not do what its author meant.
    Warning,
}

/// One problem in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file, as the user named it.
    pub file: String,
    /// Where in the file.
    pub location: Location,
    /// The object concerned, such as `listener "udp-in"`; empty for the file as a whole.
    pub object: String,
    /// JSON pointer of the field concerned, such as `/listeners/0/spec/port`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// True for errors, which reject the file.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic without its hint, on one line: `FILE:LINE:COLUMN: LEVEL: OBJECT: field
    /// `POINTER`: MESSAGE`, for logs that carry the hint separately.
    pub fn headline(&self) -> Headline<'_> {
        Headline(self)
    }
}

/// See [`Diagnostic::headline`].
pub struct Headline<'a>(&'a Diagnostic);

impl fmt::Display for Headline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {level}: ",
            d.file, d.location.line, d.location.column
        )?;
        if !d.object.is_empty() {
            write!(f, "{}: ", d.object)?;
        }
        if !d.field.is_empty() {
            write!(f, "field `{}`: ", d.field)?;
        }
        f.write_str(&d.message)
    }
}

/// The headline, then the hint on a line of its own.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.headline())?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Renders a list of diagnostics one after another, for logs and `--validate`.
pub struct Report<'a>(pub &'a [Diagnostic]);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Names the top-level object that contains `pointer`, such as `listener "udp-in"`.
pub(crate) fn object_at(doc: &Document, pointer: &str) -> String {
    let mut parts = pointer.split('/').skip(1);
    let (Some(section), Some(index)) = (parts.next(), parts.next()) else {
        return String::new();
    };
    let kind = section.strip_suffix('s').unwrap_or(section);
    let name = doc
        .value
        .pointer(&format!("/{section}/{index}/name"))
        .and_then(|v| v.as_str());
    match name {
        Some(n) => format!("{kind} \"{n}\""),
        None => format!("{kind} #{index}"),
    }
}

/// Returns the candidate closest to `name` by edit distance, when it is close enough to be a
/// likely typo; used for "did you mean" hints.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_only() {
        let names = ["udp-cluster", "websocket-cluster", "echo"];
        assert_eq!(closest("udp-clustr", names), Some("udp-cluster"));
        assert_eq!(closest("ecoh", names), Some("echo"));
        assert_eq!(closest("something-else", names), None);
    }

    #[test]
    fn display_names_file_line_object_field_and_hint() {
        let d = Diagnostic {
            severity: Severity::Error,
            file: "l7mp.yaml".into(),
            location: Location {
                line: 4,
                column: 7,
                offset: 0,
                len: 0,
            },
            object: "listener \"udp\"".into(),
            field: "/listeners/0/spec/port".into(),
            message: "port 0 is not allowed".into(),
            hint: Some("pick a port between 1 and 65535".into()),
        };
        assert_eq!(
            d.to_string(),
            "l7mp.yaml:4:7: error: listener \"udp\": field `/listeners/0/spec/port`: \
             port 0 is not allowed\n  hint: pick a port between 1 and 65535"
        );
    }
}
