//! The manifests as YAML trees that `inject` edits and writes back: key order is kept (saphyr's
//! mappings are ordered, unlike the compiler's `serde_json` values), and so is the text of every
//! plain scalar.
//!
//! Plain scalars are kept as written because YAML 1.1 (Kubernetes) and 1.2 (saphyr) read some of
//! them differently: re-typing `defaultMode: 0644` through YAML 1.2 would write `644`, a
//! different file mode to the cluster. Quoted and block scalars are strings in both, so they are
//! re-quoted by the emitter as their content needs. Comments are lost: the parser drops them.

use std::borrow::Cow;

use l7mp_config::yaml::{Location, load_nodes};
use saphyr::{Mapping, MarkedYaml, Scalar, ScalarStyle, Yaml, YamlData, YamlEmitter};
use serde_json::Value;

/// Why a file cannot be read as a tree: the message and where.
#[derive(Debug)]
pub struct TreeError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub location: Location,
}

/// Parses every document of `text`, keeping plain scalars' text, with the nesting bound of
/// every other YAML reader ([`l7mp_config::yaml::load_nodes`]).
pub fn parse(text: &str) -> Result<Vec<Yaml<'_>>, TreeError> {
    let docs = load_nodes(text, false).map_err(|e| TreeError {
        message: e.message,
        location: e.location,
    })?;
    docs.into_iter().map(|doc| convert(text, doc)).collect()
}

fn location(text: &str, marker: &saphyr::Marker) -> Location {
    let offset = text
        .char_indices()
        .nth(marker.index())
        .map_or(text.len(), |(b, _)| b);
    Location {
        line: marker.line().max(1),
        column: marker.col() + 1,
        offset,
        len: 0,
    }
}

/// The emitter's form of a parsed node: plain scalars as their text, other scalars as strings.
fn convert<'a>(text: &str, node: MarkedYaml<'a>) -> Result<Yaml<'a>, TreeError> {
    let fail = |message: String| TreeError {
        message,
        location: location(text, &node.span.start),
    };
    Ok(match node.data {
        YamlData::Representation(value, style, tag) => match (tag, style) {
            (Some(tag), _) => match Yaml::value_from_cow_and_metadata(value, style, Some(&tag)) {
                scalar @ Yaml::Value(_) => scalar,
                _ => return Err(fail(format!("the tag {tag} is not supported; remove it"))),
            },
            (None, ScalarStyle::Plain) if value.is_empty() => Yaml::Value(Scalar::Null),
            (None, ScalarStyle::Plain) => Yaml::Representation(value, ScalarStyle::Plain, None),
            (None, _) => Yaml::Value(Scalar::String(value)),
        },
        YamlData::Value(scalar) => Yaml::Value(scalar),
        YamlData::Sequence(items) => Yaml::Sequence(
            items
                .into_iter()
                .map(|item| convert(text, item))
                .collect::<Result<_, _>>()?,
        ),
        YamlData::Mapping(map) => {
            let mut out = Mapping::with_capacity(map.len());
            for (key, value) in map {
                out.insert(convert(text, key)?, convert(text, value)?);
            }
            Yaml::Mapping(out)
        }
        YamlData::Tagged(tag, _) => {
            return Err(fail(format!("the tag {tag} is not supported; remove it")));
        }
        YamlData::Alias(_) | YamlData::BadValue => {
            return Err(fail("this value cannot be read (an unknown alias?)".into()));
        }
    })
}

