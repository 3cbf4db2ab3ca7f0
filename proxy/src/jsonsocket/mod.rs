//! JSONSocket: a JSON header exchange in front of a UDP, TCP, WebSocket or Unix socket
//! connection. The client's first message is a JSON object that tells the server about the
//! session (it becomes the session's `/JSONSocket` metadata, which rules can match); the server
//! answers with a status header; then payload flows both ways as on the bare transport.
//!
//! [`wire`] is the format alone; [`server`] is the listener's side of the exchange, [`client`]
//! the cluster's. Both read the peer's header here: on a datagram transport it is the first
//! message, on a byte stream the first complete JSON object, and whatever follows it in the
//! same read is payload that is handed on, never dropped.

pub mod client;
pub mod server;
pub mod wire;

use std::io;

use bytes::{Bytes, BytesMut};

use crate::msg::Recv;
use crate::stage::Stage;
use wire::{MAX_HEADER, ObjectEnd, Scan};

/// Why no header could be read.
#[derive(Debug)]
pub enum ReadError {
    /// Over [`MAX_HEADER`] bytes.
    TooLarge,
    /// A byte stream that does not start with a JSON object.
    NotObject,
    /// The peer finished before a complete header arrived; `true` when some of it had.
    Closed(bool),
    /// The connection failed.
    Failed(io::Error),
}

/// A header as received, and the payload that arrived right behind it in the same read.
pub struct Header {
    /// The header's bytes (not yet parsed).
    pub bytes: Bytes,
    /// Payload that followed the header (byte streams only).
    pub rest: Option<Bytes>,
}

/// Reads the peer's header from `stage`: the first message of a datagram transport, the first
/// JSON object of a byte stream.
pub async fn read_header(stage: &mut Stage) -> Result<Header, ReadError> {
    if !stage.is_stream() {
        return match stage.recv().await {
            Recv::Data(b) if b.len() > MAX_HEADER => Err(ReadError::TooLarge),
            Recv::Data(bytes) => Ok(Header { bytes, rest: None }),
            Recv::Closed => Err(ReadError::Closed(false)),
            Recv::Failed(e) => Err(ReadError::Failed(e)),
        };
    }
    let mut buf = BytesMut::new();
    let mut scanner = ObjectEnd::default();
    loop {
        match stage.recv().await {
            Recv::Data(chunk) => buf.extend_from_slice(&chunk),
            Recv::Closed => return Err(ReadError::Closed(!buf.is_empty())),
            Recv::Failed(e) => return Err(ReadError::Failed(e)),
        }
        match scanner.scan(&buf) {
            Scan::End(n) if n > MAX_HEADER => return Err(ReadError::TooLarge),
            Scan::End(n) => {
                let bytes = buf.split_to(n).freeze();
                let rest = (!buf.is_empty()).then(|| buf.freeze());
                return Ok(Header { bytes, rest });
            }
            Scan::NotObject => return Err(ReadError::NotObject),
            Scan::Incomplete if buf.len() > MAX_HEADER => return Err(ReadError::TooLarge),
            Scan::Incomplete => {}
        }
    }
}
