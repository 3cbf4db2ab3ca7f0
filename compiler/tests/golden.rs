//! Golden tests: each folder of `tests/golden/` holds `input/*.yaml` and `expected.txt`, the
//! diagnostics of `l7mpc check --format human` without colour (`ok` for a clean run). A case
//! with an `args` file runs that command line instead (`compile --pods pods.yaml`, `graph`),
//! its diagnostics (stderr) in `expected.txt` and its output in `expected.yaml` (`compile`) or
//! `expected.out`. The binary runs as users run it, from the case folder. `L7MPC_ACCEPT=1`
//! rewrites the expected files.
//! The other command-line behaviour (stdin, formats, exit codes, `crds`) is tested here too.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{l7mpc, l7mpc_in};

const BAD_PORT: &str = "apiVersion: l7mp.io/v1\nkind: Target\nmetadata: {name: t}\nspec:\n  cluster: {spec: {UDP: {port: 70000}}}\n";

#[test]
fn stdin_and_machine_formats() {
    let out = l7mpc(&["check", "-f", "-", "--format", "json"], BAD_PORT);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let port = json
        .as_array()
        .and_then(|all| all.iter().find(|d| d["code"] == "L7MPC0203"))
        .expect("the port is reported");
    assert_eq!(port["file"], "<stdin>");
    assert_eq!(port["line"], 5);
    let out = l7mpc(&["check", "-f", "-", "--format", "github"], BAD_PORT);
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        text.lines()
            .any(|l| l.starts_with("::error file=<stdin>,line=5,col=")),
        "{text}"
    );
}

#[test]
fn exit_codes() {
    let clean = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    assert_eq!(l7mpc(&["check", "-f", "-"], clean).status.code(), Some(0));
    let missing = l7mpc(&["check", "-f", "/nonexistent/l7mpc.yaml"], "");
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(l7mpc(&["check"], "").status.code(), Some(2));
    let warn = "apiVersion: l7mp.io/v1\nkind: Target\nmetadata: {name: t}\nspec: {selector: {matchLabels: {a: b}}, cluster: {spec: {Echo: {}}}}\n";
    assert_eq!(l7mpc(&["check", "-f", "-"], warn).status.code(), Some(0));
    let denied = l7mpc(&["check", "--deny-warnings", "-f", "-"], warn);
    assert_eq!(denied.status.code(), Some(1));
}

#[test]
fn crds_command_prints_the_checked_in_crds() {
    let out = l7mpc(&["crds"], "");
    assert_eq!(out.status.code(), Some(0));
    let checked_in =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/crds.yaml"))
            .expect("schemas/crds.yaml");
    assert!(
        out.stdout == checked_in,
        "l7mpc crds differs from schemas/crds.yaml"
    );
}

/// Diagnostics on lines longer than the human format could pad: no command panics.
#[test]
fn long_lines_are_diagnostics_in_every_command() {
    let key = format!("{}: 1\n", "a".repeat(65_536));
    let item = |label: &str, port: u32| {
        format!(
            r#"{{"apiVersion":"l7mp.io/v1","kind":"Target","metadata":{{"name":"t{port}","labels":{{"l":"{label}"}}}},"spec":{{"cluster":{{"spec":{{"UDP":{{"port":{port}}}}}}}}}}}"#
        )
    };
    let minified = format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{},{}]}}"#,
        item(&"x".repeat(70_000), 9001),
        item("y", 70_000)
    );
    for input in [&key, &minified] {
        for command in ["check", "compile", "graph"] {
            let out = l7mpc(&[command, "-f", "-"], input);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
            let report = if command == "check" {
                String::from_utf8_lossy(&out.stdout)
            } else {
                stderr
            };
            assert!(report.contains("L7MPC01") || report.contains("L7MPC0203"));
            assert!(report.contains('…'), "{command}: {report}");
        }
    }
}

/// Input refused before parsing is a diagnostic about the input (exit 1), not a usage error.
#[test]
fn refused_input_fails_with_a_diagnostic() {
    let out = l7mpc(&["check", "-f", "-", "--format", "json"], b"a: caf\xe9\n");
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(json[0]["code"], "L7MPC0110");
    assert_eq!(
        (json[0]["line"].as_u64(), json[0]["column"].as_u64()),
        (Some(1), Some(7))
    );
    let limit = usize::try_from(l7mpc::load::MAX_INPUT_BYTES).expect("16 MiB");
    let big = vec![b'#'; limit + 1];
    let out = l7mpc(&["compile", "-f", "-", "--diagnostics", "json"], &big);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stderr).expect("JSON diagnostics");
    assert_eq!(json[0]["code"], "L7MPC0111");
    assert_eq!(json[0]["file"], "<stdin>");
    assert!(out.stdout.is_empty());
}