/// Writes `docs` as one YAML stream, each document starting with `---`.
pub fn emit(docs: &[&Yaml<'_>]) -> String {
    let mut out = String::new();
    for doc in docs {
        let mut text = String::new();
        let mut emitter = YamlEmitter::new(&mut text);
        emitter.multiline(true);
        // Writing to a String cannot fail.
        let _ = emitter.dump(doc);
        out.push_str(&text);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// A mapping key's text, if it is a scalar.
fn key_text<'y>(key: &'y Yaml<'_>) -> Option<&'y str> {
    match key {
        Yaml::Representation(text, _, _) | Yaml::Value(Scalar::String(text)) => Some(text),
        _ => None,
    }
}

/// The node at JSON pointer `pointer` (as built by `child_pointer`) below `node`.
pub fn get_mut<'y, 'a>(node: &'y mut Yaml<'a>, pointer: &str) -> Option<&'y mut Yaml<'a>> {
    let mut node = node;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        node = match node {
            Yaml::Mapping(map) => map
                .iter_mut()
                .find(|(k, _)| key_text(k) == Some(token.as_str()))
                .map(|(_, v)| v)?,
            Yaml::Sequence(items) => items.get_mut(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// The value of `key` in the mapping `node`, inserted (at the end) as `default` when missing or
/// null. None when `node` is not a mapping.
pub fn entry<'y, 'a>(
    node: &'y mut Yaml<'a>,
    key: &str,
    default: Yaml<'a>,
) -> Option<&'y mut Yaml<'a>> {
    let Yaml::Mapping(map) = node else {
        return None;
    };
    let position = map.iter().position(|(k, _)| key_text(k) == Some(key));
    let value = match position {
        Some(i) => map.iter_mut().nth(i).map(|(_, v)| v)?,
        None => map
            .entry(Yaml::Value(Scalar::String(Cow::Owned(key.to_string()))))
            .or_insert(Yaml::Value(Scalar::Null)),
    };
    if is_null(value) {
        *value = default;
    }
    Some(value)
}

fn is_null(node: &Yaml<'_>) -> bool {
    match node {
        Yaml::Value(Scalar::Null) => true,
        Yaml::Representation(text, ScalarStyle::Plain, _) => {
            matches!(text.as_ref(), "~" | "null" | "Null" | "NULL")
        }
        _ => false,
    }
}

/// A JSON value as a node, `name` first among a mapping's keys (as people write Kubernetes
/// objects), the others in the value's (sorted) order.
pub fn from_json<'a>(value: &Value) -> Yaml<'a> {
    let plain = |text: String| Yaml::Representation(Cow::Owned(text), ScalarStyle::Plain, None);
    match value {
        Value::Null => Yaml::Value(Scalar::Null),
        Value::Bool(b) => plain(b.to_string()),
        Value::Number(n) => plain(n.to_string()),
        Value::String(s) => Yaml::Value(Scalar::String(Cow::Owned(s.clone()))),
        Value::Array(items) => Yaml::Sequence(items.iter().map(from_json).collect()),
        Value::Object(map) => {
            let mut out = Mapping::with_capacity(map.len());
            let named = map.get_key_value("name").into_iter();
            for (key, item) in named.chain(map.iter().filter(|(k, _)| *k != "name")) {
                out.insert(from_json(&Value::String(key.clone())), from_json(item));
            }
            Yaml::Mapping(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let docs = parse(text).unwrap();
        emit(&docs.iter().collect::<Vec<_>>())
    }

    #[test]
    fn plain_scalars_keep_their_text_and_order_is_kept() {
        let text = "z: 1\na: {mode: 0644, on: yes, q: '0644', e: , f: 1.50}\nb: [x, \"y: z\"]\n";
        let out = round_trip(text);
        assert_eq!(
            out,
            "---\nz: 1\na:\n  mode: 0644\n  on: yes\n  q: \"0644\"\n  e: ~\n  f: 1.50\nb:\n  - x\n  - \"y: z\"\n"
        );
        assert_eq!(round_trip(&out), out);
    }

    #[test]
    fn block_scalars_stay_blocks_and_output_is_a_fixpoint() {
        let text = "a: |\n  line 1\n  line 2\nb: >\n  folded\n  text\nc: !!str 12\n---\n- 1\n";
        let out = round_trip(text);
        assert_eq!(
            out,
            "---\na: |\n  line 1\n  line 2\nb: |\n  folded text\nc: \"12\"\n---\n- 1\n"
        );
        assert_eq!(round_trip(&out), out);
    }

    #[test]
    fn unsupported_input_is_an_error_with_a_location() {
        let err = parse("a: 1\nb: !custom {x: 1}\n").unwrap_err();
        assert!(err.message.contains("!custom"), "{}", err.message);
        assert_eq!(err.location.line, 2);
        assert!(parse("a: [1\n").is_err());
        assert!(parse("a: *nowhere\n").is_err());
        let deep = parse(&("- ".repeat(100_000) + "x\n")).unwrap_err();
        assert!(deep.message.contains("nest more than"), "{}", deep.message);
    }

    #[test]
    fn pointers_and_entries_edit_in_place() {
        let mut docs = parse("m: {\"a/b\": [1, 2], n: }\n").unwrap();
        let doc = &mut docs[0];
        assert!(get_mut(doc, "/m/a~1b/1").is_some());
        assert!(get_mut(doc, "/m/a~1b/5").is_none());
        let n = get_mut(doc, "/m").unwrap();
        entry(n, "n", Yaml::Sequence(Vec::new())).unwrap();
        let added = entry(
            n,
            "k",
            from_json(&serde_json::json!({"z": true, "name": "x"})),
        );
        assert!(added.is_some());
        assert_eq!(
            emit(&[&docs[0]]),
            "---\nm:\n  a/b:\n    - 1\n    - 2\n  n: []\n  k:\n    name: x\n    z: true\n"
        );
    }
}
