//! The config file as people write it: the original l7mp static format (`admin`, `listeners`,
//! `clusters`, `rulelists`, `rules`, `routes`), where any object may be given inline or by name.
//!
//! These types only describe shape; [`crate::resolve`] checks meaning and produces the flat,
//! fully named [`crate::Config`] the proxy runs. Unknown fields are rejected so that a typo is an
//! error, not a silently ignored setting.
//!
//! This file holds the top-level file type and the JSON Schema; each kind of object has its own
//! submodule, and everything is re-exported here so callers name it `model::X`.

mod cluster;
mod common;
mod endpoint;
mod header;
mod listener;
mod route;
mod rules;

pub use cluster::{Bind, Cluster, ClusterSpec};
pub use common::{Ref, UnixMode};
pub use endpoint::{Endpoint, EndpointSpec, LoadBalancer};
pub use header::{HeaderCopy, HeaderEntry, HeaderSet};
pub use listener::{
    Listener, ListenerOptions, ListenerSpec, PeerFilter, UdpListenerOptions, UdpMode,
};
pub use route::{Retry, RetryOn, Route};
pub use rules::{Action, Rewrite, Rule, RuleList};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A whole config file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Process-level settings.
    #[serde(default)]
    pub admin: Admin,
    /// Sockets the proxy accepts sessions on.
    #[serde(default)]
    pub listeners: Vec<Listener>,
    /// Where sessions go: remote endpoints or in-proxy transforms.
    #[serde(default)]
    pub clusters: Vec<Cluster>,
    /// Named rule lists that listeners and `apply` actions refer to.
    #[serde(default)]
    pub rulelists: Vec<RuleList>,
    /// Named rules that rule lists refer to.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Named routes that rules refer to.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Present in the original's config dumps; accepted and ignored so that a dump loads.
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub endpoints: Option<Value>,
    /// Present in the original's config dumps; accepted and ignored so that a dump loads.
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub sessions: Option<Value>,
    /// Written by `l7mpc`: where the file came from, for humans and for status pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<Generated>,
}

/// Provenance stamped by the compiler (an extension of the original format).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Generated {
    /// The tool that wrote the file.
    #[serde(default)]
    pub by: Option<String>,
    /// The workload the file was compiled for (`namespace/kind/name`).
    #[serde(default)]
    pub workload: Option<String>,
}

/// Process-level settings. The original's `admin` keys are accepted; only `log_level` has an
/// effect (the command line wins over it). There is no write API, so `strict` is moot.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Default log level when `--log-level` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Accepted for compatibility; logs always go to stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,
    /// Accepted for compatibility; unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_path: Option<String>,
    /// Accepted for compatibility; unused (there is no REST API to be strict about).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// The JSON Schema of the config file, generated from these types; checked in as
/// `schemas/l7mp-config.schema.json` for editors and other tools.
pub fn json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(ConfigFile)).unwrap_or_default()
}
