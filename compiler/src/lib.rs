//! `l7mpc`: compiles `l7mp.io/v1` resources and workload manifests into per-pod proxy configs.
//!
//! The front half of the compiler, one module per stage, each pushing into one
//! [`diagnostics::Diagnostics`] sink so that a run reports every problem at once:
//!
//! 1. [`load`]: files → Kubernetes objects with source locations;
//! 2. [`schema`]: `l7mp.io` objects against the schemas of the CRDs generated from [`crd`];
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
//! [`check`] runs the front half, [`compile`] everything; the `l7mpc` binary is a thin command
//! line over them. [`inject`] adds the proxy sidecar to workload manifests, using the front half
//! and lowering to find the Unix sockets each sidecar must share with its app.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms, missing_docs)]

pub mod check;
pub mod compile;
pub mod crd;
pub mod diagnostics;
pub mod emit;
pub mod endpoints;
pub mod graph;
pub mod inject;
pub mod load;
pub mod lower;
pub mod resolve;
pub mod schema;
pub mod select;
pub mod workload;
