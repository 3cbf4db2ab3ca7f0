//! ConfigMap volumes in the kubelet's exact layout (its `AtomicWriter`):
//!
//! ```text
//! <volume>/..2026_11_30_12_00_00.123456789/config.yaml   the payload, one directory per version
//! <volume>/..data -> ..2026_11_30_12_00_00.123456789     the current version
//! <volume>/config.yaml -> ..data/config.yaml             what containers open, never modified
//! ```
//!
//! An update follows the kubelet's steps: compare with the current payload (identical: nothing is
//! written), write a new timestamped directory, point a `..data_tmp` symlink at it, rename that over
//! `..data` (the one atomic step), create symlinks for new keys, remove those of dropped keys, then
//! delete the old directory.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use anyhow::{Context, Result, anyhow};

/// File path inside the volume (may contain `/`) → content.
pub type Payload = BTreeMap<String, Vec<u8>>;

/// The payload a ConfigMap volume shows: every key of `data` (and `binaryData`, base64), or only
/// the `items` of the volume source, each at its `path`.
pub fn payload(configmap: &Value, items: Option<&Value>) -> Result<Payload> {
    let mut all = BTreeMap::new();
    if let Some(data) = configmap.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            all.insert(k.clone(), text.into_bytes());
        }
    }
    if let Some(data) = configmap.get("binaryData").and_then(Value::as_object) {
        for (k, v) in data {
            // Line breaks and spaces a YAML block scalar may leave are not part of the data.
            let text: String = v
                .as_str()
                .unwrap_or_default()
                .split_ascii_whitespace()
                .collect();
            let bytes = STANDARD
                .decode(text)
                .map_err(|e| anyhow!("binaryData key {k:?} is not valid base64: {e}"))?;
            all.insert(k.clone(), bytes);
        }
    }
    let Some(items) = items.and_then(Value::as_array) else {
        return Ok(all);
    };
    let mut out = BTreeMap::new();
    for item in items {
        let key = item.get("key").and_then(Value::as_str).unwrap_or_default();
        let path = item.get("path").and_then(Value::as_str).unwrap_or(key);
        let bytes = all
            .get(key)
            .ok_or_else(|| anyhow!("items names key {key:?}, which the ConfigMap does not have"))?;
        out.insert(path.to_string(), bytes.clone());
    }
    Ok(out)
}

/// Writes `payload` into the volume directory `dir` the way the kubelet does. Returns whether
/// anything was written (false when the payload is what the volume already shows).
pub fn write(dir: &Path, payload: &Payload) -> Result<bool> {
    for path in payload.keys() {
        let p = Path::new(path);
        if path.is_empty()
            || p.is_absolute()
            || path.starts_with("..")
            || p.components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(anyhow!(
                "ConfigMap volume path {path:?} is not a plain relative path"
            ));
        }
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let data_link = dir.join("..data");
    let old_dir = fs::read_link(&data_link).ok().map(|t| dir.join(t));
    let old_payload = match &old_dir {
        Some(d) => read_payload(d)?,
        None => Payload::new(),
    };
    if old_dir.is_some() && old_payload == *payload {
        return Ok(false);
    }
    // 4-5: the new version in a new timestamped directory.
    let ts_dir = new_timestamp_dir(dir)?;
    for (path, bytes) in payload {
        let file = ts_dir.join(path);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&file, bytes).with_context(|| format!("writing {}", file.display()))?;
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644))?;
    }
    // 6-7: ..data_tmp -> new dir, renamed over ..data.
    let tmp_link = dir.join("..data_tmp");
    let _ = fs::remove_file(&tmp_link);
    let ts_name = ts_dir.file_name().expect("timestamp dir has a name");
    symlink(ts_name, &tmp_link)?;
    fs::rename(&tmp_link, &data_link)
        .with_context(|| format!("renaming ..data_tmp in {}", dir.display()))?;
    // 8: user-visible symlinks for new top-level names.
    let new_top = top_level(payload);
    for name in &new_top {
        let visible = dir.join(name);
        if fs::symlink_metadata(&visible).is_err() {
            symlink(Path::new("..data").join(name), &visible)?;
        }
    }
    // 9: user-visible names no longer in the payload.
    for name in top_level(&old_payload) {
        if !new_top.contains(&name) {
            let _ = fs::remove_file(dir.join(&name));
        }
    }
    // 10: the old version.
    if let Some(old) = old_dir
        && old != ts_dir
    {
        let _ = fs::remove_dir_all(&old);
    }
    Ok(true)
}

