//! Emission checks each config as the typed value it renders ([`check_model`]), while a proxy
//! reads the rendered text: here, for every golden case and example, the text parses back to
//! that same value, and the proxy's loader gives the same verdict and config as the check, so a
//! renderer bug cannot hide behind the typed check.

use std::path::{Path, PathBuf};

use l7mp_config::load::{check_model, load_str};
use l7mp_config::model::ConfigFile;
use l7mp_config::yaml::parse_documents;

use super::yaml;
use crate::compile::{Options, front_and_lower};
use crate::diagnostics::Diagnostics;
use crate::load;

/// The input folder of every golden case, with its `--pods` snapshot, and every example folder.
fn inputs() -> Vec<(PathBuf, Option<PathBuf>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let folders = |dir: &str| -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .expect("the folder exists")
            .map(|e| e.expect("a readable entry").path())
            .filter(|p| p.is_dir())
            .collect();
        paths.sort();
        paths
    };
    let cases = folders("tests/golden").into_iter().map(|case| {
        let pods = case.join("pods.yaml");
        (case.join("input"), pods.is_file().then_some(pods))
    });
    let examples = folders("examples").into_iter().map(|e| (e, None));
    cases.chain(examples).filter(|(p, _)| p.is_dir()).collect()
}

/// The messages of `problems`, for comparing verdicts: the check has no locations to give.
fn messages(problems: Vec<l7mp_config::Diagnostic>) -> Vec<String> {
    problems.into_iter().map(|p| p.message).collect()
}

#[test]
fn rendered_text_loads_as_the_checked_value() {
    let mut configs = 0;
    for (input, pods) in inputs() {
        // Cases whose input cannot be read (not UTF-8) have no configs.
        let Ok(files) = load::read_sources(std::slice::from_ref(&input)) else {
            continue;
        };
        let pods = pods.map(|p| load::read_sources(&[p]).expect("the snapshot is readable"));
        let mut diags = Diagnostics::default();
        let (front, lowered) =
            front_and_lower(&files, pods.as_deref(), &Options::default(), &mut diags);
        let objects = &front.inputs.objects;
        for proxy in &lowered.proxies {
            let config = proxy.config(objects);
            let text = yaml(&config);
            let at = format!("{} workload {}", input.display(), proxy.mount.workload);
            let doc = parse_documents(&text).expect("the text parses").remove(0);
            let parsed: ConfigFile = serde_json::from_value(doc.value).expect("it deserializes");
            assert_eq!(parsed, config, "{at}: the text parses to another config");
            let loaded = load_str("c.yaml", &text).map(|l| l.config);
            let checked = check_model("c.yaml", &config);
            assert_eq!(
                loaded.map_err(messages),
                checked.map_err(messages),
                "{at}: the loader and the check disagree"
            );
            configs += 1;
        }
    }
    // The cases hold configs: the loop checked something.
    assert!(configs > 50, "only {configs} configs were checked");
}
