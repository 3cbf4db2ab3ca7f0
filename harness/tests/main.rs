//! The harness's end-to-end tests, as one test binary: each module below was a binary of its
//! own, and all of them compiled the `common` helpers again. The clusters and containers they
//! make take turns (`common::one_at_a_time`), as the separate binaries did.

mod common;

mod call;
mod cluster;
mod image;
mod offload;
mod podman;
mod probes;
mod task1;
