//! Sets `L7MP_COMMIT` to the short hash of the commit being built (`git rev-parse --short
//! HEAD`), or `unknown` outside a git checkout, for `l7mp_build_info`.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]);
    println!(
        "cargo:rustc-env=L7MP_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    // Build again when HEAD moves: HEAD names the branch, the branch's ref (a loose file, or a
    // line of packed-refs) the commit.
    println!("cargo:rerun-if-changed=build.rs");
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        if let Some(path) = git(&["rev-parse", "--git-path", name])
            && Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
