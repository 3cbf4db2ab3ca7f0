//! What the running proxy gets and what must come back: datagrams, WebSocket upgrade requests
//! followed by frames built field by field, JSONSocket headers; the answers a client can
//! insist on (an upgrade's head, a JSONSocket status).

use l7mp::jsonsocket::wire::{ObjectEnd, Scan, parse_request};
use proptest::prelude::*;

use crate::jsonsocket::{WireInput, wire};
use crate::mutate::{Mutated, mutated};

/// One thing a client sends.
#[derive(Clone, Debug)]
pub enum Send {
    /// A datagram to the UDP listener, from client socket `from` (of four).
    Udp { from: usize, bytes: Vec<u8> },
    /// An upgrade request to the WebSocket listener, then frames.
    WebSocket {
        handshake: Mutated,
        frames: Vec<Frame>,
    },
    /// A header (and payload) on a new TCP connection to the JSONSocket listener.
    JsonSocketTcp(WireInput),
    /// A header datagram (and one of payload) to the JSONSocket listener over UDP.
    JsonSocketUdp(WireInput),
}

/// A WebSocket frame, field by field, then maybe corrupted.
#[derive(Clone, Debug)]
pub struct Frame {
    /// FIN and the three reserved bits (the high nibble of the first byte).
    pub flags: u8,
    /// The opcode (any of 16).
    pub opcode: u8,
    /// The masking key; `None` sends the frame unmasked, which clients must not.
    pub mask: Option<[u8; 4]>,
    /// The payload.
    pub payload: Vec<u8>,
    /// A length to announce instead of the payload's, in the 16- or 64-bit form.
    pub lie: Option<u64>,
    /// Bytes overwritten in the encoded frame: (offset modulo its length, value).
    pub corrupt: Vec<(usize, u8)>,
}

impl Frame {
    /// The frame as sent.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![(self.flags & 0xf0) | (self.opcode & 0x0f)];
        let masked = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.lie.unwrap_or(self.payload.len() as u64);
        match len {
            0..=125 if self.lie.is_none() => out.push(masked | len as u8),
            0..=0xffff => {
                out.push(masked | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(masked | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        match self.mask {
            Some(key) => {
                out.extend_from_slice(&key);
                out.extend(self.payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            }
            None => out.extend_from_slice(&self.payload),
        }
        for &(at, value) in &self.corrupt {
            let i = at % out.len();
            out[i] = value;
        }
        out
    }
}

/// The upgrade request a browser would send.
const HANDSHAKE: &str = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn frame() -> impl Strategy<Value = Frame> {
    (
        prop_oneof![3 => Just(0x80u8), 1 => any::<u8>()],
        prop_oneof![2 => Just(2u8), 1 => Just(1u8), 1 => Just(8u8), 1 => Just(9u8), 1 => Just(0u8), 1 => 0u8..16],
        prop_oneof![4 => any::<[u8; 4]>().prop_map(Some), 1 => Just(None)],
        proptest::collection::vec(any::<u8>(), 0..300),
        prop_oneof![6 => Just(None), 1 => any::<u64>().prop_map(Some), 1 => (0u64..70_000).prop_map(Some)],
        prop_oneof![4 => Just(vec![]), 1 => proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)],
    )
        .prop_map(|(flags, opcode, mask, payload, lie, corrupt)| Frame {
            flags,
            opcode,
            mask,
            payload,
            lie,
            corrupt,
        })
}

fn send() -> impl Strategy<Value = Send> {
    let handshake = prop_oneof![
        3 => Just(Mutated { seed: "handshake".into(), edits: vec![], text: HANDSHAKE.into() }),
        1 => mutated(vec![("handshake".into(), HANDSHAKE.into())], 3, 16),
    ];
    prop_oneof![
        (0usize..4, proptest::collection::vec(any::<u8>(), 0..2000))
            .prop_map(|(from, bytes)| Send::Udp { from, bytes }),
        (handshake, proptest::collection::vec(frame(), 0..5))
            .prop_map(|(handshake, frames)| Send::WebSocket { handshake, frames }),
        wire().prop_map(Send::JsonSocketTcp),
        wire().prop_map(Send::JsonSocketUdp),
    ]
}

/// Batches of 1 to 4 sends: with the checks after them, well within a case's 5 s even when
/// a loaded machine slows every answer down.
pub fn batches() -> impl Strategy<Value = Vec<Send>> {
    proptest::collection::vec(send(), 1..=4)
}

/// What must come back after a write before reading stops, when anything must.
pub type Answer = Option<fn(&[u8]) -> bool>;

/// Whether `reply` holds a whole HTTP head (the upgrade's answer).
pub fn head_ends(reply: &[u8]) -> bool {
    reply.windows(4).any(|w| w == b"\r\n\r\n")
}

/// Whether `reply` holds a whole JSON object (the JSONSocket status header).
pub fn object_ends(reply: &[u8]) -> bool {
    matches!(
        ObjectEnd::default().scan(reply),
        Scan::End(_) | Scan::NotObject
    )
}

/// The status the JSONSocket listener must answer `bytes` with when they start with a
/// well-formed header: 200 for user `ann`, whom the rule routes, else 404.
pub fn expected_status(bytes: &[u8]) -> Option<u16> {
    let Scan::End(end) = ObjectEnd::default().scan(bytes) else {
        return None;
    };
    let header = parse_request(&bytes[..end]).ok()?;
    Some(match header.get("user") {
        Some(user) if user == "ann" => 200,
        _ => 404,
    })
}
