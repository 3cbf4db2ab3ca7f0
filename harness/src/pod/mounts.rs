//! A container's bind mounts: the pod's volumes at their `mountPath` (with `subPath`), its
//! `/tmp`, `resolv.conf` and `hosts`, and the mount points they need on the host.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use super::containers;
use crate::state::{Dirs, Pod, Resource, State};

/// A bind mount inside a container's mount namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Host path.
    pub source: PathBuf,
    /// Path the container sees.
    pub target: PathBuf,
    /// Read-only.
    pub read_only: bool,
}

/// The container's bind mounts, parents first: its volumeMounts, then the pod's `/tmp` (with
/// `private_tmp`, unless a volume covers it: host processes would otherwise share the host's),
/// `resolv.conf` and (off the host network) `hosts`.
pub fn container_mounts(
    dirs: &Dirs,
    pod: &Pod,
    container: &Value,
    volumes: &BTreeMap<String, PathBuf>,
    private_tmp: bool,
) -> Result<Vec<Mount>> {
    let pod_dir = dirs.pod(&pod.name);
    let mut mounts = Vec::new();
    let mut has_tmp = false;
    for vm in containers(container, "volumeMounts") {
        let name = vm.get("name").and_then(Value::as_str).unwrap_or_default();
        let target = vm
            .get("mountPath")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !target.starts_with('/') {
            return Err(anyhow!(
                "volumeMount {name}: mountPath {target:?} is not absolute"
            ));
        }
        let mut source = volumes
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow!("volumeMount {name}: the pod has no such volume"))?;
        if let Some(sub) = vm
            .get("subPath")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            if Path::new(sub)
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
            {
                return Err(anyhow!("volumeMount {name}: bad subPath {sub:?}"));
            }
            // As in Kubernetes: the path is resolved once, so a ConfigMap behind a subPath mount
            // never updates.
            source = fs::canonicalize(source.join(sub))
                .with_context(|| format!("volumeMount {name}: subPath {sub}"))?;
        }
        let is_configmap = containers(&pod.spec, "volumes").iter().any(|v| {
            v.get("name").and_then(Value::as_str) == Some(name) && v.get("configMap").is_some()
        });
        let target = normalize(target);
        has_tmp |= target == Path::new("/tmp");
        mounts.push(Mount {
            source,
            target,
            read_only: is_configmap || vm.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
        });
    }
    if private_tmp && !has_tmp {
        mounts.push(Mount {
            source: pod_dir.join("tmp"),
            target: PathBuf::from("/tmp"),
            read_only: false,
        });
    }
    mounts.push(Mount {
        source: pod_dir.join("resolv.conf"),
        target: PathBuf::from("/etc/resolv.conf"),
        read_only: false,
    });
    if !pod.host_network {
        mounts.push(Mount {
            source: pod_dir.join("hosts"),
            target: PathBuf::from("/etc/hosts"),
            read_only: false,
        });
    }
    mounts.sort_by_key(|m| m.target.components().count());
    Ok(mounts)
}

