//! One loaded Kubernetes object: its identity, its content and where each of its nodes is.

use std::sync::Arc;

use l7mp_config::yaml::{Document, Location};
use serde_json::Value;

use super::Kind;
use crate::crd::{Nodes, Outline, Spec};
use crate::diagnostics::{Code, Diagnostic, ObjectId};

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
    /// The file's text, to find keys in.
    pub(super) text: Arc<str>,
    /// Where each node of the document the object is in was written (its content is
    /// taken out: each object holds its own).
    pub(super) doc: Arc<Document>,
    /// The position of that document in its file, counting from 0.
    pub document: usize,
    /// The object's JSON pointer within the document (`/items/N` in a List).
    pub(super) root: String,
    /// The object's content as loaded; null for an `l7mp.io` object once the schema stage has
    /// read it into [`Object::crd`].
    pub(super) value: Value,
    /// The typed spec of an `l7mp.io` object, set by [`crate::schema::check`]; None for other
    /// kinds and for a spec that does not read as its type (the schema stage reported why).
    /// Boxed (each kind in [`Spec`]), as is the outline: most objects have neither, and a Vec
    /// of objects sized for the largest spec would cost more than all the specs.
    pub crd: Option<Spec>,
    /// What is still used of an `l7mp.io` object whose spec does not read (so `crd` is None):
    /// its selectors, routes and references, each read on its own by the schema stage.
    pub outline: Option<Box<Outline>>,
}

impl Object {
    /// The object's content; null for an `l7mp.io` object once the schema stage has read it
    /// into [`Object::crd`].
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The selectors, clusters, routes and references of the object's typed spec, or of its
    /// outline; None for kinds without either.
    pub fn nodes(&self) -> Option<Nodes<'_>> {
        match (&self.crd, &self.outline) {
            (Some(spec), _) => Some(Nodes::of(spec)),
            (None, Some(outline)) => Some(Nodes::of_outline(outline)),
            (None, None) => None,
        }
    }

    /// Takes the content out, leaving null: the schema stage keeps only the typed spec.
    pub(crate) fn take_value(&mut self) -> Value {
        self.value.take()
    }

    /// The object's JSON pointer within its document: empty, or `/items/N` in a List.
    pub fn root(&self) -> &str {
        &self.root
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
        // occurrence of its text before the value, after the start of its mapping. The search
        // looks back at most KEY_WINDOW bytes: a key written otherwise (escaped, or very far
        // from its value) costs a bounded scan, not one of the whole file per diagnostic.
        let key = token.replace("~1", "/").replace("~0", "~");
        let mapping = self.locate(parent).offset;
        let mut from = value.offset.saturating_sub(KEY_WINDOW).max(mapping);
        while !self.text.is_char_boundary(from) {
            from += 1;
        }
        let before = self.text.get(from..value.offset).unwrap_or_default();
        match before.rfind(&key) {
            Some(i) => location_before(&self.text, value, from + i, key.len()),
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

/// How far before its value [`Object::locate_key`] looks for a key, in bytes.
const KEY_WINDOW: usize = 4096;

/// The location of `len` bytes at byte `offset` of `text`, counted back from the later
/// location `after` rather than from the start of the file: the text between is short.
fn location_before(text: &str, after: Location, offset: usize, len: usize) -> Location {
    let between = text.get(offset..after.offset).unwrap_or_default();
    let breaks = between.matches('\n').count();
    let column = if breaks == 0 {
        after.column.saturating_sub(between.chars().count()).max(1)
    } else {
        let before = text.get(..offset).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        before[line_start..].chars().count() + 1
    };
    Location {
        line: after.line.saturating_sub(breaks).max(1),
        column,
        offset,
        len,
    }
}
