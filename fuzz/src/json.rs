//! JSON predicates and JSON pointers, the languages of rule matches and rewrites.
//!
//! Predicates: the repository's rule matches with nodes replaced, and predicates built from
//! the operations' own words, are compiled with [`Predicate::compile`] and, when they compile,
//! matched against session-like metadata. Pointers: texts built from the pieces RFC 6901 cares
//! about are parsed, looked up, written and made lenient; a successful write must read back.

use std::sync::Arc;

use l7mp_config::pointer::{JsonPointer, lenient};
use l7mp_config::predicate::Predicate;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

use crate::bounds::Case;
use crate::mutate::{WORDS, edited_value, json_value};
use crate::seeds::values_under;
use crate::settings::{Summary, fuzz};

/// A predicate and the metadata it is matched against.
#[derive(Clone, Debug)]
pub struct PredicateInput {
    /// The predicate document.
    pub predicate: Value,
    /// Session metadata.
    pub metadata: Value,
}

/// Metadata shaped like a session's, with some of it replaced.
fn metadata() -> impl Strategy<Value = Value> {
    let session = json!({
        "IP": {"src_addr": "127.0.0.1", "dst_addr": "10.0.0.1", "src_port": 5000},
        "UDP": {"src_port": 5000, "dst_port": 9001},
        "HTTP": {"headers": {"host": "a", "user-agent": "x"}, "url": {"path": "/a"}},
        "JSONSocket": {"JSONSocketVersion": 1, "service": "a", "labels": ["x", "y"]},
    });
    edited_value(vec![session], 4)
}

/// A predicate built from the operations' words: an operation, a path and a value.
fn built_predicate() -> impl Strategy<Value = Value> {
    let value = prop_oneof![3 => json_value(), 1 => select(WORDS).prop_map(Value::from)];
    let first = (select(WORDS), pointer_text(), value, any::<bool>()).prop_map(
        |(op, path, value, ignore_case)| {
            json!({"op": op, "path": path, "value": value, "ignore_case": ignore_case})
        },
    );
    first.prop_recursive(6, 40, 4, |inner| {
        (
            select(&["and", "or", "not"][..]),
            proptest::option::of(pointer_text()),
            proptest::collection::vec(inner, 0..4),
        )
            .prop_map(|(op, path, apply)| {
                let mut p = json!({"op": op, "apply": apply});
                if let Some(path) = path {
                    p["path"] = Value::from(path);
                }
                p
            })
    })
}

/// Predicates: the repository's rule matches, edited, or built from words.
pub fn predicates() -> impl Strategy<Value = PredicateInput> {
    let mut seeds = values_under("match");
    seeds.push(
        json!({"op": "matches", "path": "/HTTP/url/path", "value": "^/a+$", "ignore_case": true}),
    );
    seeds.push(
        json!({"op": "and", "apply": [{"op": "more", "path": "/UDP/src_port", "value": 1024}]}),
    );
    (
        prop_oneof![edited_value(seeds, 4), built_predicate()],
        metadata(),
    )
        .prop_map(|(predicate, metadata)| PredicateInput {
            predicate,
            metadata,
        })
}

/// Compiles and matches; a predicate refused must say where.
pub fn check_predicate(input: &PredicateInput) {
    match Predicate::compile(&input.predicate) {
        Ok(p) => {
            let _ = p.matches(&input.metadata);
        }
        Err(e) => {
            assert!(
                !e.message.is_empty(),
                "an error without a message at {}",
                e.path
            );
            // The error names a field: the member it is about, or the object that lacks it.
            let parent = e.path.rsplit_once('/').map_or("", |(p, _)| p);
            assert!(
                input.predicate.pointer(parent).is_some(),
                "the error points outside the predicate: {e}"
            );
        }
    }
}

/// Pointer text from the pieces RFC 6901 cares about.
fn pointer_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/"),
        Just("~0"),
        Just("~1"),
        Just("~"),
        Just("~2"),
        Just("-"),
        Just("0"),
        Just("01"),
        Just("1"),
        Just("a"),
        Just("é"),
        Just("IP"),
        Just("src_addr"),
        Just("18446744073709551616"),
    ];
    proptest::collection::vec(piece, 0..10).prop_map(|p| p.concat())
}

/// A pointer, a document, and a value to write.
#[derive(Clone, Debug)]
pub struct PointerInput {
    /// The pointer text.
    pub text: String,
    /// The document looked up and written.
    pub document: Value,
    /// The value written.
    pub value: Value,
}

/// Pointers with documents.
pub fn pointers() -> impl Strategy<Value = PointerInput> {
    (pointer_text(), json_value(), json_value()).prop_map(|(text, document, value)| PointerInput {
        text,
        document,
        value,
    })
}

/// Parses, looks up, writes and reads back.
pub fn check_pointer(input: &PointerInput) {
    let _ = JsonPointer::parse(&lenient(&input.text));
    let Ok(pointer) = JsonPointer::parse(&input.text) else {
        return;
    };
    assert_eq!(pointer.as_str(), input.text);
    let _ = pointer.get(&input.document);
    let mut written = input.document.clone();
    if pointer.set(&mut written, input.value.clone()).is_ok()
        && !pointer.tokens().iter().any(|t| t == "-")
    {
        assert_eq!(
            pointer.get(&written),
            Some(&input.value),
            "written, not read back"
        );
    }
}

/// Runs the predicate target: `cases` inputs per round.
pub fn run_predicates(cases: u32) -> Summary {
    let case: Case<PredicateInput> = Arc::new(check_predicate);
    fuzz("predicates", cases, predicates(), case)
}

/// Runs the pointer target: `cases` inputs per round.
pub fn run_pointers(cases: u32) -> Summary {
    let case: Case<PointerInput> = Arc::new(check_pointer);
    fuzz("pointers", cases, pointers(), case)
}
