//! Which host program a container runs: the built-in image table, lookup on the container's
//! PATH, and staging of the repo's own programs where the pod's mounts cannot hide them.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Result, anyhow};

use crate::state::Dirs;

/// The built-in image → program table, for containers that give no `command`. Keys are the
/// image's last path element without tag or digest; `socat-perl` is the examples' app image
/// (`examples/images/socat-perl`, whose entrypoint is socat).
pub fn default_images() -> BTreeMap<String, String> {
    [
        ("socat", "socat"),
        ("socat-perl", "socat"),
        ("l7mp", "l7mp"),
        ("l7mp-rs", "l7mp"),
        ("perl", "perl"),
        ("python", "python3"),
        ("dnsmasq", "dnsmasq"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

/// `alpine/socat:1.7` → `socat`.
pub fn image_base(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last)
}

/// Copies a program from the build directory into the cluster's state directory (once) and
/// returns the copy's path. The build directory may lie under a path that a pod's own mounts
/// hide (a checkout under `/tmp`, which every pod replaces with its private `/tmp`); the state
/// directory never is.
pub(super) fn stage_program(dirs: &Dirs, program: &str) -> Result<String> {
    let source = Path::new(program);
    let name = source
        .file_name()
        .ok_or_else(|| anyhow!("program path {program:?} has no file name"))?;
    let staged = dirs.root.join("bin").join(name);
    if !staged.is_file() {
        fs::create_dir_all(dirs.root.join("bin"))?;
        let partial = staged.with_extension("partial");
        fs::copy(source, &partial)?;
        fs::rename(&partial, &staged)?;
    }
    Ok(staged.to_string_lossy().into_owned())
}

/// The host path of `program`: as given when it has a `/`, else the first executable of that name
/// on `path` (the container's PATH).
pub(super) fn resolve_program(program: &str, path: &str) -> Option<String> {
    if program.contains('/') {
        return Path::new(program).is_file().then(|| program.to_string());
    }
    path.split(':').filter(|d| !d.is_empty()).find_map(|d| {
        let p = Path::new(d).join(program);
        let meta = fs::metadata(&p).ok()?;
        (meta.is_file()
            && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0)
            .then(|| p.to_string_lossy().into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        assert_eq!(image_base("alpine/socat"), "socat");
        assert_eq!(image_base("docker.io/l7mp/l7mp-rs:latest"), "l7mp-rs");
        assert_eq!(image_base("reg:5000/x/perl@sha256:ab"), "perl");
        let examples_app = image_base("localhost/example-apps/socat-perl:0.1.0");
        assert_eq!(default_images()[examples_app], "socat");
    }
}
