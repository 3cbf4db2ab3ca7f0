//! The config crate's integration tests, as one test binary (each module below was a binary of
//! its own).

mod addresses;
mod files;
mod load;
mod migrating_guide;
mod schema;
