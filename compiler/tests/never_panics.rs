//! Property test: random text and mutations of the seed's files go through the whole pipeline
//! (`compile`, with and without a pods snapshot, the rendering of its diagnostics in every
//! format, and `inject`) without panicking; what inject writes, it reads back to the same bytes;
//! random bytes, custom tags and anchors, and lines too long for the human format to show whole
//! do not panic either.

use l7mpc::compile::{Options, compile};
use l7mpc::diagnostics::{Format, render};
use l7mpc::inject::{self, inject};
use l7mpc::load::{ReadError, SourceFile, read_sources};
use proptest::prelude::*;

fn seed() -> Vec<SourceFile> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/golden/seed-task1/input"
    );
    read_sources(&[std::path::PathBuf::from(dir)]).expect("the seed case is readable")
}

/// Compiles `files` and renders the diagnostics in every format, as the binary would.
fn compile_and_render(files: &[SourceFile], pods: Option<&[SourceFile]>) {
    let compiled = compile(files, pods, &Options::default());
    let all: Vec<&SourceFile> = files.iter().chain(pods.into_iter().flatten()).collect();
    let text = |name: &str| all.iter().find(|f| f.name == name).map(|f| &*f.text);
    for format in [Format::Human, Format::Json, Format::Github] {
        render(&compiled.diagnostics, text, format, false);
    }
}

/// A `v1 List` of Targets as one line of JSON, `pad` characters of label value before the
/// last item, whose port is `port`: a diagnostic far along a very long line.
fn minified(pad: usize, port: u32, extra_key: &str) -> String {
    let item = |name: &str, port: u32, label: &str| {
        format!(
            r#"{{"apiVersion":"l7mp.io/v1","kind":"Target","metadata":{{"name":"{name}","labels":{{"l":"{label}"}}}},"spec":{{"cluster":{{"spec":{{"UDP":{{"port":{port}}}}}{extra_key}}}}}}}"#
        )
    };
    format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{},{}]}}"#,
        item("a", 9001, &"x".repeat(pad)),
        item("b", port, "y")
    )
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
        files[i].text = mutate(&files[i].text, at, len, edit, &insert).into();
        let pods = [SourceFile { name: "pods.yaml".into(), text: files[i].text.clone() }];
        compile_and_render(&files, None);
        compile_and_render(&files, Some(&pods));
        let options = inject::Options::default();
        if let Some(out) = inject(&files[i..=i], &files, &options).output {
            let again = [SourceFile { name: "again.yaml".into(), text: out.as_str().into() }];
            let twice = inject(&again, &files, &options).output;
            prop_assert_eq!(twice.as_deref(), Some(out.as_str()));
        }
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,300}") {
        let files = [SourceFile { name: "random.yaml".into(), text: text.into() }];
        compile_and_render(&files, Some(&files));
        inject(&files, &[], &inject::Options::default());
    }

    /// Tags, anchors and aliases (a self-referencing one among them) put into the seed.
    #[test]
    fn tags_and_aliases_never_panic(
        file in 0usize..6, at in 0usize..4000,
        insert in prop::sample::select(vec![
            "!foo ", "!!str ", "!!int ", "!!map ", "!<tag:x.org,1:y> ", "&a ", "*a", "&a [*a]",
            "&b {k: *b}", "!foo\n", "? !k x\n: 1\n",
        ]),
    ) {
        let mut files = seed();
        let i = file % files.len();
        files[i].text = mutate(&files[i].text, at, 0, 2, insert).into();
        compile_and_render(&files, None);
    }

    /// Whatever bytes a file holds, reading it gives texts or refusals, never a panic.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let dir = std::env::temp_dir().join(format!("l7mpc-bytes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let path = dir.join("random.yaml");
        std::fs::write(&path, &bytes).expect("the file is written");
        let read = read_sources(&[path]);
        std::fs::remove_dir_all(&dir).expect("the folder is removed");
        match read {
            Ok(files) => compile_and_render(&files, None),
            Err(ReadError::Refused(diagnostics)) => {
                prop_assert_eq!(std::str::from_utf8(&bytes).is_ok(), false);
                for format in [Format::Human, Format::Json, Format::Github] {
                    render(&diagnostics, |_| None, format, false);
                }
            }
            Err(ReadError::Io(e)) => prop_assert!(false, "{e}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Diagnostics past miette's 65,535-character padding limit: a YAML error, a schema error
    /// and an unknown field with a huge name, on one long line.
    #[test]
    fn long_lines_never_panic(pad in 65_536usize..70_000, port in 65_000u32..70_000) {
        let texts = [
            format!("{}: 1\n", "a".repeat(pad)),
            minified(pad, port, ""),
            minified(pad, 9001, &format!(r#","{}":1"#, "k".repeat(pad))),
        ];
        for text in texts {
            let files = [SourceFile { name: "long.json".into(), text: text.into() }];
            compile_and_render(&files, None);
        }
    }
}
