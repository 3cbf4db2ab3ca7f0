use std::os::unix::fs::MetadataExt;

use super::*;

fn doc(kind: &str, namespace: &str, name: &str) -> Emitted {
    let text = format!(
        "apiVersion: v1\nkind: {kind}\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: l7mpc\n  \
         name: {name}\n  namespace: {namespace}\n"
    );
    Emitted {
        namespace: namespace.into(),
        kind: kind.into(),
        name: name.into(),
        text,
    }
}

fn files(docs: &[Emitted], format: Format) -> Vec<File> {
    docs.iter()
        .map(|d| file(d, Contents::Configmap, format).expect("a plain name"))
        .collect()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for folder in std::fs::read_dir(dir).unwrap() {
        let folder = folder.unwrap().path();
        if folder.is_dir() {
            for file in std::fs::read_dir(&folder).unwrap() {
                let path = file.unwrap().path();
                names.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        } else {
            names.push(folder.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    names.sort();
    names
}

#[test]
fn rewrites_only_changes_and_removes_only_its_own_stale_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a = doc("ConfigMap", "ns", "a");
    let b = doc("Service", "ns", "b-endpoints");
    let c = doc("ConfigMap", "other", "c");
    let first = write(dir, &files(&[a.clone(), b.clone(), c], Format::Yaml)).unwrap();
    assert_eq!(first.written.len(), 3);
    // Files that are not l7mpc's: unlabelled, labelled but named otherwise, at the top, not YAML.
    let foreign = [
        (
            "ns/configmap-mine.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mine, namespace: ns}\n".to_string(),
        ),
        ("ns/renamed.yaml", doc("ConfigMap", "ns", "x").text),
        (
            "ns/configmap-y.yaml",
            doc("ConfigMap", "elsewhere", "y").text,
        ),
        ("configmap-z.yaml", doc("ConfigMap", "ns", "z").text),
        ("ns/notes.txt", doc("ConfigMap", "ns", "notes").text),
    ];
    for (path, text) in &foreign {
        std::fs::write(dir.join(path), text).unwrap();
    }
    let inode = std::fs::metadata(dir.join("ns/configmap-a.yaml"))
        .unwrap()
        .ino();
    let second = write(dir, &files(&[a], Format::Yaml)).unwrap();
    assert!(second.written.is_empty(), "{second:?}");
    assert_eq!(second.unchanged, [dir.join("ns/configmap-a.yaml")]);
    assert_eq!(
        second.removed,
        [
            dir.join("ns/service-b-endpoints.yaml"),
            dir.join("other/configmap-c.yaml")
        ]
    );
    let inode_after = std::fs::metadata(dir.join("ns/configmap-a.yaml"))
        .unwrap()
        .ino();
    assert_eq!(inode, inode_after, "an unchanged file is not rewritten");
    assert_eq!(
        listing(dir),
        [
            "configmap-z.yaml",
            "ns/configmap-a.yaml",
            "ns/configmap-mine.yaml",
            "ns/configmap-y.yaml",
            "ns/notes.txt",
            "ns/renamed.yaml",
        ],
        "the emptied namespace folder goes, nothing else"
    );
    // Switching to JSON replaces the YAML file; its old name is l7mpc's, so it goes.
    let third = write(dir, &files(&[b], Format::Json)).unwrap();
    assert_eq!(third.written, [dir.join("ns/service-b-endpoints.json")]);
    assert_eq!(third.removed, [dir.join("ns/configmap-a.yaml")]);
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(&third.written[0]).unwrap()).unwrap();
    assert_eq!(json["metadata"]["name"], "b-endpoints");
}

#[test]
fn a_changed_file_is_replaced_by_rename_and_no_temporary_file_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut a = doc("ConfigMap", "ns", "a");
    write(dir, &files(std::slice::from_ref(&a), Format::Yaml)).unwrap();
    let path = dir.join("ns/configmap-a.yaml");
    let inode = std::fs::metadata(&path).unwrap().ino();
    a.text.push_str("data: {k: v}\n");
    let report = write(dir, &files(std::slice::from_ref(&a), Format::Yaml)).unwrap();
    assert_eq!(report.written, std::slice::from_ref(&path));
    assert_ne!(std::fs::metadata(&path).unwrap().ino(), inode);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), a.text);
    assert_eq!(listing(dir), ["ns/configmap-a.yaml"]);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o044,
        0o044,
        "readable by others, as kubectl users expect"
    );
}

#[test]
fn bare_configs_are_recognised_by_their_provenance() {
    let config = "listeners: []\ngenerated:\n  by: l7mpc\n  workload: ns/Deployment/worker\n";
    assert!(is_ours("ns", "worker.yaml", config));
    assert!(!is_ours("ns", "other.yaml", config));
    assert!(!is_ours("x", "worker.yaml", config));
    assert!(!is_ours("ns", "worker.yml", config));
    assert!(!is_ours("ns", "worker.yaml", "listeners: []\n"));
    let two = format!("{config}---\n{config}");
    assert!(!is_ours("ns", "worker.yaml", &two));
}

#[test]
fn a_file_or_unwritable_path_is_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let file_path = tmp.path().join("out");
    std::fs::write(&file_path, "x").unwrap();
    let err = prepare(&file_path).unwrap_err();
    assert_eq!(err.path, file_path);
    assert!(err.to_string().contains("not a directory"), "{err}");
    let below = file_path.join("sub");
    let err = prepare(&below).unwrap_err();
    assert!(
        err.to_string().contains("cannot create this directory"),
        "{err}"
    );
    let fresh = tmp.path().join("new/deeper");
    prepare(&fresh).unwrap();
    assert!(fresh.is_dir());
    assert_eq!(std::fs::read_dir(&fresh).unwrap().count(), 0);
}

#[test]
fn names_that_leave_the_directory_are_refused() {
    for (namespace, name) in [("..", "a"), ("ns", ".."), ("a/b", "c"), ("", "a")] {
        let doc = doc("ConfigMap", namespace, name);
        let err = file(&doc, Contents::Configmap, Format::Yaml).unwrap_err();
        assert!(err.contains("cannot be a file name"), "{err}");
    }
    let doc = doc("ConfigMap", "ns", "a");
    assert_eq!(
        file(&doc, Contents::Config, Format::Name).unwrap().name,
        "a.yaml"
    );
}
