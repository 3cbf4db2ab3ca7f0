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
//! [`check`] runs them all; the `l7mpc` binary is a thin command line over it.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms, missing_docs)]

pub mod check;
pub mod crd;
pub mod diagnostics;
pub mod load;
pub mod resolve;
pub mod schema;
pub mod select;
pub mod workload;
