//! `l7mpc check`: every front-end stage over the input, all diagnostics in one sorted list.

use crate::diagnostics::{Diagnostic, Diagnostics, Severity};
use crate::load::{self, SourceFile};
use crate::schema::Validators;
use crate::{resolve, select, workload};

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

/// What a check run found.
#[derive(Debug)]
pub struct Outcome {
    /// All diagnostics, sorted by file, line, column and code.
    pub diagnostics: Vec<Diagnostic>,
    /// The documents of kinds the compiler does not read.
    pub skipped: Vec<String>,
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
    let inputs = load::parse(files, &options.namespace, &mut diags);
    let validators = Validators::new();
    for object in &inputs.objects {
        validators.validate(object, &mut diags);
    }
    resolve::resolve(&inputs.objects, &mut diags);
    let placements = select::select(&inputs.objects, &mut diags);
    workload::inspect(&inputs.objects, &placements, &mut diags);
    Outcome {
        diagnostics: diags.into_sorted(),
        skipped: inputs.skipped,
    }
}
