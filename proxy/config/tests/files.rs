//! Reading config files from disk: what cannot be a config (too large, a directory, not UTF-8,
//! missing) is refused by [`read_file`] with a diagnostic that names the file and says why,
//! the same for `l7mp --validate`, the proxy's start and its reloads.

use std::io::Write;

use l7mp_config::load::{MAX_CONFIG_BYTES, read_file};
use l7mp_config::load_file;

const VALID: &str = "listeners:\n  - name: l\n    spec: {protocol: UDP, port: 9001}\n    rules: [{action: {route: {destination: {spec: {protocol: Echo}}}}}]\n";

#[test]
fn a_file_over_the_limit_is_refused_naming_the_file_its_size_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yaml");
    // A valid config padded with comments to 50 MB: were it parsed, it would load.
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(VALID.as_bytes()).unwrap();
    let line = format!("# {}\n", "x".repeat(97));
    let mut size = VALID.len();
    while size < 50_000_000 {
        f.write_all(line.as_bytes()).unwrap();
        size += line.len();
    }
    drop(f);
    let errors = load_file(&path).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let d = &errors[0];
    assert_eq!(d.file, path.display().to_string());
    let shown = d.to_string();
    assert!(
        shown.contains(&format!(
            "the file is {size} bytes, more than the {MAX_CONFIG_BYTES} (16 MiB)"
        )),
        "{shown}"
    );
    assert!(d.hint.is_some(), "{shown}");
}

#[test]
fn a_file_at_the_limit_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("padded.yaml");
    let mut text = VALID.to_string();
    text.push_str(&" ".repeat(MAX_CONFIG_BYTES as usize - text.len()));
    std::fs::write(&path, &text).unwrap();
    assert_eq!(read_file(&path).unwrap().len() as u64, MAX_CONFIG_BYTES);
    assert!(load_file(&path).is_ok());
}

#[test]
fn directories_missing_files_and_binary_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let only = |errors: Vec<l7mp_config::Diagnostic>| {
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    };
    let d = only(read_file(dir.path()).unwrap_err());
    assert!(d.message.contains("is a directory"), "{d}");
    let missing = dir.path().join("missing.yaml");
    let d = only(read_file(&missing).unwrap_err());
    assert!(d.message.starts_with("cannot read the file"), "{d}");
    assert_eq!(d.file, missing.display().to_string());
    let binary = dir.path().join("binary.yaml");
    std::fs::write(&binary, b"listeners: []\n\xff").unwrap();
    let d = only(read_file(&binary).unwrap_err());
    assert!(d.message.contains("not UTF-8"), "{d}");
}
