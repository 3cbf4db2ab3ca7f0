use std::path::{Path, PathBuf};

use super::*;
use crate::compile::Options as CheckOptions;
use crate::compile::compile;
use crate::load::read_sources;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn sources(paths: &[&str]) -> Vec<SourceFile> {
    let paths: Vec<PathBuf> = paths.iter().map(|p| repo(p)).collect();
    read_sources(&paths).expect("test inputs are readable")
}

fn text(name: &str, text: &str) -> Vec<SourceFile> {
    vec![SourceFile {
        name: name.into(),
        text: text.into(),
    }]
}

/// The examples' workloads without their hand-written sidecars.
const BARE: &str = "tests/golden/inject-examples/input";
const MESH: [&str; 2] = ["examples/task1/mesh", "examples/task1/gateway"];

fn injected(files: &[SourceFile], mesh: &[SourceFile], options: &Options) -> String {
    let run = inject(files, mesh, options);
    let errors: Vec<_> = run
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    run.output.expect("no errors, so output")
}

fn codes(run: &Injected) -> Vec<Code> {
    run.diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn injecting_twice_gives_the_bytes_of_injecting_once() {
    let mesh = sources(&MESH);
    let inputs = [
        sources(&[BARE]),
        sources(&["tests/golden/inject-passthrough/input"]),
        text(
            "odd.yaml",
            "# comment\nkind: Pod\napiVersion: v1\nmetadata: {name: p, annotations: }\nspec:\n  containers: [{name: a, image: 'x', args: [\"a\\tb\", '', \"multi\\nline\\n\"]}]\n---\n---\n",
        ),
    ];
    for files in inputs {
        let once = injected(&files, &mesh, &Options::default());
        let again = injected(&text("once.yaml", &once), &mesh, &Options::default());
        assert!(once == again, "not idempotent:\n{once}\n---- vs\n{again}");
    }
}

#[test]
fn compile_reads_injected_workloads_as_it_reads_the_hand_written_ones() {
    let mesh = sources(&MESH);
    let out = injected(&sources(&[BARE]), &mesh, &Options::default());
    let mut files = text("injected.yaml", &out);
    files.extend(mesh.iter().cloned());
    let from_injected = compile(&files, None, &CheckOptions::default());
    let from_injected = from_injected.output.expect("injected manifests compile");
    let by_hand = sources(&["examples/task1/workloads", MESH[0], MESH[1]]);
    let by_hand = compile(&by_hand, None, &CheckOptions::default());
    let by_hand = by_hand.output.expect("the examples compile");
    // The proxy configs are byte for byte the same; only the ConfigMaps' names differ, as the
    // hand-written manifests mount ConfigMaps of other names.
    assert_eq!(from_injected.configs, by_hand.configs);
    assert_eq!(from_injected.services, by_hand.services);
    // The ConfigMaps compile emits are exactly those inject mounted.
    let emitted: BTreeSet<&str> = from_injected
        .config_maps
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let docs = l7mp_config::yaml::parse_documents(&out).expect("output parses");
    let mounted: BTreeSet<&str> = docs
        .iter()
        .filter_map(|d| d.value.pointer("/spec/template/spec/volumes"))
        .flat_map(|v| v.as_array().into_iter().flatten())
        .filter(|v| v["name"] == CONFIG_VOLUME)
        .filter_map(|v| {
            v.pointer("/configMap/name")
                .and_then(serde_json::Value::as_str)
        })
        .collect();
    assert_eq!(emitted.len(), 3);
    assert_eq!(emitted, mounted);
}

#[test]
fn the_mesh_may_come_in_the_input_and_passes_through() {
    let mut files = sources(&[BARE]);
    files.extend(sources(&MESH));
    let out = injected(&files, &[], &Options::default());
    assert_eq!(out.matches("kind: VirtualService").count(), 2);
    assert_eq!(out, injected(&files, &files, &Options::default()));
    // The transcoder's socket directory is shared.
    assert!(out.contains("            - name: tmp\n              mountPath: /tmp\n"));
}

#[test]
fn another_image_is_a_conflict_and_nothing_is_written() {
    let once = injected(&sources(&[BARE]), &sources(&MESH), &Options::default());
    let other = Options {
        image: "registry.example/l7mp:1".into(),
        ..Options::default()
    };
    let run = inject(&text("once.yaml", &once), &sources(&MESH), &other);
    assert_eq!(codes(&run), [Code::SidecarConflict; 3]);
    assert!(run.output.is_none());
    let fresh = injected(&sources(&[BARE]), &sources(&MESH), &other);
    assert!(fresh.contains("image: \"registry.example/l7mp:1\""));
}

#[test]
fn the_app_container_annotation_picks_the_shared_volume() {
    let two = std::fs::read_to_string(repo("tests/golden/inject-conflicts/input/sockets.yaml"))
        .expect("fixture");
    let run = inject(&text("s.yaml", &two), &[], &Options::default());
    assert!(codes(&run).contains(&Code::AmbiguousAppContainer));
    let picked = two.replacen(
        "metadata: {labels: {app: two-apps}}",
        "metadata: {labels: {app: two-apps}, annotations: {l7mp.io/app-container: b}}",
        1,
    );
    let picked = picked.replace("l7mp.io/app-container: c", "l7mp.io/app-container: a");
    let out = injected(&text("s.yaml", &picked), &[], &Options::default());
    assert!(out.contains("            - name: vb\n              mountPath: /run\n"));
    assert!(out.contains("            - name: va\n              mountPath: /run/sock\n"));
}

#[test]
fn malformed_or_untyped_input_writes_nothing() {
    for (input, code) in [
        ("a: [1\n", Code::YamlSyntax),
        ("apiVersion: v1\nkind: Pod\n", Code::MissingName),
        (
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: r}\nspec: {template: {spec: {containers: []}}}\n",
            Code::NotInjectable,
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: b}]}\nx: !custom 1\n",
            Code::YamlSyntax,
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 1}\n",
            Code::NotInjectable,
        ),
    ] {
        let run = inject(&text("bad.yaml", input), &[], &Options::default());
        assert!(run.output.is_none(), "{input}");
        assert!(
            codes(&run).contains(&code),
            "{input}: {:?}",
            run.diagnostics
        );
    }
}
