//! Running the `l7mpc` binary as users do, for the integration tests.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `l7mpc args` in `dir` with `stdin` as its standard input, without colour.
pub fn l7mpc_in(dir: &Path, args: &[&str], stdin: impl AsRef<[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_l7mpc"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("l7mpc runs");
    let mut input = child.stdin.take().expect("piped stdin");
    input
        .write_all(stdin.as_ref())
        .expect("stdin accepts the input");
    drop(input);
    child.wait_with_output().expect("l7mpc finishes")
}

/// Runs `l7mpc args` with `stdin` as its standard input.
pub fn l7mpc(args: &[&str], stdin: impl AsRef<[u8]>) -> Output {
    l7mpc_in(Path::new("."), args, stdin)
}
