//! What podman says about a cluster's containers, in one `podman ps` call.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::Value;

use super::CLUSTER_LABEL;
use super::cli::{Podman, output};

/// One container as `podman ps -a` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// `created`, `running`, `exited`, `stopped`, `paused`...
    pub state: String,
    /// The exit code, once exited.
    pub exit_code: i64,
}

/// Every container labelled with the cluster directory `cluster_dir`, by podman name.
pub fn list(podman: &Podman, cluster_dir: &str) -> Result<BTreeMap<String, Observed>> {
    let text = output(podman.command([
        "ps",
        "-a",
        "--format",
        "json",
        "--filter",
        &format!("label={CLUSTER_LABEL}={cluster_dir}"),
    ]))?;
    let all: Value = serde_json::from_str(&text).unwrap_or(Value::Array(Vec::new()));
    let mut out = BTreeMap::new();
    for c in all.as_array().into_iter().flatten() {
        let Some(name) = c["Names"][0].as_str() else {
            continue;
        };
        out.insert(
            name.to_string(),
            Observed {
                state: c["State"].as_str().unwrap_or_default().to_string(),
                exit_code: c["ExitCode"].as_i64().unwrap_or_default(),
            },
        );
    }
    Ok(out)
}
