//! The container images `scripts/image.sh` builds, for the tests that run them: built (or found
//! up to date: the script skips a build whose inputs are unchanged) once per test binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use super::{repo, sibling_binary};

/// The proxy image's tag in the tests (a user's `localhost/l7mp-rs:dev` and `:0.1.0` are left
/// alone): built from the `l7mp` and `l7mpc` binaries next to the harness.
pub const PROXY_IMAGE: &str = "localhost/l7mp-rs:test";

/// The proxy image as the examples' manifests name it.
pub fn manifest_proxy_image() -> String {
    format!("localhost/l7mp-rs:{}", env!("CARGO_PKG_VERSION"))
}

/// The examples' app image, as `scripts/image.sh examples` tags it and the manifests name it.
pub fn example_image() -> String {
    format!(
        "localhost/example-apps/socat-perl:{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// podman as the project's scripts run it.
pub fn podman() -> Command {
    let mut c = Command::new("podman");
    c.env(
        "CONTAINERS_CONF",
        repo().join("scripts/podman/containers.conf"),
    )
    .args(["--runtime", "runc"]);
    c
}

/// Runs `c`, failing the test with its stderr when it fails.
pub fn ok(mut c: Command) -> Output {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn image_sh(args: &[&str]) -> Output {
    let mut c = Command::new(repo().join("scripts/image.sh"));
    c.args(args);
    ok(c)
}

/// `scripts/image.sh l7mp` on the binaries next to the harness.
pub fn build_proxy_image() {
    let bin_dir = sibling_binary("l7mp").parent().unwrap().to_path_buf();
    sibling_binary("l7mpc");
    let out = image_sh(&[
        "l7mp",
        "--bin-dir",
        bin_dir.to_str().unwrap(),
        "--tag",
        PROXY_IMAGE,
    ]);
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
}

/// The proxy image, built once per test run.
pub fn proxy_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(build_proxy_image);
    PROXY_IMAGE
}

/// The examples' app image, built (or found up to date) once per test run.
pub fn app_image() -> String {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = image_sh(&["examples"]);
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    });
    example_image()
}

/// A copy of the workload manifests in `dir` (`*.yaml`) in `work`, naming the proxy image the
/// tests build instead of the release tag, with both images built.
pub fn with_test_images(dir: &Path, work: &Path) -> PathBuf {
    let (proxy, _) = (proxy_image(), app_image());
    let out = work.join("workloads-for-podman");
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.replace(&manifest_proxy_image(), proxy);
            std::fs::write(out.join(path.file_name().unwrap()), text).unwrap();
        }
    }
    out
}
