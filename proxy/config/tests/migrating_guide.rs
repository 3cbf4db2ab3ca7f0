//! `docs/migrating.md` checked against the code, so that the guide cannot go stale silently:
//! every key of the config schema (generated from the model) is in its tables; every config
//! key it marks supported, supported with a difference or extension occurs in
//! `tests/data/every-key.yaml`, which must load; every config key it marks not supported is
//! refused by the loader; and its CRD fields agree with `schemas/crds.yaml`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

/// The guide's top-level keys of the static config format (other rows are CRD fields).
const CONFIG_ROOTS: [&str; 9] = [
    "admin",
    "listeners",
    "clusters",
    "rulelists",
    "rules",
    "routes",
    "endpoints",
    "sessions",
    "generated",
];

/// One row of a table in the guide: the key's path (`listeners[].spec.port`) and its mark.
struct Row {
    path: String,
    status: String,
}

impl Row {
    fn accepted(&self) -> bool {
        self.status.starts_with("supported") || self.status == "extension"
    }

    fn is_config(&self) -> bool {
        let root = self.path.split(['.', '[']).next().unwrap_or_default();
        CONFIG_ROOTS.contains(&root)
    }
}

fn repo_file(path: &str) -> String {
    let at = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&at).unwrap_or_else(|e| panic!("{}: {e}", at.display()))
}

fn rows() -> Vec<Row> {
    let rows: Vec<Row> = repo_file("docs/migrating.md")
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            Row {
                path: cells[1].trim_matches('`').to_string(),
                status: cells[2].to_string(),
            }
        })
        .collect();
    for row in &rows {
        assert!(
            row.accepted() || row.status == "not supported",
            "{}: unknown mark {:?}",
            row.path,
            row.status
        );
    }
    rows
}

/// Every property name anywhere in a JSON Schema, and every `protocol` value.
fn schema_words(schema: &Value, words: &mut BTreeSet<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                words.extend(props.keys().cloned());
                if let Some(p) = props.get("protocol") {
                    let values = p
                        .get("enum")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten();
                    words.extend(
                        values
                            .chain(p.get("const"))
                            .filter_map(Value::as_str)
                            .map(str::to_string),
                    );
                }
            }
            map.values().for_each(|v| schema_words(v, words));
        }
        Value::Array(items) => items.iter().for_each(|v| schema_words(v, words)),
        _ => {}
    }
}

#[test]
fn every_key_and_protocol_of_the_schema_is_in_the_guide() {
    let guide = repo_file("docs/migrating.md");
    let last_segments: BTreeSet<String> = rows()
        .iter()
        .filter(|r| r.is_config())
        .map(|r| {
            r.path
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .trim_end_matches("[]")
                .to_string()
        })
        .collect();
    let mut words = BTreeSet::new();
    schema_words(&l7mp_config::model::json_schema(), &mut words);
    assert!(
        words.contains("idle_timeout") && words.contains("Sync"),
        "{words:?}"
    );
    for word in &words {
        let is_protocol = word.chars().next().is_some_and(char::is_uppercase);
        if is_protocol {
            assert!(
                guide.contains(&format!("`{word}`")),
                "protocol {word} is not in the guide"
            );
        } else {
            assert!(
                last_segments.contains(word),
                "key {word} has no row in the guide"
            );
        }
    }
}

/// Every path in a config as the guide writes paths: `a.b`, `[]` for list elements.
fn paths(value: &Value, at: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                out.insert(path.clone());
                paths(v, &path, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| paths(v, &format!("{at}[]"), out)),
        _ => {}
    }
}

fn every_key() -> (String, Value) {
    let text = repo_file("proxy/config/tests/data/every-key.yaml");
    let docs = l7mp_config::yaml::parse_documents(&text).expect("YAML");
    let value = docs.first().expect("one document").value.clone();
    (text, value)
}

#[test]
fn every_config_key_the_guide_accepts_loads() {
    let (text, value) = every_key();
    if let Err(diagnostics) = l7mp_config::load_str("every-key.yaml", &text) {
        panic!("{}", l7mp_config::diagnostic::Report(&diagnostics));
    }
    let mut present = BTreeSet::new();
    paths(&value, "", &mut present);
    let missing: Vec<String> = rows()
        .into_iter()
        .filter(|r| r.is_config() && r.accepted() && !present.contains(&r.path))
        .map(|r| r.path)
        .collect();
    assert!(missing.is_empty(), "not in every-key.yaml: {missing:?}");
}

