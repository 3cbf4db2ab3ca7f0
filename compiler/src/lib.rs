//! `l7mpc`: compiles `l7mp.io/v1` resources and workload manifests into per-pod proxy configs.
//!
//! One pipeline, [`compile::compile`], runs every stage over the input, each stage pushing into
//! one [`diagnostics::Diagnostics`] sink so that a run reports every problem at once. The front
//! half ([`front`]):
//!
//! 1. [`load`]: files → Kubernetes objects with source locations;
//! 2. [`schema`]: `l7mp.io` objects against the schemas of the CRDs generated from [`crd`],
//!    then read into those types once: every later stage takes the typed specs;
//! 3. [`resolve`]: references between objects, and duplicates;
//! 4. [`select`]: selectors → the workloads and pods they pick;
//! 5. [`workload`]: the proxy container and config ConfigMap of each placed workload.
//!
//! The back half builds the output:
//!
//! 6. [`lower`]: each proxy-running workload's config, with [`endpoints`] for selector endpoints;
//! 7. [`graph`]: the mesh as a dataflow graph, and the checks that need all of it;
//! 8. [`emit`]: ConfigMaps and headless Services, checked by the proxy's own validator.
//!
//! Every command of the `l7mpc` binary (a thin command line over this library) runs the whole
//! pipeline, so `check` and `compile` always agree; [`output`] prints or writes the result and
//! [`diff`] compares it with a cluster's objects.
//! [`inject`] adds the proxy sidecar to workload manifests, using the front half and lowering
//! to find the Unix sockets each sidecar must share with its app.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms, missing_docs)]

pub mod compile;
pub mod crd;
pub mod diagnostics;
pub mod diff;
pub mod emit;
pub mod endpoints;
pub mod front;
pub mod graph;
pub mod inject;
pub mod load;
pub mod lower;
pub mod output;
pub mod parallel;
pub mod resolve;
pub mod schema;
pub mod select;
pub mod workload;

/// jemalloc's settings for the `l7mpc` binary and the compile bench (each exports them as
/// `_rjem_malloc_conf`, read when jemalloc starts): one arena for all threads. With an arena
/// per thread, the pages one stage's threads freed were not reused by the next stage's, which
/// cost a large mesh's peak several MiB; the threads here allocate in bursts on two or so
/// cores, where one arena's lock costs nothing measurable.
pub const ALLOCATOR_SETTINGS: &[u8; 10] = b"narenas:1\0";
