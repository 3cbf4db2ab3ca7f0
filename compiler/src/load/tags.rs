//! Custom YAML tags (`!foo 9001`): the loader reads such a node as if it had no tag, so
//! whatever the author meant by it would be silently lost. Each one is an error, naming the
//! object and field it is in. The core schema's tags (`!!str`, `!!int`, ...) are not custom and
//! keep working: they only choose how a scalar is read.

use std::collections::HashMap;

use l7mp_config::yaml::Document;

use super::Object;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};

/// Reports each custom tag of `doc` from `file`; `objects` are the objects loaded from `doc`.
pub(super) fn check(file: &str, doc: &Document, objects: &[Object], diags: &mut Diagnostics) {
    if doc.custom_tags().is_empty() {
        return;
    }
    let by_root: HashMap<&str, &Object> = objects.iter().map(|o| (o.root.as_str(), o)).collect();
    for tag in doc.custom_tags() {
        let message = format!(
            "unknown YAML tag `{}`: l7mpc would read the value as if it had no tag",
            tag.tag
        );
        let mut diag = Diagnostic::new(Code::UnknownTag, file, tag.location, message).hint(
            "remove the tag; to make a value a string, quote it or tag it with the standard `!!str`",
        );
        if let Some((object, field)) = owner(&by_root, &tag.pointer) {
            diag = diag.at(object.id(), field);
        }
        diags.push(diag);
    }
}

/// The object whose root is the longest prefix of `pointer`, and the rest of `pointer`.
fn owner<'o, 'p>(
    by_root: &HashMap<&str, &'o Object>,
    pointer: &'p str,
) -> Option<(&'o Object, &'p str)> {
    let mut root = pointer;
    loop {
        if let Some(object) = by_root.get(root) {
            return Some((object, &pointer[root.len()..]));
        }
        root = &root[..root.rfind('/')?];
    }
}
