//! The crate's modules form layers: no top-level module imports another that imports it back,
//! directly or around a loop, and neither do the submodules of one folder. This test reads
//! the sources (from `lib.rs`, following `mod` declarations), collects every `crate::`,
//! `super::` and `self::` path outside comments and strings (use trees expanded), and fails
//! naming each cycle with the line that makes every edge of it.
//!
//! Run it with `cargo test -p l7mp --lib layering`. `L7MP_LAYERING_SRC=<dir>` checks another
//! copy of `proxy/src` instead (an older commit's, say).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path from the crate root (`["session", "ring"]`); the root is empty.
type ModPath = Vec<String>;

/// One source file of the crate.
struct File {
    module: ModPath,
    /// Relative to the source root, for messages.
    name: String,
    text: String,
}

/// Why `from` depends on `to`: the first reference found, as `file:line path`.
type Edges = BTreeMap<(String, String), String>;

/// The crate's files, from `lib.rs` down its `mod` declarations.
fn crate_files(root: &Path) -> Vec<File> {
    let mut files = Vec::new();
    let mut todo = vec![(root.join("lib.rs"), ModPath::new(), true)];
    while let Some((path, module, owns_dir)) = todo.pop() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            panic!("cannot read {}", path.display());
        };
        // A `mod x;` of `a/mod.rs` or `lib.rs` is `a/x.rs`; of `a/b.rs` it is `a/b/x.rs`.
        let dir = match owns_dir {
            true => path.parent().map(Path::to_path_buf).unwrap_or_default(),
            false => path.with_extension(""),
        };
        let code = strip(&text);
        for name in mod_declarations(&code) {
            let mut child = module.clone();
            child.push(name.clone());
            let flat = dir.join(format!("{name}.rs"));
            let nested = dir.join(&name).join("mod.rs");
            match flat.exists() {
                true => todo.push((flat, child, false)),
                false => todo.push((nested, child, true)),
            }
        }
        let name = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        files.push(File { module, name, text });
    }
    files
}

/// The names of `mod name;` declarations (inline `mod name { ... }` blocks are not files).
fn mod_declarations(code: &str) -> Vec<String> {
    let words: Vec<&str> = code
        .split(|c: char| c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| w[0] == "mod" && w[1].ends_with(';'))
        .map(|w| w[1].trim_end_matches(';').to_string())
        .collect()
}

/// `text` with comments, string literals and character literals blanked out (newlines kept,
/// so that line numbers still hold).
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let rest = &chars[i..];
        if rest.starts_with(&['/', '/']) {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if rest.starts_with(&['/', '*']) {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i..].starts_with(&['/', '*']) {
                    depth += 1;
                    i += 2;
                    out.push_str("  ");
                } else if chars[i..].starts_with(&['*', '/']) {
                    depth -= 1;
                    i += 2;
                    out.push_str("  ");
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if chars[i] == 'r'
            && (i == 0 || !is_ident(chars[i - 1]))
            && rest.get(1 + hashes_after(rest)) == Some(&'"')
        {
            let hashes = hashes_after(rest);
            let mut close = vec!['"'];
            close.extend(std::iter::repeat_n('#', hashes));
            i += 2 + hashes;
            while i < chars.len() && !chars[i..].starts_with(&close) {
                blank(&mut out, chars[i]);
                i += 1;
            }
            i += close.len();
        } else if chars[i] == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&c) = chars.get(i) {
                    blank(&mut out, c);
                }
                i += 1;
            }
            i += 1;
        } else if chars[i] == '\'' && (rest.get(2) == Some(&'\'') || rest.get(1) == Some(&'\\')) {
            // A character literal ('x', '\n', '\''); a lifetime ('a) has no closing quote.
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The `#`s after the first character of `chars` (a raw string's `r##"`).
fn hashes_after(chars: &[char]) -> usize {
    chars.iter().skip(1).take_while(|c| **c == '#').count()
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path that starts with `crate::`, `super::` or `self::` in `code`, use trees
/// expanded, made absolute from `module` (the module of a file; `mod.rs` is its folder's
/// module), with the line it starts on.
fn paths(code: &str, module: &ModPath) -> Vec<(usize, ModPath)> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let boundary = i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == '$');
        let head = ["crate", "super", "self"]
            .into_iter()
            .find(|h| boundary && starts_with_word(&chars[i..], h));
        let Some(head) = head else {
            i += 1;
            continue;
        };
        let line = chars[..i].iter().filter(|c| **c == '\n').count() + 1;
        let mut tree = Vec::new();
        let end = use_tree(&chars, i, &mut Vec::new(), &mut tree);
        for segments in tree {
            if let Some(path) = absolute(&segments, module) {
                found.push((line, path));
            }
        }
        i = end.max(i + head.len());
    }
    found
}

