//! `l7mpc inject`: adds the l7mp sidecar to workload manifests, so that `compile` finds a proxy
//! in every pod and the ConfigMap it emits is the one the pod mounts.
//!
//! Every Deployment, DaemonSet, StatefulSet and Pod of the input gets the proxy container, its
//! config volume and Prometheus annotations (module `sidecar`); where the mesh (the `l7mp.io`
//! objects of the input and of `--mesh`) puts a Unix socket on a workload (module `sockets`), the
//! sidecar also mounts the app volume that holds it. Other documents pass through; objects that
//! run pods but are of another kind are refused. Output keeps the documents, their order and
//! their fields (module `tree`), and is written only when nothing failed.

mod pod;
mod sidecar;
mod sockets;
mod tree;

use std::collections::BTreeSet;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, ObjectId, Severity};
use crate::load::{self, SourceFile};

pub use pod::APP_CONTAINER_ANNOTATION;
pub use sidecar::{CONFIG_VOLUME, CONTAINER, DEFAULT_IMAGE, METRICS_PORT};

/// Settings of an inject run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The proxy image.
    pub image: String,
    /// The namespace of objects whose manifest names none.
    pub namespace: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            image: DEFAULT_IMAGE.into(),
            namespace: "default".into(),
        }
    }
}

/// What an inject run produced.
#[derive(Debug)]
pub struct Injected {
    /// All diagnostics, sorted.
    pub diagnostics: Vec<Diagnostic>,
    /// The injected manifests as one YAML stream; None when an error was found.
    pub output: Option<String>,
}

/// Injects the workloads of `files`; `mesh` holds more `l7mp.io` objects (and anything else
/// selectors need), read but not written. A mesh file that is also in `files` is read once.
pub fn inject(files: &[SourceFile], mesh: &[SourceFile], options: &Options) -> Injected {
    let mut diags = Diagnostics::default();
    let output = run(files, mesh, options, &mut diags);
    let diagnostics = diags.into_sorted();
    let failed = diagnostics.iter().any(|d| d.severity == Severity::Error);
    Injected {
        output: output.filter(|_| !failed),
        diagnostics,
    }
}

fn run(
    files: &[SourceFile],
    mesh: &[SourceFile],
    options: &Options,
    diags: &mut Diagnostics,
) -> Option<String> {
    // Planned first, so that the loaded objects are freed before the trees are built.
    let edits = plan(files, mesh, options, diags);
    let mut trees = Vec::new();
    for file in files {
        match tree::parse(&file.text) {
            Ok(docs) => trees.push(docs),
            Err(e) => {
                let message = format!("invalid YAML: {}", e.message);
                diags.push(Diagnostic::new(
                    Code::YamlSyntax,
                    &file.name,
                    e.location,
                    message,
                ));
                trees.push(Vec::new());
            }
        }
    }
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return None;
    }
    for edit in edits {
        let doc = trees
            .get_mut(edit.file)
            .and_then(|docs| docs.get_mut(edit.document));
        if doc
            .and_then(|doc| apply(doc, &edit.pointer, &edit.plan))
            .is_none()
        {
            diags.push(edit.lost);
            return None;
        }
    }
    let docs: Vec<_> = trees.iter().flatten().filter(|d| !d.is_null()).collect();
    Some(tree::emit(&docs))
}

/// One workload's plan and where it applies: its file (index in the input), document and the
/// JSON pointer of its pod there.
struct Edit {
    file: usize,
    document: usize,
    pointer: String,
    plan: pod::Plan,
    /// The diagnostic if the pod is not there: a bug, since the plan was made from that text.
    lost: Diagnostic,
}

