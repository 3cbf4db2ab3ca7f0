//! The command line's kubectl habits: output formats, `--output-dir`, `diff`, completions, man
//! pages, `--version`, and clap's usage errors. Each test runs the binary on a golden case's
//! input, from a scratch directory where it writes.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{l7mpc, l7mpc_in};
use l7mp_config::yaml::parse_documents;
use serde_json::{Value, json};

/// A golden case's folder.
fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden")
        .join(name)
}

/// The input folder of a golden case, as an argument.
fn input(name: &str) -> String {
    case(name).join("input").display().to_string()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("UTF-8 stderr")
}

/// Every file under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn output_formats_print_like_kubectl() {
    let seed = input("compile-seed-services");
    let yaml = l7mpc(&["compile", "-f", &seed, "-o", "yaml"], "");
    assert_eq!(yaml.status.code(), Some(0), "{}", stderr(&yaml));
    let expected = std::fs::read_to_string(case("compile-seed-services").join("expected.yaml"))
        .expect("the golden output");
    assert!(stdout(&yaml) == expected, "-o yaml is the default stream");
    let docs: Vec<Value> = parse_documents(&expected)
        .expect("YAML")
        .into_iter()
        .map(|d| d.value)
        .collect();

    let json = l7mpc(&["compile", "-f", &seed, "--output", "json"], "");
    assert_eq!(json.status.code(), Some(0), "{}", stderr(&json));
    let list: Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"], Value::Array(docs.clone()));
    // The config text survives the trip to JSON byte for byte.
    let configs = stdout(&l7mpc(&["compile", "-f", &seed, "--format", "config"], ""));
    let configs: Vec<&str> = configs.split("---\n").skip(1).collect();
    for item in list["items"].as_array().unwrap() {
        if let Some(config) = item.pointer("/data/config.yaml").and_then(Value::as_str) {
            assert!(configs.contains(&config), "{config}");
        }
    }

    let names = l7mpc(&["compile", "-f", &seed, "-o", "name"], "");
    let expected_names: Vec<String> = docs
        .iter()
        .map(|d| {
            let kind = d["kind"].as_str().unwrap().to_lowercase();
            format!("{kind}/{}", d["metadata"]["name"].as_str().unwrap())
        })
        .collect();
    assert_eq!(stdout(&names).lines().collect::<Vec<_>>(), expected_names);
    assert!(
        expected_names[0].starts_with("configmap/"),
        "{expected_names:?}"
    );
}

#[test]
fn usage_errors_are_clap_errors_with_exit_2() {
    let seed = input("compile-seed-services");
    let bad = l7mpc(&["compile", "-f", &seed, "-o", "xml"], "");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("invalid value 'xml'"),
        "{}",
        stderr(&bad)
    );
    assert!(bad.stdout.is_empty());
    let unknown = l7mpc(&["frobnicate"], "");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("unrecognized subcommand 'frobnicate'"));
    let shell = l7mpc(&["completions", "tcsh"], "");
    assert_eq!(shell.status.code(), Some(2));
    let json_configs = l7mpc(
        &["compile", "-f", &seed, "--format", "config", "-o", "json"],
        "",
    );
    assert_eq!(json_configs.status.code(), Some(2));
    assert!(stderr(&json_configs).contains("only as YAML"));
}

#[test]
fn output_dir_writes_each_object_and_removes_only_its_own_stale_files() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let out_arg = out.display().to_string();
    let seed = input("compile-seed-services");
    let first = l7mpc(&["compile", "-f", &seed, "--output-dir", &out_arg], "");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(first.stdout.is_empty());
    let written = listing(&out);
    assert!(written.contains(&"default/configmap-worker-sidecar-config.yaml".to_string()));
    assert!(written.contains(&"default/service-udp-cluster-endpoints.yaml".to_string()));
    let mine = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mine, namespace: default}\n";
    std::fs::write(out.join("default/configmap-mine.yaml"), mine).unwrap();
    std::fs::write(out.join("README.md"), "notes\n").unwrap();

    // Another mesh into the same folder: the seed's objects are gone, so are their files.
    let other = input("compile-naked-service");
    let second = l7mpc(
        &[
            "compile",
            "-f",
            &other,
            "--output-dir",
            &out_arg,
            "-o",
            "name",
        ],
        "",
    );
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let names = stdout(&l7mpc(&["compile", "-f", &other, "-o", "name"], ""));
    assert_eq!(stdout(&second), names, "-o name lists what was written");
    let after = listing(&out);
    let expected: Vec<String> = stdout(&second)
        .lines()
        .map(|n| format!("default/{}.yaml", n.replace('/', "-")))
        .chain(["README.md".into(), "default/configmap-mine.yaml".into()])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(after, expected);
    for gone in &written {
        assert!(
            stderr(&second).contains(&format!("removed {}", out.join(gone).display())),
            "{gone}: {}",
            stderr(&second)
        );
    }

    // A file where the folder should be, or below a file: exit 2, nothing written.
    let file = out.join("README.md").display().to_string();
    let refused = l7mpc(&["compile", "-f", &seed, "--output-dir", &file], "");
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("not a directory"),
        "{}",
        stderr(&refused)
    );
    let below = format!("{file}/sub");
    let refused = l7mpc(&["compile", "-f", &seed, "--output-dir", &below], "");
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains(&below), "{}", stderr(&refused));
    assert_eq!(listing(&out), expected, "nothing changed by refused runs");
    // Input with errors: exit 1 and no folder at all.
    let never = scratch.path().join("never");
    let broken = input("compile-forwarding-loop");
    let failed = l7mpc(
        &[
            "compile",
            "-f",
            &broken,
            "--output-dir",
            &never.display().to_string(),
        ],
        "",
    );
    assert_eq!(failed.status.code(), Some(1));
    assert!(!never.exists());
}

