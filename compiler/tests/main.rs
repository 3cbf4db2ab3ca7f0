//! The compiler's integration tests, as one test binary: each module below was a binary of its
//! own. They run `l7mpc` as a child process with its own directory and environment, so sharing
//! one test process changes nothing they depend on.

mod common;

mod cli;
mod golden;
mod graph;
mod manifests;
mod never_panics;
mod wording;
