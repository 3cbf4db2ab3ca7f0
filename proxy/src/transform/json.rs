//! JSONEncap and JSONDecap: a message as JSON text with its session's metadata and a base64
//! payload (standard alphabet, padded), and back.
//!
//! Unlike the original, JSONDecap drops a message that does not decode (not JSON, no string
//! `payload`, bad base64) instead of turning it into an empty message, and JSONEncap sends no
//! extra empty message when the session ends.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

/// Wraps messages of one session: the metadata is serialized once, at connect.
pub struct Encap {
    /// `{"metadata":<metadata>,"payload":"`
    head: String,
}

impl Encap {
    /// An encoder for a session whose metadata is `metadata`.
    pub fn new(metadata: &Value) -> Self {
        Self {
            head: format!("{{\"metadata\":{metadata},\"payload\":\""),
        }
    }

    /// `data` as `{"metadata":…,"payload":"<base64>"}`.
    pub fn wrap(&self, data: &[u8]) -> Bytes {
        let mut out = String::with_capacity(self.head.len() + data.len().div_ceil(3) * 4 + 2);
        out.push_str(&self.head);
        STANDARD.encode_string(data, &mut out);
        out.push_str("\"}");
        Bytes::from(out)
    }
}

/// Why a message could not be unwrapped.
#[derive(Debug, thiserror::Error)]
pub enum DecapError {
    /// Not a JSON object with a string `payload`.
    #[error("not a JSON object with a string \"payload\": {0}")]
    Json(#[from] serde_json::Error),
    /// `payload` is not standard padded base64.
    #[error("\"payload\" is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    payload: std::borrow::Cow<'a, str>,
}

/// The payload of a message made by [`Encap`] (any other members are ignored).
pub fn unwrap(message: &[u8]) -> Result<Bytes, DecapError> {
    let envelope: Envelope<'_> = serde_json::from_slice(message)?;
    Ok(Bytes::from(STANDARD.decode(envelope.payload.as_bytes())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encap_carries_metadata_and_base64_and_decap_undoes_it() {
        let e = Encap::new(&json!({"name": "s1"}));
        let wrapped = e.wrap(b"test");
        let v: Value = serde_json::from_slice(&wrapped).unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"name": "s1"}, "payload": "dGVzdA=="})
        );
        assert_eq!(unwrap(&wrapped).unwrap(), "test");
        assert_eq!(unwrap(&e.wrap(b"")).unwrap(), "");
    }

    #[test]
    fn undecodable_messages_are_errors() {
        for bad in [
            &b"not json"[..],
            br#"{"nopayload": 1}"#,
            br#"{"payload": 5}"#,
            br#"{"payload": "!!notbase64"}"#,
            br#"{"payload": "dGVzdA"}"#,
            br#"[1,2]"#,
            b"\xff\xfe",
        ] {
            assert!(unwrap(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn escaped_payload_strings_decode() {
        assert_eq!(unwrap(br#"{"payload": "dGVz\u0064A=="}"#).unwrap(), "test");
    }
}
