//! Generators of near-valid inputs: edits of a real text (spans deleted, doubled or replaced,
//! YAML and l7mp tokens inserted, lines re-indented or borrowed from another seed, deep
//! nesting and alias chains), and JSON values built from the words the parsers look for, or a
//! real value with some of its nodes replaced.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};

/// Words that mean something to YAML, JSON or l7mp: inserted, they take a parser down paths
/// that random bytes rarely reach.
pub const TOKENS: &[&str] = &[
    ": ",
    "- ",
    "\n",
    "  ",
    "\t",
    "{",
    "}",
    "[",
    "]",
    ",",
    "\"",
    "'",
    "#",
    "&a ",
    "*a",
    "<<: *a",
    "!!str ",
    "!!int ",
    "!!binary ",
    "!custom ",
    "|",
    ">-",
    "? ",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "%TAG ! tag:x:\n",
    "~",
    "null",
    "true",
    "no",
    "on",
    "0x1F",
    "0o17",
    "-1",
    "0",
    "65536",
    "99999999999999999999999",
    "1e400",
    "-.inf",
    ".nan",
    "\u{feff}",
    "é",
    "\u{1F600}",
    "\\u0000",
    "\r\n",
    "protocol: UDP",
    "protocol: WebSocket",
    "protocol: JSONSocket",
    "protocol: TCP",
    "protocol: UnixDomainSocket",
    "protocol: Echo",
    "protocol: Sync",
    "port: 0",
    "port: -1",
    "apiVersion: l7mp.io/v1",
    "apiVersion: v1",
    "kind: VirtualService",
    "kind: Target",
    "kind: Rule",
    "kind: List",
    "kind: Deployment",
    "kind: ConfigMap",
    "items: []",
    "metadata:",
    "name: x",
    "namespace: other",
    "selector:",
    "matchLabels: {app: x}",
    "listeners:",
    "clusters:",
    "rules:",
    "rulelists:",
    "routes:",
    "endpoints:",
    "action:",
    "route:",
    "destination: x",
    "ingress: [x]",
    "egress: [x]",
    "retry: {num_retries: 99999}",
    "timeout: -5",
    "match: {op: matches, path: /a, value: '('}",
    "op: and",
    "apply: []",
    "path: /JSONSocket/~2",
    "header: [{set: {key: /, value: 1}}]",
    "/IP/src_addr",
    "~1",
    "~0",
    "loadbalancer: {policy: ConsistentHash, key: ''}",
    "transport: {protocol: UDP}",
    "rewrite: [{path: /a/-, value: 1}]",
    "position: 99",
    "ruleRef: x",
    "clusterRef: x",
];

/// One edit of a text. Positions are taken modulo the text's length, so any number is valid
/// and shrinking towards 0 moves the edit to the start.
#[derive(Clone, Debug)]
pub enum Edit {
    /// Removes `len` characters at `at`.
    Delete { at: usize, len: usize },
    /// Writes `len` characters at `at` twice.
    Duplicate { at: usize, len: usize },
    /// Replaces `len` characters at `at` with `text` (inserts it when `len` is 0).
    Replace { at: usize, len: usize, text: String },
    /// Moves line `line` right by `by` spaces, or left when `by` is negative.
    Indent { line: usize, by: i8 },
    /// Copies line `from` of seed `donor` in before line `line`.
    Splice {
        line: usize,
        donor: usize,
        from: usize,
    },
    /// Inserts `depth` levels of nesting at character `at` (block nesting: before line `at`).
    Nest {
        at: usize,
        kind: Nesting,
        depth: usize,
    },
}

/// The ways of nesting deeply.
#[derive(Clone, Copy, Debug)]
pub enum Nesting {
    /// `[[[...]]]`: YAML flow and JSON arrays.
    Flow,
    /// `- - - x`: YAML block sequences, one line.
    Block,
    /// `{a: {a: ...}}`.
    Map,
    /// `a0: &a0 [x, x]`, `a1: &a1 [*a0, *a0]`, ...: each alias doubles the last.
    Aliases,
}

/// A seed text after edits: what a case parses.
#[derive(Clone, Debug)]
pub struct Mutated {
    /// Which seed it started from.
    pub seed: String,
    /// The edits made, in order.
    pub edits: Vec<Edit>,
    /// The result.
    pub text: String,
}

/// A token to insert: a [`TOKENS`] word, printable ASCII, or any characters.
pub fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(TOKENS).prop_map(String::from),
        2 => "[ -~\n\t]{0,8}",
        1 => any::<String>().prop_map(|s| s.chars().take(6).collect()),
    ]
}

