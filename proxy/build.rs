// Records the commit the binary is built from, for `--version`: `L7MP_COMMIT` is the
// `L7MP_COMMIT` environment variable when set (for builds from a tarball that know their
// commit), else the short hash of HEAD when the crate is built inside its own git checkout,
// else `unknown`. `l7mpc`'s build script includes this file (so no inner doc comments here).
//
// For the proxy alone it also compiles the UDP offload program (`bpf/udp_offload.c`) with
// clang into `$OUT_DIR/udp_offload.o`, which the binary embeds. Without clang (or the libbpf
// headers) the proxy still builds: the object is left empty, `L7MP_OFFLOAD_MISSING` says why,
// cargo prints a warning, and `--offload=on` fails at run time with that reason.

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
    if std::env::var("CARGO_PKG_NAME").as_deref() == Ok("l7mp") {
        offload_object(&manifest);
    }
}

/// Compiles the offload program (see the top of this file); an empty object and the reason
/// when that is not possible.
fn offload_object(manifest: &Path) {
    let source = manifest.join("bpf/udp_offload.c");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-env-changed=CLANG");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("udp_offload.o");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    // `-target bpf` leaves out the multiarch folder that holds <asm/types.h>.
    let multiarch = Command::new(&clang)
        .arg("-print-multiarch")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let missing = match multiarch {
        None => Some(format!(
            "`{clang}` was not found when l7mp was built (install clang and libbpf-dev, or set CLANG)"
        )),
        Some(multiarch) => {
            let built = Command::new(&clang)
                .args(["-O2", "-g", "-Wall", "-Werror", "-target", "bpf"])
                .arg(format!("-I/usr/include/{multiarch}"))
                .arg("-c")
                .arg(&source)
                .arg("-o")
                .arg(&out)
                .output();
            match built {
                Ok(o) if o.status.success() => None,
                Ok(o) => Some(format!(
                    "clang could not compile {} (are the libbpf-dev headers installed?): {}",
                    source.display(),
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .next()
                        .unwrap_or_default()
                )),
                Err(e) => Some(format!("cannot run `{clang}`: {e}")),
            }
        }
    };
    if let Some(why) = &missing {
        println!("cargo:warning=UDP offload left out: {why}");
        // An empty object: `include_bytes!` needs a file either way.
        let _ = std::fs::write(&out, []);
    }
    println!(
        "cargo:rustc-env=L7MP_OFFLOAD_MISSING={}",
        missing.unwrap_or_default().replace('\n', " ")
    );
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
