//! Reading the `-f` arguments into texts, refusing before any parsing what the compiler cannot
//! or should not read: input beyond [`MAX_INPUT_BYTES`] and files that are not UTF-8.
//!
//! The cap exists because parsing costs a multiple of the input in memory and time (a 54 MB
//! stream took over 2 GB); real manifests are far smaller, so more is a mistake (a log file,
//! a wrong directory) that should fail fast with its name rather than exhaust the machine.

use std::io::Read;
use std::path::{Path, PathBuf};

use l7mp_config::yaml::Location;

use super::SourceFile;
use crate::diagnostics::{Code, Diagnostic};

/// The most input bytes one read takes, all files together (the `-f` set and the `--pods`
/// snapshot are read separately): the proxy's own config limit, and 16 times what a ConfigMap
/// can hold.
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Why the input was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A file or directory could not be read: a usage error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Input the compiler refuses to parse (too large, not UTF-8): problems with the input,
    /// reported as diagnostics like any other.
    #[error("{} input file(s) refused", .0.len())]
    Refused(Vec<Diagnostic>),
}

/// One input to read: stdin or a file, under the name diagnostics give it.
struct Entry {
    name: String,
    path: Option<PathBuf>,
}

/// Reads the `-f` arguments: files, directories (recursively, `*.yaml` and `*.yml`) and `-`
/// for stdin. Sorted by name so that argument order never changes the output.
///
/// # Errors
/// [`ReadError::Io`] for a file or directory that cannot be read; [`ReadError::Refused`] with
/// a diagnostic for each file that is not UTF-8, or for the file that takes the input past
/// [`MAX_INPUT_BYTES`] (nothing after it is read).
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<SourceFile>, ReadError> {
    let mut entries = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            entries.push(Entry {
                name: "<stdin>".into(),
                path: None,
            });
        } else {
            walk(path, &mut entries)?;
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries.dedup_by(|a, b| a.name == b.name);
    let mut files = Vec::with_capacity(entries.len());
    let mut refused = Vec::new();
    let mut total = 0;
    for entry in entries {
        let bytes = match read(&entry, MAX_INPUT_BYTES - total)? {
            Some(bytes) => bytes,
            None => {
                refused.push(too_large(&entry.name, total));
                break;
            }
        };
        total += bytes.len() as u64;
        match String::from_utf8(bytes) {
            Ok(text) => files.push(SourceFile {
                name: entry.name,
                text: text.into(),
            }),
            Err(e) => refused.push(not_utf8(&entry.name, e.as_bytes(), e.utf8_error())),
        }
    }
    if refused.is_empty() {
        Ok(files)
    } else {
        Err(ReadError::Refused(refused))
    }
}

fn walk(path: &Path, entries: &mut Vec<Entry>) -> std::io::Result<()> {
    if !path.is_dir() {
        entries.push(Entry {
            name: path.display().to_string(),
            path: Some(path.to_path_buf()),
        });
        return Ok(());
    }
    for entry in std::fs::read_dir(path)? {
        let entry = entry?.path();
        let yaml = matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if entry.is_dir() || yaml {
            walk(&entry, entries)?;
        }
    }
    Ok(())
}

/// The entry's bytes, or None when it has more than `budget`. A regular file's size is checked
/// before it is opened; stdin and pipes are read no further than one byte past the budget.
fn read(entry: &Entry, budget: u64) -> std::io::Result<Option<Vec<u8>>> {
    let named = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", entry.name));
    let mut bytes = Vec::new();
    match &entry.path {
        None => {
            std::io::stdin()
                .take(budget + 1)
                .read_to_end(&mut bytes)
                .map_err(named)?;
        }
        Some(path) => {
            let file = std::fs::File::open(path).map_err(named)?;
            let size = file.metadata().map_err(named)?.len();
            if size > budget {
                return Ok(None);
            }
            file.take(budget + 1)
                .read_to_end(&mut bytes)
                .map_err(named)?;
        }
    }
    Ok((bytes.len() as u64 <= budget).then_some(bytes))
}

fn too_large(name: &str, before: u64) -> Diagnostic {
    let message = if before == 0 {
        format!("this file is larger than the {MAX_INPUT_BYTES} bytes (16 MiB) l7mpc reads")
    } else {
        format!(
            "with this file the input is larger than the {MAX_INPUT_BYTES} bytes (16 MiB) l7mpc \
             reads ({before} bytes before it)"
        )
    };
    let start = Location {
        line: 1,
        column: 1,
        ..Location::default()
    };
    Diagnostic::new(Code::InputTooLarge, name, start, message)
        .hint("pass only the manifests to compile; split a larger mesh into separate runs")
}

fn not_utf8(name: &str, bytes: &[u8], error: std::str::Utf8Error) -> Diagnostic {
    let offset = error.valid_up_to();
    // The bytes before the first invalid one are valid, so they can be counted as text.
    let before = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let location = Location {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
        offset,
        len: error.error_len().unwrap_or(bytes.len() - offset),
    };
    let message = format!(
        "not UTF-8 text: the byte at offset {offset} (line {}, column {}), 0x{:02X}, is not \
         valid UTF-8 there",
        location.line, location.column, bytes[offset]
    );
    Diagnostic::new(Code::NotUtf8, name, location, message)
        .hint("save the file as UTF-8, as Kubernetes requires of manifests")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("l7mpc-read-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn refused(paths: &[PathBuf]) -> Vec<Diagnostic> {
        match read_sources(paths) {
            Err(ReadError::Refused(diags)) => diags,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_file_that_is_not_utf8_is_a_diagnostic_at_its_first_bad_byte() {
        let dir = temp_dir("utf8");
        std::fs::write(dir.join("a.yaml"), b"a: 1\nb: caf\xe9\n").unwrap();
        std::fs::write(dir.join("b.yaml"), "b: 1\n").unwrap();
        let diags = refused(std::slice::from_ref(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(diags.len(), 1, "{diags:?}");
        let d = &diags[0];
        assert_eq!(d.code, Code::NotUtf8);
        assert!(d.file.ends_with("a.yaml"), "{d:?}");
        assert_eq!((d.location.line, d.location.column), (2, 7));
        assert_eq!(d.location.offset, 11);
        assert!(
            d.message.contains("offset 11") && d.message.contains("0xE9"),
            "{d:?}"
        );
    }

    #[test]
    fn input_past_the_cap_is_refused_naming_the_file_that_crosses_it() {
        let dir = temp_dir("cap");
        let half = vec![b'#'; (MAX_INPUT_BYTES / 2) as usize];
        std::fs::write(dir.join("1.yaml"), &half).unwrap();
        std::fs::write(dir.join("2.yaml"), &half).unwrap();
        // Exactly at the cap is fine.
        let files = read_sources(std::slice::from_ref(&dir)).unwrap();
        assert_eq!(files.len(), 2);
        std::fs::write(dir.join("3.yaml"), "x: 1\n").unwrap();
        let diags = refused(std::slice::from_ref(&dir));
        std::fs::write(
            dir.join("big.yaml"),
            vec![b'#'; MAX_INPUT_BYTES as usize + 1],
        )
        .unwrap();
        let big = refused(&[dir.join("big.yaml")]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].code, Code::InputTooLarge);
        assert!(diags[0].file.ends_with("3.yaml"), "{diags:?}");
        assert!(
            diags[0].message.contains("16777216 bytes (16 MiB)"),
            "{diags:?}"
        );
        assert!(big[0].message.starts_with("this file is larger"), "{big:?}");
    }
}
