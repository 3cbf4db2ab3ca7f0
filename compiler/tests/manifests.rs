//! Every Kubernetes manifest the project ships or emits passes `kubernetes-validate --strict`
//! (the official OpenAPI schemas, offline, unknown fields rejected) for Kubernetes 1.33 and for
//! the newest version the validator knows: the install base `deploy/` and the task1 overlay as
//! `kubectl kustomize` renders them, the manifests under `examples/`, `l7mpc compile`'s output
//! for each example and each golden case's compiled output.
//!
//! The validator has no schema for `l7mp.io` kinds and says so; that is allowed for them and
//! for nothing else. They are checked against their CRD schema (unknown fields forbidden) by
//! `l7mpc compile` itself, which every example goes through here. The CRDs themselves are
//! `apiextensions.k8s.io/v1` objects and are validated like any other.
//!
//! The README's "Deploy on a cluster" commands are run from the README's own text, so the
//! section cannot drift: `kubectl apply` needs a live API server, so what it would apply is
//! validated instead.
//!
//! Needs `kubectl` (for kustomize) and the `kubernetes-validate` Python package; `scripts/setup.sh`
//! installs the package.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::l7mpc_in;

/// The Kubernetes version the project supports; the newest one the validator knows is checked too.
const SUPPORTED: &str = "1.33";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

/// Runs `cmd` and returns its stdout, failing the test with its stderr when it fails.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run scripts/setup.sh first)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `kubectl kustomize dir`, offline.
fn kustomize(dir: &Path) -> String {
    run(Command::new("kubectl").arg("kustomize").arg(dir))
}

/// `l7mpc compile` with `args`, `stdin` as `-f -` input.
fn compile(args: &[&str], stdin: &str) -> String {
    let args: Vec<&str> = ["compile"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    let out = l7mpc_in(&repo(), &args, stdin);
    assert!(
        out.status.success(),
        "l7mpc {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// What the validator said about one resource of one file for one Kubernetes version.
#[derive(Debug)]
enum Verdict {
    /// Validated against the official schema: `kind/name`.
    Passed { resource: String },
    /// No schema for this kind: its apiVersion.
    Unknown { api_version: String },
}

/// One line of `kubernetes-validate` output.
#[derive(Debug)]
struct Line {
    file: String,
    version: String,
    verdict: Verdict,
}

/// Parses a line of `kubernetes-validate` output; `None` for anything but a pass or an unknown
/// kind (an error, a YAML problem).
fn parse_line(line: &str) -> Option<Line> {
    if let Some(rest) = line.strip_prefix("INFO ") {
        let (file, rest) = rest.split_once(" passed for resource ")?;
        let (resource, version) = rest.split_once(" against version ")?;
        return Some(Line {
            file: file.into(),
            version: version.into(),
            verdict: Verdict::Passed {
                resource: resource.into(),
            },
        });
    }
    let rest = line.strip_prefix("WARN ")?;
    let (file, rest) = rest.split_once(" Couldn't find schema for kind ")?;
    let (_, rest) = rest.split_once(" with api version ")?;
    let (api_version, version) = rest.split_once(" for kubernetes version ")?;
    Some(Line {
        file: file.into(),
        version: version.into(),
        verdict: Verdict::Unknown {
            api_version: api_version.into(),
        },
    })
}

/// `kubernetes-validate --strict` on `files`, for `version` (its newest when `None`). Fails the
/// test on any rejected resource, unreadable file or unknown kind other than `l7mp.io`'s, and
/// on a file it said nothing about.
fn validate(files: &[PathBuf], version: Option<&str>) -> Vec<Line> {
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "kubernetes_validate", "--strict"]);
    if let Some(v) = version {
        cmd.args(["-k", v]);
    }
    let out = cmd.args(files).output().unwrap_or_else(|e| {
        panic!("cannot run python3 -m kubernetes_validate: {e} (run scripts/setup.sh first)")
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    for text in stdout.lines() {
        match parse_line(text) {
            Some(line) => match &line.verdict {
                Verdict::Unknown { api_version } if !api_version.starts_with("l7mp.io/") => {
                    bad.push(text.to_string());
                }
                _ => lines.push(line),
            },
            None => bad.push(text.to_string()),
        }
    }
    assert!(
        out.status.success() && bad.is_empty() && stderr.is_empty(),
        "kubernetes-validate --strict (Kubernetes {}) rejects:\n{}\n{stderr}",
        version.unwrap_or("newest"),
        bad.join("\n")
    );
    for file in files {
        let name = file.display().to_string();
        assert!(
            lines.iter().any(|l| l.file == name),
            "kubernetes-validate found no resource in {name}"
        );
    }
    lines
}

/// Validates `files` for [`SUPPORTED`] and for the validator's newest version, and returns
/// both verdicts and that newest version.
fn validate_supported_and_newest(files: &[PathBuf]) -> (Vec<Line>, String) {
    let supported = validate(files, Some(SUPPORTED));
    let newest = validate(files, None);
    let versions: BTreeSet<&str> = newest.iter().map(|l| l.version.as_str()).collect();
    assert_eq!(versions.len(), 1, "one newest version: {versions:?}");
    let newest_version = versions.first().unwrap().to_string();
    assert!(
        minor(&newest_version) >= minor(SUPPORTED),
        "the validator's newest Kubernetes {newest_version} predates {SUPPORTED}"
    );
    assert!(supported.iter().all(|l| l.version == SUPPORTED));
    let mut all = supported;
    all.extend(newest);
    (all, newest_version)
}

/// The minor version of `1.MINOR`.
fn minor(version: &str) -> u32 {
    let minor = version.strip_prefix("1.").and_then(|m| m.parse().ok());
    minor.unwrap_or_else(|| panic!("not a Kubernetes 1.x version: {version}"))
}

fn passed<'l>(lines: &'l [Line], file: &Path) -> BTreeSet<(&'l str, &'l str)> {
    let name = file.display().to_string();
    lines
        .iter()
        .filter(|l| l.file == name)
        .filter_map(|l| match &l.verdict {
            Verdict::Passed { resource } => Some((l.version.as_str(), resource.as_str())),
            Verdict::Unknown { .. } => None,
        })
        .collect()
}

/// The YAML files under `dir` (recursively) that hold Kubernetes objects: a top-level
/// `apiVersion`. Kustomizations are left out: what they render is validated instead.
fn manifests_under(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable directory").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            manifests_under(&path, found);
            continue;
        }
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        let kustomization = path.file_stem().is_some_and(|s| s == "kustomization");
        if !yaml || kustomization {
            continue;
        }
        if is_manifest(&path) {
            found.push(path);
        }
    }
}