/// Loads the input and the mesh, and plans every input workload's injection.
fn plan(
    files: &[SourceFile],
    mesh: &[SourceFile],
    options: &Options,
    diags: &mut Diagnostics,
) -> Vec<Edit> {
    let input = |name: &str| files.iter().position(|f| f.name == name);
    let extra = mesh.iter().filter(|m| input(&m.name).is_none());
    let all: Vec<SourceFile> = files.iter().chain(extra).cloned().collect();
    let mut inputs = load::parse(&all, &options.namespace, diags);
    for skipped in inputs.skipped.iter().filter(|s| s.runs_pods) {
        if input(&skipped.file).is_some() {
            diags.push(not_injectable(skipped, &options.namespace));
        }
    }
    let objects = &inputs.objects;
    let workloads: Vec<(usize, usize)> = (0..objects.len())
        .filter(|&i| objects[i].kind.pod_pointer().is_some())
        .filter_map(|i| Some((i, input(&objects[i].file)?)))
        .collect();
    let indexes: Vec<usize> = workloads.iter().map(|(w, _)| *w).collect();
    let mesh_given = objects.iter().any(|o| o.kind.is_l7mp());
    let sockets = if mesh_given && !indexes.is_empty() {
        sockets::socket_paths(&mut inputs.objects, &indexes)
    } else {
        Default::default()
    };
    let objects = &inputs.objects;
    if let (false, Some(&first)) = (mesh_given, indexes.first()) {
        diags.push(no_mesh(&objects[first], indexes.len()));
    }
    let none = BTreeSet::new();
    let mut edits = Vec::new();
    for (w, file) in workloads {
        let object = &objects[w];
        let paths = sockets.get(&w).unwrap_or(&none);
        let Some(plan) = pod::plan(object, paths, &options.image, diags) else {
            continue;
        };
        let message = "inject could not find the pod it planned to edit";
        let hint = "this is an l7mpc bug: please report it with the input";
        edits.push(Edit {
            file,
            document: object.document,
            pointer: format!("{}{}", object.root(), plan.pod),
            plan,
            lost: object.diag(Code::InternalError, "", message).hint(hint),
        });
    }
    edits
}

/// Adds `plan`'s parts to the pod at `pointer` in `doc`; None if the pod is not where planned.
fn apply(doc: &mut saphyr::Yaml<'_>, pointer: &str, plan: &pod::Plan) -> Option<()> {
    use saphyr::{Mapping, Yaml};
    let pod = tree::get_mut(doc, pointer)?;
    if !plan.annotations.is_empty() {
        let metadata = tree::entry(pod, "metadata", Yaml::Mapping(Mapping::new()))?;
        let annotations = tree::entry(metadata, "annotations", Yaml::Mapping(Mapping::new()))?;
        for (key, value) in &plan.annotations {
            let value = tree::from_json(&value.as_str().into());
            tree::entry(annotations, key, value)?;
        }
    }
    let spec = tree::get_mut(pod, "/spec")?;
    for (key, item) in [("containers", &plan.container), ("volumes", &plan.volume)] {
        if let Some(item) = item {
            let Yaml::Sequence(list) = tree::entry(spec, key, Yaml::Sequence(Vec::new()))? else {
                return None;
            };
            list.push(tree::from_json(item));
        }
    }
    Some(())
}

fn not_injectable(skipped: &load::Skipped, namespace: &str) -> Diagnostic {
    let message = format!(
        "{} {} runs pods, but inject adds sidecars only to Deployments, DaemonSets, \
         StatefulSets and Pods, the workloads compile configures",
        skipped.api_version, skipped.kind
    );
    let hint = "inject the object that owns it (a Deployment for a ReplicaSet), or leave it out \
                of the inject input; a Job's sidecar would keep it from completing";
    let diag = Diagnostic::new(
        Code::NotInjectable,
        &skipped.file,
        skipped.location,
        message,
    );
    let diag = match &skipped.name {
        Some(name) => diag.at(
            ObjectId {
                kind: skipped.kind.clone(),
                namespace: skipped
                    .namespace
                    .as_deref()
                    .unwrap_or(namespace)
                    .to_string(),
                name: name.clone(),
            },
            "",
        ),
        None => diag,
    };
    diag.hint(hint)
}

fn no_mesh(first: &load::Object, count: usize) -> Diagnostic {
    let message = format!(
        "no l7mp.io objects were given, so inject cannot tell which Unix sockets the mesh puts \
         on these {count} workload(s) and shares none"
    );
    let hint = "give the mesh too: `--mesh DIR`, or its files in `-f`";
    first
        .diag(Code::SocketNotPlaced, "/metadata/name", message)
        .hint(hint)
}

#[cfg(test)]
mod tests;
