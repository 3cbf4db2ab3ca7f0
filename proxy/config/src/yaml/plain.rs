//! The fast way to a [`Document`]: straight from the parser's events, for the documents that
//! use none of YAML's graph and typing features (anchors, aliases, tags, non-scalar keys, keys
//! that JSON would merge), which is nearly every manifest and config. Building saphyr's node
//! tree and then converting it took most of the time of reading a large input; a document that
//! does use one of those features is left to that loader, so both ways give the same value,
//! locations and errors.

use std::borrow::Cow;

use saphyr::Scalar;
use saphyr_parser::{Event, Marker, Span};
use serde_json::{Map, Value};

use super::{CharOffsets, Document, Location, LocationsBuilder, key_text, scalar_to_json};

/// A collection whose items are still being read.
enum Items {
    Sequence(Vec<Value>),
    /// The members so far, and the key of the member whose value comes next.
    Mapping(Map<String, Value>, Option<String>),
}

/// An open collection: its items, its node in the locations table and where it starts.
struct Open {
    items: Items,
    index: usize,
    start: Marker,
}

/// The document that `events` (all of one document's, in order) describe, or None when it
/// needs the loader: it uses a feature this does not handle, or is empty.
pub(super) fn document(
    offsets: &CharOffsets<'_>,
    events: &[(Event<'_>, Span)],
) -> Option<Document> {
    let mut locations = LocationsBuilder::default();
    let mut stack: Vec<Open> = Vec::new();
    let mut root = None;
    for (event, span) in events {
        let value = match event {
            Event::Scalar(text, style, 0, None) => {
                let scalar =
                    Scalar::parse_from_cow_and_metadata(Cow::Borrowed(text), *style, None)?;
                let value = scalar_to_json(&scalar);
                if let Some(Items::Mapping(members, key @ None)) =
                    stack.last_mut().map(|o| &mut o.items)
                {
                    // A key: a second member with the same key (to JSON) is the loader's.
                    let name = key_text(value);
                    if members.contains_key(&name) {
                        return None;
                    }
                    *key = Some(name);
                    continue;
                }
                let location = offsets.span(span.start, span.end);
                let index = locations.open(member_key(&stack)?, location);
                locations.close(index);
                value
            }
            Event::SequenceStart(0, None) | Event::MappingStart(0, None) => {
                // Its extent is known at its end.
                let index = locations.open(member_key(&stack)?, Location::default());
                let items = match event {
                    Event::SequenceStart(..) => Items::Sequence(Vec::new()),
                    _ => Items::Mapping(Map::new(), None),
                };
                stack.push(Open {
                    items,
                    index,
                    start: span.start,
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let open = stack.pop()?;
                locations.close_at(open.index, offsets.span(open.start, span.start));
                match open.items {
                    Items::Sequence(items) => Value::Array(items),
                    Items::Mapping(members, None) => Value::Object(members),
                    Items::Mapping(_, Some(_)) => return None,
                }
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => {
                continue;
            }
            _ => return None,
        };
        match stack.last_mut().map(|o| &mut o.items) {
            None if root.is_none() => root = Some(value),
            None => return None,
            Some(Items::Sequence(items)) => items.push(value),
            Some(Items::Mapping(members, key)) => {
                members.insert(key.take()?, value);
            }
        }
    }
    let value = root?;
    let locations = locations.finish();
    let start = locations.location(0).unwrap_or_default();
    Some(Document {
        value,
        start,
        locations,
        custom_tags: Vec::new(),
    })
}

/// The key of the node that starts next, as [`LocationsBuilder::open`] takes it: None for the
/// root and sequence items; the outer None when the node would be a mapping key, which must be
/// a scalar here.
fn member_key(stack: &[Open]) -> Option<Option<&str>> {
    match stack.last().map(|o| &o.items) {
        None | Some(Items::Sequence(_)) => Some(None),
        Some(Items::Mapping(_, Some(key))) => Some(Some(key)),
        Some(Items::Mapping(_, None)) => None,
    }
}

#[cfg(test)]
mod tests {
    use saphyr_parser::Parser;

    use super::*;
    use crate::yaml::convert_document;

    /// The events of the one document of `text`.
    fn events(text: &str) -> Vec<(Event<'_>, Span)> {
        let mut parser = Parser::new_from_str(text);
        let mut out = Vec::new();
        while let Some(Ok(next)) = parser.next_event() {
            out.push(next);
        }
        out
    }

    /// The document the loader builds from `text`.
    fn loaded(offsets: &CharOffsets<'_>, text: &str) -> Document {
        let nodes = crate::yaml::load_nodes(text, true).unwrap();
        convert_document(offsets, &nodes[0]).unwrap()
    }

    #[test]
    fn plain_documents_read_as_the_loader_reads_them() {
        let texts = [
            "a:\n  b: [1, two, 'three', \"4\", 5.5, ~, true, '']\n  c: {d: {e: f}}\n",
            "- x\n- - y\n  - {z: 1}\n- \n",
            "1: one\ntrue: yes\nnull: nothing\n0x1f: hex\n",
            "name: árvíztűrő\nlist:\n  - a\n  - |\n    block\n    text\n",
            "plain\n",
            "{}\n",
        ];
        for text in texts {
            let offsets = CharOffsets::new(text);
            let fast = document(&offsets, &events(text)).expect("a plain document");
            let slow = loaded(&offsets, text);
            assert_eq!(fast.value, slow.value, "{text}");
            assert_eq!(fast.start, slow.start, "{text}");
            let nodes = |d: &Document| {
                let n = &d.locations.nodes;
                let packed: Vec<_> = n
                    .iter()
                    .map(|n| (n.end, n.key, n.line, n.column, n.offset, n.len))
                    .collect();
                (
                    packed,
                    d.locations.keys.clone(),
                    d.locations.key_ends.clone(),
                )
            };
            assert_eq!(nodes(&fast), nodes(&slow), "{text}");
        }
    }

    #[test]
    fn documents_with_graph_or_typing_features_are_left_to_the_loader() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !foo 1\n",
            "a: !!str 1\n",
            "? [k]\n: v\n",
            "1: a\n\"1\": b\n",
            "a: 1\na: 2\n",
        ] {
            let offsets = CharOffsets::new(text);
            assert!(document(&offsets, &events(text)).is_none(), "{text}");
        }
    }
}
