//! `--output-dir DIR`: one file per object under `DIR/<namespace>/`.
//!
//! Each file is written to a temporary name beside it and renamed over the old one, so neither
//! a reader nor a crash ever sees half a file, and a file whose bytes would not change is not
//! touched at all. The files of an earlier run whose objects are gone are removed; a file counts
//! as l7mpc's only when both its name and its content say so ([`is_ours`]), so nothing else in
//! the directory is ever touched.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use l7mp_config::yaml::parse_documents;
use serde_json::Value;

use super::{Format, pretty};
use crate::emit::{Contents, Emitted, MANAGED_BY};

/// A file operation under the output directory that failed.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct DirError {
    /// The file or directory concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub source: io::Error,
}

impl DirError {
    fn new(path: &Path, source: io::Error) -> Self {
        Self {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One file to write: `DIR/<namespace>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// The namespace folder.
    pub namespace: String,
    /// The file name.
    pub name: String,
    /// The content.
    pub text: String,
}

/// The file of `doc`: `<kind>-<name>` for Kubernetes objects, `<workload>` for bare configs;
/// `.json` holding one object under `-o json`, else `.yaml`.
///
/// # Errors
/// A namespace or name that is not a plain file name (`..`, a `/`), which Kubernetes would
/// refuse anyway and which must not lead outside the directory; or JSON that cannot be made
/// (see [`Emitted::value`]).
pub fn file(doc: &Emitted, contents: Contents, format: Format) -> Result<File, String> {
    for part in [&doc.namespace, &doc.name] {
        if part.is_empty() || part == "." || part == ".." || part.contains(['/', '\0']) {
            return Err(format!(
                "{} {}/{}: `{part}` cannot be a file name; Kubernetes names are lower-case \
                 letters, digits, `-` and `.`",
                doc.kind, doc.namespace, doc.name
            ));
        }
    }
    let stem = match contents {
        Contents::Configmap => format!("{}-{}", doc.kind.to_lowercase(), doc.name),
        Contents::Config => doc.name.clone(),
    };
    let (extension, text) = match format {
        Format::Json => ("json", pretty(&doc.value()?)),
        Format::Yaml | Format::Name => ("yaml", doc.text.clone()),
    };
    Ok(File {
        namespace: doc.namespace.clone(),
        name: format!("{stem}.{extension}"),
        text,
    })
}

/// Makes `dir` a directory if it is not one yet and checks that files can be created in it,
/// so that a wrong `--output-dir` fails before any file is written.
///
/// # Errors
/// `dir` is a file, or cannot be created or written.
pub fn prepare(dir: &Path) -> Result<(), DirError> {
    if dir.exists() && !dir.is_dir() {
        let problem = io::Error::new(
            io::ErrorKind::NotADirectory,
            "this is a file, not a directory: give --output-dir a directory (it is created if \
             missing)",
        );
        return Err(DirError::new(dir, problem));
    }
    let context = |what: &str, e: io::Error| {
        let source = io::Error::new(e.kind(), format!("{what}: {e}"));
        DirError::new(dir, source)
    };
    std::fs::create_dir_all(dir).map_err(|e| context("cannot create this directory", e))?;
    temporary(dir)
        .map(drop)
        .map_err(|e| context("cannot write files in this directory", e))
}

/// What [`write()`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The files written (new or changed).
    pub written: Vec<PathBuf>,
    /// The files left as they were, their bytes being the same.
    pub unchanged: Vec<PathBuf>,
    /// The files of an earlier run removed because their objects are gone.
    pub removed: Vec<PathBuf>,
}

/// Writes `files` under `dir`, then removes l7mpc's files that are not among them.
///
/// # Errors
/// The first file or directory that cannot be written, read or removed; nothing is removed
/// unless every file was written.
pub fn write(dir: &Path, files: &[File]) -> Result<Report, DirError> {
    let mut report = Report::default();
    for file in files {
        let folder = dir.join(&file.namespace);
        let path = folder.join(&file.name);
        std::fs::create_dir_all(&folder).map_err(|e| DirError::new(&folder, e))?;
        if std::fs::read(&path).is_ok_and(|old| old == file.text.as_bytes()) {
            report.unchanged.push(path);
            continue;
        }
        let mut temp = temporary(&folder).map_err(|e| DirError::new(&folder, e))?;
        temp.write_all(file.text.as_bytes())
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|e| DirError::new(temp.path(), e))?;
        temp.persist(&path)
            .map_err(|e| DirError::new(&path, e.error))?;
        report.written.push(path);
    }
    let kept: BTreeSet<&PathBuf> = report.written.iter().chain(&report.unchanged).collect();
    report.removed = stale(dir, &kept)?;
    for path in &report.removed {
        std::fs::remove_file(path).map_err(|e| DirError::new(path, e))?;
        // The namespace folder goes too once empty; a folder with anything else in it stays.
        if let Some(folder) = path.parent() {
            let _ = std::fs::remove_dir(folder);
        }
    }
    Ok(report)
}

/// An empty temporary file in `folder`, removed unless persisted; readable like a file that
/// `std::fs::write` makes (0666 less the umask), since pods and people read these files.
fn temporary(folder: &Path) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".l7mpc-")
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(folder)
}

/// l7mpc's files under `dir/<namespace>/` that are not in `kept`, sorted. Symbolic links and
/// deeper folders are never followed.
fn stale(dir: &Path, kept: &BTreeSet<&PathBuf>) -> Result<Vec<PathBuf>, DirError> {
    let read = |path: &Path| std::fs::read_dir(path).map_err(|e| DirError::new(path, e));
    let mut found = Vec::new();
    for folder in read(dir)? {
        let folder = folder.map_err(|e| DirError::new(dir, e))?;
        if !folder.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let namespace = folder.file_name().to_string_lossy().into_owned();
        for entry in read(&folder.path())? {
            let entry = entry.map_err(|e| DirError::new(&folder.path(), e))?;
            let path = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_file()) || kept.contains(&path) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            // A file that cannot be read as text is not one l7mpc wrote.
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if is_ours(&namespace, &name, &text) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Whether `DIR/<namespace>/<name>` holding `text` is a file [`file()`] writes: one YAML or JSON
/// document that is either a Kubernetes object with l7mpc's managed-by label, in `namespace`,
/// named `<kind>-<name>`; or a bare config that l7mpc generated for workload `<name>` of
/// `namespace`.
pub fn is_ours(namespace: &str, name: &str, text: &str) -> bool {
    let Some((stem, "yaml" | "json")) = name.rsplit_once('.') else {
        return false;
    };
    let Ok(docs) = parse_documents(text) else {
        return false;
    };
    let [doc] = docs.as_slice() else {
        return false;
    };
    let field = |pointer: &str| doc.value.pointer(pointer).and_then(Value::as_str);
    let label = format!("/metadata/labels/{}", MANAGED_BY.0.replace('/', "~1"));
    if field(&label) == Some(MANAGED_BY.1) {
        let kind = field("/kind").unwrap_or_default().to_lowercase();
        let object = field("/metadata/name").unwrap_or_default();
        return field("/metadata/namespace") == Some(namespace)
            && stem == format!("{kind}-{object}");
    }
    if field("/generated/by") == Some(MANAGED_BY.1) {
        let workload = field("/generated/workload").unwrap_or_default();
        let mut parts = workload.splitn(3, '/');
        return parts.next() == Some(namespace) && parts.nth(1) == Some(stem);
    }
    false
}

#[cfg(test)]
mod tests;
