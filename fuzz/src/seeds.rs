//! The real inputs the generators start from: the repository's example meshes and compiler
//! test inputs, the proxy configs the compiler's golden tests expect (plus the example proxy
//! config), and the rule matches and JSONSocket header entries inside them. Read once per test
//! binary; a seed that cannot be read fails the test that needs it.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use l7mp_config::yaml::parse_documents;
use l7mpc::load::{ReadError, SourceFile, read_sources};
use serde_json::Value;

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A set of files the compiler reads together, as one `l7mpc check -f ...` would.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Where it comes from, for messages.
    pub name: String,
    /// Its files.
    pub files: Vec<SourceFile>,
}

/// Every compiler input: the example meshes and each golden test's input directory.
pub fn scenarios() -> &'static [Scenario] {
    static SCENARIOS: LazyLock<Vec<Scenario>> = LazyLock::new(|| {
        let root = repo();
        let task1 = ["mesh", "gateway", "workloads"].map(|d| root.join("examples/task1").join(d));
        let mut sets = vec![
            ("examples/task1".to_string(), task1.to_vec()),
            (
                "examples/call".to_string(),
                vec![root.join("examples/call")],
            ),
        ];
        for dir in golden_dirs() {
            let input = dir.join("input");
            if input.is_dir() {
                sets.push((name_in_repo(&input), vec![input]));
            }
        }
        // Inputs the compiler refuses to read (a golden test of a file that is not UTF-8) are
        // no seeds: no edit of their text gets them read.
        sets.into_iter()
            .filter_map(|(name, paths)| match read_sources(&paths) {
                Ok(files) => Some(Scenario { name, files }),
                Err(ReadError::Refused(_)) => None,
                Err(e) => panic!("the seed {name} cannot be read: {e}"),
            })
            .collect()
    });
    &SCENARIOS
}

/// A proxy config file's name and text.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Where it comes from.
    pub name: String,
    /// The YAML text.
    pub text: String,
}

/// Every proxy config in the repository: `examples/proxy-demo/l7mp.yaml`, the configs the
/// proxy's tests read (`proxy/tests/data`, the original project's among them) and the
/// `config.yaml` of each ConfigMap the golden tests expect the compiler to write.
pub fn proxy_configs() -> &'static [ProxyConfig] {
    static CONFIGS: LazyLock<Vec<ProxyConfig>> = LazyLock::new(|| {
        let demo = repo().join("examples/proxy-demo/l7mp.yaml");
        let mut configs = vec![ProxyConfig {
            name: name_in_repo(&demo),
            text: read(&demo),
        }];
        for path in files_under(&repo().join("proxy/tests/data")) {
            configs.push(ProxyConfig {
                name: name_in_repo(&path),
                text: read(&path),
            });
        }
        for dir in golden_dirs() {
            let expected = dir.join("expected.yaml");
            if !expected.is_file() {
                continue;
            }
            let docs = parse_documents(&read(&expected))
                .unwrap_or_else(|e| panic!("{}: {e}", expected.display()));
            for (i, doc) in docs.iter().enumerate() {
                if let Some(text) = doc
                    .value
                    .pointer("/data/config.yaml")
                    .and_then(Value::as_str)
                {
                    configs.push(ProxyConfig {
                        name: format!("{} document {i}", name_in_repo(&expected)),
                        text: text.to_string(),
                    });
                }
            }
        }
        configs
    });
    &CONFIGS
}

/// Every value under a key named `key` anywhere in the proxy configs and compiler inputs: the
/// rules' `match` predicates, the JSONSocket clusters' `header` lists.
pub fn values_under(key: &str) -> Vec<Value> {
    let proxy = proxy_configs().iter().map(|c| c.text.as_str());
    let compiler = scenarios()
        .iter()
        .flat_map(|s| s.files.iter().map(|f| &*f.text));
    let mut found = Vec::new();
    for text in proxy.chain(compiler) {
        for doc in parse_documents(text).unwrap_or_default() {
            collect(&doc.value, key, &mut found);
        }
    }
    found
}

fn collect(value: &Value, key: &str, found: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    found.push(v.clone());
                }
                collect(v, key, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, key, found)),
        _ => {}
    }
}

/// The YAML and JSON files under `dir`, recursively and sorted; none when it does not exist.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.is_dir() {
            files.extend(files_under(&path));
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The directories of the compiler's golden tests.
fn golden_dirs() -> Vec<PathBuf> {
    let root = repo().join("tests/golden");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    dirs
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn name_in_repo(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}
