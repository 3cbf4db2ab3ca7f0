//! The JSONSocket wire format, without sockets: checking a client's request header, making
//! the server's status header, building a client's request header from the cluster's `header`
//! entries, checking the server's answer, and finding where a header ends in a byte stream.
//!
//! A header is one JSON object. The request carries `JSONSocketVersion` plus whatever the
//! client wants the server to know; the response carries `JSONSocketVersion`,
//! `JSONSocketStatus` (an HTTP status code) and `JSONSocketMessage`.

use bytes::Bytes;
use l7mp_config::model::{HeaderCopy, HeaderEntry};
use l7mp_config::pointer::{JsonPointer, kind_name};
use serde_json::{Map, Value, json};

/// The protocol version this proxy speaks.
pub const VERSION: u64 = 1;

/// The largest header accepted, in bytes. Real headers are a few hundred bytes of metadata;
/// the cap stops a client from making the proxy buffer without bound, and it is below the
/// largest datagram so that it applies to every transport alike.
pub const MAX_HEADER: usize = 16 * 1024;

/// Field names of the protocol.
const VERSION_FIELD: &str = "JSONSocketVersion";
const STATUS_FIELD: &str = "JSONSocketStatus";
const MESSAGE_FIELD: &str = "JSONSocketMessage";

/// Why a request header is refused: the status the server answers with and a message for the
/// client (and the log) that says what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status code: 400 for a malformed header, 505 for an unsupported version.
    pub status: u16,
    /// What was wrong and what to send instead.
    pub message: String,
}

impl Refusal {
    /// A 400 with `detail`.
    pub fn bad_request(detail: impl std::fmt::Display) -> Self {
        Self {
            status: 400,
            message: format!("Bad Request: {detail}"),
        }
    }
}

/// Checks a client's request header: a JSON object whose `JSONSocketVersion` is an integer;
/// 0 and 1 are served (the spec's range), other integers get 505, anything else 400.
pub fn parse_request(bytes: &[u8]) -> Result<Map<String, Value>, Refusal> {
    if bytes.len() > MAX_HEADER {
        return Err(too_large());
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        Refusal::bad_request(format!(
            "the header is not valid JSON ({e}); send one JSON object"
        ))
    })?;
    let Value::Object(header) = value else {
        return Err(Refusal::bad_request(format!(
            "the header is {}, not a JSON object; send {{\"{VERSION_FIELD}\": 1, ...}}",
            kind_name(&value)
        )));
    };
    match header.get(VERSION_FIELD).map(integer) {
        None => Err(Refusal::bad_request(format!(
            "the header has no \"{VERSION_FIELD}\"; add \"{VERSION_FIELD}\": 1"
        ))),
        Some(None) => Err(Refusal::bad_request(format!(
            "\"{VERSION_FIELD}\" must be an integer; send 1"
        ))),
        Some(Some(v)) if (0..=VERSION as i64).contains(&v) => Ok(header),
        Some(Some(v)) => Err(Refusal {
            status: 505,
            message: format!(
                "JSONSocket Version Not Supported: version {v}; this server speaks version {VERSION}"
            ),
        }),
    }
}

/// The refusal for a header over [`MAX_HEADER`].
pub fn too_large() -> Refusal {
    Refusal::bad_request(format!(
        "header too large (more than {MAX_HEADER} bytes); send less metadata"
    ))
}

/// The server's status header, as sent on the wire.
pub fn response(status: u16, message: &str) -> Bytes {
    let header = json!({
        VERSION_FIELD: VERSION,
        STATUS_FIELD: status,
        MESSAGE_FIELD: message,
    });
    Bytes::from(header.to_string())
}

/// Checks a server's status header; `Err` says why the connection cannot be used. The status
/// must be present and in 200..=299 (the original let a missing status pass, contrary to the
/// spec).
pub fn check_response(bytes: &[u8]) -> Result<(), String> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("JSONSocket server answered with invalid JSON: {e}"))?;
    let Value::Object(header) = value else {
        return Err(format!(
            "JSONSocket server answered with {}, not a JSON object",
            kind_name(&value)
        ));
    };
    let version = header.get(VERSION_FIELD);
    match version.map(|v| (v, integer(v))) {
        Some((_, Some(v))) if (0..=VERSION as i64).contains(&v) => {}
        Some((v, _)) => {
            return Err(format!(
                "JSONSocket server answered with unsupported \"{VERSION_FIELD}\" {v}"
            ));
        }
        None => {
            return Err(format!(
                "JSONSocket server's answer has no \"{VERSION_FIELD}\""
            ));
        }
    }
    let message = header
        .get(MESSAGE_FIELD)
        .map_or_else(String::new, |m| format!(" ({m})"));
    match header.get(STATUS_FIELD).map(|s| (s, integer(s))) {
        Some((_, Some(s))) if (200..=299).contains(&s) => Ok(()),
        Some((s, _)) => Err(format!(
            "JSONSocket server refused with status {s}{message}"
        )),
        None => Err(format!(
            "JSONSocket server's answer has no \"{STATUS_FIELD}\"{message}"
        )),
    }
}

