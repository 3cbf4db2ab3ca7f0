//! The proxy's config loader: every proxy config in the repository, as YAML or as JSON, edited,
//! goes through [`l7mp_config::load_str`] (what `l7mp --validate`, the start and every reload
//! run), and the diagnostics or warnings are rendered as `--validate` prints them. Nothing may
//! panic, hang or blow up; a loaded config must load again from the same text with the same
//! digest.

use std::sync::Arc;

use l7mp_config::diagnostic::Report;
use l7mp_config::load_str;
use l7mp_config::yaml::parse_documents;
use proptest::prelude::*;

use crate::bounds::Case;
use crate::mutate::{Mutated, mutated};
use crate::seeds::proxy_configs;
use crate::settings::{Summary, fuzz};

/// The seeds: each config as YAML and as JSON.
fn texts() -> Vec<(String, String)> {
    proxy_configs()
        .iter()
        .flat_map(|c| {
            let json = parse_documents(&c.text)
                .ok()
                .and_then(|d| d.first().map(|d| serde_json::to_string_pretty(&d.value)))
                .and_then(Result::ok);
            let mut both = vec![(c.name.clone(), c.text.clone())];
            both.extend(json.map(|j| (format!("{} as JSON", c.name), j)));
            both
        })
        .collect()
}

/// Inputs: a config edited.
pub fn inputs() -> impl Strategy<Value = Mutated> {
    mutated(texts(), 4, 100_000)
}

/// Loads and renders.
pub fn check(input: &Mutated) {
    match load_str("fuzz.yaml", &input.text) {
        Ok(loaded) => {
            let _ = Report(&loaded.warnings).to_string();
            let again = load_str("fuzz.yaml", &loaded.text)
                .unwrap_or_else(|d| panic!("loaded once, refused again:\n{}", Report(&d)));
            assert_eq!(again.sha256, loaded.sha256);
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "refused without a diagnostic");
            let _ = Report(&diagnostics).to_string();
        }
    }
}

/// Runs the target: `cases` inputs per round.
pub fn run(cases: u32) -> Summary {
    let case: Case<Mutated> = Arc::new(check);
    fuzz("config", cases, inputs(), case)
}