fn normalize(p: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(p).components() {
        if let Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

/// Makes sure every mount target exists: inside an earlier mount, the directory is created in
/// that mount's source; on the host, missing directories (or an empty file, for a file mount)
/// are created and recorded so teardown removes them.
pub fn ensure_targets(state: &mut State, mounts: &[Mount]) -> Result<()> {
    for (i, m) in mounts.iter().enumerate() {
        // The deepest earlier mount that contains this target.
        let outer = mounts[..i]
            .iter()
            .filter(|o| m.target.starts_with(&o.target) && m.target != o.target)
            .max_by_key(|o| o.target.components().count());
        let host_path = match outer {
            Some(o) => o
                .source
                .join(m.target.strip_prefix(&o.target).expect("prefix")),
            None => m.target.clone(),
        };
        let record = outer.is_none();
        let is_dir = m.source.is_dir();
        if fs::symlink_metadata(&host_path).is_ok() {
            continue;
        }
        let mut missing = Vec::new();
        let mut p = host_path.parent();
        while let Some(dir) = p {
            if dir.exists() {
                break;
            }
            missing.push(dir.to_path_buf());
            p = dir.parent();
        }
        for dir in missing.into_iter().rev() {
            fs::create_dir(&dir)
                .with_context(|| format!("creating mount point {}", dir.display()))?;
            if record {
                state.record(None, Resource::Dir { path: dir });
            }
        }
        if is_dir {
            fs::create_dir(&host_path)
                .with_context(|| format!("creating mount point {}", host_path.display()))?;
            if record {
                state.record(None, Resource::Dir { path: host_path });
            }
        } else {
            fs::write(&host_path, b"")
                .with_context(|| format!("creating mount point {}", host_path.display()))?;
            if record {
                state.record(None, Resource::File { path: host_path });
            }
        }
    }
    Ok(())
}

/// Every mount point in the mount namespaces of the running processes (from
/// `/proc/PID/mountinfo`, one process per namespace). Teardown keeps a mount point it created
/// while it is in here: removing a directory that a volume is mounted on in another mount
/// namespace succeeds, and silently unmounts that volume there.
pub fn mount_points() -> BTreeSet<PathBuf> {
    let mut namespaces = BTreeSet::new();
    let mut out = BTreeSet::new();
    let Ok(proc_dir) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in proc_dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(ns) = fs::read_link(format!("/proc/{pid}/ns/mnt")) else {
            continue;
        };
        if !namespaces.insert(ns) {
            continue;
        }
        let Ok(info) = fs::read_to_string(format!("/proc/{pid}/mountinfo")) else {
            continue;
        };
        out.extend(
            info.lines()
                .filter_map(|l| l.split(' ').nth(4))
                .map(|p| PathBuf::from(unescape_octal(p))),
        );
    }
    out
}

/// Undoes mountinfo's escapes (`\040` for a space, and so on).
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                out.push(
                    d.iter()
                        .fold(0u8, |acc, b| acc.wrapping_mul(8) + (b - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn mount_points_are_read_from_every_namespace() {
        let points = mount_points();
        assert!(points.contains(Path::new("/proc")), "{points:?}");
        assert_eq!(unescape_octal("/a\\040b\\134c"), "/a b\\c");
    }

    use super::*;

    #[test]
    fn ensure_targets_creates_and_records_host_dirs_only() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir(&src).unwrap();
        let podtmp = tmp.path().join("podtmp");
        fs::create_dir(&podtmp).unwrap();
        let mut state: State = serde_json::from_value(serde_json::json!({
            "cluster": "c", "bridge": "b", "network": "10.244.0.0", "prefix": 24,
            "node_ip": "10.244.0.1", "bin_dir": "/x", "images": {}, "created": [],
            "configmaps": {}, "services": {}, "workloads": {}, "pods": {}, "dnsmasq": null
        }))
        .unwrap();
        let mounts = vec![
            Mount {
                source: podtmp.clone(),
                target: tmp.path().join("outer"),
                read_only: false,
            },
            Mount {
                source: src.clone(),
                target: tmp.path().join("a/b"),
                read_only: true,
            },
            Mount {
                source: src.clone(),
                target: tmp.path().join("outer/inner"),
                read_only: true,
            },
        ];
        ensure_targets(&mut state, &mounts).unwrap();
        assert!(tmp.path().join("a/b").is_dir());
        assert!(
            podtmp.join("inner").is_dir(),
            "created inside the outer mount's source"
        );
        let recorded: Vec<_> = state.created.iter().map(|c| c.resource.clone()).collect();
        assert_eq!(
            recorded,
            [
                Resource::Dir {
                    path: tmp.path().join("outer")
                },
                Resource::Dir {
                    path: tmp.path().join("a")
                },
                Resource::Dir {
                    path: tmp.path().join("a/b")
                }
            ]
        );
    }
}