/// One edit, nesting at most `max_depth` levels.
pub fn edit(max_depth: usize) -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    let len = 0usize..48;
    let nesting = prop_oneof![
        Just(Nesting::Flow),
        Just(Nesting::Block),
        Just(Nesting::Map),
        Just(Nesting::Aliases)
    ];
    prop_oneof![
        3 => (at, len.clone()).prop_map(|(at, len)| Edit::Delete { at, len }),
        2 => (at, len.clone()).prop_map(|(at, len)| Edit::Duplicate { at, len }),
        6 => (at, 0usize..8, token()).prop_map(|(at, len, text)| Edit::Replace { at, len, text }),
        2 => (any::<usize>(), -6i8..=6).prop_map(|(line, by)| Edit::Indent { line, by }),
        2 => (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(line, donor, from)| Edit::Splice { line, donor, from }),
        1 => (at, nesting, depth(max_depth)).prop_map(|(at, kind, depth)| Edit::Nest { at, kind, depth }),
    ]
}

/// A nesting depth: mostly around the readers' limit of 128, sometimes up to `max`, deep
/// enough to overflow a stack if nothing stopped it.
fn depth(max: usize) -> impl Strategy<Value = usize> {
    let max = max.max(1);
    prop_oneof![3 => 1..=max.min(200), 1 => 1..=max]
}

/// Texts from `seeds` (name, text) with 1 to `max_edits` edits.
pub fn mutated(
    seeds: Vec<(String, String)>,
    max_edits: usize,
    max_depth: usize,
) -> impl Strategy<Value = Mutated> {
    let donors: Vec<String> = seeds.iter().map(|(_, t)| t.clone()).collect();
    (
        select(seeds),
        proptest::collection::vec(edit(max_depth), 1..=max_edits),
    )
        .prop_map(move |((seed, text), edits)| {
            let text = edits.iter().fold(text, |t, e| apply(&t, e, &donors));
            Mutated { seed, edits, text }
        })
}

/// Makes one edit; `donors` are the texts [`Edit::Splice`] borrows from.
pub fn apply(text: &str, edit: &Edit, donors: &[String]) -> String {
    match edit {
        Edit::Delete { at, len } => splice(text, *at, *len, |_| String::new()),
        Edit::Duplicate { at, len } => splice(text, *at, *len, |span| span.repeat(2)),
        Edit::Replace {
            at,
            len,
            text: with,
        } => splice(text, *at, *len, |_| with.clone()),
        Edit::Indent { line, by } => {
            let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
            let i = line % lines.len();
            let l = &mut lines[i];
            if *by >= 0 {
                l.insert_str(0, &" ".repeat(*by as usize));
            } else {
                let spaces = l.len() - l.trim_start_matches(' ').len();
                l.drain(..spaces.min(by.unsigned_abs() as usize));
            }
            lines.join("\n")
        }
        Edit::Splice { line, donor, from } => {
            let mut lines: Vec<&str> = text.split('\n').collect();
            let Some(donor) = (!donors.is_empty()).then(|| &donors[donor % donors.len()]) else {
                return text.to_string();
            };
            let donated: Vec<&str> = donor.split('\n').collect();
            lines.insert(line % (lines.len() + 1), donated[from % donated.len()]);
            lines.join("\n")
        }
        // Block nesting only nests at the start of a line: it goes in as a line of its own,
        // indented as the line it goes before.
        Edit::Nest {
            at,
            kind: Nesting::Block,
            depth,
        } => {
            let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
            let i = at % lines.len();
            let indent = lines[i].len() - lines[i].trim_start_matches(' ').len();
            let nested = " ".repeat(indent) + &nesting(Nesting::Block, *depth);
            lines.insert(i, nested.trim_end_matches('\n').to_string());
            lines.join("\n")
        }
        Edit::Nest { at, kind, depth } => splice(text, *at, 0, |_| nesting(*kind, *depth)),
    }
}

/// The text of `depth` levels of `kind`.
pub fn nesting(kind: Nesting, depth: usize) -> String {
    match kind {
        Nesting::Flow => "[".repeat(depth) + &"]".repeat(depth),
        Nesting::Block => "- ".repeat(depth) + "x\n",
        Nesting::Map => "{a: ".repeat(depth) + "x" + &"}".repeat(depth),
        Nesting::Aliases => {
            let mut out = String::from("\na0: &a0 [x, x]\n");
            for i in 1..depth.min(64) {
                let p = i - 1;
                out.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}]\n"));
            }
            out
        }
    }
}

/// Replaces `len` characters at character `at` (modulo the length) with `with(span)`.
fn splice(text: &str, at: usize, len: usize, with: impl FnOnce(&str) -> String) -> String {
    let chars = text.chars().count();
    let start = at % (chars + 1);
    let end = (start + len).min(chars);
    let byte = |i: usize| text.char_indices().nth(i).map_or(text.len(), |(b, _)| b);
    let (s, e) = (byte(start), byte(end));
    format!("{}{}{}", &text[..s], with(&text[s..e]), &text[e..])
}

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
