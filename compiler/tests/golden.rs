//! Golden tests: each folder of `tests/golden/` holds `input/*.yaml` and `expected.txt`, the
//! output of `l7mpc check --format human` without colour (`ok` for a clean run). The binary runs
//! as users run it, from the case folder. `L7MPC_ACCEPT=1` rewrites the expected files.

use std::path::{Path, PathBuf};
use std::process::Command;

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