fn starts_with_word(chars: &[char], word: &str) -> bool {
    let w: Vec<char> = word.chars().collect();
    chars.starts_with(&w) && chars.get(w.len()).is_none_or(|c| !is_ident(*c))
}

/// Parses a path or use tree at `i` (`a::b`, `a::{b, c::d}`), pushing every full path under
/// `prefix` into `out`; returns where it ended.
fn use_tree(
    chars: &[char],
    mut i: usize,
    prefix: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    let depth = prefix.len();
    loop {
        i = skip_space(chars, i);
        if chars.get(i) == Some(&'{') {
            i += 1;
            loop {
                i = skip_space(chars, i);
                match chars.get(i) {
                    None => break,
                    Some('}') => {
                        i += 1;
                        break;
                    }
                    Some(',') => i += 1,
                    Some(_) => {
                        let before = i;
                        i = use_tree(chars, i, prefix, out);
                        if i == before {
                            i += 1;
                        }
                    }
                }
            }
            prefix.truncate(depth);
            return i;
        }
        let start = i;
        while chars.get(i).is_some_and(|c| is_ident(*c)) {
            i += 1;
        }
        if i == start {
            break;
        }
        prefix.push(chars[start..i].iter().collect());
        let next = skip_space(chars, i);
        if chars[next..].starts_with(&[':', ':']) {
            i = next + 2;
        } else {
            break;
        }
    }
    out.push(prefix.clone());
    prefix.truncate(depth);
    i
}

