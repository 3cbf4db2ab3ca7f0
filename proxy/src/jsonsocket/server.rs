//! The listener's side of JSONSocket: read and check the client's header before the session is
//! routed, and answer with a status header once the route is connected (or refused).
//!
//! Unlike the original, a client that never sends its header is refused after the listener's
//! `header_timeout`, and a refused UDP client is not blackholed: its session ends, so its next
//! datagram starts a new one.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::wire::{self, Refusal};
use super::{Header, ReadError, read_header};
use crate::msg::Recv;
use crate::stage::Stage;

/// How long a refused client is given to read its status header before the connection is
/// dropped (on a byte stream, unread input left at close would reset the connection and could
/// destroy the answer before the client reads it).
const LINGER: Duration = Duration::from_secs(1);

/// The key of the client's header in the session metadata.
pub const METADATA_KEY: &str = "JSONSocket";

/// A client whose header was accepted.
pub struct Accepted {
    /// The transport connection, positioned after the header.
    pub stage: Stage,
    /// Payload that arrived together with the header, to be forwarded first.
    pub pending: Option<Bytes>,
}

/// Reads the client's header within `timeout` and adds it to `metadata` as `/JSONSocket`.
/// A bad header is answered with its status (400, 505, 408 for a timeout) and the connection
/// closed; `Err` says what happened, for the caller's log.
pub async fn accept(
    mut stage: Stage,
    metadata: &mut Value,
    timeout: Duration,
) -> Result<Accepted, String> {
    let refusal = match tokio::time::timeout(timeout, read_header(&mut stage)).await {
        Ok(Ok(Header { bytes, rest })) => match wire::parse_request(&bytes) {
            Ok(header) => {
                if let Value::Object(m) = metadata {
                    m.insert(METADATA_KEY.into(), Value::Object(header));
                }
                return Ok(Accepted {
                    stage,
                    pending: rest,
                });
            }
            Err(r) => r,
        },
        Ok(Err(ReadError::TooLarge)) => wire::too_large(),
        Ok(Err(ReadError::NotObject)) => Refusal::bad_request(
            "the header is not a JSON object; send {\"JSONSocketVersion\": 1, ...}",
        ),
        Ok(Err(ReadError::Closed(true))) => {
            Refusal::bad_request("the stream ended inside the header")
        }
        Ok(Err(ReadError::Closed(false))) => {
            return Err("the client closed before sending its header".into());
        }
        Ok(Err(ReadError::Failed(e))) => return Err(format!("reading the header failed: {e}")),
        Err(_) => Refusal {
            status: 408,
            message: format!(
                "Request Timeout: no JSONSocket header within {} ms; send the header first",
                timeout.as_millis()
            ),
        },
    };
    refuse(&mut stage, refusal.status, &refusal.message).await;
    Err(format!(
        "header refused with status {}: {}",
        refusal.status, refusal.message
    ))
}

/// The status header that opens a session's payload.
pub fn ok() -> Bytes {
    wire::response(200, "OK")
}

/// Answers with an error status and closes: a WebSocket gets a close frame, a byte stream a
/// half-close, after which its input is drained until the client closes (bounded by
/// `LINGER`) so that the answer is not lost to a reset.
pub async fn refuse(stage: &mut Stage, status: u16, message: &str) {
    let answer = async {
        if stage.send(wire::response(status, message)).await.is_err() {
            return;
        }
        stage.close().await;
        if stage.is_stream() && stage.finish().await {
            while let Recv::Data(_) = stage.recv().await {}
        }
    };
    let _ = tokio::time::timeout(LINGER, answer).await;
}
