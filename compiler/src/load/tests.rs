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
