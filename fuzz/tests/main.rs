//! The fuzz crate's tests, as one test binary (each module below was a binary of its own). The
//! memory meter and the fault handler of `l7mp_fuzz::bounds` are per thread, so the targets and
//! the regressions share the process safely.

mod regressions;
mod targets;
