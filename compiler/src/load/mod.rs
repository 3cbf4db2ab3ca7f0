//! Loading: files and directories into typed-by-kind Kubernetes objects with source locations.
//!
//! Reading files is the only I/O here ([`read_sources`], which also refuses input that is too
//! large or not UTF-8); [`parse`] is pure and turns every problem with a document into a
//! diagnostic, never a panic or an early return.

use std::sync::Arc;

use l7mp_config::yaml::{Document, parse_documents};
use serde_json::Value;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};

mod kind;
mod object;
mod read;
mod tags;
mod yaml11;

pub use kind::Kind;
pub use object::Object;
pub use read::{MAX_INPUT_BYTES, ReadError, read_sources};

/// A file's name (as given on the command line) and text, kept for caret excerpts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// The path as the user wrote it, or `<stdin>`.
    pub name: String,
    /// The whole text.
    pub text: String,
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
                    yaml11::check(&file.name, &file.text, &doc, diags);
                    let ctx = DocContext {
                        file: &file.name,
                        text: Arc::clone(&text),
                        doc: Arc::new(doc),
                        default_namespace,
                    };
                    let first = inputs.objects.len();
                    ctx.route("", &mut inputs, diags);
                    tags::check(&file.name, &ctx.doc, &inputs.objects[first..], diags);
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
