//! What stages exchange: one received message or the end of a stage's input, and the sizes
//! messages are cut to. A leaf: it imports nothing from the crate, so that every layer (the
//! UDP plumbing, in-proxy transforms, stages, the JSONSocket exchange) can share these without
//! depending on one another.

use std::io;

use bytes::Bytes;

/// Largest datagram we can receive (the UDP maximum).
pub const MAX_DATAGRAM: usize = 65_536;

/// Largest chunk read from a byte stream: the most an IPv4 UDP datagram can carry, so that a
/// chunk always fits into a datagram hop (a bigger one fails the send with EMSGSIZE).
pub const MAX_STREAM_CHUNK: usize = 65_507;

/// What a stage produced.
#[derive(Debug)]
pub enum Recv {
    /// A message (a datagram, a WebSocket message or a stream chunk).
    Data(Bytes),
    /// The peer finished sending (stream EOF, WebSocket close).
    Closed,
    /// The connection failed.
    Failed(io::Error),
}
