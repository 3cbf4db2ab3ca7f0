//! `l7mpc`: compiles `l7mp.io/v1` resources and workload manifests into per-pod proxy configs.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod check;
pub mod crd;
pub mod diagnostics;
pub mod load;
pub mod resolve;
pub mod schema;
pub mod select;
pub mod workload;