/// Sets `path` (the guide's notation) in `config` to a string, through the first element of
/// each list; `false` when a parent is missing.
fn insert(config: &mut Value, path: &str) -> bool {
    let mut node = config;
    let segments: Vec<&str> = path.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let (key, into_list) = match segment.strip_suffix("[]") {
            Some(key) => (key, true),
            None => (*segment, false),
        };
        if i + 1 == segments.len() && !into_list {
            return node
                .as_object_mut()
                .map(|m| m.insert(key.into(), "x".into()))
                .is_some();
        }
        let Some(next) = node.get_mut(key) else {
            return false;
        };
        node = if into_list {
            match next.get_mut(0) {
                Some(first) => first,
                None => return false,
            }
        } else {
            next
        };
    }
    false
}

#[test]
fn every_config_key_the_guide_marks_not_supported_is_refused() {
    let (_, value) = every_key();
    let refused: Vec<Row> = rows()
        .into_iter()
        .filter(|r| r.is_config() && !r.accepted())
        .collect();
    assert!(!refused.is_empty());
    for row in refused {
        let mut config = value.clone();
        assert!(
            insert(&mut config, &row.path),
            "{}: no parent in every-key.yaml",
            row.path
        );
        let text = serde_json::to_string(&config).expect("JSON");
        let key = row.path.rsplit('.').next().unwrap_or_default();
        match l7mp_config::load_str("probe.json", &text) {
            Ok(_) => panic!("{} is accepted but the guide says not supported", row.path),
            Err(d) => assert!(
                d.iter().any(|d| d.field.ends_with(key)),
                "{}: {}",
                row.path,
                l7mp_config::diagnostic::Report(&d)
            ),
        }
    }
}

/// CRD fields the schema accepts but `l7mpc` refuses when it lowers them (with an error that
/// names the field), so the guide rightly marks them not supported.
const REFUSED_WHEN_COMPILED: [&str; 1] = ["VirtualService.spec.listener.spec.HTTP"];

/// The `openAPIV3Schema` of each CRD kind in `schemas/crds.yaml`.
fn crd_schemas() -> Vec<(String, Value)> {
    let text = repo_file("schemas/crds.yaml");
    let docs = l7mp_config::yaml::parse_documents(&text).expect("YAML");
    docs.iter()
        .map(|d| {
            let kind = d.value.pointer("/spec/names/kind").and_then(Value::as_str);
            let schema = d.value.pointer("/spec/versions/0/schema/openAPIV3Schema");
            (
                kind.expect("kind").to_string(),
                schema.expect("schema").clone(),
            )
        })
        .collect()
}

/// Whether the CRD schema has the field at `path` (`spec.listener.rules[].name`).
fn crd_has(schema: &Value, path: &str) -> bool {
    let mut node = schema;
    for segment in path.split('.') {
        let (key, into_list) = match segment.strip_suffix("[]") {
            Some(key) => (key, true),
            None => (segment, false),
        };
        let Some(next) = node.get("properties").and_then(|p| p.get(key)) else {
            return false;
        };
        node = if into_list {
            match next.get("items") {
                Some(items) => items,
                None => return false,
            }
        } else {
            next
        };
    }
    true
}

#[test]
fn the_guides_crd_fields_agree_with_the_crds() {
    let crds = crd_schemas();
    let rows: Vec<Row> = rows().into_iter().filter(|r| !r.is_config()).collect();
    assert!(rows.len() > 50, "{} CRD rows", rows.len());
    for row in rows {
        let (kind, field) = row.path.split_once('.').expect("Kind.field");
        let (_, schema) = crds
            .iter()
            .find(|(k, _)| k == kind)
            .unwrap_or_else(|| panic!("{}: no CRD of kind {kind}", row.path));
        let expected = row.accepted() || REFUSED_WHEN_COMPILED.contains(&row.path.as_str());
        assert_eq!(
            crd_has(schema, field),
            expected,
            "{} is marked {:?}",
            row.path,
            row.status
        );
    }
}
