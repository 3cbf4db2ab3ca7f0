//! The l7mp proxy's on-disk config format, shared by the proxy (`l7mp`) and the compiler (`l7mpc`).
//!
//! One definition of the format means the compiler can never emit a file the proxy rejects.

pub mod yaml;
pub mod pointer;
pub mod predicate;