/// A mesh whose compiled ConfigMap would exceed Kubernetes' 1 MiB limit is an error at the
/// workload (the input is made here: a golden case would need a megabyte of it).
#[test]
fn a_config_map_over_one_mebibyte_is_refused() {
    let prefix = "x".repeat(1 << 20);
    let mesh = format!(
        "apiVersion: l7mp.io/v1\nkind: VirtualService\nmetadata: {{name: gw}}\nspec:\n  \
         selector: {{matchLabels: {{app: a}}}}\n  listener:\n    spec: {{UDP: {{port: 6000}}}}\n    \
         rules: [{{action: {{route: {{destination: {{spec: {{Logger: {{log_prefix: {prefix}}}}}}}}}}}}}]\n\
         ---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: a}}\nspec:\n  \
         selector: {{matchLabels: {{app: a}}}}\n  template:\n    metadata: {{labels: {{app: a}}}}\n    \
         spec:\n      containers:\n        - name: proxy\n          image: l7mp/l7mp-rs:latest\n          \
         command: [l7mp, --config, /etc/l7mp/config.yaml]\n          \
         volumeMounts: [{{name: config, mountPath: /etc/l7mp}}]\n      \
         volumes: [{{name: config, configMap: {{name: a-config}}}}]\n"
    );
    let out = l7mpc(&["compile", "-f", "-", "--diagnostics", "json"], mesh);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stderr).expect("JSON diagnostics");
    let codes: Vec<&str> = json
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(codes, ["L7MPC0605"], "{json:#}");
    let message = json[0]["message"].as_str().expect("a message");
    assert!(
        message.starts_with("ConfigMap a-config would hold ") && message.contains("1 MiB"),
        "{message}"
    );
}

/// Codes whose input a golden case cannot hold, each tested where it is named.
const TESTED_ELSEWHERE: [(&str, &str); 3] = [
    (
        "L7MPC0111",
        "refused_input_fails_with_a_diagnostic (16 MiB of input)",
    ),
    (
        "L7MPC0506",
        "workload::tests (a pod spec that does not read)",
    ),
    (
        "L7MPC0605",
        "a_config_map_over_one_mebibyte_is_refused (1 MiB of input)",
    ),
];

/// Every diagnostic code of CODES.md is produced by some golden case, or tested elsewhere.
#[test]
fn every_code_has_a_case() {
    let codes = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("CODES.md"))
        .expect("CODES.md");
    let expected: String = cases()
        .iter()
        .map(|c| std::fs::read_to_string(c.join("expected.txt")).unwrap_or_default())
        .collect();
    let missing: Vec<&str> = codes
        .lines()
        .filter_map(|l| l.strip_prefix("| L7MPC"))
        .map(|l| &l[..4])
        .filter(|n| {
            let code = format!("L7MPC{n}");
            !expected.contains(&code) && !TESTED_ELSEWHERE.iter().any(|(c, _)| *c == code)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "codes no golden case produces: {missing:?}"
    );
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("tests/golden exists")
        .map(|e| e.expect("readable tests/golden").path())
        .filter(|p| p.join("input").is_dir())
        .collect();
    cases.sort();
    cases
}

/// The command line of a case: its `args` file, or `check`.
fn command(case: &Path) -> Vec<String> {
    let args = std::fs::read_to_string(case.join("args")).unwrap_or_else(|_| "check".into());
    args.split_whitespace().map(str::to_string).collect()
}

