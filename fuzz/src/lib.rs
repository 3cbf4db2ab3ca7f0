//! Generative tests of every parser and loader of l7mp, run by `cargo test` (a bounded number
//! of cases from a fixed seed) and on demand for as long as one likes (see `docs/testing.md`).
//!
//! Inputs are mostly *near-valid*: the repository's own configs, manifests and headers with a
//! few edits, so that the parsers get past their first check and the deep code runs too.
//! [`bounds`] makes every case run under a 5 s limit and a memory ceiling, [`settings`] reads
//! the seed and the duration from the environment and runs a target's cases, [`seeds`] reads
//! the real inputs and [`mutate`] edits them. One module per target: [`compiler`] (the `l7mpc`
//! front end and its diagnostics), [`config`] (the proxy's config loader), [`json`] (JSON
//! predicates and pointers), [`jsonsocket`] (JSONSocket headers) and [`proxy`] (a running
//! `l7mp` fed datagrams, WebSocket frames and JSONSocket headers).

pub mod bounds;
pub mod compiler;
pub mod config;
pub mod json;
pub mod jsonsocket;
pub mod mutate;
pub mod proxy;
pub mod seeds;
pub mod settings;
