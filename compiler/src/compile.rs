//! `l7mpc compile`: the front half, then lowering, the dataflow graph's checks and emission.
//! Output is produced only when no error was found, so a broken mesh never reaches a cluster.

use crate::check::{self, Options};
use crate::diagnostics::{Diagnostic, Diagnostics, Severity};
use crate::emit::{self, Output};
use crate::graph::{self, Mesh};
use crate::load::{self, Kind, Object, SourceFile};
use crate::lower;

/// What a compile run produced.
#[derive(Debug)]
pub struct Compiled {
    /// All diagnostics, sorted.
    pub diagnostics: Vec<Diagnostic>,
    /// The dataflow graph (built even when there are errors, for `l7mpc graph`).
    pub mesh: Mesh,
    /// The emitted objects; None when an error was found.
    pub output: Option<Output>,
}

/// Compiles `files`; `pods` is the `--pods` snapshot (pod IPs instead of headless Services).
pub fn compile(files: &[SourceFile], pods: Option<&[SourceFile]>, options: &Options) -> Compiled {
    let mut diags = Diagnostics::default();
    let front = check::front(files, options, &mut diags);
    let snapshot: Option<Vec<Object>> = pods.map(|pods| {
        let inputs = load::parse(pods, &options.namespace, &mut diags);
        inputs
            .objects
            .into_iter()
            .filter(|o| o.kind == Kind::Pod)
            .collect()
    });
    let objects = &front.inputs.objects;
    let lowered = lower::lower(
        objects,
        &front.resolutions,
        &front.placements,
        &front.mounts,
        snapshot.as_deref(),
        &mut diags,
    );
    let mesh = graph::build(objects, &lowered);
    graph::check(objects, &front.resolutions, &lowered, &mesh, &mut diags);
    let failed = |d: &Diagnostics| d.iter().any(|d| d.severity == Severity::Error);
    let output = if failed(&diags) {
        None
    } else {
        let output = emit::emit(objects, &lowered, &mut diags);
        (!failed(&diags)).then_some(output)
    };
    Compiled {
        diagnostics: diags.into_sorted(),
        mesh,
        output,
    }
}