fn skip_space(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

/// `segments` (starting with `crate`, `super` or `self`) as a path from the crate root.
fn absolute(segments: &[String], module: &ModPath) -> Option<ModPath> {
    let (head, rest) = segments.split_first()?;
    let mut path = match head.as_str() {
        "crate" => ModPath::new(),
        _ => module.clone(),
    };
    if head == "super" {
        path.pop()?;
    }
    let mut rest = rest.iter().peekable();
    while rest.next_if(|s| *s == "super").is_some() {
        path.pop()?;
    }
    path.extend(rest.cloned());
    Some(path)
}

/// The longest prefix of `path` that is one of `modules`.
fn resolve(path: &ModPath, modules: &BTreeSet<ModPath>) -> ModPath {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
        .unwrap_or_default()
}

/// The dependency graphs to check: the top-level modules', and per folder module the graph of
/// its direct submodules (keyed by the folder's path; the root's key is empty).
fn graphs(files: &[File]) -> BTreeMap<ModPath, Edges> {
    let modules: BTreeSet<ModPath> = files.iter().map(|f| f.module.clone()).collect();
    let mut graphs: BTreeMap<ModPath, Edges> = BTreeMap::new();
    for file in files {
        let code = strip(&file.text);
        for (line, path) in paths(&code, &file.module) {
            let target = resolve(&path, &modules);
            // The deepest folder both lie in: there the two are different submodules.
            let common = file
                .module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            let (Some(from), Some(to)) = (file.module.get(common), target.get(common)) else {
                continue;
            };
            let why = format!("{}:{line} {}", file.name, path.join("::"));
            graphs
                .entry(file.module[..common].to_vec())
                .or_default()
                .entry((from.clone(), to.clone()))
                .or_insert(why);
        }
    }
    graphs
}

/// Every cycle of `edges`, one per strongly connected group of modules, each named as
/// `a -> b -> a` with the reference behind every step.
fn cycles(edges: &Edges) -> Vec<String> {
    let nodes: BTreeSet<&String> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
    let next = |n: &String| -> Vec<&String> {
        edges
            .keys()
            .filter(|(a, _)| a == n)
            .map(|(_, b)| b)
            .collect()
    };
    let reaches = |from: &String, to: &String| -> Option<Vec<String>> {
        // Breadth first, so that the cycle named is a shortest one.
        let mut seen: BTreeMap<&String, &String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([from]);
        while let Some(n) = queue.pop_front() {
            for m in next(n) {
                if seen.contains_key(m) {
                    continue;
                }
                seen.insert(m, n);
                if m == to {
                    let mut path = vec![m.clone()];
                    let mut at = m;
                    while at != from || path.len() == 1 {
                        at = seen[at];
                        path.push(at.clone());
                        if at == from {
                            break;
                        }
                    }
                    path.reverse();
                    return Some(path);
                }
                queue.push_back(m);
            }
        }
        None
    };
    let mut reported: BTreeSet<&String> = BTreeSet::new();
    let mut found = Vec::new();
    for n in nodes {
        if reported.contains(n) {
            continue;
        }
        let Some(path) = reaches(n, n) else { continue };
        let steps: Vec<String> = path
            .windows(2)
            .map(|w| {
                format!(
                    "    {} -> {}: {}",
                    w[0],
                    w[1],
                    edges[&(w[0].clone(), w[1].clone())]
                )
            })
            .collect();
        // Everything on a cycle through `n` is in its group: report the group once, with
        // a shortest loop through `n` as the example.
        let group: BTreeSet<&String> = edges
            .keys()
            .map(|(a, _)| a)
            .filter(|m| *m == n || (reaches(n, m).is_some() && reaches(m, n).is_some()))
            .collect();
        let members: Vec<&str> = group.iter().map(|m| m.as_str()).collect();
        found.push(format!(
            "{} (the modules in loops with each other: {})\n{}",
            path.join(" -> "),
            members.join(", "),
            steps.join("\n")
        ));
        reported.extend(group);
    }
    found
}

/// The cycles among the modules of the crate under `root`, as messages naming the folder.
fn crate_cycles(root: &Path) -> Vec<String> {
    let files = crate_files(root);
    let mut found = Vec::new();
    for (folder, edges) in graphs(&files) {
        let place = match folder.is_empty() {
            true => "top-level modules".to_string(),
            false => format!("submodules of {}", folder.join("::")),
        };
        for cycle in cycles(&edges) {
            found.push(format!("cycle among the {place}: {cycle}"));
        }
    }
    found
}

#[test]
fn no_module_cycles() {
    let root = std::env::var_os("L7MP_LAYERING_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let files = crate_files(&root);
    assert!(
        files.len() > 20,
        "found only {} files under {}",
        files.len(),
        root.display()
    );
    let found = crate_cycles(&root);
    assert!(
        found.is_empty(),
        "modules import each other in a loop; move what both need below both:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_cycle_is_named_with_its_references() {
    let file = |module: &[&str], text: &str| File {
        module: module.iter().map(|s| s.to_string()).collect(),
        name: format!("{}.rs", module.join("/")),
        text: text.to_string(),
    };
    let files = [
        file(&[], "pub mod a; pub mod b; pub mod c;"),
        file(
            &["a"],
            "use crate::b::{self, X};\n// crate::c::Y in a comment\nlet s = \"crate::c\";",
        ),
        file(&["b"], "fn f() { super::c::g() }"),
        file(&["c"], "use crate::{a::Z, msg};\nmod inner;"),
        file(&["c", "inner"], "use super::super::b;"),
    ];
    let graphs = graphs(&files);
    let top = &graphs[&ModPath::new()];
    assert!(top.contains_key(&("a".into(), "b".into())));
    assert!(
        !top.contains_key(&("a".into(), "c".into())),
        "comments and strings are not code"
    );
    assert!(
        top.contains_key(&("c".into(), "b".into())),
        "super::super from c::inner is b"
    );
    let found = cycles(top);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("a -> b -> c -> a"), "{}", found[0]);
    assert!(found[0].contains("b -> c: b.rs:1 c::g"), "{}", found[0]);
}

#[test]
fn layers_without_a_loop_pass() {
    let mut edges = Edges::new();
    for (a, b) in [
        ("listener", "session"),
        ("session", "stage"),
        ("listener", "stage"),
    ] {
        edges.insert((a.into(), b.into()), String::new());
    }
    assert!(cycles(&edges).is_empty());
}
