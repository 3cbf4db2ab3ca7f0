//! Edits of a real text: what turns a valid config or manifest into a near-valid one.

use proptest::prelude::*;
use proptest::sample::select;

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
