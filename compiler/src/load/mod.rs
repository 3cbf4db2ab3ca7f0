//! Loading: files and directories into typed-by-kind Kubernetes objects with source locations.
//!
//! Reading files is the only I/O here ([`read_sources`], which also refuses input that is too
//! large or not UTF-8); [`parse`] is pure and turns every problem with a document into a
//! diagnostic, never a panic or an early return.

use std::ops::Range;
use std::sync::Arc;

use l7mp_config::yaml::{self, Document, Location, PieceRead, YamlError, for_each_document_in};
use serde_json::Value;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, ObjectId, did_you_mean};
use crate::parallel;

/// The API group of the l7mp resources: documents of this group are never skipped.
const L7MP_GROUP: &str = "l7mp.io";

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
    /// The whole text, shared with the objects loaded from it (they find keys in it), so that
    /// a large input is held once.
    pub text: Arc<str>,
}

/// The loaded objects, in file order, plus what was skipped.
#[derive(Debug, Default)]
pub struct Inputs {
    /// The objects of known kinds.
    pub objects: Vec<Object>,
    /// The documents of kinds the compiler does not read, outside `l7mp.io`.
    pub skipped: Vec<Skipped>,
}

/// A document of a kind the compiler does not read (a Secret, an Ingress...): the command line
/// lists them so that a misspelt or misplaced kind does not go unnoticed, and `l7mpc inject`
/// keeps its location and whether it runs pods, since it must refuse pod templates it cannot
/// inject rather than pass them through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The file it is in.
    pub file: String,
    /// Its `apiVersion`.
    pub api_version: String,
    /// Its `kind`.
    pub kind: String,
    /// Its `metadata.name`, if it has one.
    pub name: Option<String>,
    /// Its `metadata.namespace`, if it has one.
    pub namespace: Option<String>,
    /// Where it starts.
    pub location: Location,
    /// Whether it has a pod spec (`spec.template.spec`, `spec.jobTemplate` or `spec.containers`).
    pub runs_pods: bool,
}

impl std::fmt::Display for Skipped {
    /// `file: apiVersion kind name`, as `--verbose` lists it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.name.as_deref().unwrap_or("(unnamed)");
        write!(
            f,
            "{}: {} {} {name}",
            self.file, self.api_version, self.kind
        )
    }
}

/// Parses every file into objects; problems become diagnostics.
pub fn parse(files: &[SourceFile], default_namespace: &str, diags: &mut Diagnostics) -> Inputs {
    parse_each(files, default_namespace, diags, &|_, _| {})
}

/// A file at least this large is read in pieces on several cores (the pieces of smaller files
/// would cost more in threads than they save).
const PIECE_BYTES: usize = 64 * 1024;

/// Parses every file into objects as [`parse`] does, running `each` on every object as soon as
/// its document is read (the next stage, while only that document's JSON is alive).
///
/// Files, and the pieces of a large file ([`yaml::pieces`]), are read on every core and joined
/// in order, so the result is the one reading them in turn gives. A file whose pieces cannot
/// stand alone (one has a syntax error, or expands aliases, whose budget is the whole
/// stream's) is read again whole, for exactly what a reading in turn reports.
pub fn parse_each(
    files: &[SourceFile],
    default_namespace: &str,
    diags: &mut Diagnostics,
    each: &(dyn Fn(&mut Object, &mut Diagnostics) + Sync),
) -> Inputs {
    parse_in_pieces(files, default_namespace, diags, each, parallel::cores())
}

