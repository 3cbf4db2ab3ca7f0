//! Property test: random text and mutations of the seed's files go through the whole pipeline
//! (`compile`, with and without a pods snapshot, and `inject`) without panicking; what inject
//! writes, it reads back to the same bytes.

use l7mpc::compile::{Options, compile};
use l7mpc::inject::{self, inject};
use l7mpc::load::{SourceFile, read_sources};
use proptest::prelude::*;

fn seed() -> Vec<SourceFile> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/golden/seed-task1/input"
    );
    read_sources(&[std::path::PathBuf::from(dir)]).expect("the seed case is readable")
}

/// Edits a text: deletes, duplicates or replaces a span, at positions taken modulo its length.
fn mutate(text: &str, at: usize, len: usize, edit: u8, insert: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let start = at % (chars.len() + 1);
    let end = (start + len).min(chars.len());
    let (head, rest) = chars.split_at(start);
    let (span, tail) = rest.split_at(end - start);
    let span: String = span.iter().collect();
    let mid = match edit % 3 {
        0 => String::new(),
        1 => span.repeat(2),
        _ => insert.to_string(),
    };
    head.iter().collect::<String>() + &mid + &tail.iter().collect::<String>()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn mutated_seed_never_panics(
        file in 0usize..6, at in 0usize..4000, len in 0usize..40, edit in 0u8..3,
        insert in "[ a-zA-Z0-9:{}\\[\\],\\-\\n'\"|>&*!%@]{0,12}",
    ) {
        let mut files = seed();
        let i = file % files.len();
        files[i].text = mutate(&files[i].text, at, len, edit, &insert);
        let pods = [SourceFile { name: "pods.yaml".into(), text: files[i].text.clone() }];
        compile(&files, None, &Options::default());
        compile(&files, Some(&pods), &Options::default());
        let options = inject::Options::default();
        if let Some(out) = inject(&files[i..=i], &files, &options).output {
            let again = [SourceFile { name: "again.yaml".into(), text: out.clone() }];
            let twice = inject(&again, &files, &options).output;
            prop_assert_eq!(twice.as_deref(), Some(out.as_str()));
        }
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,300}") {
        let files = [SourceFile { name: "random.yaml".into(), text }];
        compile(&files, Some(&files), &Options::default());
        inject(&files, &[], &inject::Options::default());
    }
}