fn top_level(payload: &Payload) -> Vec<String> {
    let mut names: Vec<String> = payload
        .keys()
        .map(|p| p.split('/').next().unwrap_or(p).to_string())
        .collect();
    names.dedup();
    names
}

/// Reads back a payload directory (relative path → bytes).
pub fn read_payload(dir: &Path) -> Result<Payload> {
    fn walk(base: &Path, dir: &Path, out: &mut Payload) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                walk(base, &path, out)?;
            } else {
                let rel = path.strip_prefix(base).expect("under base");
                out.insert(rel.to_string_lossy().into_owned(), fs::read(&path)?);
            }
        }
        Ok(())
    }
    let mut out = Payload::new();
    if dir.is_dir() {
        walk(dir, dir, &mut out)?;
    }
    Ok(out)
}

/// Creates `..<UTC time as 2006_01_02_15_04_05>.<digits>` in `dir`, as the kubelet names them.
fn new_timestamp_dir(dir: &Path) -> Result<PathBuf> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let stamp = format!(
        "..{y:04}_{m:02}_{d:02}_{:02}_{:02}_{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    for _ in 0..100 {
        let candidate = dir.join(format!("{stamp}.{:09}", fastrand::u32(0..1_000_000_000)));
        match fs::create_dir(&candidate) {
            Ok(()) => {
                fs::set_permissions(&candidate, fs::Permissions::from_mode(0o755))?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(anyhow!("creating {}: {e}", candidate.display())),
        }
    }
    Err(anyhow!(
        "could not create a timestamped directory in {}",
        dir.display()
    ))
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(key: &str, text: &str) -> Payload {
        Payload::from([(key.to_string(), text.as_bytes().to_vec())])
    }

    #[test]
    fn first_write_has_the_kubelet_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        assert!(write(&dir, &one("config.yaml", "a: 1\n")).unwrap());
        let data = fs::read_link(dir.join("..data")).unwrap();
        let name = data.to_str().unwrap();
        assert!(name.starts_with("..20") && name.len() == "..2026_11_30_12_00_00.123456789".len());
        assert_eq!(
            fs::read_link(dir.join("config.yaml")).unwrap(),
            Path::new("..data/config.yaml")
        );
        assert_eq!(
            fs::read_to_string(dir.join("config.yaml")).unwrap(),
            "a: 1\n"
        );
    }

    #[test]
    fn update_swaps_data_and_removes_the_old_version() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        write(&dir, &one("config.yaml", "v1")).unwrap();
        let first = fs::read_link(dir.join("..data")).unwrap();
        assert!(
            !write(&dir, &one("config.yaml", "v1")).unwrap(),
            "same payload: no write"
        );
        assert_eq!(fs::read_link(dir.join("..data")).unwrap(), first);
        let mut two = one("config.yaml", "v2");
        two.insert("extra".into(), b"x".to_vec());
        assert!(write(&dir, &two).unwrap());
        let second = fs::read_link(dir.join("..data")).unwrap();
        assert_ne!(first, second);
        assert!(!dir.join(&first).exists(), "old version deleted");
        assert!(!dir.join("..data_tmp").exists());
        assert_eq!(fs::read_to_string(dir.join("config.yaml")).unwrap(), "v2");
        assert_eq!(fs::read_to_string(dir.join("extra")).unwrap(), "x");
        write(&dir, &one("config.yaml", "v3")).unwrap();
        assert!(
            fs::symlink_metadata(dir.join("extra")).is_err(),
            "dropped key unlinked"
        );
        let entries: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries.len(), 3, "{entries:?}");
    }

    #[test]
    fn payload_reads_data_binary_data_and_items() {
        let cm = serde_json::json!({"data": {"a": "x", "b": "y"}, "binaryData": {"c": "aGk="}});
        let all = payload(&cm, None).unwrap();
        assert_eq!(all["c"], b"hi");
        let items = serde_json::json!([{"key": "b", "path": "sub/b.txt"}]);
        let some = payload(&cm, Some(&items)).unwrap();
        assert_eq!(some.keys().collect::<Vec<_>>(), ["sub/b.txt"]);
        assert!(payload(&cm, Some(&serde_json::json!([{"key": "zz"}]))).is_err());
    }

    #[test]
    fn nested_paths_and_unsafe_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        write(&dir, &one("sub/f", "1")).unwrap();
        assert_eq!(fs::read_to_string(dir.join("sub/f")).unwrap(), "1");
        assert!(write(&dir, &one("../escape", "1")).is_err());
        assert!(write(&dir, &one("/abs", "1")).is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_422), (2025, 11, 30));
    }
}
