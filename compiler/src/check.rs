//! `l7mpc check`: every front-end stage over the input, all diagnostics in one sorted list.

use crate::diagnostics::{Diagnostic, Diagnostics, Severity};
use crate::load::{self, Inputs, SourceFile};
use crate::resolve::{self, Resolution};
use crate::schema;
use crate::select::{self, Placement};
use crate::workload::{self, ProxyMount};

/// Settings of a check run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The namespace of objects whose manifest names none.
    pub namespace: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            namespace: "default".into(),
        }
    }
}

/// What a check run found: the diagnostics, and each stage's result for the stages after it.
#[derive(Debug)]
pub struct Outcome {
    /// All diagnostics, sorted by file, line, column and code.
    pub diagnostics: Vec<Diagnostic>,
    /// The loaded objects and the skipped documents.
    pub inputs: Inputs,
    /// The references that resolved.
    pub resolutions: Vec<Resolution>,
    /// The workloads each object is placed on.
    pub placements: Vec<Placement>,
    /// The proxy config mount of each placed workload.
    pub mounts: Vec<ProxyMount>,
}

impl Outcome {
    /// Whether the run failed: any error, or any warning when warnings are denied.
    pub fn failed(&self, deny_warnings: bool) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error || deny_warnings)
    }
}

/// Runs load, schema validation, reference resolution, selection and workload inspection.
pub fn check(files: &[SourceFile], options: &Options) -> Outcome {
    let mut diags = Diagnostics::default();
    let mut outcome = front(files, options, &mut diags);
    outcome.diagnostics = diags.into_sorted();
    outcome
}

/// The front-half stages, pushing into `diags` (the outcome's own list stays empty), for
/// [`crate::compile`] to go on from.
pub fn front(files: &[SourceFile], options: &Options, diags: &mut Diagnostics) -> Outcome {
    let inputs = load::parse(files, &options.namespace, diags);
    for object in &inputs.objects {
        schema::validate(object, diags);
    }
    let resolutions = resolve::resolve(&inputs.objects, diags);
    let placements = select::select(&inputs.objects, diags);
    let mounts = workload::inspect(&inputs.objects, &placements, diags);
    Outcome {
        diagnostics: Vec::new(),
        inputs,
        resolutions,
        placements,
        mounts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Vec<SourceFile> {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/golden/seed-task1/input"
        );
        let paths = [std::path::PathBuf::from(dir)];
        load::read_sources(&paths).expect("the seed case is readable")
    }

    #[test]
    fn the_seed_is_clean_and_finds_every_proxy() {
        let outcome = check(&seed(), &Options::default());
        assert!(outcome.diagnostics.is_empty(), "{:?}", outcome.diagnostics);
        assert!(!outcome.failed(true));
        let mounts: Vec<_> = outcome
            .mounts
            .iter()
            .map(|m| {
                let workload = &outcome.inputs.objects[m.workload].name;
                (workload.as_str(), m.config_map.as_str(), m.key.as_str())
            })
            .collect();
        assert_eq!(
            mounts,
            [
                (
                    "transcoder-deployment",
                    "transcoder-sidecar-config",
                    "config.yaml"
                ),
                ("worker-deployment", "worker-sidecar-config", "config.yaml"),
                ("l7mp-ingress", "l7mp-ingress-config", "config.yaml"),
            ]
        );
        // The seed has three references: two destinationRefs and a clusterRef.
        assert_eq!(outcome.resolutions.len(), 3);
    }

    /// Nothing panics on broken input: every prefix of every seed file, and every file with
    /// one line's indentation removed, still gives diagnostics, not a crash.
    #[test]
    fn mangled_input_never_panics() {
        let files = seed();
        for (i, file) in files.iter().enumerate() {
            let mangle = |text: String| {
                let mut files = files.clone();
                files[i].text = text;
                check(&files, &Options::default())
            };
            let cuts = (0..file.text.len())
                .step_by(5)
                .filter(|&n| file.text.is_char_boundary(n));
            for cut in cuts {
                mangle(file.text[..cut].to_string());
            }
            let lines: Vec<&str> = file.text.lines().collect();
            for n in 0..lines.len() {
                let mut changed = lines.clone();
                changed[n] = changed[n].trim_start();
                mangle(changed.join("\n"));
            }
        }
    }
}
