//! YAML (and JSON, its subset) parsed into `serde_json::Value` documents that remember where every
//! node came from.
//!
//! Diagnostics must point at the file, line and column of the offending node. serde alone loses
//! that, so each document keeps a map from JSON pointer to source location; any later error that
//! knows its pointer (a serde path, a JSON Schema instance path, a dangling reference) can be
//! turned back into a location. The same loader serves the proxy and the compiler.

use saphyr::{MarkedYaml, Scalar, ScanError, Tag, YamlData, YamlLoader};
use saphyr_parser::{Event, Parser, SpannedEventReceiver};
use serde_json::{Map, Number, Value};

/// How deep collections may nest in a document (serde_json's own limit). Real configs and
/// manifests nest a dozen levels, a predicate at its limit about seventy. Loading, converting
/// and dropping a node tree each recurse once per level, so without a bound a file of a few
/// KiB (`- - - ... x`) overflows the stack and aborts the compiler, `l7mp --validate`, and a
/// running proxy when it reloads.
pub const MAX_NESTING: usize = 128;

/// A position in a source file, as people count: 1-based line and column, plus the byte offset
/// that caret renderers need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Byte offset of the node's first character.
    pub offset: usize,
    /// Length of the node's text in bytes (0 when unknown), for underlining it.
    pub len: usize,
}

/// One YAML document as a JSON value plus the location of each of its nodes.
#[derive(Clone, Debug)]
pub struct Document {
    /// The document's content.
    pub value: Value,
    /// Where the document starts (its first node).
    pub start: Location,
    /// Sorted by pointer, one entry per node: a third smaller than a hash map of them, which
    /// matters because every loaded document keeps its table for as long as it is used.
    locations: Vec<(Box<str>, Location)>,
    /// The nodes with a tag outside YAML's core schema, in document order.
    custom_tags: Vec<CustomTag>,
}

/// A node with a tag outside YAML's core schema, such as `!foo 9001`. The document holds the
/// node as if it had no tag (`9001`), so whatever the author meant by the tag is lost: each
/// reader decides whether that is acceptable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomTag {
    /// The node's pointer (for a tagged mapping key, the pointer of its member).
    pub pointer: String,
    /// The tag as written: `!foo`, or `!<URI>` for a tag given in full or through `%TAG`.
    pub tag: String,
    /// Where the node is.
    pub location: Location,
}

impl Document {
    /// The location of the node at `pointer` (RFC 6901, as built by [`child_pointer`]), or of its
    /// nearest ancestor that exists: an error about a missing field points at the object that
    /// lacks it.
    pub fn locate(&self, pointer: &str) -> Location {
        let mut p = pointer;
        loop {
            if let Ok(i) = self.locations.binary_search_by(|(k, _)| (**k).cmp(p)) {
                return self.locations[i].1;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return self.start,
            }
        }
    }

    /// The nodes with a tag outside YAML's core schema, in document order.
    pub fn custom_tags(&self) -> &[CustomTag] {
        &self.custom_tags
    }
}

