//! How a JSONSocket cluster builds the JSON header it sends after connecting: metadata values
//! copied in and constant fields set, in order. Every path here may be written as the original
//! wrote them (no leading `/`, trailing `/`s): it is read as the pointer meant, with a warning.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One step in building a JSONSocket request header: exactly one of `path` and `set`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderEntry {
    /// Copy a metadata value into the header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<HeaderCopy>,
    /// Set a header field to a constant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<HeaderSet>,
}

/// A metadata value copied into a JSONSocket header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum HeaderCopy {
    /// A pointer into the metadata; the value replaces the whole header (`to: /`).
    From(String),
    /// A pointer into the metadata and where in the header the value goes.
    FromTo {
        /// JSON pointer into the session metadata.
        from: String,
        /// JSON pointer into the header (`/` replaces the whole header).
        to: String,
    },
}

/// A constant header field.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderSet {
    /// JSON pointer into the header.
    pub key: String,
    /// The value.
    pub value: Value,
}
