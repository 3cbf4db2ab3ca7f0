//! The side `l7mpc diff` compares against: a directory that `--output-dir` wrote, or what
//! `kubectl get configmaps,services -o yaml` (or `-o json`) printed; and the fields the API
//! server adds to an object, which say nothing about what was applied and are dropped.

use std::path::Path;

use l7mp_config::yaml::{Document, parse_documents};
use serde_json::{Map, Value};

use crate::output::dir::is_ours;

/// A dump or directory that cannot be read as Kubernetes objects.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct LiveError {
    /// The file.
    pub file: String,
    /// The line of the offending node (1 when the whole file is concerned).
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// What a dump should be, said after each problem with one.
const EXPECTED: &str = "--against needs the output of `kubectl get configmaps,services -o yaml` or a directory \
     written by `l7mpc compile --output-dir`";

/// The objects at `path`: the l7mpc files of a directory, or every object of a dump file.
///
/// # Errors
/// A file that cannot be read, a dump that is not YAML or JSON, a `List` without `items`, an
/// item without `apiVersion`, `kind` or `metadata.name`.
pub fn read(path: &Path) -> Result<Vec<Value>, LiveError> {
    if path.is_dir() {
        read_dir(path)
    } else {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| LiveError {
            file: file.clone(),
            line: 1,
            message: format!("cannot read it: {e}"),
        })?;
        read_dump(&file, &text)
    }
}

/// The files of `dir/<namespace>/` that `--output-dir` wrote; everything else is ignored.
fn read_dir(dir: &Path) -> Result<Vec<Value>, LiveError> {
    let problem = |path: &Path, e: std::io::Error| LiveError {
        file: path.display().to_string(),
        line: 1,
        message: format!("cannot read it: {e}"),
    };
    let mut found = Vec::new();
    let mut folders: Vec<_> = std::fs::read_dir(dir)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| problem(dir, e))?;
    folders.sort_by_key(std::fs::DirEntry::file_name);
    for folder in folders {
        if !folder.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let namespace = folder.file_name().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(folder.path())
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| problem(&folder.path(), e))?;
        files.sort_by_key(std::fs::DirEntry::file_name);
        for file in files {
            let name = file.file_name().to_string_lossy().into_owned();
            let Ok(text) = std::fs::read_to_string(file.path()) else {
                continue;
            };
            if !is_ours(&namespace, &name, &text) {
                continue;
            }
            if let Ok(docs) = parse_documents(&text) {
                found.extend(docs.into_iter().map(|d| d.value));
            }
        }
    }
    Ok(found)
}

/// Every object of a dump: `List`s are expanded, other documents are objects themselves.
fn read_dump(file: &str, text: &str) -> Result<Vec<Value>, LiveError> {
    let docs = parse_documents(text).map_err(|e| LiveError {
        file: file.to_string(),
        line: e.location.line.max(1),
        message: format!("not YAML or JSON ({}); {EXPECTED}", e.message),
    })?;
    let mut objects = Vec::new();
    for doc in &docs {
        let problem = |pointer: &str, what: &str| LiveError {
            file: file.to_string(),
            line: doc.locate(pointer).line.max(1),
            message: format!("{what}; {EXPECTED}"),
        };
        if doc.value.is_null() {
            continue;
        }
        if doc.value.get("kind").and_then(Value::as_str) == Some("List") {
            let Some(items) = doc.value.get("items").and_then(Value::as_array) else {
                return Err(problem("", "this List has no `items` list"));
            };
            for i in 0..items.len() {
                objects.push(
                    object(doc, &format!("/items/{i}"))
                        .map_err(|w| problem(&format!("/items/{i}"), &w))?,
                );
            }
        } else {
            objects.push(object(doc, "").map_err(|w| problem("", &w))?);
        }
    }
    if docs.iter().all(|d| d.value.is_null()) {
        return Err(LiveError {
            file: file.to_string(),
            line: 1,
            message: format!("it holds no object; {EXPECTED}"),
        });
    }
    Ok(objects)
}

/// The object at `pointer`, once it is seen to have what identifies a Kubernetes object.
fn object(doc: &Document, pointer: &str) -> Result<Value, String> {
    let value = doc.value.pointer(pointer).unwrap_or(&Value::Null);
    let what = if pointer.is_empty() {
        "this document".to_string()
    } else {
        format!("item {}", pointer.trim_start_matches("/items/"))
    };
    if !value.is_object() {
        return Err(format!("{what} is not a mapping"));
    }
    for (field, pointer) in [
        ("apiVersion", "/apiVersion"),
        ("kind", "/kind"),
        ("metadata.name", "/metadata/name"),
    ] {
        if value.pointer(pointer).and_then(Value::as_str).is_none() {
            return Err(format!("{what} has no string `{field}`"));
        }
    }
    Ok(value.clone())
}

/// Drops what the API server adds to an object (identity, bookkeeping, status, kubectl's
/// last-applied annotation, the Service fields it defaults), so that an object applied
/// unchanged compares equal to the output it came from.
pub fn normalise(value: &mut Value) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    object.remove("status");
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(field);
        }
        let annotations = meta.get_mut("annotations").and_then(Value::as_object_mut);
        if let Some(annotations) = annotations {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    let is_service = object.get("kind").and_then(Value::as_str) == Some("Service");
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut)
        && is_service
    {
        service_defaults(spec);
    }
}

/// The Service fields the API server fills in, when they hold its default.
fn service_defaults(spec: &mut Map<String, Value>) {
    let defaults = [
        ("type", "ClusterIP"),
        ("sessionAffinity", "None"),
        ("internalTrafficPolicy", "Cluster"),
        ("ipFamilyPolicy", "SingleStack"),
    ];
    for (field, default) in defaults {
        if spec.get(field).and_then(Value::as_str) == Some(default) {
            spec.remove(field);
        }
    }
    spec.remove("ipFamilies");
    if spec.get("clusterIPs")
        == spec
            .get("clusterIP")
            .map(|ip| Value::Array(vec![ip.clone()]))
            .as_ref()
    {
        spec.remove("clusterIPs");
    }
    let ports = spec.get_mut("ports").and_then(Value::as_array_mut);
    for port in ports.into_iter().flatten().filter_map(Value::as_object_mut) {
        if port.get("targetPort").is_some() && port.get("targetPort") == port.get("port") {
            port.remove("targetPort");
        }
    }
}
