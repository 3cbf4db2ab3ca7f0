use super::*;

fn load(text: &str) -> (Inputs, Vec<Diagnostic>) {
    let files = [SourceFile {
        name: "t.yaml".into(),
        text: text.into(),
    }];
    let mut diags = Diagnostics::default();
    let inputs = parse(&files, "default", &mut diags);
    (inputs, diags.into_sorted())
}

fn codes(diags: &[Diagnostic]) -> Vec<Code> {
    diags.iter().map(|d| d.code).collect()
}

#[test]
fn routes_kinds_and_defaults_namespace() {
    let (inputs, diags) = load(
        "apiVersion: l7mp.io/v1\nkind: Target\nmetadata: {name: t}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: x}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n",
    );
    assert!(diags.is_empty(), "{diags:?}");
    let got: Vec<_> = inputs
        .objects
        .iter()
        .map(|o| (o.kind, o.namespace.as_str(), o.name.as_str()))
        .collect();
    assert_eq!(
        got,
        [(Kind::Target, "default", "t"), (Kind::Deployment, "x", "d")]
    );
    let skipped: Vec<String> = inputs.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(skipped, ["t.yaml: v1 ConfigMap c"]);
    assert!(!inputs.skipped[0].runs_pods);
    assert_eq!(inputs.skipped[0].location.line, 9);
}

#[test]
fn lists_are_expanded_with_locations() {
    let (inputs, _) = load(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n",
    );
    let pod = &inputs.objects[0];
    assert_eq!(pod.kind, Kind::Pod);
    assert_eq!(pod.value()["kind"], "Pod");
    assert_eq!(pod.locate("/kind").line, 5);
}

#[test]
fn broken_documents_are_diagnostics() {
    let (_, diags) = load("[1, 2\n");
    assert_eq!(codes(&diags), [Code::YamlSyntax]);
    let (_, diags) = load("- a\n---\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Pod\n");
    assert_eq!(
        codes(&diags),
        [
            Code::NotAnObject,
            Code::MissingApiVersion,
            Code::MissingKind,
            Code::MissingName
        ]
    );
    let (_, diags) = load("apiVersion: v1\nkind: List\n");
    assert_eq!(codes(&diags), [Code::InvalidList]);
    // A syntax error in a later document takes back what the earlier ones gave.
    let (inputs, diags) = load("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\n[1, 2\n");
    assert_eq!(codes(&diags), [Code::YamlSyntax]);
    assert!(inputs.objects.is_empty());
}

#[test]
fn kind_table_matches_discriminants() {
    for row in Kind::TABLE {
        assert_eq!(row.0.name(), row.2);
        assert_eq!(Kind::from_plural(row.3), Some(row.0));
    }
}

#[test]
fn directories_are_read_recursively_and_sorted() {
    let dir = std::env::temp_dir().join(format!("l7mpc-load-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("b.yaml"), "b: 1\n").unwrap();
    std::fs::write(dir.join("sub/a.yml"), "a: 1\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
    let files = read_sources(&[dir.clone(), dir.join("b.yaml")]).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.name.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(names, ["b.yaml", "a.yml"]);
}

#[test]
fn keys_are_located_by_counting_back_from_their_values() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  é: 1\n  flow: {ä: 1, key: 2}\n  block:\n    key:\n      3\n";
    let (inputs, _) = load(text);
    let pod = &inputs.objects[0];
    let at = |pointer: &str| {
        let l = pod.locate_key(pointer);
        (l.line, l.column, &text[l.offset..l.offset + l.len])
    };
    assert_eq!(at("/spec/flow/key"), (6, 16, "key"));
    assert_eq!(at("/spec/block/key"), (8, 5, "key"));
    assert_eq!(at("/spec/é"), (5, 3, "é"));
}

#[test]
fn a_key_is_looked_for_only_shortly_before_its_value() {
    // The key's text is far before its value (behind a long comment): the value is shown
    // instead, rather than the search scanning back through the whole file.
    let comment = "#".repeat(5000);
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  far: {comment}\n    1\n"
    );
    let (inputs, _) = load(&text);
    let pod = &inputs.objects[0];
    assert_eq!(pod.locate_key("/spec/far"), pod.locate("/spec/far"));
    assert_eq!(pod.locate("/spec/far").line, 6);
}

/// Every golden case's input that is valid YAML, as one stream repeated past the size at which
/// a file is read in pieces: objects of every kind, skipped kinds, Lists, custom tags, YAML 1.1
/// values and schema errors.
fn golden_stream() -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden");
    let mut paths: Vec<_> = std::fs::read_dir(root)
        .expect("the golden cases")
        .flat_map(|case| std::fs::read_dir(case.expect("a case").path().join("input")))
        .flatten()
        .map(|file| file.expect("an input file").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    let mut unit = String::new();
    for path in paths {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if yaml::parse_documents(&text).is_ok() && !text.contains('%') {
            unit.push_str("---\n");
            unit.push_str(&text);
            unit.push('\n');
        }
    }
    assert!(
        unit.len() > 10_000,
        "the golden inputs are {} bytes",
        unit.len()
    );
    unit.repeat(2 * PIECE_BYTES / unit.len() + 1)
}

/// The objects (each as its fields' `Debug` text, but the file's) and skipped documents, and
/// the diagnostics of `text` read as one file in `wanted` pieces.
fn read_in(text: &str, wanted: usize) -> (Vec<String>, Vec<Skipped>, Vec<Diagnostic>) {
    let files = [SourceFile {
        name: "big.yaml".into(),
        text: text.into(),
    }];
    let mut diags = Diagnostics::default();
    let each = crate::schema::check_object;
    let inputs = parse_in_pieces(&files, "default", &mut diags, &each, wanted);
    let objects = inputs
        .objects
        .iter()
        .map(|o| {
            let Object {
                kind,
                namespace,
                name,
                file,
                text: _,
                doc,
                document,
                root,
                value,
                crd,
                outline,
            } = o;
            format!(
                "{kind:?} {namespace} {name} {file} {doc:?} {document} {root} {value:?} \
                 {crd:?} {outline:?}"
            )
        })
        .collect();
    (objects, inputs.skipped, diags.into_sorted())
}

#[test]
fn a_large_file_read_in_pieces_gives_what_reading_it_whole_gives() {
    let stream = golden_stream();
    let documents = stream.matches("\n---\n").count();
    let with_alias = stream.replacen("---\n", "---\nanchored: &a {x: 1}\nalias: *a\n---\n", 1);
    let broken_late = format!("{stream}---\nbroken: [1, 2\n---\nlast: 1\n");
    for text in [stream, with_alias, broken_late] {
        let whole = read_in(&text, 1);
        assert!(!whole.2.is_empty(), "the golden inputs have diagnostics");
        for wanted in [2, 3, 7] {
            assert!(yaml::pieces(&text, wanted).len() > 1);
            let got = read_in(&text, wanted);
            let differs = got.0.iter().zip(&whole.0).position(|(a, b)| a != b);
            assert_eq!(
                differs, None,
                "the first object that differs, in {wanted} pieces"
            );
            assert_eq!(got, whole, "in {wanted} pieces");
        }
    }
    assert!(documents > 100, "{documents} documents");
}
