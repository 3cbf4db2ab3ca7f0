//! The one pipeline behind `l7mpc check`, `compile`, `graph` and `diff`: the front half
//! ([`crate::front`]), then lowering, the dataflow graph's checks and emission. Every command
//! runs all of it, so `check` reports exactly what `compile` would; output is produced only when
//! no error was found, so a broken mesh never reaches a cluster.

use std::collections::BTreeSet;

use crate::diagnostics::{Diagnostic, Diagnostics, Severity};
use crate::emit::{self, Output};
use crate::front;
use crate::graph::{self, Mesh};
use crate::load::{self, Kind, Object, Skipped, SourceFile};
use crate::lower;

/// Settings of a run.
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

/// What a run produced.
#[derive(Debug)]
pub struct Compiled {
    /// All diagnostics, sorted.
    pub diagnostics: Vec<Diagnostic>,
    /// The documents of kinds the compiler does not read.
    pub skipped: Vec<Skipped>,
    /// The dataflow graph (built even when there are errors, for `l7mpc graph`).
    pub mesh: Mesh,
    /// The emitted objects; None when an error was found.
    pub output: Option<Output>,
    /// The loaded objects, which the diagnostics and the graph's nodes came from. Handed
    /// back rather than freed here: a caller about to exit need not free them.
    pub objects: Vec<Object>,
}

impl Compiled {
    /// Whether the run failed: any error, or any warning when warnings are denied.
    pub fn failed(&self, deny_warnings: bool) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error || deny_warnings)
    }

    /// One line on the skipped documents, as kubectl reports what it ignores: "skipped 3
    /// objects of kinds it does not read: Ingress, Secret"; None when nothing was skipped.
    pub fn skipped_summary(&self) -> Option<String> {
        let kinds: BTreeSet<&str> = self.skipped.iter().map(|s| s.kind.as_str()).collect();
        let kinds = kinds.into_iter().collect::<Vec<_>>().join(", ");
        match self.skipped.len() {
            0 => None,
            1 => Some(format!(
                "skipped 1 object of a kind it does not read: {kinds}"
            )),
            n => Some(format!(
                "skipped {n} objects of kinds it does not read: {kinds}"
            )),
        }
    }
}

/// The stages up to lowering: `files` read, checked, resolved and placed, and each proxy's
/// config lowered (with `pods` as the `--pods` snapshot).
pub(crate) fn front_and_lower(
    files: &[SourceFile],
    pods: Option<&[SourceFile]>,
    options: &Options,
    diags: &mut Diagnostics,
) -> (front::Front, lower::Lowered) {
    let front = front::front(files, options, diags);
    let snapshot = pods.map(|pods| pod_snapshot(pods, options, diags));
    let lowered = lower::lower(
        &front.inputs.objects,
        &front.resolutions,
        &front.placements,
        &front.mounts,
        snapshot.as_deref(),
        diags,
    );
    (front, lowered)
}

/// Compiles `files`; `pods` is the `--pods` snapshot (pod IPs instead of headless Services).
pub fn compile(files: &[SourceFile], pods: Option<&[SourceFile]>, options: &Options) -> Compiled {
    let mut diags = Diagnostics::default();
    let (front, lowered) = front_and_lower(files, pods, options, &mut diags);
    let objects = &front.inputs.objects;
    let failed = |d: &Diagnostics| d.iter().any(|d| d.severity == Severity::Error);
    // The configs are rendered while the graph is built and checked on a thread of its own:
    // both only read the plans. Emission's own checks (the proxy's validator, ConfigMap
    // conflicts and size) need configs lowered from valid input, as after an error they would
    // only repeat it: so nothing is rendered after an error before the graph, and what was
    // rendered is dropped if the graph's checks find one.
    let (mesh, found, texts) = std::thread::scope(|scope| {
        let graphing = scope.spawn(|| {
            let mut found = Diagnostics::default();
            let mesh = graph::build(objects, &lowered);
            graph::check(objects, &front.resolutions, &lowered, &mesh, &mut found);
            (mesh, found)
        });
        let texts = (!failed(&diags)).then(|| emit::render(objects, &lowered));
        // A panic in the graph's thread is one the sequential code would have had: pass it on.
        let (mesh, found) = graphing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (mesh, found, texts)
    });
    diags.append(found);
    let output = match texts {
        Some(texts) if !failed(&diags) => {
            let output = emit::emit(objects, lowered, texts, &mut diags);
            (!failed(&diags)).then_some(output)
        }
        _ => None,
    };
    Compiled {
        diagnostics: diags.into_sorted(),
        skipped: front.inputs.skipped,
        mesh,
        output,
        objects: front.inputs.objects,
    }
}

/// The Pods of the `--pods` snapshot `pods`.
fn pod_snapshot(pods: &[SourceFile], options: &Options, diags: &mut Diagnostics) -> Vec<Object> {
    let inputs = load::parse(pods, &options.namespace, diags);
    inputs
        .objects
        .into_iter()
        .filter(|o| o.kind == Kind::Pod)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Code;

    fn seed() -> Vec<SourceFile> {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/golden/seed-task1/input"
        );
        let paths = [std::path::PathBuf::from(dir)];
        load::read_sources(&paths).expect("the seed case is readable")
    }

    /// The seed compiles, with one warning: its transcoder's Unix socket is a byte stream.
    #[test]
    fn the_seed_compiles() {
        let compiled = compile(&seed(), None, &Options::default());
        let codes: Vec<_> = compiled.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, [Code::FramingLoss]);
        assert!(!compiled.failed(false) && compiled.failed(true));
        let output = compiled.output.expect("output without errors");
        let maps: Vec<_> = output.config_maps.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            maps,
            [
                "l7mp-ingress-config",
                "transcoder-sidecar-config",
                "worker-sidecar-config"
            ]
        );
    }

    /// Nothing panics on broken input: every prefix of every seed file, and every file with
    /// one line's indentation removed, still gives diagnostics, not a crash.
    #[test]
    fn mangled_input_never_panics() {
        let files = seed();
        for (i, file) in files.iter().enumerate() {
            let mangle = |text: String| {
                let mut files = files.clone();
                files[i].text = text.into();
                compile(&files, None, &Options::default())
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
