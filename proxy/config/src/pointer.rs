//! RFC 6901 JSON Pointers, the one path syntax used by rule matches and rewrites.
//!
//! The original proxy split paths on `/` by hand (dropping the first segment and never
//! unescaping); a real pointer type validated at config load removes that whole class of bug.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A parsed RFC 6901 JSON Pointer: the text as written plus its decoded reference tokens.
///
/// Parsing once at config load keeps lookups on the per-session hot path free of string work.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JsonPointer {
    text: String,
    tokens: Vec<String>,
}

/// Why a pointer could not be parsed or a value could not be written through it.
///
/// Each message names the offending pointer and says what to write instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    /// A non-empty pointer that does not begin with `/`.
    #[error("JSON pointer `{pointer}` must start with `/` (write `/{pointer}`)")]
    MissingSlash {
        /// The pointer as written.
        pointer: String,
    },
    /// A `~` that is not followed by `0` or `1`.
    #[error(
        "JSON pointer `{pointer}` has the invalid escape `{escape}`: only `~0` (a literal `~`) \
         and `~1` (a literal `/`) are allowed, so write `~0` for a `~`"
    )]
    BadEscape {
        /// The pointer as written.
        pointer: String,
        /// The offending escape, e.g. `~2`, or a lone `~` at the end.
        escape: String,
    },
    /// A write that would have to descend into a string, number, boolean or null.
    #[error(
        "cannot set `{pointer}`: `{parent}` holds {kind}, which has no member `{token}`; \
         rewrite `{parent}` itself or choose a path that goes through objects and arrays"
    )]
    ThroughScalar {
        /// The pointer being written.
        pointer: String,
        /// The pointer to the scalar that blocks the write.
        parent: String,
        /// What the scalar is, e.g. "a number".
        kind: &'static str,
        /// The reference token that could not be followed.
        token: String,
    },
    /// A write into an array with a token that is neither an index up to its length nor `-`.
    #[error(
        "cannot set `{pointer}`: `{parent}` is an array of length {len}, so `{token}` must be \
         an index from 0 to {len} without leading zeros, or `-` to append"
    )]
    BadIndex {
        /// The pointer being written.
        pointer: String,
        /// The pointer to the array.
        parent: String,
        /// The array's length.
        len: usize,
        /// The token that is not a usable index.
        token: String,
    },
}

impl JsonPointer {
    /// Parses pointer text; `""` is the whole document, anything else must start with `/`.
    pub fn parse(text: &str) -> Result<JsonPointer, PointerError> {
        let tokens = match text.strip_prefix('/') {
            Some(rest) => rest
                .split('/')
                .map(|raw| unescape(text, raw))
                .collect::<Result<_, _>>()?,
            None if text.is_empty() => Vec::new(),
            None => {
                return Err(PointerError::MissingSlash {
                    pointer: text.to_owned(),
                });
            }
        };
        Ok(JsonPointer {
            text: text.to_owned(),
            tokens,
        })
    }

    /// The pointer exactly as written, for messages and round-tripping configs.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The decoded reference tokens, for callers that walk a document themselves.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Looks the pointer up in `doc`; `None` when any step is missing (`-` never matches).
    pub fn get<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        self.tokens.iter().try_fold(doc, |node, token| match node {
            Value::Object(map) => map.get(token),
            Value::Array(items) => array_index(token).and_then(|i| items.get(i)),
            _ => None,
        })
    }

    /// Writes `value` at the pointer, as rewrite actions need.
    ///
    /// Missing intermediate members are created as objects; on arrays an existing index
    /// replaces and `-` or the length appends; `""` replaces the whole document.
    pub fn set(&self, target: &mut Value, value: Value) -> Result<(), PointerError> {
        let Some((last, parents)) = self.tokens.split_last() else {
            *target = value;
            return Ok(());
        };
        let mut node = target;
        for (depth, token) in parents.iter().enumerate() {
            node = self.slot(node, depth, token, Value::Object(Map::new()))?;
        }
        *self.slot(node, parents.len(), last, Value::Null)? = value;
        Ok(())
    }

    /// The member of `node` named by `token` (the token at `depth`), inserting `fill` if absent.
    fn slot<'a>(
        &self,
        node: &'a mut Value,
        depth: usize,
        token: &str,
        fill: Value,
    ) -> Result<&'a mut Value, PointerError> {
        match node {
            Value::Object(map) => Ok(map.entry(token).or_insert(fill)),
            Value::Array(items) => self.array_slot(items, depth, token, fill),
            scalar => Err(PointerError::ThroughScalar {
                pointer: self.text.clone(),
                parent: self.prefix(depth),
                kind: kind_name(scalar),
                token: token.to_owned(),
            }),
        }
    }

    /// The array element named by `token`: an existing index, or a new last element for `-`/len.
    fn array_slot<'a>(
        &self,
        items: &'a mut Vec<Value>,
        depth: usize,
        token: &str,
        fill: Value,
    ) -> Result<&'a mut Value, PointerError> {
        let len = items.len();
        let index = match token {
            "-" => Some(len),
            _ => array_index(token),
        }
        .filter(|&i| i <= len);
        if index == Some(len) {
            items.push(fill);
        }
        index
            .and_then(|i| items.get_mut(i))
            .ok_or_else(|| PointerError::BadIndex {
                pointer: self.text.clone(),
                parent: self.prefix(depth),
                len,
                token: token.to_owned(),
            })
    }

    /// The pointer text of the first `depth` tokens, for naming where a write got stuck.
    fn prefix(&self, depth: usize) -> String {
        self.tokens
            .iter()
            .take(depth)
            .map(|token| format!("/{}", escape_token(token)))
            .collect()
    }
}

impl fmt::Display for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for JsonPointer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for JsonPointer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        JsonPointer::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The JSON pointer that a path written in the original's lenient style stands for: a missing
/// leading `/` is added and trailing `/`s are dropped (`HTTP/headers/` is `/HTTP/headers`).
/// The original read the paths of rewrites, load-balancer keys, Sync queries and JSONSocket
/// headers this way; a text that is already a plain pointer, `""` and `/` come back unchanged.
pub fn lenient(text: &str) -> std::borrow::Cow<'_, str> {
    let trimmed = text.trim_end_matches('/');
    let meant = match trimmed.starts_with('/') {
        true => trimmed.to_owned(),
        false => format!("/{trimmed}"),
    };
    if text.is_empty() || meant == text {
        text.into()
    } else {
        meant.into()
    }
}

/// Encodes one reference token for use in pointer text (`~` as `~0`, `/` as `~1`).
pub(crate) fn escape_token(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1").into()
    } else {
        token.into()
    }
}

/// Decodes one raw reference token of `pointer`, rejecting escapes other than `~0` and `~1`.
fn unescape(pointer: &str, raw: &str) -> Result<String, PointerError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            next => {
                return Err(PointerError::BadEscape {
                    pointer: pointer.to_owned(),
                    escape: next.map_or_else(|| "~".to_owned(), |n| format!("~{n}")),
                });
            }
        }
    }
    Ok(out)
}

/// Parses an RFC 6901 array index: ASCII decimal digits without leading zeros.
fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    let canonical = token == "0" || !token.starts_with('0');
    if digits && canonical {
        token.parse().ok()
    } else {
        None
    }
}

/// A human name for a JSON value's kind, for error messages.
pub fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
