//! Loading: files and directories into typed-by-kind Kubernetes objects with source locations.
//!
//! Reading files is the only I/O here ([`read_sources`]); [`parse`] is pure and turns every
//! problem with a document into a diagnostic, never a panic or an early return.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use l7mp_config::yaml::{Document, Location, parse_documents};
use serde_json::Value;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, ObjectId};

/// A file's name (as given on the command line) and text, kept for caret excerpts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// The path as the user wrote it, or `<stdin>`.
    pub name: String,
    /// The whole text.
    pub text: String,
}

/// Reads the `-f` arguments: files, directories (recursively, `*.yaml` and `*.yml`) and `-`
/// for stdin. Sorted by name so that argument order never changes the output.
///
/// # Errors
/// Any file or directory that cannot be read: that is a usage error, not a diagnostic.
pub fn read_sources(paths: &[PathBuf]) -> std::io::Result<Vec<SourceFile>> {
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            files.push(SourceFile {
                name: "<stdin>".into(),
                text,
            });
        } else {
            read_path(path, &mut files)?;
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files.dedup_by(|a, b| a.name == b.name);
    Ok(files)
}

fn read_path(path: &Path, files: &mut Vec<SourceFile>) -> std::io::Result<()> {
    if !path.is_dir() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        files.push(SourceFile {
            name: path.display().to_string(),
            text,
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
            read_path(&entry, files)?;
        }
    }
    Ok(())
}

/// The kinds of object the compiler reads; everything else is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `l7mp.io/v1` VirtualService: a listener.
    VirtualService,
    /// `l7mp.io/v1` Target: a cluster.
    Target,
    /// `l7mp.io/v1` Rule: a rule added to a rule list.
    Rule,
    /// `apps/v1` Deployment: a pod template.
    Deployment,
    /// `apps/v1` DaemonSet: a pod template.
    DaemonSet,
    /// `apps/v1` StatefulSet: a pod template.
    StatefulSet,
    /// `v1` Pod.
    Pod,
    /// `v1` Service, for `matchService` selectors.
    Service,
}

impl Kind {
    const TABLE: [(Kind, &'static str, &'static str, &'static str); 8] = [
        (
            Kind::VirtualService,
            "l7mp.io/v1",
            "VirtualService",
            "virtualservices",
        ),
        (Kind::Target, "l7mp.io/v1", "Target", "targets"),
        (Kind::Rule, "l7mp.io/v1", "Rule", "rules"),
        (Kind::Deployment, "apps/v1", "Deployment", "deployments"),
        (Kind::DaemonSet, "apps/v1", "DaemonSet", "daemonsets"),
        (Kind::StatefulSet, "apps/v1", "StatefulSet", "statefulsets"),
        (Kind::Pod, "v1", "Pod", "pods"),
        (Kind::Service, "v1", "Service", "services"),
    ];

    fn from_type(api_version: &str, kind: &str) -> Option<Kind> {
        Self::TABLE
            .iter()
            .find(|row| row.1 == api_version && row.2 == kind)
            .map(|row| row.0)
    }

    /// The kind whose plural resource name (as in a self link) is `plural`.
    pub fn from_plural(plural: &str) -> Option<Kind> {
        Self::TABLE
            .iter()
            .find(|row| row.3 == plural)
            .map(|row| row.0)
    }

    /// The kind's name, as in `kind:`.
    pub fn name(self) -> &'static str {
        Self::TABLE[self as usize].2
    }

    /// Whether the kind is one of the `l7mp.io/v1` resources.
    pub fn is_l7mp(self) -> bool {
        matches!(self, Kind::VirtualService | Kind::Target | Kind::Rule)
    }

    /// Where objects of this kind keep their pod (template): `/spec/template` for workload
    /// controllers, the object itself for a Pod, None for kinds without pods.
    pub fn pod_pointer(self) -> Option<&'static str> {
        match self {
            Kind::Deployment | Kind::DaemonSet | Kind::StatefulSet => Some("/spec/template"),
            Kind::Pod => Some(""),
            _ => None,
        }
    }
}

/// One Kubernetes object, a document or an item of a `v1 List`.
#[derive(Clone, Debug)]
pub struct Object {
    /// Its kind.
    pub kind: Kind,
    /// Its namespace (the default when the manifest has none).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The file it came from.
    pub file: String,
    text: Arc<str>,
    doc: Arc<Document>,
    root: String,
}

impl Object {
    /// The object's content.
    pub fn value(&self) -> &Value {
        self.doc.value.pointer(&self.root).unwrap_or(&Value::Null)
    }

    /// Where the node at `pointer` (relative to the object) is in the file.
    pub fn locate(&self, pointer: &str) -> Location {
        self.doc.locate(&format!("{}{pointer}", self.root))
    }

    /// Where the key of the member at `pointer` is: an unknown field is best shown by its name,
    /// while [`Object::locate`] gives the value.
    pub fn locate_key(&self, pointer: &str) -> Location {
        let value = self.locate(pointer);
        let Some((parent, token)) = pointer.rsplit_once('/') else {
            return value;
        };
        if !self.value().pointer(parent).is_some_and(Value::is_object) {
            return value; // a list item has no key
        }
        // Only `:`, blanks and comments separate a key from its value, so the key is the last
        // occurrence of its text before the value.
        let key = token.replace("~1", "/").replace("~0", "~");
        let before = self.text.get(..value.offset).unwrap_or_default();
        match before.rfind(&key) {
            Some(i) => location_at(&self.text, i, key.len()),
            None => value,
        }
    }

