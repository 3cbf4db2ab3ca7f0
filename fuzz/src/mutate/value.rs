//! JSON values: built from the words the parsers look for, or real ones with nodes edited.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};

/// Object keys and string values the parsers look for.
pub const WORDS: &[&str] = &[
    "",
    "/",
    "~",
    "~0",
    "~1",
    "-",
    "0",
    "01",
    "a",
    "é",
    "IP",
    "src_addr",
    "dst_port",
    "UDP",
    "TCP",
    "HTTP",
    "headers",
    "JSONSocket",
    "JSONSocketVersion",
    "JSONSocketStatus",
    "JSONSocketMessage",
    "op",
    "path",
    "value",
    "apply",
    "ignore_case",
    "key",
    "set",
    "from",
    "to",
    "test",
    "contains",
    "starts",
    "ends",
    "matches",
    "more",
    "less",
    "in",
    "contained",
    "intersects",
    "type",
    "defined",
    "undefined",
    "and",
    "or",
    "not",
    "127.",
    "(",
    "a+$",
    "\\d",
    "string",
    "number",
    "integer",
    "boolean",
    "null",
    "array",
    "object",
    "ipv4",
    "date-time",
    "(a{1000}){1000}",
    "((a*)*)*b",
    "\\p{L}{500}",
    "[^\\x00-\\x{10FFFF}]",
    "(?i)ǅ",
    "a{4294967295}",
];

/// A JSON value of the words in [`WORDS`], numbers at their edges, and nesting.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(0.5), Just(1.0), Just(-0.0), Just(1e300), any::<f64>()]
            .prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
                .map(Value::Number)),
        select(WORDS).prop_map(Value::from),
        "\\PC{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((select(WORDS), inner), 0..6).prop_map(|entries| {
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// An edit of a JSON value's node number `at` (in document order, modulo their number).
#[derive(Clone, Debug)]
pub enum ValueEdit {
    /// The node becomes `with`.
    Replace { at: usize, with: Value },
    /// The node is removed from its parent (the root becomes null).
    Remove { at: usize },
    /// The node is wrapped in an array.
    Wrap { at: usize },
}

/// A real value with 1 to `max_edits` of its nodes edited.
pub fn edited_value(seeds: Vec<Value>, max_edits: usize) -> impl Strategy<Value = Value> {
    let edit = prop_oneof![
        3 => (any::<usize>(), json_value()).prop_map(|(at, with)| ValueEdit::Replace { at, with }),
        2 => any::<usize>().prop_map(|at| ValueEdit::Remove { at }),
        1 => any::<usize>().prop_map(|at| ValueEdit::Wrap { at }),
    ];
    (
        select(seeds),
        proptest::collection::vec(edit, 0..=max_edits),
    )
        .prop_map(|(mut value, edits)| {
            for e in &edits {
                edit_value(&mut value, e);
            }
            value
        })
}

/// Makes one [`ValueEdit`].
pub fn edit_value(root: &mut Value, edit: &ValueEdit) {
    let at = match edit {
        ValueEdit::Replace { at, .. } | ValueEdit::Remove { at } | ValueEdit::Wrap { at } => *at,
    };
    let target = at % count(root);
    if target == 0 {
        let old = std::mem::take(root);
        *root = match edit {
            ValueEdit::Replace { with, .. } => with.clone(),
            ValueEdit::Remove { .. } => Value::Null,
            ValueEdit::Wrap { .. } => Value::Array(vec![old]),
        };
        return;
    }
    let mut seen = 0;
    visit(root, target, &mut seen, edit);
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(items) => items.iter().map(count).sum(),
        Value::Object(map) => map.values().map(count).sum(),
        _ => 0,
    }
}

/// Finds the `target`th node below `node` (counting `node` as `seen`) and edits it in its parent.
fn visit(node: &mut Value, target: usize, seen: &mut usize, edit: &ValueEdit) -> bool {
    let children: Vec<(Option<usize>, Option<String>)> = match node {
        Value::Array(items) => (0..items.len()).map(|i| (Some(i), None)).collect(),
        Value::Object(map) => map.keys().map(|k| (None, Some(k.clone()))).collect(),
        _ => return false,
    };
    for (index, key) in children {
        *seen += 1;
        let child = match (&mut *node, index, &key) {
            (Value::Array(items), Some(i), _) => &mut items[i],
            (Value::Object(map), _, Some(k)) => &mut map[k],
            _ => return false,
        };
        if *seen == target {
            match edit {
                ValueEdit::Replace { with, .. } => *child = with.clone(),
                ValueEdit::Wrap { .. } => *child = Value::Array(vec![std::mem::take(child)]),
                ValueEdit::Remove { .. } => match (node, index, key) {
                    (Value::Array(items), Some(i), _) => {
                        items.remove(i);
                    }
                    (Value::Object(map), _, Some(k)) => {
                        map.remove(&k);
                    }
                    _ => {}
                },
            }
            return true;
        }
        if visit(child, target, seen, edit) {
            return true;
        }
    }
    false
}