/// Why a YAML text could not be read at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// What the parser found wrong.
    pub message: String,
    /// Where.
    pub location: Location,
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/` as RFC 6901 requires.
pub fn child_pointer(parent: &str, token: &str) -> String {
    let mut out = String::with_capacity(parent.len() + token.len() + 1);
    out.push_str(parent);
    out.push('/');
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// Parses every document of a YAML stream. Aliases are expanded by the parser; their nodes are
/// located at the alias.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    let docs = load_nodes(text, true)?;
    let offsets = CharOffsets::new(text);
    // Consumed one document at a time, so that each parser tree is freed once converted rather
    // than all of them living on beside their conversions (the peak of a large stream).
    docs.into_iter()
        .map(|doc| {
            let mut found = Found {
                offsets: &offsets,
                locations: Vec::new(),
                custom_tags: Vec::new(),
            };
            let value = found.convert(&doc, String::new())?;
            let locations = sorted(found.locations);
            let start = locations
                .first()
                .filter(|(k, _)| k.is_empty())
                .map_or_else(Location::default, |(_, l)| *l);
            Ok(Document {
                value,
                start,
                locations,
                custom_tags: found.custom_tags,
            })
        })
        .collect()
}

/// Loads every document of a YAML stream as saphyr nodes (scalars typed when `early_parse`,
/// else kept as written), refusing a collection nested more than [`MAX_NESTING`] levels deep
/// before any deeper node is built. saphyr's own `Parser::load` recurses per level too, so the
/// events are driven here, one at a time.
pub fn load_nodes(text: &str, early_parse: bool) -> Result<Vec<MarkedYaml<'_>>, YamlError> {
    let scan_error = |e: &ScanError| {
        let m = e.marker();
        YamlError {
            message: e.info().to_string(),
            location: CharOffsets::new(text).location(m.index(), m.line(), m.col(), 0),
        }
    };
    let mut loader: YamlLoader<'_, MarkedYaml<'_>> = YamlLoader::default();
    loader.early_parse(early_parse);
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    // Anchors belong to their document: an alias to one of an earlier document is unknown,
    // as saphyr's own loop has it. Anchor ids grow through the stream.
    let (mut first_anchor, mut last_anchor) = (1, 0);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| scan_error(&e))?;
        match &event {
            Event::DocumentStart(_) => first_anchor = last_anchor + 1,
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(scan_error(&ScanError::new_str(
                        span.start,
                        &format!(
                            "collections nest more than {MAX_NESTING} levels deep here; \
                             a config or manifest needs far fewer, so flatten it"
                        ),
                    )));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            Event::Alias(id) if *id < first_anchor => {
                return Err(scan_error(&ScanError::new_str(
                    span.start,
                    "while parsing node, found unknown anchor",
                )));
            }
            _ => {}
        }
        if let Event::SequenceStart(id, _)
        | Event::MappingStart(id, _)
        | Event::Scalar(_, _, id, _) = &event
        {
            last_anchor = last_anchor.max(*id);
        }
        loader.on_event(event, span);
    }
    if let Some(e) = loader.error() {
        return Err(scan_error(e));
    }
    Ok(loader.into_documents())
}

/// What converting one document collects besides its value.
struct Found<'o, 't> {
    offsets: &'o CharOffsets<'t>,
    locations: Vec<(Box<str>, Location)>,
    custom_tags: Vec<CustomTag>,
}

impl Found<'_, '_> {
    fn convert(&mut self, node: &MarkedYaml<'_>, pointer: String) -> Result<Value, YamlError> {
        let location = self.offsets.span(node);
        let value = match &node.data {
            YamlData::Value(scalar) => scalar_to_json(scalar),
            YamlData::Representation(text, _, _) => Value::String(text.to_string()),
            YamlData::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.convert(item, child_pointer(&pointer, &i.to_string()))?);
                }
                Value::Array(out)
            }
            YamlData::Mapping(map) => {
                let mut out = Map::with_capacity(map.len());
                for (k, v) in map {
                    let key = self.mapping_key(k, &pointer)?;
                    let child = self.convert(v, child_pointer(&pointer, &key))?;
                    out.insert(key, child);
                }
                Value::Object(out)
            }
            YamlData::Tagged(tag, inner) => {
                self.custom_tag(tag, pointer.clone(), location);
                return self.convert(inner, pointer);
            }
            YamlData::Alias(_) => return Err(unsupported("this alias names no anchor", location)),
            // The loader gives an alias to an anchor it has not finished building (one inside
            // the node it names) no value, like a scalar that does not fit its tag.
            YamlData::BadValue if self.offsets.text[location.offset..].starts_with('*') => {
                return Err(unsupported(
                    "this alias is inside the node its anchor names: a self-referencing \
                     alias, which YAML cannot expand",
                    location,
                ));
            }
            YamlData::BadValue => {
                return Err(unsupported(
                    "this value does not parse as its tag says",
                    location,
                ));
            }
        };
        self.locations.push((pointer.into_boxed_str(), location));
        Ok(value)
    }

    /// A mapping key as a string; a custom tag on it is recorded at its member's pointer.
    fn mapping_key(&mut self, key: &MarkedYaml<'_>, parent: &str) -> Result<String, YamlError> {
        match &key.data {
            YamlData::Value(Scalar::String(s)) => Ok(s.to_string()),
            YamlData::Value(Scalar::Null) => Ok("null".into()),
            YamlData::Value(s) => match scalar_to_json(s) {
                Value::String(s) => Ok(s),
                other => Ok(other.to_string()),
            },
            YamlData::Representation(text, _, _) => Ok(text.to_string()),
            YamlData::Tagged(tag, inner) => {
                let name = self.mapping_key(inner, parent)?;
                let location = self.offsets.span(key);
                self.custom_tag(tag, child_pointer(parent, &name), location);
                Ok(name)
            }
            _ => {
                let s = key.span.start;
                Err(unsupported(
                    "a mapping key must be a plain value, not a list or a map",
                    self.offsets.location(s.index(), s.line(), s.col(), 0),
                ))
            }
        }
    }

    fn custom_tag(&mut self, tag: &Tag, pointer: String, location: Location) {
        let tag = match tag.handle.as_str() {
            "!" => format!("!{}", tag.suffix),
            handle => format!("!<{handle}{}>", tag.suffix),
        };
        self.custom_tags.push(CustomTag {
            pointer,
            tag,
            location,
        });
    }
}

/// The locations sorted by pointer; where two keys gave one pointer (`1` and `"1"`), the later
/// wins, as in the document's value.
fn sorted(mut locations: Vec<(Box<str>, Location)>) -> Vec<(Box<str>, Location)> {
    locations.reverse();
    locations.sort_by(|a, b| a.0.cmp(&b.0)); // stable: the later of equal pointers comes first
    locations.dedup_by(|later, first| later.0 == first.0);
    locations.shrink_to_fit();
    locations
}

fn scalar_to_json(scalar: &Scalar<'_>) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        Scalar::FloatingPoint(f) => Number::from_f64(f.into_inner())
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(f.into_inner().to_string())),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

fn unsupported(message: &str, location: Location) -> YamlError {
    YamlError {
        message: message.to_string(),
        location,
    }
}

/// Converts saphyr's character indexes into byte offsets (they differ once the text has
/// non-ASCII characters). Counting characters from the start of the text for each node would be
/// quadratic in the size of a file with a single non-ASCII character, so the byte offset of every
/// [`CHECKPOINT`]th character is kept and the count starts from the nearest one before.
struct CharOffsets<'a> {
    text: &'a str,
    /// The byte offset of character `i * CHECKPOINT` at `i`; empty for ASCII text, whose
    /// character indexes are byte offsets.
    checkpoints: Vec<usize>,
}

/// Characters between two kept byte offsets: an eighth of the text's size in memory, at most
/// this many characters counted per node.
const CHECKPOINT: usize = 64;

impl<'a> CharOffsets<'a> {
    fn new(text: &'a str) -> Self {
        let checkpoints = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices()
                .step_by(CHECKPOINT)
                .map(|(b, _)| b)
                .collect()
        };
        Self { text, checkpoints }
    }

    fn byte_offset(&self, char_index: usize) -> usize {
        if self.checkpoints.is_empty() {
            return char_index.min(self.text.len());
        }
        let Some(&from) = self.checkpoints.get(char_index / CHECKPOINT) else {
            return self.text.len();
        };
        self.text[from..]
            .char_indices()
            .nth(char_index % CHECKPOINT)
            .map_or(self.text.len(), |(b, _)| from + b)
    }

    fn location(&self, char_index: usize, line: usize, col: usize, char_len: usize) -> Location {
        let offset = self.byte_offset(char_index);
        let end = self.byte_offset(char_index + char_len);
        Location {
            line: line.max(1),
            column: col + 1,
            offset,
            len: end.saturating_sub(offset),
        }
    }

    /// The location of a node, with its length.
    fn span(&self, node: &MarkedYaml<'_>) -> Location {
        let (start, end) = (node.span.start, node.span.end);
        let len = end.index().saturating_sub(start.index());
        self.location(start.index(), start.line(), start.col(), len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_locations_of_nested_nodes() {
        let text = "a:\n  b: [1, two]\n  c: {d: true}\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 1);
        let doc = &docs[0];
        assert_eq!(doc.value["a"]["b"][1], "two");
        assert_eq!(doc.value["a"]["c"]["d"], true);
        let loc = doc.locate("/a/b/1");
        assert_eq!((loc.line, loc.column), (2, 10));
        assert_eq!(&text[loc.offset..loc.offset + loc.len], "two");
        // A missing child falls back to its parent.
        assert_eq!(doc.locate("/a/c/missing"), doc.locate("/a/c"));
    }

    #[test]
    fn multi_document_streams_and_json() {
        let docs = parse_documents("x: 1\n---\ny: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].locate("/y").line, 3);
        let json = parse_documents(r#"{"k": [1.5, null, "v"]}"#).unwrap();
        assert_eq!(json[0].value["k"][0], 1.5);
        assert!(json[0].value["k"][1].is_null());
    }

    #[test]
    fn byte_offsets_survive_non_ascii_text() {
        let text = "név: árvíztűrő\nport: 70000\n";
        let doc = &parse_documents(text).unwrap()[0];
        let loc = doc.locate("/port");
        assert_eq!(&text[loc.offset..loc.offset + loc.len], "70000");
    }

    #[test]
    fn keys_with_slashes_are_escaped() {
        let doc = &parse_documents("\"a/b\": {\"~x\": 1}\n").unwrap()[0];
        assert_eq!(doc.locate("/a~1b/~0x").line, 1);
        assert_eq!(child_pointer("", "a/b~"), "/a~1b~0");
    }

    #[test]
    fn malformed_yaml_reports_its_position() {
        let err = parse_documents("a: [1, 2\nb: c\n").unwrap_err();
        assert!(err.location.line >= 1);
        assert!(!err.message.is_empty());
    }

    #[test]
    fn a_key_written_twice_as_different_scalars_is_located_at_the_later() {
        let doc = &parse_documents("1: {a: 1}\n\"1\": 2\n").unwrap()[0];
        assert_eq!(doc.value["1"], 2);
        assert_eq!(doc.locate("/1").line, 2);
        assert_eq!(doc.locate("").line, 1);
    }

    #[test]
    fn char_indexes_become_byte_offsets_from_the_nearest_checkpoint() {
        let text = "aé€😀\n".repeat(100);
        let offsets = CharOffsets::new(&text);
        // One kept offset per CHECKPOINT characters, not one per character.
        let chars = text.chars().count();
        assert_eq!(offsets.checkpoints.len(), chars.div_ceil(CHECKPOINT));
        let expected: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        for (i, &b) in expected.iter().enumerate() {
            assert_eq!(offsets.byte_offset(i), b, "character {i}");
        }
        assert_eq!(offsets.byte_offset(chars), text.len());
        assert_eq!(offsets.byte_offset(chars + 100), text.len());
    }

    #[test]
    fn custom_tags_are_kept_with_their_nodes_and_core_tags_are_not() {
        let text =
            "a: !foo 9001\nb: !!str 9001\nc: !!int \"7\"\n!k d: !m {e: 1}\nf: !<tag:x.org,1:y> z\n";
        let doc = &parse_documents(text).unwrap()[0];
        assert_eq!(doc.value["a"], 9001);
        assert_eq!(doc.value["b"], "9001");
        assert_eq!(doc.value["d"]["e"], 1);
        let tags: Vec<_> = doc
            .custom_tags()
            .iter()
            .map(|t| (t.pointer.as_str(), t.tag.as_str(), t.location.line))
            .collect();
        assert_eq!(
            tags,
            [
                ("/a", "!foo", 1),
                ("/d", "!k", 4),
                ("/d", "!m", 4),
                ("/f", "!<tag:x.org,1:y>", 5)
            ]
        );
    }

    #[test]
    fn a_self_referencing_alias_says_so() {
        let err = parse_documents("a: &x [1, *x]\n").unwrap_err();
        assert!(err.message.contains("self-referencing alias"), "{err:?}");
        assert_eq!((err.location.line, err.location.column), (1, 11));
        let err = parse_documents("a: !!int x\n").unwrap_err();
        assert_eq!(err.message, "this value does not parse as its tag says");
    }

    #[test]
    fn nesting_past_the_limit_is_refused_not_a_stack_overflow() {
        let within = "- ".repeat(MAX_NESTING) + "x\n";
        assert!(parse_documents(&within).is_ok());
        for deep in [
            "- ".repeat(100_000) + "x\n",
            "[".repeat(200) + &"]".repeat(200),
            "{a: ".repeat(MAX_NESTING + 1) + "x" + &"}".repeat(MAX_NESTING + 1),
        ] {
            let err = parse_documents(&deep).unwrap_err();
            assert!(err.message.contains("nest more than 128 levels"), "{err:?}");
            assert_eq!(err.location.line, 1);
        }
    }

    #[test]
    fn an_alias_to_an_earlier_document_is_unknown() {
        let err = parse_documents("a: &x 1\n---\nb: *x\n").unwrap_err();
        assert!(err.message.contains("unknown anchor"), "{err:?}");
        assert_eq!(err.location.line, 3);
        let docs = parse_documents("a: &x 1\n---\nb: &x 2\nc: *x\n").unwrap();
        assert_eq!(docs[1].value["c"], 2);
    }

    #[test]
    fn aliases_are_expanded() {
        let doc = &parse_documents("a: &x {p: 1}\nb: *x\n").unwrap()[0];
        assert_eq!(doc.value["b"]["p"], 1);
    }
}