    /// Every member of `spec` (at any depth) whose key is one of `names`, as
    /// `(pointer, key, value)`. Does not look inside the matches themselves, nor inside JSON
    /// predicates (`match`) and rewrite values (`value`), which hold user data.
    pub fn spec_fields(&self, names: &[&str]) -> Vec<(String, String, &Value)> {
        let mut found = Vec::new();
        if let Some(spec) = self.value().get("spec") {
            collect_fields(spec, "/spec", names, &mut found);
        }
        found
    }

    /// A diagnostic about the key (not the value) of the member at `pointer`.
    pub fn key_diag(&self, code: Code, pointer: &str, message: impl Into<String>) -> Diagnostic {
        let mut diag = self.diag(code, pointer, message);
        diag.location = self.locate_key(pointer);
        diag
    }

    /// `Kind ns/name`, for messages.
    pub fn id(&self) -> ObjectId {
        ObjectId {
            kind: self.kind.name().to_string(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// A diagnostic about the field at `pointer` of this object.
    pub fn diag(&self, code: Code, pointer: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(code, &self.file, self.locate(pointer), message).at(self.id(), pointer)
    }
}

fn collect_fields<'v>(
    value: &'v Value,
    pointer: &str,
    names: &[&str],
    found: &mut Vec<(String, String, &'v Value)>,
) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        let child_pointer = l7mp_config::yaml::child_pointer(pointer, &key);
        if names.contains(&key.as_str()) {
            found.push((child_pointer, key, child));
        } else if !matches!(key.as_str(), "match" | "value") {
            collect_fields(child, &child_pointer, names, found);
        }
    }
}

/// The location of `len` bytes at byte `offset` of `text`.
fn location_at(text: &str, offset: usize, len: usize) -> Location {
    let before = text.get(..offset).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Location {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
        offset,
        len,
    }
}

/// The loaded objects, in file order, plus what was skipped.
#[derive(Debug, Default)]
pub struct Inputs {
    /// The objects of known kinds.
    pub objects: Vec<Object>,
    /// `file: apiVersion kind name` of each skipped document, for `--verbose`.
    pub skipped: Vec<String>,
}

/// Parses every file into objects; problems become diagnostics.
pub fn parse(files: &[SourceFile], default_namespace: &str, diags: &mut Diagnostics) -> Inputs {
    let mut inputs = Inputs::default();
    for file in files {
        match parse_documents(&file.text) {
            Ok(docs) => {
                let text: Arc<str> = Arc::from(file.text.as_str());
                for doc in docs {
                    let ctx = DocContext {
                        file: &file.name,
                        text: Arc::clone(&text),
                        doc: Arc::new(doc),
                        default_namespace,
                    };
                    ctx.route("", &mut inputs, diags);
                }
            }
            Err(e) => diags.push(Diagnostic::new(
                Code::YamlSyntax,
                &file.name,
                e.location,
                format!("invalid YAML: {}", e.message),
            )),
        }
    }
    inputs
}

struct DocContext<'a> {
    file: &'a str,
    text: Arc<str>,
    doc: Arc<Document>,
    default_namespace: &'a str,
}

impl DocContext<'_> {
    fn diag(&self, code: Code, pointer: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(code, self.file, self.doc.locate(pointer), message)
    }

    /// Classifies the object at `root` and stores it, expands it (a List) or skips it.
    fn route(&self, root: &str, inputs: &mut Inputs, diags: &mut Diagnostics) {
        let value = self.doc.value.pointer(root).unwrap_or(&Value::Null);
        let Some(map) = value.as_object() else {
            if !value.is_null() {
                let what = if root.is_empty() {
                    "document"
                } else {
                    "List item"
                };
                diags.push(self.diag(
                    Code::NotAnObject,
                    root,
                    format!("this {what} is not a mapping"),
                ));
            }
            return;
        };
        let text = |key: &str| map.get(key).and_then(Value::as_str);
        let (api_version, kind) = (text("apiVersion"), text("kind"));
        if api_version.is_none() {
            diags.push(self.diag(Code::MissingApiVersion, root, "no string `apiVersion`"));
        }
        if kind.is_none() {
            diags.push(self.diag(Code::MissingKind, root, "no string `kind`"));
        }
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            return;
        };
        if (api_version, kind) == ("v1", "List") {
            return self.expand_list(root, inputs, diags);
        }
        let name = value.pointer("/metadata/name").and_then(Value::as_str);
        match (Kind::from_type(api_version, kind), name) {
            (Some(kind), Some(name)) => inputs.objects.push(self.object(root, kind, name)),
            (Some(_), None) => diags.push(
                self.diag(
                    Code::MissingName,
                    &format!("{root}/metadata"),
                    "no string `metadata.name`",
                )
                .hint("every Kubernetes object needs a name"),
            ),
            (None, _) => inputs.skipped.push(format!(
                "{}: {api_version} {kind} {}",
                self.file,
                name.unwrap_or("(unnamed)")
            )),
        }
    }

    fn expand_list(&self, root: &str, inputs: &mut Inputs, diags: &mut Diagnostics) {
        let items_ptr = format!("{root}/items");
        match self.doc.value.pointer(&items_ptr).and_then(Value::as_array) {
            Some(items) => {
                for i in 0..items.len() {
                    self.route(&format!("{items_ptr}/{i}"), inputs, diags);
                }
            }
            None => diags.push(self.diag(Code::InvalidList, root, "this List has no `items` list")),
        }
    }

    fn object(&self, root: &str, kind: Kind, name: &str) -> Object {
        let namespace = self
            .doc
            .value
            .pointer(&format!("{root}/metadata/namespace"))
            .and_then(Value::as_str)
            .unwrap_or(self.default_namespace);
        Object {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            file: self.file.to_string(),
            text: Arc::clone(&self.text),
            doc: Arc::clone(&self.doc),
            root: root.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
