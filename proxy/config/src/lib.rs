//! The l7mp proxy's on-disk config format, shared by the proxy (`l7mp`) and the compiler (`l7mpc`).
//!
//! One definition of the format means the compiler can never emit a file the proxy rejects:
//! [`model`] is the file as written (the original l7mp static format plus documented
//! extensions), [`load`] reads and checks it, and [`config`] is the resolved result the proxy
//! runs. [`yaml`] keeps source locations so every [`diagnostic`] can name its line; [`pointer`](mod@pointer)
//! and [`predicate`] are the JSON Pointer and JSON predicate languages that rules use.

pub mod config;
pub mod diagnostic;
pub mod load;
pub mod log_level;
pub mod model;
pub mod pointer;
pub mod predicate;
pub mod resolve;
mod unsupported;
pub mod wording;
pub mod yaml;

pub use config::Config;
pub use diagnostic::{Diagnostic, Severity};
pub use load::{Loaded, load_file, load_str};
