//! Reading a config file: bytes → YAML → [`ConfigFile`] → [`Config`]. The proxy's startup, its
//! reload path and `l7mp --validate` all read with [`read_file`] and check with [`load_str`], so
//! they can never disagree.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::diagnostic::{Diagnostic, Severity, object_at};
use crate::model::ConfigFile;
use crate::resolve::resolve;
use crate::unsupported;
use crate::yaml::{Document, Location, child_pointer, parse_documents};

/// A config that passed validation.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The config to run.
    pub config: Config,
    /// Problems that do not stop the file from being used.
    pub warnings: Vec<Diagnostic>,
    /// SHA-256 of the file's bytes, hex: identifies the config in logs, metrics and status.
    pub sha256: String,
    /// The file's text, for status pages that show the active config.
    pub text: String,
}

/// The largest config file accepted, in bytes. A ConfigMap holds at most 1 MiB, so anything
/// much bigger is a mistake (the wrong file, a runaway generator), and parsing it would only
/// cost memory. Checked wherever a file is read: `l7mp --validate`, the proxy's start and every
/// reload, so a file is never valid in one place and refused in another.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Reads and validates a config file. The file name in diagnostics is `path` as given.
pub fn load_file(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    let text = read_file(path)?;
    load_str(&path.display().to_string(), &text)
}

/// Reads a config file's text through its path (following symlinks), refusing what cannot be
/// a config (a directory, more than [`MAX_CONFIG_BYTES`], not UTF-8) before reading it all.
pub fn read_file(path: &Path) -> Result<String, Vec<Diagnostic>> {
    let name = path.display().to_string();
    let unreadable = |e: std::io::Error| {
        vec![file_error(
            &name,
            format!("cannot read the file: {e}"),
            "check the path and that the file is readable",
        )]
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if meta.is_dir() {
        return Err(vec![file_error(
            &name,
            "the path is a directory, not a file".into(),
            "point --config at the config file itself",
        )]);
    }
    let too_large = |size: u64| {
        vec![file_error(
            &name,
            format!(
                "the file is {size} bytes, more than the {MAX_CONFIG_BYTES} (16 MiB) a config may have"
            ),
            "check that this is the config file; a proxy config is a few KiB",
        )]
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
        .map_err(unreadable)?;
    // The file grew since it was measured: only the first bytes past the limit were read.
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        let size = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
        return Err(too_large(size));
    }
    String::from_utf8(bytes).map_err(|e| {
        vec![file_error(
            &name,
            format!(
                "the file is not UTF-8 text (bad byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            "save the config as UTF-8 YAML or JSON",
        )]
    })
}

/// Validates config text that came from `file`.
pub fn load_str(file: &str, text: &str) -> Result<Loaded, Vec<Diagnostic>> {
    let sha256 = sha256_hex(text.as_bytes());
    let mut docs = parse_documents(text).map_err(|e| {
        vec![Diagnostic {
            location: e.location,
            ..file_error(
                file,
                format!("invalid YAML: {}", e.message),
                "fix the YAML syntax",
            )
        }]
    })?;
    if docs.len() != 1 {
        let message = if docs.is_empty() {
            "the file has no content".to_string()
        } else {
            format!("the file holds {} YAML documents", docs.len())
        };
        return Err(vec![file_error(
            file,
            message,
            "a proxy config is exactly one YAML document",
        )]);
    }
    let doc = docs.remove(0);
    let unsupported = unsupported::scan(file, &doc);
    if !unsupported.is_empty() {
        return Err(unsupported);
    }
    let raw = parse_model(file, &doc)?;
    let (config, diagnostics) = resolve(file, &doc, &raw);
    match config {
        Some(config) => Ok(Loaded {
            config,
            warnings: diagnostics,
            sha256,
            text: text.to_string(),
        }),
        None => Err(diagnostics),
    }
}

/// Validates a config built in memory with the resolver [`load_str`] runs after parsing, so a
/// generator (`l7mpc`) can check each config it renders without parsing its text back; the
/// generator's tests show that its text parses to the same [`ConfigFile`]. With no text there
/// are no locations: every diagnostic has the zero [`Location`].
pub fn check_model(file: &str, raw: &ConfigFile) -> Result<Config, Vec<Diagnostic>> {
    let (config, diagnostics) = resolve(file, &Document::without_text(), raw);
    config.ok_or(diagnostics)
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_model(file: &str, doc: &Document) -> Result<ConfigFile, Vec<Diagnostic>> {
    if !doc.value.is_object() {
        return Err(vec![file_error(
            file,
            "the config is not a mapping".into(),
            "start the file with keys such as `listeners:` and `clusters:`",
        )]);
    }
    ConfigFile::deserialize_with_path(&doc.value).map_err(|(pointer, message)| {
        let pointer = refine_pointer(&doc.value, pointer, &message);
        let object = object_at(doc, &pointer);
        vec![Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            location: doc.locate(&pointer),
            object,
            field: pointer,
            message,
            hint: Some("see schemas/l7mp-config.schema.json for the format".into()),
        }]
    })
}

impl ConfigFile {
    /// Deserializes, returning the JSON pointer of the failing field with the message.
    fn deserialize_with_path(value: &serde_json::Value) -> Result<ConfigFile, (String, String)> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let mut pointer = String::new();
            for segment in e.path().iter() {
                match segment {
                    serde_path_to_error::Segment::Seq { index } => {
                        pointer = child_pointer(&pointer, &index.to_string());
                    }
                    serde_path_to_error::Segment::Map { key } => {
                        pointer = child_pointer(&pointer, key);
                    }
                    serde_path_to_error::Segment::Enum { .. }
                    | serde_path_to_error::Segment::Unknown => {}
                }
            }
            (pointer, e.into_inner().to_string())
        })
    }
}

/// serde reports errors inside a `protocol`-tagged spec at the spec itself; point at the field
/// the message is about when exactly one field of that object fits it (an unknown key, or the
/// value quoted in the message).
fn refine_pointer(root: &serde_json::Value, pointer: String, message: &str) -> String {
    let Some(serde_json::Value::Object(map)) = root.pointer(&pointer) else {
        return pointer;
    };
    let quoted = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => format!("\"{s}\""),
        other => format!("`{other}`"),
    };
    let mut fits = map.iter().filter(|(k, v)| {
        message.contains(&format!("unknown field `{k}`"))
            || (!v.is_object() && !v.is_array() && message.contains(&quoted(v)))
    });
    match (fits.next(), fits.next()) {
        (Some((key, _)), None) => child_pointer(&pointer, key),
        _ => pointer,
    }
}

fn file_error(file: &str, message: String, hint: &str) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: file.to_string(),
        location: Location {
            line: 1,
            column: 1,
            ..Location::default()
        },
        object: String::new(),
        field: String::new(),
        message,
        hint: Some(hint.to_string()),
    }
}