/// A JSON number that is a whole number (`1` and `1.0` alike, as in the original's
/// JavaScript), else `None`.
fn integer(value: &Value) -> Option<i64> {
    let n = value.as_number()?;
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

/// How a JSONSocket cluster builds its request header, parsed once when the cluster starts.
#[derive(Clone, Debug)]
pub struct HeaderPlan {
    steps: Vec<Step>,
}

/// One header entry. A `None` pointer is the root (`/` or empty, as in the original).
#[derive(Clone, Debug)]
enum Step {
    Copy {
        from: Option<JsonPointer>,
        to: Option<JsonPointer>,
    },
    Set {
        key: Option<JsonPointer>,
        value: Value,
    },
}

/// One entry of a cluster's `header` list, parsed.
fn step(entry: &HeaderEntry) -> Result<Step, String> {
    Ok(match (&entry.path, &entry.set) {
        (Some(HeaderCopy::From(from)), None) => Step::Copy {
            from: root_or_pointer(from)?,
            to: None,
        },
        (Some(HeaderCopy::FromTo { from, to }), None) => Step::Copy {
            from: root_or_pointer(from)?,
            to: root_or_pointer(to)?,
        },
        (None, Some(set)) => Step::Set {
            key: root_or_pointer(&set.key)?,
            value: set.value.clone(),
        },
        _ => return Err("needs exactly one of `path` and `set`".to_string()),
    })
}

/// `""` and `"/"` both mean the whole document here, as the original's paths did.
fn root_or_pointer(text: &str) -> Result<Option<JsonPointer>, String> {
    if text.is_empty() || text == "/" {
        return Ok(None);
    }
    JsonPointer::parse(text)
        .map(Some)
        .map_err(|e| e.to_string())
}

impl HeaderPlan {
    /// Parses the cluster's `header` entries (already checked when the config was loaded; an
    /// error here names the entry).
    pub fn new(entries: &[HeaderEntry]) -> Result<Self, String> {
        let steps = entries
            .iter()
            .enumerate()
            .map(|(i, e)| step(e).map_err(|m| format!("header entry {i}: {m}")))
            .collect::<Result<_, String>>()?;
        Ok(Self { steps })
    }

    /// The request header for a session with `metadata`: the entries applied in order to an
    /// empty object, then `JSONSocketVersion` forced to 1. A copy whose source is missing is
    /// skipped (the original also skipped falsy values such as 0 or ""; those are copied
    /// here); a write that cannot be made (a root that is not an object, a path through a
    /// scalar) is skipped too, with a debug log, so the header is always an object.
    pub fn build(&self, metadata: &Value) -> Bytes {
        let mut header = Value::Object(Map::new());
        for step in &self.steps {
            let (to, value) = match step {
                Step::Copy { from, to } => {
                    let value = match from {
                        None => Some(metadata),
                        Some(p) => p.get(metadata),
                    };
                    let Some(value) = value else {
                        tracing::debug!(
                            from = from.as_ref().map_or("/", JsonPointer::as_str),
                            "JSONSocket header: no metadata value to copy, skipped"
                        );
                        continue;
                    };
                    (to, value.clone())
                }
                Step::Set { key, value } => (key, value.clone()),
            };
            write(&mut header, to.as_ref(), value);
        }
        if let Value::Object(m) = &mut header {
            m.insert(VERSION_FIELD.into(), VERSION.into());
        }
        Bytes::from(header.to_string())
    }
}

/// Writes `value` at `to` in `header` (the root when `None`), keeping `header` an object.
fn write(header: &mut Value, to: Option<&JsonPointer>, value: Value) {
    match to {
        None if value.is_object() => *header = value,
        None => tracing::debug!(
            "JSONSocket header: the whole header cannot be replaced by {}, skipped",
            kind_name(&value)
        ),
        Some(p) => {
            if let Err(e) = p.set(header, value) {
                tracing::debug!("JSONSocket header: {e}; skipped");
            }
        }
    }
}

/// Finds the end of the first JSON object in a byte stream that arrives in pieces, keeping
/// its place so that each byte is looked at once however the stream is cut.
#[derive(Debug, Default)]
pub struct ObjectEnd {
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

/// What [`ObjectEnd::scan`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// The object is not complete yet.
    Incomplete,
    /// The object ends before this offset; what follows is payload.
    End(usize),
    /// The stream does not start with an object (leading whitespace is skipped).
    NotObject,
}

impl ObjectEnd {
    /// Scans `buf`, which must start with the bytes given before (the scan resumes where it
    /// stopped). Brackets inside strings are skipped; whether the object is valid JSON is left
    /// to the parser, once its end is known.
    pub fn scan(&mut self, buf: &[u8]) -> Scan {
        while let Some(&b) = buf.get(self.scanned) {
            self.scanned += 1;
            if self.depth == 0 {
                match b {
                    b' ' | b'\t' | b'\r' | b'\n' => continue,
                    b'{' => {
                        self.depth = 1;
                        continue;
                    }
                    _ => return Scan::NotObject,
                }
            }
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Scan::End(self.scanned);
                    }
                }
                _ => {}
            }
        }
        Scan::Incomplete
    }
}

#[cfg(test)]
mod tests;