/// [`parse_each`], reading each large file in up to `wanted` pieces.
fn parse_in_pieces(
    files: &[SourceFile],
    default_namespace: &str,
    diags: &mut Diagnostics,
    each: &(dyn Fn(&mut Object, &mut Diagnostics) + Sync),
    wanted: usize,
) -> Inputs {
    let work: Vec<(usize, Range<usize>)> = files
        .iter()
        .enumerate()
        .flat_map(|(i, file)| {
            let pieces = if file.text.len() >= PIECE_BYTES {
                wanted
            } else {
                1
            };
            yaml::pieces(&file.text, pieces)
                .into_iter()
                .map(move |piece| (i, piece))
        })
        .collect();
    let read = parallel::map(&work, |(i, piece)| {
        read_piece(&files[*i], piece.clone(), default_namespace, each)
    });
    let mut read = work.iter().map(|(i, _)| *i).zip(read).peekable();
    let mut inputs = Inputs::default();
    for (i, file) in files.iter().enumerate() {
        let mut pieces = Vec::new();
        while let Some((_, piece)) = read.next_if(|(file, _)| *file == i) {
            pieces.push(piece);
        }
        let stand_alone = |p: &Piece| {
            matches!(
                p.read,
                Ok(PieceRead {
                    expanded_aliases: false
                })
            )
        };
        if pieces.len() > 1 && !pieces.iter().all(stand_alone) {
            let whole = 0..file.text.len();
            pieces = vec![read_piece(file, whole, default_namespace, each)];
        }
        if let Some(e) = pieces.iter().find_map(|p| p.read.as_ref().err()) {
            diags.push(Diagnostic::new(
                Code::YamlSyntax,
                &file.name,
                e.location,
                format!("invalid YAML: {}", e.message),
            ));
            continue;
        }
        let mut documents = 0;
        for piece in pieces {
            let first = inputs.objects.len();
            inputs.objects.extend(piece.inputs.objects);
            for object in &mut inputs.objects[first..] {
                object.document += documents;
            }
            documents += piece.documents;
            inputs.skipped.extend(piece.inputs.skipped);
            diags.append(piece.diags);
        }
    }
    inputs
}

/// What reading one piece of a file gave: all of it is kept only if every piece of the file
/// read without error.
struct Piece {
    /// Its objects (document indexes counted from the piece's first) and skipped documents.
    inputs: Inputs,
    diags: Diagnostics,
    /// How many documents it held.
    documents: usize,
    read: Result<PieceRead, YamlError>,
}

/// Reads the documents of `piece` of `file` into objects, running `each` on each object.
fn read_piece(
    file: &SourceFile,
    piece: Range<usize>,
    default_namespace: &str,
    each: &(dyn Fn(&mut Object, &mut Diagnostics) + Sync),
) -> Piece {
    let mut inputs = Inputs::default();
    let mut diags = Diagnostics::default();
    let mut documents = 0;
    let read = for_each_document_in(&file.text, piece, |doc| {
        yaml11::check(&file.name, &file.text, &doc, &mut diags);
        let ctx = DocContext {
            file: &file.name,
            doc: &doc,
            default_namespace,
        };
        let mut found = Vec::new();
        ctx.route("", &mut found, &mut inputs.skipped, &mut diags);
        let (doc, mut objects) = objects(&file.name, &file.text, doc, documents, found);
        tags::check(&file.name, &doc, &objects, &mut diags);
        for object in &mut objects {
            each(object, &mut diags);
        }
        inputs.objects.extend(objects);
        documents += 1;
    });
    Piece {
        inputs,
        diags,
        documents,
        read,
    }
}

/// An object found in a document, before it takes its content out of the document.
struct Found {
    root: String,
    kind: Kind,
    namespace: String,
    name: String,
}

/// The objects `found` in `doc` (document `index` of `file`), and the document. Each object
/// takes its own content out of the document, which then keeps only where each node is: the
/// content of an `l7mp.io` object can be dropped once it has been read into types, and nothing
/// else holds on to it.
fn objects(
    file: &str,
    text: &Arc<str>,
    mut doc: Document,
    index: usize,
    found: Vec<Found>,
) -> (Arc<Document>, Vec<Object>) {
    let values: Vec<Value> = found
        .iter()
        .map(|f| doc.value.pointer_mut(&f.root).map(Value::take))
        .map(Option::unwrap_or_default)
        .collect();
    doc.value = Value::Null;
    let doc = Arc::new(doc);
    let objects = found
        .into_iter()
        .zip(values)
        .map(|(f, value)| Object {
            kind: f.kind,
            namespace: f.namespace,
            name: f.name,
            file: file.to_string(),
            text: Arc::clone(text),
            doc: Arc::clone(&doc),
            document: index,
            root: f.root,
            value,
            crd: None,
            outline: None,
        })
        .collect();
    (doc, objects)
}