/// `compile -o json` turned into what `kubectl get configmaps,services -o json` prints after
/// `kubectl apply`: server fields everywhere, plus objects l7mpc does not manage.
fn cluster_dump(seed: &str) -> Value {
    let out = l7mpc(&["compile", "-f", seed, "-o", "json"], "");
    let mut list: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for item in list["items"].as_array_mut().unwrap() {
        let meta = &mut item["metadata"];
        meta["uid"] = json!("6f1c0e52-0000-4000-8000-000000000000");
        meta["resourceVersion"] = json!("1234");
        meta["creationTimestamp"] = json!("2026-11-30T10:00:00Z");
        meta["managedFields"] = json!([{"manager": "kubectl-client-side-apply"}]);
        let annotations = meta["annotations"].as_object_mut();
        let last = json!({"kubectl.kubernetes.io/last-applied-configuration": "{}"});
        match annotations {
            Some(map) => {
                map.insert(
                    "kubectl.kubernetes.io/last-applied-configuration".into(),
                    json!("{}"),
                );
            }
            None => meta["annotations"] = last,
        }
        if item["kind"] == "Service" {
            let spec = &mut item["spec"];
            spec["clusterIPs"] = json!(["None"]);
            spec["ipFamilies"] = json!(["IPv4"]);
            spec["ipFamilyPolicy"] = json!("SingleStack");
            spec["sessionAffinity"] = json!("None");
            spec["type"] = json!("ClusterIP");
            spec["internalTrafficPolicy"] = json!("Cluster");
            for port in spec["ports"].as_array_mut().unwrap() {
                port["targetPort"] = port["port"].clone();
            }
            item["status"] = json!({"loadBalancer": {}});
        }
    }
    let items = list["items"].as_array_mut().unwrap();
    items.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kube-root-ca.crt", "namespace": "default", "uid": "x"},
        "data": {"ca.crt": "..."}}));
    items.push(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 443, "targetPort": 6443}]}}));
    list["metadata"] = json!({"resourceVersion": ""});
    list
}

#[test]
fn diff_against_an_output_dir() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out").display().to_string();
    let seed = input("compile-seed-services");
    let written = l7mpc(&["compile", "-f", &seed, "--output-dir", &out], "");
    assert_eq!(written.status.code(), Some(0));
    let same = l7mpc(&["diff", "-f", &seed, "--against", &out], "");
    assert_eq!(same.status.code(), Some(0), "{}", stdout(&same));
    assert!(same.stdout.is_empty());

    let file = Path::new(&out).join("default/configmap-l7mp-ingress-config.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("port: 9999", "port: 9998", 1)).unwrap();
    let changed = l7mpc(&["diff", "-f", &seed, "--against", &out], "");
    assert_eq!(changed.status.code(), Some(1));
    let diff = stdout(&changed);
    assert!(
        diff.starts_with(
            "--- against/ConfigMap/default/l7mp-ingress-config\n\
             +++ compiled/ConfigMap/default/l7mp-ingress-config\n@@"
        ),
        "{diff}"
    );
    assert!(
        diff.contains("\n-        port: 9998\n+        port: 9999\n"),
        "{diff}"
    );
    let headers = diff.lines().filter(|l| l.starts_with("+++ ")).count();
    assert_eq!(headers, 1, "only the edited object differs: {diff}");
}