/// Whether the YAML file holds Kubernetes objects (a top-level `apiVersion`), not a bare
/// proxy config.
fn is_manifest(path: &Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().any(|l| l.starts_with("apiVersion:"))
}

#[test]
fn shipped_and_emitted_manifests_pass_strict_validation() {
    let root = repo();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let deploy = write("deploy.yaml", kustomize(&root.join("deploy")));
    let overlay_text = kustomize(&root.join("examples/task1"));
    let overlay = write("task1-overlay.yaml", overlay_text.clone());
    let task1 = |gateway: &str| {
        let args = [
            "-f",
            "examples/task1/mesh",
            "-f",
            gateway,
            "-f",
            "examples/task1/workloads",
        ];
        compile(&args, "")
    };
    let mut files = vec![
        deploy.clone(),
        overlay,
        write("task1-compiled.yaml", task1("examples/task1/gateway")),
        write("task1-trivial.yaml", task1("examples/task1/trivial")),
        write("call.yaml", compile(&["-f", "examples/call"], "")),
    ];
    let overlay_compiled = write(
        "task1-overlay-compiled.yaml",
        compile(&["-f", "-"], &overlay_text),
    );
    files.push(overlay_compiled.clone());
    let shipped_from = files.len();
    manifests_under(&root.join("examples"), &mut files);
    let golden = root.join("tests/golden");
    for case in std::fs::read_dir(&golden).unwrap() {
        let expected = case.unwrap().path().join("expected.yaml");
        if expected.is_file() && is_manifest(&expected) {
            files.push(expected);
        }
    }
    assert!(
        files[shipped_from..]
            .iter()
            .any(|f| f.ends_with("examples/task1/workloads/l7mp-ingress.yaml")),
        "the example workloads are among the validated files"
    );
    assert!(
        files.iter().any(|f| f.starts_with(&golden)),
        "the golden outputs are among the validated files"
    );

    let (lines, newest) = validate_supported_and_newest(&files);

    for version in [SUPPORTED, newest.as_str()] {
        let base = passed(&lines, &deploy);
        for resource in [
            "namespace/l7mp-system",
            "customresourcedefinition/virtualservices.l7mp.io",
            "customresourcedefinition/targets.l7mp.io",
            "customresourcedefinition/rules.l7mp.io",
            "daemonset/l7mp-ingress",
        ] {
            assert!(
                base.contains(&(version, resource)),
                "{resource} of deploy/ validated against {version}: {base:?}"
            );
        }
        let compiled = passed(&lines, &overlay_compiled);
        assert!(
            compiled.contains(&(version, "configmap/l7mp-ingress-config")),
            "the gateway's ConfigMap validated against {version}: {compiled:?}"
        );
    }
    let newest_lines = lines.iter().filter(|l| l.version == newest);
    let (ok, unknown): (Vec<&Line>, Vec<&Line>) =
        newest_lines.partition(|l| matches!(l.verdict, Verdict::Passed { .. }));
    eprintln!(
        "kubernetes-validate --strict, Kubernetes {SUPPORTED} and {newest}: {} files; per \
         version {} resources passed, {} l7mp.io objects left to l7mpc",
        files.len(),
        ok.len(),
        unknown.len(),
    );
}

