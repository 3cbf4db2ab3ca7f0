// Records the commit the binary is built from, for `--version`: `L7MP_COMMIT` is the
// `L7MP_COMMIT` environment variable when set (for builds from a tarball that know their
// commit), else the short hash of HEAD when the crate is built inside its own git checkout,
// else `unknown`. `l7mpc`'s build script includes this file (so no inner doc comments here).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    // `../proxy/build.rs` is this file from either crate.
    println!("cargo:rerun-if-changed=../proxy/build.rs");
    println!("cargo:rerun-if-env-changed=L7MP_COMMIT");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = std::env::var("L7MP_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git_commit(&manifest))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=L7MP_COMMIT={commit}");
}

/// HEAD's short hash, when the crate's folder is inside a git work tree whose top is the
/// workspace (a tarball unpacked inside some other repository must not take its commit); also
/// asks to rerun when HEAD moves.
fn git_commit(manifest: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(manifest)
            .args(args)
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        out.status.success().then(|| text.trim().to_string())
    };
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    let workspace = manifest.parent()?;
    if top.canonicalize().ok()? != workspace.canonicalize().ok()? {
        return None;
    }
    for path in ["HEAD", "refs", "packed-refs"] {
        // Cargo takes a missing file for a changed one and would rerun on every build.
        let file = git(&["rev-parse", "--path-format=absolute", "--git-path", path]);
        if let Some(file) = file.filter(|f| Path::new(f).exists()) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    git(&["rev-parse", "--short", "HEAD"])
}