#[test]
fn diff_against_a_kubectl_dump() {
    let scratch = tempfile::tempdir().unwrap();
    let seed = input("compile-seed-services");
    let dump = cluster_dump(&seed);
    let json_file = scratch.path().join("live.json");
    std::fs::write(&json_file, serde_json::to_string_pretty(&dump).unwrap()).unwrap();
    let yaml_file = scratch.path().join("live.yaml");
    std::fs::write(&yaml_file, serde_saphyr::to_string(&dump).unwrap()).unwrap();
    for file in [&json_file, &yaml_file] {
        let against = file.display().to_string();
        let same = l7mpc(&["diff", "-f", &seed, "--against", &against], "");
        assert_eq!(same.status.code(), Some(0), "{against}: {}", stdout(&same));
    }

    // A managed Service deleted from the cluster shows as added; a ConfigMap of the cluster
    // that the input no longer makes shows as removed.
    let mut changed = dump.clone();
    let items = changed["items"].as_array_mut().unwrap();
    let service = items.iter().position(|i| i["kind"] == "Service").unwrap();
    let name = items[service]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    items.remove(service);
    let mut stale = items[0].clone();
    stale["metadata"]["name"] = json!("old-config");
    items.push(stale);
    let file = scratch.path().join("changed.json");
    std::fs::write(&file, changed.to_string()).unwrap();
    let out = l7mpc(
        &[
            "diff",
            "-f",
            &seed,
            "--against",
            &file.display().to_string(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let diff = stdout(&out);
    let added = format!("--- /dev/null\n+++ compiled/Service/default/{name}\n");
    assert!(diff.contains(&added), "{diff}");
    let removed = "--- against/ConfigMap/default/old-config\n+++ /dev/null\n";
    assert!(diff.contains(removed), "{diff}");
    assert!(!diff.contains("kube-root-ca"), "{diff}");
}

#[test]
fn diff_refuses_malformed_dumps_and_broken_input_with_exit_2() {
    let scratch = tempfile::tempdir().unwrap();
    let seed = input("compile-seed-services");
    let cases = [
        (
            "syntax.yaml",
            "items: [\n",
            "syntax.yaml:",
            "not YAML or JSON",
        ),
        ("empty.yaml", "", "empty.yaml:1:", "it holds no object"),
        (
            "noitems.yaml",
            "apiVersion: v1\nkind: List\nmetadata: {}\n",
            "noitems.yaml:1:",
            "this List has no `items` list",
        ),
        (
            "noname.yaml",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {}\n- 3\n",
            "noname.yaml:4:",
            "item 0 has no string `metadata.name`",
        ),
        (
            "scalar.yaml",
            "apiVersion: v1\nkind: List\nitems:\n- 3\n",
            "scalar.yaml:4:",
            "item 0 is not a mapping",
        ),
    ];
    for (name, text, place, problem) in cases {
        let file = scratch.path().join(name);
        std::fs::write(&file, text).unwrap();
        let out = l7mpc(
            &[
                "diff",
                "-f",
                &seed,
                "--against",
                &file.display().to_string(),
            ],
            "",
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(place) && err.contains(problem),
            "{name}: {err}"
        );
        assert!(
            err.contains("kubectl get configmaps,services -o yaml"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    let missing = scratch.path().join("missing.yaml").display().to_string();
    let out = l7mpc(&["diff", "-f", &seed, "--against", &missing], "");
    assert_eq!(out.status.code(), Some(2));
    // Input with errors cannot be compared: 2, since 1 means "differs".
    let broken = input("compile-forwarding-loop");
    let out = l7mpc(
        &[
            "diff",
            "-f",
            &broken,
            "--against",
            &scratch.path().display().to_string(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("L7MPC0701"), "{}", stderr(&out));
}

#[test]
fn skipped_kinds_are_summed_up_and_listed_with_verbose() {
    let dir = case("compile-skipped-kinds");
    let out = l7mpc_in(&dir, &["check", "-f", "input"], "");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    assert_eq!(
        stderr(&out),
        "l7mpc: skipped 3 objects of kinds it does not read: Ingress, Secret\n"
    );
    let verbose = l7mpc_in(&dir, &["check", "-v", "-f", "input"], "");
    let lines: Vec<String> = stderr(&verbose).lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        [
            "l7mpc: skipped input/mesh.yaml: v1 Secret token",
            "l7mpc: skipped input/mesh.yaml: networking.k8s.io/v1 Ingress web",
            "l7mpc: skipped input/mesh.yaml: v1 Secret other-token",
            "l7mpc: skipped 3 objects of kinds it does not read: Ingress, Secret",
        ]
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definition() {
    let shells = [
        ("bash", "_l7mpc()"),
        ("zsh", "#compdef l7mpc"),
        ("fish", "complete -c l7mpc"),
    ];
    for (shell, marker) in shells {
        let out = l7mpc(&["completions", shell], "");
        assert_eq!(out.status.code(), Some(0));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        for word in ["compile", "diff", "output-dir", "against"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    let page = stdout(&l7mpc(&["man"], ""));
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{page}");
    assert!(page.contains(".TH l7mpc 1"), "{page}");
    for command in ["check", "compile", "diff", "completions"] {
        assert!(
            page.contains(&format!("l7mpc\\-{command}(1)")),
            "{command}: {page}"
        );
    }
    let compile = stdout(&l7mpc(&["man", "compile"], ""));
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        compile.contains(&format!(
            ".TH l7mpc-compile 1  \"compile {version} (commit "
        )),
        "{compile}"
    );
    assert!(compile.contains("\\-\\-output\\-dir"), "{compile}");
    let unknown = l7mpc(&["man", "nope"], "");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("the commands are check, compile"));
}

#[test]
fn version_names_the_commit() {
    let out = l7mpc(&["--version"], "");
    assert_eq!(out.status.code(), Some(0));
    let version = stdout(&out);
    let commit = std::env::var("L7MP_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let git = std::process::Command::new("git")
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args(["rev-parse", "--short", "HEAD"])
                .output()
                .ok()?;
            git.status
                .success()
                .then(|| String::from_utf8_lossy(&git.stdout).trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let expected = format!("l7mpc {} (commit {commit})\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(version, expected);
}
