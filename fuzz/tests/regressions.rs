//! Inputs the fuzz targets found failing, kept so that they keep passing, each within the same
//! bounds (5 s, the memory ceiling) as the targets' cases.

use std::sync::Arc;

use l7mp_fuzz::bounds::{self, Case};
use l7mp_fuzz::mutate::{Nesting, nesting};
use l7mpc::compile::{Options, compile};
use l7mpc::load::SourceFile;

/// Whether a message refuses input for nesting too deep.
fn too_deep(message: &str) -> bool {
    message.contains("nest more than") || message.contains("recursion limit exceeded")
}

/// Runs `case` on `text` within the bounds, failing the test with the failure.
fn bounded(text: String, case: Case<String>) {
    let shown = text.chars().take(200).collect();
    if let Err(failure) = bounds::run(text, shown, &case) {
        panic!("{failure}");
    }
}

/// `- - - ... x` a hundred thousand levels deep (200 KB) overflowed the stack of every YAML
/// reader: the proxy's loader (so a reload killed a running proxy), `l7mpc` and `inject`.
/// Flow and map nesting went the same way. Now each says the nesting is too deep (or, for
/// flow nesting the scanner reaches first, that its recursion limit is exceeded).
#[test]
fn deep_nesting_is_refused_by_every_yaml_reader() {
    for kind in [Nesting::Block, Nesting::Flow, Nesting::Map] {
        let text = format!("listeners:\n  - {}", nesting(kind, 100_000));
        bounded(
            text.clone(),
            Arc::new(|text: &String| {
                let err = l7mp_config::load_str("deep.yaml", text).unwrap_err();
                assert!(too_deep(&err[0].message), "{err:?}");
            }),
        );
        bounded(
            text,
            Arc::new(|text: &String| {
                let files = [SourceFile {
                    name: "deep.yaml".into(),
                    text: text.as_str().into(),
                }];
                let compiled = compile(&files, None, &Options::default());
                let messages: Vec<_> = compiled.diagnostics.iter().map(|d| &d.message).collect();
                assert!(messages.iter().any(|m| too_deep(m)), "{messages:?}");
                let injected = l7mpc::inject::inject(&files, &[], &Default::default());
                assert!(injected.output.is_none());
            }),
        );
    }
}

/// Aliases of aliases, each level twice the last, 64 levels: the count of the nodes they stand
/// for overflowed the alias budget's arithmetic (a panic in debug builds, a wrapped count in
/// release ones). Now every YAML reader refuses it for spending the budget.
#[test]
fn doubling_alias_chains_spend_the_budget_without_overflow() {
    let text = format!("listeners: []\n{}", nesting(Nesting::Aliases, 64));
    bounded(
        text,
        Arc::new(|text: &String| {
            let err = l7mp_config::load_str("aliases.yaml", text).unwrap_err();
            assert!(err[0].message.contains("node budget"), "{err:?}");
            let files = [SourceFile {
                name: "aliases.yaml".into(),
                text: text.as_str().into(),
            }];
            let compiled = compile(&files, None, &Options::default());
            let messages: Vec<_> = compiled.diagnostics.iter().map(|d| &d.message).collect();
            assert!(
                messages.iter().any(|m| m.contains("node budget")),
                "{messages:?}"
            );
        }),
    );
}