/// Runs the case's command with `files` after `-f`; returns the diagnostics (or `ok`), the
/// output and the exit code.
fn run(case: &Path, files: &[String]) -> (String, String, i32) {
    let args = command(case);
    let output = Command::new(env!("CARGO_BIN_EXE_l7mpc"))
        .current_dir(case)
        .env("NO_COLOR", "1")
        .args(&args)
        .args(if args[0] == "check" {
            &["--no-color"][..]
        } else {
            &[]
        })
        .arg("-f")
        .args(files)
        .output()
        .expect("l7mpc runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let stderr = String::from_utf8(output.stderr).expect("UTF-8 diagnostics");
    let code = output.status.code().unwrap_or(-1);
    let (diagnostics, out) = if args[0] == "check" {
        (stdout, String::new())
    } else {
        (stderr, stdout)
    };
    if diagnostics.is_empty() && code == 0 {
        ("ok\n".into(), out, code)
    } else {
        (diagnostics, out, code)
    }
}

/// The input files in reverse order: output must not depend on the order of `-f` arguments.
fn reversed_inputs(case: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(case.join("input"))
        .expect("input folder")
        .map(|e| format!("input/{}", e.expect("entry").file_name().to_string_lossy()))
        .collect();
    files.sort();
    files.reverse();
    files
}

/// The number of errors in the summary line of human diagnostics ("l7mpc: 2 errors, ...").
fn errors(diagnostics: &str) -> usize {
    diagnostics
        .lines()
        .filter_map(|l| l.strip_prefix("l7mpc: ")?.split_once(" error"))
        .find_map(|(count, _)| count.parse().ok())
        .unwrap_or(0)
}

/// `check` runs every stage `compile` runs: on every case both exit alike and report the same
/// diagnostics (`check`'s on stdout, `compile`'s on stderr, both after the skipped-kinds line
/// on stderr), also under `--deny-warnings` where a case has warnings.
#[test]
fn check_and_compile_agree_on_every_case() {
    let mut compared = 0;
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let args = command(&case);
        let pods = args
            .iter()
            .position(|a| a == "--pods")
            .map(|i| {
                args[i..i + 2]
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for deny in [false, true] {
            let run = |command: &str| {
                let mut line = vec![command];
                line.extend(&pods);
                line.extend(deny.then_some("--deny-warnings"));
                line.extend(["-f", "input"]);
                l7mpc_in(&case, &line, "")
            };
            let (check, compile) = (run("check"), run("compile"));
            let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).expect("UTF-8");
            let checked = text(&check.stderr) + &text(&check.stdout);
            let compiled = text(&compile.stderr);
            assert_eq!(
                check.status.code(),
                compile.status.code(),
                "{name}, deny {deny}:\n{checked}"
            );
            assert_eq!(checked, compiled, "{name}, deny {deny}");
            compared += 1;
            if deny || check.status.code() != Some(0) || checked.is_empty() {
                break; // --deny-warnings changes only a passing run with warnings
            }
        }
    }
    assert!(compared > cases().len(), "some case has warnings only");
}

/// Compares `actual` with the expected file, rewriting it under `L7MPC_ACCEPT`.
fn compare(path: &Path, actual: &str, name: &str, failures: &mut Vec<String>) {
    if std::env::var_os("L7MPC_ACCEPT").is_some() {
        std::fs::write(path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "--- {name}: expected {}\n{expected}--- actual\n{actual}",
            path.display()
        ));
    }
}

#[test]
fn golden_cases() {
    let mut failures = Vec::new();
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let (actual, out, code) = run(&case, &["input".to_string()]);
        let reordered = run(&case, &reversed_inputs(&case));
        assert_eq!(
            (&actual, &out),
            (&reordered.0, &reordered.1),
            "{name}: output depends on argument order"
        );
        assert_eq!(
            code,
            i32::from(errors(&actual) > 0),
            "{name}: exit code {code} for\n{actual}"
        );
        compare(&case.join("expected.txt"), &actual, &name, &mut failures);
        let args = command(&case);
        if args[0] != "check" {
            let file = if args[0] == "compile" {
                "expected.yaml"
            } else {
                "expected.out"
            };
            compare(&case.join(file), &out, &name, &mut failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nrerun with L7MPC_ACCEPT=1 to accept",
        failures.join("\n")
    );
}

/// The seed split into other files, in another document order, compiles to the same bytes.
#[test]
fn shuffled_input_compiles_to_the_same_bytes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden");
    let seed = run(&root.join("compile-seed-services"), &["input".to_string()]);
    let shuffled = run(&root.join("compile-shuffled"), &["input".to_string()]);
    assert!(!seed.1.is_empty());
    assert!(seed.1 == shuffled.1, "shuffled input compiles differently");
}
