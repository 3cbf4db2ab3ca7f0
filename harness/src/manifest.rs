//! Reading manifests (YAML through `l7mp_config::yaml`) into the objects the harness runs:
//! ConfigMaps, Services and workloads (Deployment, DaemonSet, StatefulSet, Pod), and turning a
//! workload into the pods a cluster would make of it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde_json::{Map, Value};

use crate::net::fnv32a;

/// The characters Kubernetes uses for generated name parts (`rand.SafeEncodeString`).
pub const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// One object of a manifest.
#[derive(Clone, Debug)]
pub struct Object {
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`, or the default namespace.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// The whole object.
    pub value: Value,
}

impl Object {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
    /// `Kind/namespace/name`.
    pub fn kind_key(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// The objects the harness acts on, each kind in input order.
#[derive(Debug, Default)]
pub struct Manifests {
    /// ConfigMaps.
    pub configmaps: Vec<Object>,
    /// Services.
    pub services: Vec<Object>,
    /// Deployments, DaemonSets, StatefulSets and Pods.
    pub workloads: Vec<Object>,
    /// `Kind namespace/name` of documents of other kinds (CRDs, l7mp.io resources...).
    pub skipped: Vec<String>,
}

/// The kinds run as workloads.
pub const WORKLOAD_KINDS: [&str; 4] = ["Deployment", "DaemonSet", "StatefulSet", "Pod"];

/// Reads files and directories (recursively, `*.yaml`, `*.yml`, `*.json`, sorted); `-` is stdin.
pub fn read_paths(paths: &[PathBuf], default_namespace: &str) -> Result<Manifests> {
    let mut files = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            files.push(p.clone());
        } else if p.is_dir() {
            collect_dir(p, &mut files)?;
        } else if p.exists() {
            files.push(p.clone());
        } else {
            return Err(anyhow!("{}: no such file or directory", p.display()));
        }
    }
    let mut out = Manifests::default();
    for f in &files {
        let text = if f.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        } else {
            fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
        };
        parse_into(&text, &f.display().to_string(), default_namespace, &mut out)?;
    }
    Ok(out)
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_dir(&p, out)?;
        } else if p
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Parses one YAML stream and sorts its objects into `out`.
pub fn parse_into(text: &str, source: &str, default_ns: &str, out: &mut Manifests) -> Result<()> {
    let docs = l7mp_config::yaml::parse_documents(text).map_err(|e| {
        anyhow!(
            "{source}:{}:{}: {}",
            e.location.line,
            e.location.column,
            e.message
        )
    })?;
    for doc in docs {
        let line = doc.start.line;
        add_object(doc.value, &format!("{source}:{line}"), default_ns, out)?;
    }
    Ok(())
}

fn add_object(value: Value, at: &str, default_ns: &str, out: &mut Manifests) -> Result<()> {
    if value.is_null() {
        return Ok(());
    }
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("{at}: document has no kind"))?
        .to_string();
    if kind == "List" || kind.ends_with("List") && value.get("items").is_some() {
        for item in value
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            add_object(item, at, default_ns, out)?;
        }
        return Ok(());
    }
    let meta = value.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("{at}: {kind} has no metadata.name"))?
        .to_string();
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or(default_ns)
        .to_string();
    let obj = Object {
        kind: kind.clone(),
        namespace,
        name,
        value,
    };
    match kind.as_str() {
        "ConfigMap" => out.configmaps.push(obj),
        "Service" => out.services.push(obj),
        k if WORKLOAD_KINDS.contains(&k) => {
            pod_template(&obj).with_context(|| at.to_string())?;
            out.workloads.push(obj)
        }
        _ => out.skipped.push(format!("{kind} {}", obj.key())),
    }
    Ok(())
}

/// The pod template of a workload: `(metadata, spec)`.
pub fn pod_template(obj: &Object) -> Result<(Value, Value)> {
    let (meta, spec) = if obj.kind == "Pod" {
        (obj.value.get("metadata"), obj.value.get("spec"))
    } else {
        let t = obj.value.pointer("/spec/template");
        (
            t.and_then(|t| t.get("metadata")),
            t.and_then(|t| t.get("spec")),
        )
    };
    let spec = spec
        .filter(|s| s.is_object())
        .ok_or_else(|| anyhow!("{} {} has no pod spec", obj.kind, obj.key()))?;
    if spec
        .get("containers")
        .and_then(Value::as_array)
        .is_none_or(|c| c.is_empty())
    {
        return Err(anyhow!("{} {} has no containers", obj.kind, obj.key()));
    }
    Ok((
        meta.cloned().unwrap_or_else(|| Value::Object(Map::new())),
        spec.clone(),
    ))
}

/// The pods a workload should have on a one-node cluster: `replicas` for Deployments and
/// StatefulSets (default 1), one for a DaemonSet, itself for a Pod.
pub fn replicas(obj: &Object) -> u64 {
    match obj.kind.as_str() {
        "Deployment" | "StatefulSet" => obj
            .value
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1),
        _ => 1,
    }
}

/// A workload's pod-template hash as Kubernetes spells it: FNV-1a over the template, its decimal
/// form safe-encoded (here zero-padded to 10 characters, e.g. `6bfdf5584c`).
pub fn template_hash(obj: &Object) -> String {
    let (meta, spec) = pod_template(obj).unwrap_or_default();
    let canon = canonical(&serde_json::json!({"metadata": meta, "spec": spec}));
    let h = fnv32a(canon.as_bytes());
    format!("{h:010}")
        .bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// JSON text with object keys sorted at every level.
pub fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, String> =
                m.iter().map(|(k, v)| (k, canonical(v))).collect();
            let parts: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("{}:{v}", Value::String((*k).clone())))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// A random 5-character suffix from the safe alphabet.
pub fn random_suffix() -> String {
    (0..5)
        .map(|_| SAFE_ALPHABET[fastrand::usize(..SAFE_ALPHABET.len())] as char)
        .collect()
}

/// The name of a new pod of `obj` (`ordinal` for StatefulSets).
pub fn pod_name(obj: &Object, hash: &str, ordinal: u64) -> String {
    match obj.kind.as_str() {
        "Deployment" => format!("{}-{hash}-{}", obj.name, random_suffix()),
        "DaemonSet" => format!("{}-{}", obj.name, random_suffix()),
        "StatefulSet" => format!("{}-{ordinal}", obj.name),
        _ => obj.name.clone(),
    }
}

/// String map at `pointer` (labels, annotations, selectors).
pub fn string_map(v: &Value, pointer: &str) -> BTreeMap<String, String> {
    v.pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let s = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), s)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether labels satisfy a Service's `spec.selector` (equality on every key; an empty selector
/// selects nothing, as for Services).
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: worker}\nspec:\n  replicas: 2\n  template:\n    metadata: {labels: {app: worker}}\n    spec:\n      containers: [{name: echo, image: alpine/socat}]\n";

    #[test]
    fn sorts_kinds_and_skips_others() {
        let mut m = Manifests::default();
        let text = format!(
            "{DEPLOY}---\nkind: ConfigMap\nmetadata: {{name: c, namespace: x}}\ndata: {{a: b}}\n---\napiVersion: l7mp.io/v1\nkind: Target\nmetadata: {{name: t}}\n---\n"
        );
        parse_into(&text, "t.yaml", "default", &mut m).unwrap();
        assert_eq!(m.workloads.len(), 1);
        assert_eq!(m.configmaps[0].key(), "x/c");
        assert_eq!(m.skipped, ["Target default/t"]);
        assert_eq!(replicas(&m.workloads[0]), 2);
    }

    #[test]
    fn errors_name_the_place() {
        let mut m = Manifests::default();
        let e = parse_into(
            "kind: Pod\nmetadata: {name: p}\nspec: {}\n",
            "p.yaml",
            "d",
            &mut m,
        )
        .unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("p.yaml:1") && e.contains("no containers"), "{e}");
        let e = parse_into("a: [", "bad.yaml", "d", &mut m).unwrap_err();
        let e = format!("{e:#}");
        assert!(e.starts_with("bad.yaml:"), "{e}");
    }

    #[test]
    fn pod_names_follow_the_controllers() {
        let mut m = Manifests::default();
        parse_into(DEPLOY, "d.yaml", "default", &mut m).unwrap();
        let d = &m.workloads[0];
        let h = template_hash(d);
        assert_eq!(h.len(), 10);
        assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        assert_eq!(h, template_hash(d), "stable");
        let name = pod_name(d, &h, 0);
        let parts: Vec<&str> = name.split('-').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            (parts[0], parts[1], parts[2].len()),
            ("worker", h.as_str(), 5)
        );
        let mut changed = d.clone();
        changed.value["spec"]["template"]["spec"]["containers"][0]["image"] = "other".into();
        assert_ne!(template_hash(&changed), h);
        let mut sts = d.clone();
        sts.kind = "StatefulSet".into();
        assert_eq!(pod_name(&sts, &h, 1), "worker-1");
    }

    #[test]
    fn selectors() {
        let sel = BTreeMap::from([("app".to_string(), "a".to_string())]);
        let mut labels = sel.clone();
        labels.insert("x".into(), "y".into());
        assert!(selects(&sel, &labels));
        assert!(!selects(&BTreeMap::new(), &labels));
        assert!(!selects(&sel, &BTreeMap::new()));
    }
}
