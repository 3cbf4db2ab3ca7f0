//! The compiler's front end: a scenario of real files (an example mesh, a golden test's
//! input) with one file edited, or rewritten as JSON and then edited, goes through
//! [`l7mpc::compile::compile`] (what `l7mpc check` and `compile` run), and the diagnostics are
//! rendered for people and as JSON. Nothing may panic, hang or blow up, and the JSON rendering
//! must be a JSON array. The edited file read in pieces, as the compiler reads a large file on
//! several cores, must give the documents of its whole reading whenever every piece reads.

use std::sync::Arc;

use l7mp_config::yaml::{for_each_document_in, parse_documents, pieces};
use l7mpc::compile::{Options, compile};
use l7mpc::diagnostics::{Format, render};
use l7mpc::load::SourceFile;
use proptest::prelude::*;
use proptest::sample::select;

use crate::bounds::Case;
use crate::mutate::{Mutated, mutated};
use crate::seeds::{Scenario, scenarios};
use crate::settings::{Summary, fuzz};

/// A scenario with one of its files replaced by an edited version.
#[derive(Clone, Debug)]
pub struct Input {
    /// The scenario.
    pub scenario: String,
    /// The file replaced.
    pub file: String,
    /// Its new text.
    pub edited: Mutated,
    /// All files, as the compiler gets them.
    pub files: Vec<SourceFile>,
}

/// Each file of every scenario, as YAML and as JSON (one document per line): the texts edits
/// start from.
fn texts() -> Vec<(Scenario, usize, bool)> {
    scenarios()
        .iter()
        .flat_map(|s| {
            (0..s.files.len()).flat_map(move |i| [(s.clone(), i, false), (s.clone(), i, true)])
        })
        .collect()
}

/// `text` with each YAML document written as one line of JSON.
fn as_json(text: &str) -> String {
    parse_documents(text)
        .map(|docs| {
            docs.iter()
                .map(|d| d.value.to_string())
                .collect::<Vec<_>>()
                .join("\n---\n")
        })
        .unwrap_or_else(|_| text.to_string())
}

/// Inputs: a scenario with one file, as YAML or JSON, edited.
pub fn inputs() -> impl Strategy<Value = Input> {
    select(texts()).prop_flat_map(|(scenario, i, json)| {
        let file = scenario.files[i].clone();
        let text = if json {
            as_json(&file.text)
        } else {
            file.text.to_string()
        };
        mutated(vec![(file.name.clone(), text)], 4, 100_000).prop_map(move |edited| {
            let mut files = scenario.files.clone();
            files[i].text = edited.text.as_str().into();
            Input {
                scenario: scenario.name.clone(),
                file: files[i].name.clone(),
                edited,
                files,
            }
        })
    })
}

/// The documents of `text` read in three pieces, each as its `Debug` text (locations
/// included); None when a piece does not stand alone (an error, or an alias expanded), so
/// that the compiler would read the text whole.
fn read_in_pieces(text: &str) -> Option<Vec<String>> {
    let mut docs = Vec::new();
    for piece in pieces(text, 3) {
        let read = for_each_document_in(text, piece, |doc| docs.push(format!("{doc:?}")));
        if read.ok()?.expanded_aliases {
            return None;
        }
    }
    Some(docs)
}

/// Compiles and renders; panics when the JSON rendering is not a JSON array, or when the
/// edited file's pieces read as other documents than its whole reading.
pub fn check(input: &Input) {
    if let Some(docs) = read_in_pieces(&input.edited.text) {
        let whole = parse_documents(&input.edited.text)
            .unwrap_or_else(|e| panic!("every piece read, the whole text does not: {e}"));
        let whole: Vec<String> = whole.iter().map(|d| format!("{d:?}")).collect();
        assert_eq!(docs, whole, "read in pieces and whole");
    }
    let compiled = compile(&input.files, None, &Options::default());
    let text = |name: &str| {
        input
            .files
            .iter()
            .find(|f| f.name == name)
            .map(|f| &*f.text)
    };
    let human = render(&compiled.diagnostics, text, Format::Human, false);
    assert_eq!(human.is_empty(), compiled.diagnostics.is_empty(), "{human}");
    let json = render(&compiled.diagnostics, text, Format::Json, false);
    let parsed: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("the JSON diagnostics do not parse ({e}): {json}"));
    let listed = parsed.as_array().map(Vec::len);
    assert_eq!(listed, Some(compiled.diagnostics.len()), "{json}");
}

/// Runs the target: `cases` inputs per round.
pub fn run(cases: u32) -> Summary {
    let case: Case<Input> = Arc::new(check);
    fuzz("compiler", cases, inputs(), case)
}
