//! JSONSocket headers without sockets: a client's request header and a server's answer, real
//! ones with nodes replaced, mangled as text or cut short, go through the parsers the listener
//! and the cluster use; the scanner that finds a header's end in a byte stream must find the
//! same end however the stream is cut; a cluster's header entries, from the repository's
//! configs with nodes replaced, must always build a header the listener accepts.

use std::sync::Arc;

use l7mp::jsonsocket::wire::HeaderPlan;
use l7mp::jsonsocket::wire::{MAX_HEADER, ObjectEnd, Scan, check_response, parse_request};
use l7mp_config::model::HeaderEntry;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::bounds::Case;
use crate::mutate::{Mutated, edited_value, json_value, mutated};
use crate::seeds::values_under;
use crate::settings::{Summary, fuzz};

/// Bytes that arrive as a header, and where the stream is cut into reads.
#[derive(Clone, Debug)]
pub struct WireInput {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Read boundaries (offsets, taken modulo the length).
    pub cuts: Vec<usize>,
}

/// Headers a client or server might send: real ones edited as JSON, then maybe as text, then
/// maybe followed by payload.
pub fn wire() -> impl Strategy<Value = WireInput> {
    let seeds = vec![
        json!({"JSONSocketVersion": 1, "user": "ann", "labels": {"app": "x"}}),
        json!({"JSONSocketVersion": 1, "JSONSocketStatus": 200, "JSONSocketMessage": "OK"}),
        json!({"JSONSocketVersion": 1.0, "JSONSocketStatus": 404, "JSONSocketMessage": "Not Found"}),
    ];
    let as_text = edited_value(seeds, 3).prop_map(|v| v.to_string());
    let text = as_text.prop_flat_map(|t| {
        prop_oneof![
            2 => Just(t.clone()),
            2 => mutated(vec![("header".into(), t)], 3, 1000).prop_map(|m: Mutated| m.text),
        ]
    });
    (
        text,
        proptest::collection::vec(any::<u8>(), 0..16),
        proptest::collection::vec(any::<usize>(), 0..6),
    )
        .prop_map(|(text, payload, cuts)| {
            let mut bytes = text.into_bytes();
            bytes.extend_from_slice(&payload);
            WireInput { bytes, cuts }
        })
}

/// Parses as request and response, and scans whole and in pieces.
pub fn check_wire(input: &WireInput) {
    let bytes = &input.bytes;
    if let Ok(header) = parse_request(bytes) {
        assert!(header.contains_key("JSONSocketVersion"));
    }
    let _ = check_response(bytes);
    let whole = ObjectEnd::default().scan(bytes);
    let mut cuts: Vec<usize> = input.cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    let mut scanner = ObjectEnd::default();
    let mut pieces = Scan::Incomplete;
    for cut in cuts {
        pieces = scanner.scan(&bytes[..cut]);
        if pieces != Scan::Incomplete {
            break;
        }
    }
    assert_eq!(
        pieces, whole,
        "the end found depends on how the stream is cut"
    );
    // A well-formed object is found to end exactly where it ends.
    if let Ok(Value::Object(_)) = serde_json::from_slice::<Value>(bytes) {
        let end = bytes.iter().rposition(|&b| b == b'}').map(|i| i + 1);
        assert_eq!(
            Some(whole),
            end.map(Scan::End),
            "a whole object's end is misplaced"
        );
    }
}

/// A cluster's header entries and the session metadata they copy from.
#[derive(Clone, Debug)]
pub struct PlanInput {
    /// The `header` list, as written in a config.
    pub entries: Value,
    /// The session metadata.
    pub metadata: Value,
}

/// Header lists from the repository's configs, edited, with metadata.
pub fn plans() -> impl Strategy<Value = PlanInput> {
    let mut seeds = values_under("header");
    seeds.push(json!([{"path": "/"}, {"path": {"from": "/IP", "to": "/ip"}}, {"set": {"key": "/a/0", "value": 1}}]));
    let metadata = prop_oneof![
        json_value(),
        Just(json!({"IP": {"src_addr": "127.0.0.1"}, "labels": {"app": "x"}})),
    ];
    (edited_value(seeds, 4), metadata)
        .prop_map(|(entries, metadata)| PlanInput { entries, metadata })
}

/// Builds the header and checks that the listener's parser accepts it.
pub fn check_plan(input: &PlanInput) {
    let Ok(entries) = serde_json::from_value::<Vec<HeaderEntry>>(input.entries.clone()) else {
        return;
    };
    let Ok(plan) = HeaderPlan::new(&entries) else {
        return;
    };
    let header = plan.build(&input.metadata);
    if header.len() <= MAX_HEADER {
        let parsed = parse_request(&header).unwrap_or_else(|r| {
            panic!(
                "a built header is refused ({r:?}): {}",
                String::from_utf8_lossy(&header)
            )
        });
        assert_eq!(parsed["JSONSocketVersion"], json!(1));
    }
}

/// Runs the wire target: `cases` inputs per round.
pub fn run_wire(cases: u32) -> Summary {
    let case: Case<WireInput> = Arc::new(check_wire);
    fuzz("jsonsocket headers", cases, wire(), case)
}

/// Runs the header-plan target: `cases` inputs per round.
pub fn run_plans(cases: u32) -> Summary {
    let case: Case<PlanInput> = Arc::new(check_plan);
    fuzz("jsonsocket header plans", cases, plans(), case)
}