#[test]
fn strict_validation_rejects_an_unknown_field() {
    // The check above is only as good as the validator's strictness: a misspelt pod field in
    // the base's DaemonSet must fail it.
    let rendered = kustomize(&repo().join("deploy"));
    let mut bad = String::new();
    for line in rendered.lines() {
        bad.push_str(line);
        bad.push('\n');
        if line.trim() == "hostNetwork: true" {
            let indent = &line[..line.len() - line.trim_start().len()];
            bad.push_str(&format!("{indent}hostNetwrok: true\n"));
        }
    }
    assert_ne!(
        bad,
        format!("{rendered}\n"),
        "the DaemonSet sets hostNetwork"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, bad).unwrap();
    let out = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "-k", SUPPORTED])
        .arg(&file)
        .output()
        .expect("python3 -m kubernetes_validate runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("daemonset/l7mp-ingress")
            && stdout.contains("'hostNetwrok' was unexpected"),
        "{stdout}"
    );
}

#[test]
fn the_gateway_config_lands_in_the_base_namespace() {
    // The overlay's seed objects live in `default`, the base's gateway in `l7mp-system`:
    // compiled from the rendered overlay, the gateway's ConfigMap goes where the DaemonSet
    // mounts it, and carries the seed gateway's listener.
    let rendered = kustomize(&repo().join("examples/task1"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    compile(
        &["-f", "-", "--output-dir", out.to_str().unwrap()],
        &rendered,
    );
    let gateway =
        std::fs::read_to_string(out.join("l7mp-system/configmap-l7mp-ingress-config.yaml"))
            .expect("the gateway's ConfigMap in l7mp-system");
    assert!(gateway.contains("port: 9001"), "{gateway}");
    for sidecar in ["transcoder-sidecar-config", "worker-sidecar-config"] {
        assert!(
            out.join(format!("default/configmap-{sidecar}.yaml"))
                .is_file()
        );
    }
}

/// The text of the README section titled `title`, up to the next section of its level.
fn readme_section(title: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let heading = format!("## {title}\n");
    let start = readme
        .find(&heading)
        .unwrap_or_else(|| panic!("README.md has no section {heading:?}"));
    let body = &readme[start + heading.len()..];
    body[..body.find("\n## ").unwrap_or(body.len())].to_string()
}

/// The fenced blocks of `text` whose info string is `lang`.
fn fenced(text: &str, lang: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim() == format!("```{lang}") => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```{lang} block");
    blocks
}

/// The commands of a shell block: `\` continuations joined, comments and blank lines dropped.
fn commands(block: &str) -> Vec<String> {
    let joined = block.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// A working directory that looks like the repository root (each top-level entry linked), so
/// the README's relative paths work and what its commands write stays out of the checkout.
fn repo_lookalike() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo()).unwrap() {
        let entry = entry.unwrap();
        std::os::unix::fs::symlink(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

#[test]
fn the_readme_deploy_section_runs() {
    let section = readme_section("Deploy on a cluster");
    let work = repo_lookalike();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_l7mpc")).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let mut applied = Vec::new();
    let mut ran = 0;
    for command in fenced(&section, "sh").iter().flat_map(|b| commands(b)) {
        let words: Vec<&str> = command.split_whitespace().collect();
        match words.as_slice() {
            // A live API server is not here: validate what would be applied.
            ["kubectl", "apply", "-k", dir] => {
                let file = work.path().join(format!("applied-{}.yaml", applied.len()));
                std::fs::write(&file, kustomize(&work.path().join(dir))).unwrap();
                applied.push(file);
            }
            ["kubectl", "apply", "-f", file] => applied.push(work.path().join(file)),
            ["kubectl", "wait", "--for=condition=Established", crds @ ..] => {
                let base = kustomize(&work.path().join("deploy"));
                for crd in crds {
                    let name = crd.strip_prefix("crd/").expect("crd/NAME");
                    assert!(base.contains(&format!("\n  name: {name}\n")), "{name}");
                }
            }
            ["kubectl", verb, ..] if *verb != "kustomize" => {
                panic!("README command needs an API server and has no offline check: {command}")
            }
            _ => {
                run(Command::new("bash")
                    .args(["-euo", "pipefail", "-c", &command])
                    .current_dir(work.path())
                    .env("PATH", &path));
                ran += 1;
            }
        }
    }
    assert!(
        ran > 0 && applied.len() >= 2,
        "the section runs commands and applies"
    );
    validate_supported_and_newest(&applied);

    // Its `images:` example retargets the base's proxy image.
    let images = fenced(&section, "yaml");
    assert_eq!(images.len(), 1, "one kustomize `images:` example");
    let overlay = work.path().join("retarget");
    std::fs::create_dir(&overlay).unwrap();
    let kustomization = format!("resources:\n  - ../deploy\n{}", images[0]);
    std::fs::write(overlay.join("kustomization.yaml"), kustomization).unwrap();
    let rendered = kustomize(&overlay);
    let image = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("image: "))
        .expect("the DaemonSet's image");
    assert!(
        !image.starts_with("localhost/") && image.contains("l7mp-rs"),
        "{image}"
    );
}
