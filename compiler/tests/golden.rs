//! Golden tests: each folder of `tests/golden/` holds `input/*.yaml` and `expected.txt`, the
//! output of `l7mpc check --format human` without colour (`ok` for a clean run). The binary runs
//! as users run it, from the case folder. `L7MPC_ACCEPT=1` rewrites the expected files.
//! The other command-line behaviour (stdin, formats, exit codes, `crds`) is tested here too.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn l7mpc(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_l7mpc"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("l7mpc runs");
    let mut input = child.stdin.take().expect("piped stdin");
    input
        .write_all(stdin.as_bytes())
        .expect("stdin accepts the input");
    drop(input);
    child.wait_with_output().expect("l7mpc finishes")
}

const BAD_PORT: &str = "apiVersion: l7mp.io/v1\nkind: Target\nmetadata: {name: t}\nspec:\n  cluster: {spec: {UDP: {port: 70000}}}\n";

#[test]
fn stdin_and_machine_formats() {
    let out = l7mpc(&["check", "-f", "-", "--format", "json"], BAD_PORT);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(json[0]["code"], "L7MPC0203");
    assert_eq!(json[0]["file"], "<stdin>");
    assert_eq!(json[0]["line"], 5);
    let out = l7mpc(&["check", "-f", "-", "--format", "github"], BAD_PORT);
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        text.starts_with("::error file=<stdin>,line=5,col="),
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

/// Runs `l7mpc check` in `case` with `args` after `-f`; returns stdout (or `ok`) and the exit code.
fn run(case: &Path, files: &[String]) -> (String, i32) {
    let output = Command::new(env!("CARGO_BIN_EXE_l7mpc"))
        .current_dir(case)
        .env("NO_COLOR", "1")
        .args(["check", "--no-color", "-f"])
        .args(files)
        .output()
        .expect("l7mpc runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let code = output.status.code().unwrap_or(-1);
    if stdout.is_empty() && code == 0 {
        ("ok\n".into(), code)
    } else {
        (stdout, code)
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

#[test]
fn golden_cases() {
    let accept = std::env::var_os("L7MPC_ACCEPT").is_some();
    let mut failures = Vec::new();
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let (actual, code) = run(&case, &["input".to_string()]);
        let (reordered, _) = run(&case, &reversed_inputs(&case));
        assert_eq!(
            actual, reordered,
            "{name}: output depends on argument order"
        );
        let failed = !actual.contains("l7mpc: 0 errors") && actual != "ok\n";
        assert_eq!(
            code,
            i32::from(failed),
            "{name}: exit code {code} for\n{actual}"
        );
        let expected_path = case.join("expected.txt");
        if accept {
            std::fs::write(&expected_path, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "--- {name}: expected\n{expected}--- actual\n{actual}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nrerun with L7MPC_ACCEPT=1 to accept",
        failures.join("\n")
    );
}
