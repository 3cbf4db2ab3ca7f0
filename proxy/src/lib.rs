//! The l7mp proxy: listeners, clusters, sessions and routing for one static config file.

pub mod lb;
