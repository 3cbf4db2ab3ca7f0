//! The front half of the pipeline: load, schema validation, reference resolution, selection and
//! workload inspection. [`crate::compile::compile`] runs it and goes on with the back half.

use crate::compile::Options;
use crate::diagnostics::Diagnostics;
use crate::load::{self, Inputs, SourceFile};
use crate::resolve::{self, Resolution};
use crate::schema;
use crate::select::{self, Placement};
use crate::workload::{self, ProxyMount};

/// Each front stage's result, for the stages after it.
#[derive(Debug)]
pub struct Front {
    /// The loaded objects and the skipped documents.
    pub inputs: Inputs,
    /// The references that resolved.
    pub resolutions: Vec<Resolution>,
    /// The workloads each object is placed on.
    pub placements: Vec<Placement>,
    /// The proxy config mount of each placed workload.
    pub mounts: Vec<ProxyMount>,
}

/// Runs the front stages over `files`, pushing every problem into `diags`. References are
/// resolved on a thread of their own while selection and the workloads' inspection run, which
/// do not need them; each keeps its diagnostics apart, joined in stage order.
pub fn front(files: &[SourceFile], options: &Options, diags: &mut Diagnostics) -> Front {
    let inputs = load::parse_each(files, &options.namespace, diags, &schema::check_object);
    let objects = &inputs.objects;
    let (resolutions, placements, mounts) = std::thread::scope(|scope| {
        let resolving = scope.spawn(|| {
            let mut found = Diagnostics::default();
            (resolve::resolve(objects, &mut found), found)
        });
        let mut found = Diagnostics::default();
        let placements = select::select(objects, &mut found);
        let mounts = workload::inspect(objects, &placements, &mut found);
        // A panic while resolving is one the sequential code would have had: pass it on.
        let (resolutions, resolved) = resolving
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        diags.append(resolved);
        diags.append(found);
        (resolutions, placements, mounts)
    });
    Front {
        inputs,
        resolutions,
        placements,
        mounts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_clean_and_finds_every_proxy() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/golden/seed-task1/input"
        );
        let files = load::read_sources(&[std::path::PathBuf::from(dir)]).expect("readable seed");
        let mut diags = Diagnostics::default();
        let front = front(&files, &Options::default(), &mut diags);
        let diagnostics = diags.into_sorted();
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let mounts: Vec<_> = front
            .mounts
            .iter()
            .map(|m| {
                let workload = &front.inputs.objects[m.workload].name;
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
        assert_eq!(front.resolutions.len(), 3);
    }
}