struct DocContext<'a> {
    file: &'a str,
    doc: &'a Document,
    default_namespace: &'a str,
}

impl DocContext<'_> {
    fn diag(&self, code: Code, pointer: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(code, self.file, self.doc.locate(pointer), message)
    }

    /// Classifies the object at `root` and records it in `found`, expands it (a List) or
    /// skips it.
    fn route(
        &self,
        root: &str,
        found: &mut Vec<Found>,
        skipped: &mut Vec<Skipped>,
        diags: &mut Diagnostics,
    ) {
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
            return self.expand_list(root, found, skipped, diags);
        }
        let name = value.pointer("/metadata/name").and_then(Value::as_str);
        match (Kind::from_type(api_version, kind), name) {
            (Some(kind), Some(name)) => found.push(self.found(root, kind, name)),
            (Some(_), None) => diags.push(
                self.diag(
                    Code::MissingName,
                    &format!("{root}/metadata"),
                    "no string `metadata.name`",
                )
                .hint("every Kubernetes object needs a name"),
            ),
            (None, _) if api_version.split('/').next() == Some(L7MP_GROUP) => {
                diags.push(self.unknown_l7mp(root, api_version, kind));
            }
            (None, _) => {
                let has = |pointer: &str| value.pointer(pointer).is_some();
                skipped.push(Skipped {
                    file: self.file.to_string(),
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                    name: name.map(str::to_string),
                    namespace: value
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    location: self.doc.locate(root),
                    runs_pods: has("/spec/template/spec")
                        || has("/spec/jobTemplate")
                        || has("/spec/containers"),
                });
            }
        }
    }

    /// An `l7mp.io` document of a kind or version the compiler does not read: an error, not a
    /// skip, since it is meant for the compiler and would otherwise vanish silently.
    fn unknown_l7mp(&self, root: &str, api_version: &str, kind: &str) -> Diagnostic {
        let l7mp = Kind::TABLE.iter().filter(|row| row.0.is_l7mp());
        let (code, field, message, hint) = match l7mp.clone().find(|row| row.2 == kind) {
            Some(row) => (
                Code::UnknownApiVersion,
                "/apiVersion",
                format!("`{api_version}` is not a version of {kind} that l7mpc reads"),
                format!("write `apiVersion: {}`", row.1),
            ),
            None => {
                let names: Vec<&str> = l7mp.map(|row| row.2).collect();
                let hint = match did_you_mean(kind, names.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("the kinds of `{L7MP_GROUP}` are {}", names.join(", ")),
                };
                let message = format!("`{L7MP_GROUP}` has no kind `{kind}`");
                (Code::UnknownKind, "/kind", message, hint)
            }
        };
        let diag = self
            .diag(code, &format!("{root}{field}"), message)
            .hint(hint);
        let text = |pointer: &str| {
            let value = self.doc.value.pointer(&format!("{root}{pointer}"));
            value.and_then(Value::as_str)
        };
        match text("/metadata/name") {
            Some(name) => diag.at(
                ObjectId {
                    kind: kind.to_string(),
                    namespace: text("/metadata/namespace")
                        .unwrap_or(self.default_namespace)
                        .to_string(),
                    name: name.to_string(),
                },
                field,
            ),
            None => diag,
        }
    }

    fn expand_list(
        &self,
        root: &str,
        found: &mut Vec<Found>,
        skipped: &mut Vec<Skipped>,
        diags: &mut Diagnostics,
    ) {
        let items_ptr = format!("{root}/items");
        match self.doc.value.pointer(&items_ptr).and_then(Value::as_array) {
            Some(items) => {
                for i in 0..items.len() {
                    self.route(&format!("{items_ptr}/{i}"), found, skipped, diags);
                }
            }
            None => diags.push(self.diag(Code::InvalidList, root, "this List has no `items` list")),
        }
    }

    fn found(&self, root: &str, kind: Kind, name: &str) -> Found {
        let namespace = self
            .doc
            .value
            .pointer(&format!("{root}/metadata/namespace"))
            .and_then(Value::as_str)
            .unwrap_or(self.default_namespace);
        Found {
            root: root.to_string(),
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
