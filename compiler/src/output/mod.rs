//! How the emitted objects reach the user, as kubectl would print them: `-o yaml` (a
//! multi-document stream), `-o json` (one `v1 List`), `-o name` (`configmap/NAME` lines), on
//! stdout or one file per object under `--output-dir` ([`dir`]).

use serde_json::{Value, json};

use crate::emit::Emitted;

pub mod dir;

/// The printing format (`-o`/`--output`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A YAML stream, each document after a `---` line.
    Yaml,
    /// A `v1 List` of the objects (one object per file under `--output-dir`).
    Json,
    /// `kind/name` of each object, as `kubectl -o name` prints it.
    Name,
}

/// The text printed on stdout for `docs`.
///
/// # Errors
/// An emitted document does not parse back for JSON: an l7mpc bug (see [`Emitted::value`]).
pub fn stream(docs: &[&Emitted], format: Format) -> Result<String, String> {
    Ok(match format {
        Format::Yaml => docs.iter().map(|d| format!("---\n{}", d.text)).collect(),
        Format::Json => {
            let items = docs
                .iter()
                .map(|d| d.value())
                .collect::<Result<Vec<_>, _>>()?;
            let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
            pretty(&list)
        }
        Format::Name => docs.iter().map(|d| format!("{}\n", name(d))).collect(),
    })
}

/// `kind/name`, the kind in lower case, as `kubectl -o name` writes core objects.
pub fn name(doc: &Emitted) -> String {
    format!("{}/{}", doc.kind.to_lowercase(), doc.name)
}

/// Indented JSON with a final newline; serializing a `Value` cannot fail.
pub(crate) fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}
