//! YAML (and JSON, its subset) parsed into `serde_json::Value` documents that remember where every
//! node came from.
//!
//! Diagnostics must point at the file, line and column of the offending node. serde alone loses
//! that, so each document keeps a map from JSON pointer to source location; any later error that
//! knows its pointer (a serde path, a JSON Schema instance path, a dangling reference) can be
//! turned back into a location. The same loader serves the proxy and the compiler.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::ops::Range;

use foldhash::fast::FixedState;
use hashbrown::HashTable;

use saphyr::{MarkedYaml, Scalar, ScanError, Tag, YamlData, YamlLoader};
use saphyr_parser::{Event, Marker, Parser, Span, SpannedEventReceiver};
use serde_json::{Map, Number, Value};

mod plain;

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
    /// Where each node is.
    locations: Locations,
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
    /// A document with no content and no locations, for checking a config built in memory
    /// ([`crate::load::check_model`]): every pointer is at the zero [`Location`].
    pub fn without_text() -> Self {
        Self {
            value: Value::Null,
            start: Location::default(),
            locations: Locations::default(),
            custom_tags: Vec::new(),
        }
    }

    /// The location of the node at `pointer` (RFC 6901, as built by [`child_pointer`]), or of its
    /// nearest ancestor that exists: an error about a missing field points at the object that
    /// lacks it.
    pub fn locate(&self, pointer: &str) -> Location {
        self.locations.nearest(pointer).unwrap_or(self.start)
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
    push_token(&mut out, token);
    out
}

/// Appends `/` and `token`, escaped, to `pointer`.
pub fn push_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// Parses every document of a YAML stream. Aliases are expanded by the parser; their nodes are
/// located at the alias.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    let mut docs = Vec::new();
    for_each_document(text, |doc| docs.push(doc))?;
    Ok(docs)
}

/// Parses a YAML stream as [`parse_documents`] does, handing each document to `each` as soon as
/// it is read: only one document's node tree is alive at a time, where a stream of thousands
/// of manifests would otherwise hold all of their trees at once (the peak of a large input).
/// On an error, the documents already handed over are to be discarded: the error is the one
/// [`parse_documents`] gives, which may lie in a later document than they.
pub fn for_each_document(text: &str, each: impl FnMut(Document)) -> Result<(), YamlError> {
    for_each_document_in(text, 0..text.len(), each).map(drop)
}

/// What reading one piece of a stream ([`for_each_document_in`]) found besides its documents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PieceRead {
    /// Whether the piece expanded an alias. saphyr bounds the nodes alias expansion may produce
    /// in a whole stream, so only a reading of the whole stream can tell whether a later piece
    /// still had budget left: a piece that expanded any must be read again as part of it.
    pub expanded_aliases: bool,
}

/// Reads the documents of `piece`, a range of `text` given by [`pieces`], as
/// [`for_each_document`] reads a whole stream: locations (and errors) are those in `text`.
/// Its documents are numbered from 0; the caller knows how many the earlier pieces held.
pub fn for_each_document_in(
    text: &str,
    piece: Range<usize>,
    each: impl FnMut(Document),
) -> Result<PieceRead, YamlError> {
    let origin = Origin::of(text, piece.start);
    let Some(piece_text) = text.get(piece) else {
        return Err(YamlError {
            message: "this range of the text is no piece of it".into(),
            location: Location::default(),
        });
    };
    let offsets = CharOffsets::new_at(piece_text, origin);
    let mut stream = Stream {
        events: Vec::new(),
        in_document: false,
        budget_at_start: ALIAS_NODES,
        budget: AliasBudget::default(),
        offsets: &offsets,
        load_error: None,
        convert_error: None,
        each,
    };
    drive(&offsets, |event, span| stream.on_event(event, span))?;
    if let Some(e) = &stream.load_error {
        return Err(scan_error(&offsets, e));
    }
    if let Some(e) = stream.convert_error {
        return Err(e);
    }
    Ok(PieceRead {
        expanded_aliases: stream.budget.remaining < ALIAS_NODES,
    })
}

/// Splits `text` into at most `wanted` ranges of whole documents of about equal size, each
/// but the first starting at a document start marker (`---` at the start of a line), so that
/// the pieces can be read apart, in parallel, with [`for_each_document_in`]. YAML forbids that
/// marker inside any node, so a piece never starts inside one, and a stream whose pieces all
/// read without error has the documents its whole reading has; one with an error is to be read
/// whole, for the error the whole reading gives. The whole text is one piece when it has a
/// directive (`%YAML`, `%TAG`, which belong to the document after them) or a line break other
/// than `\n` and `\r\n` (locations count lines by `\n`).
pub fn pieces(text: &str, wanted: usize) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let directive = |at: usize| bytes.get(at) == Some(&b'%');
    let has_directive =
        directive(0) || text.starts_with('\u{feff}') && directive(3) || text.contains("\n%");
    let bare_cr = text.contains('\r')
        && (bytes.iter().enumerate()).any(|(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
    if wanted < 2 || has_directive || bare_cr {
        return std::iter::once(0..text.len()).collect();
    }
    let size = text.len() / wanted;
    let mut starts = vec![0];
    while starts.len() < wanted {
        let from = starts.last().copied().unwrap_or(0) + size;
        match next_document_start(bytes, from) {
            Some(at) => starts.push(at),
            None => break,
        }
    }
    let ends = starts.iter().skip(1).copied().chain([text.len()]);
    starts.iter().zip(ends).map(|(&s, e)| s..e).collect()
}

/// The byte offset of the first line at or after `from` that starts with a document start
/// marker: `---` followed by a space, a tab, a line break or the end of the text.
fn next_document_start(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from.checked_sub(1)?;
    loop {
        let line = at + bytes.get(at..)?.iter().position(|&b| b == b'\n')? + 1;
        let marker = bytes.get(line..line + 3) == Some(b"---");
        let after = bytes.get(line + 3);
        if marker && matches!(after, None | Some(b' ' | b'\t' | b'\r' | b'\n')) {
            return Some(line);
        }
        at = line;
    }
}

/// Where a piece of a text starts in it: locations in the piece are shifted by this.
#[derive(Clone, Copy, Debug, Default)]
struct Origin {
    /// The piece's first byte in the text.
    offset: usize,
    /// The lines of the text before the piece.
    lines: usize,
}

impl Origin {
    /// The origin of the piece of `text` that starts at byte `offset` (a line's start).
    fn of(text: &str, offset: usize) -> Self {
        let before = text.as_bytes().get(..offset).unwrap_or_default();
        Self {
            offset,
            lines: before.iter().filter(|&&b| b == b'\n').count(),
        }
    }
}

/// Loads every document of a YAML stream as saphyr nodes (scalars typed when `early_parse`,
/// else kept as written), refusing a collection nested more than [`MAX_NESTING`] levels deep
/// before any deeper node is built.
pub fn load_nodes(text: &str, early_parse: bool) -> Result<Vec<MarkedYaml<'_>>, YamlError> {
    let mut loader: YamlLoader<'_, MarkedYaml<'_>> = YamlLoader::default();
    loader.early_parse(early_parse);
    let offsets = CharOffsets::new(text);
    drive(&offsets, |event, span| loader.on_event(event, span))?;
    if let Some(e) = loader.error() {
        return Err(scan_error(&offsets, e));
    }
    Ok(loader.into_documents())
}

/// A scanner or loader error at its place in the text of `offsets`.
fn scan_error(offsets: &CharOffsets<'_>, e: &ScanError) -> YamlError {
    let m = e.marker();
    YamlError {
        message: e.info().to_string(),
        location: offsets.location(m.index(), m.line(), m.col(), 0),
    }
}

/// Hands every parser event of `text` to `on`, refusing a collection nested more than
/// [`MAX_NESTING`] levels deep before any deeper node is built, and an alias to an anchor of an
/// earlier document. saphyr's own `Parser::load` recurses per level, so the events are driven
/// here, one at a time.
fn drive<'t>(
    offsets: &CharOffsets<'t>,
    mut on: impl FnMut(Event<'t>, Span),
) -> Result<(), YamlError> {
    let mut parser = Parser::new_from_str(offsets.text);
    let mut depth = 0usize;
    // Anchors belong to their document: an alias to one of an earlier document is unknown,
    // as saphyr's own loop has it. Anchor ids grow through the stream.
    let (mut first_anchor, mut last_anchor) = (1, 0);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| scan_error(offsets, &e))?;
        match &event {
            Event::DocumentStart(_) => first_anchor = last_anchor + 1,
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(scan_error(
                        offsets,
                        &ScanError::new_str(
                            span.start,
                            &format!(
                                "collections nest more than {MAX_NESTING} levels deep here; \
                                 a config or manifest needs far fewer, so flatten it"
                            ),
                        ),
                    ));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            Event::Alias(id) if *id < first_anchor => {
                return Err(scan_error(
                    offsets,
                    &ScanError::new_str(span.start, "while parsing node, found unknown anchor"),
                ));
            }
            _ => {}
        }
        if let Event::SequenceStart(id, _)
        | Event::MappingStart(id, _)
        | Event::Scalar(_, _, id, _) = &event
        {
            last_anchor = last_anchor.max(*id);
        }
        on(event, span);
    }
    Ok(())
}

/// The state of [`for_each_document`]: the events of the document being read, and the first
/// errors. Each document is built from its events by [`plain::document`], or when it needs
/// YAML's graph or typing features, by a loader of its own. As with one loader for the whole
/// stream, a loading error (a duplicate key, too many alias nodes) anywhere outranks a
/// conversion error, and nothing is loaded after it.
struct Stream<'o, 't, F> {
    /// The events of the document being read, from its start (kept between documents for
    /// their room).
    events: Vec<(Event<'t>, Span)>,
    /// Whether a document has started and not ended.
    in_document: bool,
    /// What was left of the alias budget when the document started.
    budget_at_start: usize,
    budget: AliasBudget,
    offsets: &'o CharOffsets<'t>,
    load_error: Option<ScanError>,
    convert_error: Option<YamlError>,
    each: F,
}

impl<'t, F: FnMut(Document)> Stream<'_, 't, F> {
    fn on_event(&mut self, event: Event<'t>, span: Span) {
        if self.load_error.is_some() {
            return;
        }
        if let Event::DocumentStart(_) = event {
            self.in_document = true;
            self.budget_at_start = self.budget.remaining;
        }
        if !self.in_document {
            return; // stream events, which a loader ignores
        }
        self.budget.observe(&event);
        let document_end = event == Event::DocumentEnd;
        self.events.push((event, span));
        if document_end {
            self.in_document = false;
            self.document();
        }
    }

    /// Builds the document whose events have all been read and hands it over.
    fn document(&mut self) {
        if let Some(doc) = plain::document(self.offsets, &self.events) {
            self.events.clear();
            if self.convert_error.is_none() {
                (self.each)(doc);
            }
            return;
        }
        let mut loader = YamlLoader::default();
        loader.alias_limit(self.budget_at_start);
        for (event, span) in self.events.drain(..) {
            loader.on_event(event, span);
            if let Some(e) = loader.error() {
                self.load_error = Some(e.clone());
                return;
            }
        }
        if self.convert_error.is_some() {
            return;
        }
        for doc in loader.into_documents() {
            match convert_document(self.offsets, &doc) {
                Ok(doc) if self.convert_error.is_none() => (self.each)(doc),
                Ok(_) => {}
                Err(e) => {
                    self.convert_error.get_or_insert(e);
                }
            }
        }
    }
}

/// One loaded document as a [`Document`].
fn convert_document(
    offsets: &CharOffsets<'_>,
    doc: &MarkedYaml<'_>,
) -> Result<Document, YamlError> {
    let mut found = Found {
        offsets,
        locations: LocationsBuilder::default(),
        pointer: String::new(),
        custom_tags: Vec::new(),
    };
    let value = found.convert(doc, None)?;
    let locations = found.locations.finish();
    let start = locations.location(0).unwrap_or_default();
    Ok(Document {
        value,
        start,
        locations,
        custom_tags: found.custom_tags,
    })
}

/// saphyr's loader bounds the nodes that expanding aliases may produce in a whole stream (a
/// "billion laughs" defence). [`for_each_document`] gives each document a loader of its own,
/// so it counts what the stream has used, as the loader counts it, and starts each loader with
/// what is left.
#[derive(Debug)]
struct AliasBudget {
    /// Nodes alias expansion may still produce.
    remaining: usize,
    /// The node count of each anchored node, by anchor id.
    sizes: HashMap<usize, usize>,
    /// The collections being read, innermost last.
    open: Vec<OpenCollection>,
}

/// A collection being counted by [`AliasBudget`].
#[derive(Debug)]
struct OpenCollection {
    anchor: usize,
    nodes: usize,
    /// For a mapping, whether its next node is a key; None for a sequence.
    key_next: Option<bool>,
}

/// saphyr's default budget.
const ALIAS_NODES: usize = 100_000;

impl Default for AliasBudget {
    fn default() -> Self {
        Self {
            remaining: ALIAS_NODES,
            sizes: HashMap::new(),
            open: Vec::new(),
        }
    }
}

impl AliasBudget {
    /// Counts `event`'s node. The loader counts a node as one, plus its items for a sequence,
    /// or one for each key and the count of each value for a mapping.
    fn observe(&mut self, event: &Event<'_>) {
        let (anchor, nodes) = match event {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                let mapping = matches!(event, Event::MappingStart(..));
                self.open.push(OpenCollection {
                    anchor: *anchor,
                    nodes: 1,
                    key_next: mapping.then_some(true),
                });
                return;
            }
            Event::SequenceEnd | Event::MappingEnd => match self.open.pop() {
                Some(open) => (open.anchor, open.nodes),
                None => return,
            },
            Event::Scalar(_, _, anchor, _) => (*anchor, 1),
            Event::Alias(id) => {
                let nodes = self.sizes.get(id).copied().unwrap_or(0);
                self.remaining = self.remaining.saturating_sub(nodes);
                (0, nodes)
            }
            _ => return,
        };
        if anchor > 0 {
            self.sizes.insert(anchor, nodes);
        }
        // Saturating: aliases of aliases double a count with each level, past `usize` within
        // 64 lines; the budget is spent long before, and the loader refuses the document.
        if let Some(parent) = self.open.last_mut() {
            let added = match &mut parent.key_next {
                Some(key_next) => {
                    let added = if *key_next { 1 } else { nodes };
                    *key_next = !*key_next;
                    added
                }
                None => nodes,
            };
            parent.nodes = parent.nodes.saturating_add(added);
        }
    }
}

/// What converting one document collects besides its value.
struct Found<'o, 't> {
    offsets: &'o CharOffsets<'t>,
    locations: LocationsBuilder,
    /// The pointer of the node being converted, kept for custom tags.
    pointer: String,
    custom_tags: Vec<CustomTag>,
}

impl Found<'_, '_> {
    /// Converts `node`, the member `key` of its mapping (None for the root and sequence items).
    fn convert(&mut self, node: &MarkedYaml<'_>, key: Option<&str>) -> Result<Value, YamlError> {
        let location = self.offsets.span(node.span.start, node.span.end);
        // A node is opened before its children are converted, so that they follow it.
        let (index, value) = match &node.data {
            YamlData::Value(scalar) => (self.locations.open(key, location), scalar_to_json(scalar)),
            YamlData::Representation(text, _, _) => (
                self.locations.open(key, location),
                Value::String(text.to_string()),
            ),
            YamlData::Sequence(items) => {
                let index = self.locations.open(key, location);
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = self.pointer.len();
                    push_token(&mut self.pointer, &i.to_string());
                    out.push(self.convert(item, None)?);
                    self.pointer.truncate(len);
                }
                (index, Value::Array(out))
            }
            YamlData::Mapping(map) => {
                let index = self.locations.open(key, location);
                let mut out = Map::with_capacity(map.len());
                for (k, v) in map {
                    let key = self.mapping_key(k)?;
                    let len = self.pointer.len();
                    push_token(&mut self.pointer, &key);
                    let child = self.convert(v, Some(&key))?;
                    self.pointer.truncate(len);
                    out.insert(key, child);
                }
                if out.len() < map.len() {
                    self.locations.shadow_repeated_keys(index);
                }
                (index, Value::Object(out))
            }
            // The node is its inner one, with the tag recorded.
            YamlData::Tagged(tag, inner) => {
                self.custom_tag(tag, self.pointer.clone(), location);
                return self.convert(inner, key);
            }
            YamlData::Alias(_) => return Err(unsupported("this alias names no anchor", location)),
            // The loader gives an alias to an anchor it has not finished building (one inside
            // the node it names) no value, like a scalar that does not fit its tag.
            YamlData::BadValue if self.offsets.starts_with(node.span.start, '*') => {
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
        self.locations.close(index);
        Ok(value)
    }

    /// A mapping key as a string; a custom tag on it is recorded at its member's pointer.
    fn mapping_key(&mut self, key: &MarkedYaml<'_>) -> Result<String, YamlError> {
        match &key.data {
            YamlData::Value(s) => Ok(key_text(scalar_to_json(s))),
            YamlData::Representation(text, _, _) => Ok(text.to_string()),
            YamlData::Tagged(tag, inner) => {
                let name = self.mapping_key(inner)?;
                let location = self.offsets.span(key.span.start, key.span.end);
                self.custom_tag(tag, child_pointer(&self.pointer, &name), location);
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

/// A document's node locations as a tree, packed: every loaded document keeps its table for as
/// long as it is used, and a JSON pointer string per node made the tables of a large input
/// larger than its objects. Each node keeps only its own key, interned (a manifest repeats a
/// few keys thousands of times), and the pointer is walked down the tree when a diagnostic asks
/// for it: 24 bytes a node.
#[derive(Clone, Debug, Default)]
struct Locations {
    /// The distinct mapping keys, back to back.
    keys: String,
    /// Where each key of `keys` ends, by key id.
    key_ends: Vec<u32>,
    /// The nodes in document order (a node, then its subtree); the root first.
    nodes: Vec<PackedNode>,
}

/// A node's key and [`Location`], as `u32`s: a YAML text is far smaller than 4 GiB (a value
/// that does not fit is kept as `u32::MAX`).
#[derive(Clone, Copy, Debug)]
struct PackedNode {
    /// The index of the first node after this node's subtree (its next sibling, if any).
    end: u32,
    /// The id of its mapping key, or [`SEQUENCE_ITEM`].
    key: u32,
    line: u32,
    column: u32,
    offset: u32,
    len: u32,
}

/// The key of a sequence item: its index is its position among its siblings.
const SEQUENCE_ITEM: u32 = u32::MAX;

/// The key of a member that a later member with the same key hides.
const SHADOWED: u32 = u32::MAX - 1;

fn pack(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Builds a [`Locations`] in document order.
#[derive(Default)]
struct LocationsBuilder {
    table: Locations,
    /// The id of each key in `table`, by the key's hash: the keys themselves are in the table,
    /// so looking one up allocates nothing (every node with a key looks it up).
    ids: HashTable<u32>,
}

/// The hash of a mapping key in [`LocationsBuilder::ids`].
fn key_hash(key: &str) -> u64 {
    FixedState::default().hash_one(key)
}

impl LocationsBuilder {
    /// Opens the node with `key` (None for the root or a sequence item) at `location`; its
    /// children follow until [`LocationsBuilder::close`] is called with the index returned.
    fn open(&mut self, key: Option<&str>, location: Location) -> usize {
        let key = match key {
            None => SEQUENCE_ITEM,
            Some(key) => {
                let hash = key_hash(key);
                let table = &mut self.table;
                match self.ids.find(hash, |&id| table.key(id) == key) {
                    Some(&id) => id,
                    None => {
                        let id = pack(table.key_ends.len());
                        table.keys.push_str(key);
                        table.key_ends.push(pack(table.keys.len()));
                        self.ids
                            .insert_unique(hash, id, |&id| key_hash(table.key(id)));
                        id
                    }
                }
            }
        };
        self.table.nodes.push(PackedNode {
            end: 0,
            key,
            line: pack(location.line),
            column: pack(location.column),
            offset: pack(location.offset),
            len: pack(location.len),
        });
        self.table.nodes.len() - 1
    }

    /// Closes collection node `index` at `location`, known only once its end is read.
    fn close_at(&mut self, index: usize, location: Location) {
        if let Some(node) = self.table.nodes.get_mut(index) {
            node.line = pack(location.line);
            node.column = pack(location.column);
            node.offset = pack(location.offset);
            node.len = pack(location.len);
        }
        self.close(index);
    }

    /// Closes node `index`, whose subtree is all the nodes opened since.
    fn close(&mut self, index: usize) {
        let end = pack(self.table.nodes.len());
        if let Some(node) = self.table.nodes.get_mut(index) {
            node.end = end;
        }
    }

    /// Hides every member of mapping `index` whose key a later member repeats (`1` and `"1"`
    /// are one key to JSON): the later is the one the document's value keeps. Called once all
    /// its members are converted, before it is closed.
    fn shadow_repeated_keys(&mut self, index: usize) {
        let nodes = &mut self.table.nodes;
        let mut last = HashMap::new();
        let mut i = index + 1;
        while let Some(&node) = nodes.get(i) {
            if let Some(earlier) = last.insert(node.key, i)
                && let Some(earlier) = nodes.get_mut(earlier)
            {
                earlier.key = SHADOWED;
            }
            i = (node.end as usize).max(i + 1);
        }
    }

    fn finish(mut self) -> Locations {
        self.table.nodes.shrink_to_fit();
        self.table.keys.shrink_to_fit();
        self.table.key_ends.shrink_to_fit();
        self.table
    }
}

impl Locations {
    fn location(&self, index: usize) -> Option<Location> {
        self.nodes.get(index).map(|n| Location {
            line: n.line as usize,
            column: n.column as usize,
            offset: n.offset as usize,
            len: n.len as usize,
        })
    }

    fn key(&self, id: u32) -> &str {
        let id = id as usize;
        let start = id.checked_sub(1).map_or(0, |p| self.key_ends[p] as usize);
        let end = self.key_ends.get(id).map_or(start, |&e| e as usize);
        self.keys.get(start..end).unwrap_or_default()
    }

    /// The location of the node at `pointer` or of its nearest ancestor that exists, or None
    /// when not even the root does (an empty table, or a pointer not starting with `/`).
    fn nearest(&self, pointer: &str) -> Option<Location> {
        if self.nodes.is_empty() {
            return None;
        }
        let mut rest = match pointer {
            "" => return self.location(0),
            p => p.strip_prefix('/')?,
        };
        let mut at = 0;
        loop {
            let (token, next) = rest
                .split_once('/')
                .map_or((rest, None), |(t, r)| (t, Some(r)));
            match self.child(at, token) {
                Some(child) => at = child,
                None => return self.location(at),
            }
            match next {
                Some(next) => rest = next,
                None => return self.location(at),
            }
        }
    }

    /// The child of node `parent` whose reference token (escaped, as [`child_pointer`] writes
    /// it) is `token`.
    fn child(&self, parent: usize, token: &str) -> Option<usize> {
        let end = self.nodes.get(parent)?.end as usize;
        let mut i = parent + 1;
        let mut position = 0usize;
        while i < end {
            let node = self.nodes.get(i)?;
            let found = match node.key {
                SEQUENCE_ITEM => position.to_string() == token,
                SHADOWED => false,
                key => escaped_equals(self.key(key), token),
            };
            if found {
                return Some(i);
            }
            position += 1;
            i = (node.end as usize).max(i + 1);
        }
        None
    }
}

/// Whether `key`, escaped as a JSON pointer token, is `token`.
fn escaped_equals(key: &str, token: &str) -> bool {
    let mut rest = token.as_bytes();
    for b in key.bytes() {
        let escaped: &[u8] = match b {
            b'~' => b"~0",
            b'/' => b"~1",
            _ => std::slice::from_ref(&b),
        };
        match rest.strip_prefix(escaped) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
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

/// A scalar mapping key as a JSON object key: strings as they are, anything else as JSON
/// writes it (`1`, `true`, `null`).
fn key_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
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
    /// Where `text` starts in the file, when it is a piece of it.
    origin: Origin,
    /// The byte offset of character `i * CHECKPOINT` at `i`; empty for ASCII text, whose
    /// character indexes are byte offsets.
    checkpoints: Vec<usize>,
}

/// Characters between two kept byte offsets: an eighth of the text's size in memory, at most
/// this many characters counted per node.
const CHECKPOINT: usize = 64;

impl<'a> CharOffsets<'a> {
    fn new(text: &'a str) -> Self {
        Self::new_at(text, Origin::default())
    }

    /// The offsets of `text`, a piece of a file that starts at `origin`.
    fn new_at(text: &'a str, origin: Origin) -> Self {
        let checkpoints = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices()
                .step_by(CHECKPOINT)
                .map(|(b, _)| b)
                .collect()
        };
        Self {
            text,
            origin,
            checkpoints,
        }
    }

    /// Whether the text at `marker` starts with `c`.
    fn starts_with(&self, marker: Marker, c: char) -> bool {
        let at = self.byte_offset(marker.index());
        self.text.get(at..).is_some_and(|rest| rest.starts_with(c))
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
        // saphyr counts lines from 1; line 0 is a node it gives no place (the start of the
        // file, wherever the piece is).
        let origin = if line == 0 {
            Origin::default()
        } else {
            self.origin
        };
        Location {
            line: line.max(1) + origin.lines,
            column: col + 1,
            offset: offset + origin.offset,
            len: end.saturating_sub(offset),
        }
    }

    /// The location of a node from `start` to `end`, with its length.
    fn span(&self, start: Marker, end: Marker) -> Location {
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
    fn the_alias_node_budget_spans_the_stream_not_each_document() {
        // 60 aliases of a 1,000-node list: 60,000 nodes, within saphyr's 100,000 for one
        // document, over it for two.
        let items = vec!["0"; 999].join(", ");
        let aliases = vec!["*x"; 60].join(", ");
        let doc = format!("a: &x [{items}]\nb: [{aliases}]\n");
        assert!(parse_documents(&doc).is_ok());
        let err = parse_documents(&format!("{doc}---\n{doc}")).unwrap_err();
        assert!(err.message.contains("maximum node budget"), "{err:?}");
        assert_eq!(err.location.line, 5);
    }

    #[test]
    fn documents_are_handed_over_as_read_and_a_later_error_still_wins() {
        let mut seen = Vec::new();
        let text = "a: 1\n---\nb: [1, 2\n";
        let err = for_each_document(text, |doc| seen.push(doc.value)).unwrap_err();
        assert_eq!(seen, [serde_json::json!({"a": 1})]);
        assert_eq!(err, parse_documents(text).unwrap_err());
        // A duplicate key in a later document outranks a bad value in an earlier one.
        let err = parse_documents("a: !!int x\n---\nb: 1\nb: 2\n").unwrap_err();
        assert!(err.message.contains("duplicated key"), "{err:?}");
    }

    #[test]
    fn each_key_is_kept_once_and_pointers_are_walked_down_the_tree() {
        let text = "items:\n  - {name: a, port: 1}\n  - {name: b, port: 2}\n  - {name: c}\n";
        let doc = &parse_documents(text).unwrap()[0];
        // `items`, `name` and `port`, each once, however many nodes have them.
        assert_eq!(doc.locations.keys, "itemsnameport");
        assert_eq!(doc.locations.nodes.len(), 10);
        assert_eq!(doc.locate("/items/1/port").line, 3);
        assert_eq!(doc.locate("/items/2/name").line, 4);
        // An index is written one way only; anything else falls back to the parent.
        assert_eq!(doc.locate("/items/01"), doc.locate("/items"));
        assert_eq!(doc.locate("/items/2/port"), doc.locate("/items/2"));
        assert_eq!(doc.locate("items"), doc.start);
    }

    #[test]
    fn aliases_are_expanded() {
        let doc = &parse_documents("a: &x {p: 1}\nb: *x\n").unwrap()[0];
        assert_eq!(doc.value["b"]["p"], 1);
    }

    /// The documents of `text` read in `wanted` pieces, in order, as their `Debug` text (every
    /// field, locations included); None when a piece had an error or expanded an alias, so
    /// that the stream has to be read whole.
    fn read_in_pieces(text: &str, wanted: usize) -> Option<Vec<String>> {
        let mut docs = Vec::new();
        for piece in pieces(text, wanted) {
            let read = for_each_document_in(text, piece, |doc| docs.push(format!("{doc:?}")));
            if read.ok()?.expanded_aliases {
                return None;
            }
        }
        Some(docs)
    }

    #[test]
    fn pieces_read_apart_give_the_documents_of_the_whole_stream() {
        let texts = [
            "a: 1\n---\nb: [1, 2]\n---\nc: {d: x}\n---\n- e\n",
            "---\na: 1\n--- {b: 2}\n---\t# c\nc: 3\n...\n---\nd: 4\n",
            "a: 1\r\n---\r\nb: 2\r\n---\r\nc: 3\r\n",
            "name: \u{e9}t\u{e9}\n---\nname: \u{fc}ber\n  # \u{2014}\n---\nx: [\u{e9}, f]\n",
            "--- |\n  text\n---\nb: 2\n--- >\n folded\n---\nc: 3\n",
            "a: !custom 1\n---\nb: !!str 2\n---\n!other c: 3\n",
            "a: &x {p: 1}\nb: *x\n---\nc: 1\n---\nd: 2\n",
            "a: 1\n---\n----: 2\n---x: 3\n---\nd: 4\n",
            "a: \"one\n---\ntwo\"\n---\nb: 2\n",
        ];
        let mut split = 0;
        for text in texts {
            for wanted in 1..=4 {
                let ranges = pieces(text, wanted);
                assert!(ranges.len() <= wanted.max(1), "{text:?}");
                split += usize::from(ranges.len() > 1);
                let covered: Vec<usize> = ranges.iter().flat_map(|r| [r.start, r.end]).collect();
                assert_eq!(covered.first(), Some(&0));
                assert_eq!(covered.last(), Some(&text.len()));
                assert!(
                    covered[1..covered.len() - 1]
                        .chunks(2)
                        .all(|w| w[0] == w[1])
                );
                if let Some(docs) = read_in_pieces(text, wanted) {
                    let whole = parse_documents(text).expect("pieces that read read whole");
                    let whole: Vec<String> = whole.iter().map(|d| format!("{d:?}")).collect();
                    assert_eq!(docs, whole, "{text:?} in {wanted}");
                }
            }
        }
        assert!(split > 20, "only {split} of the readings were split");
        // A piece's error is where the whole stream's is.
        let text = "a: 1\nb: 2\nc: 3\n---\nd: [1, 2\n";
        let ranges = pieces(text, 2);
        assert_eq!(ranges.len(), 2);
        let err = for_each_document_in(text, ranges[1].clone(), |_| {}).unwrap_err();
        assert_eq!(err, parse_documents(text).unwrap_err());
    }

    #[test]
    fn a_stream_with_aliases_directives_or_bare_carriage_returns_is_read_whole() {
        let text = "a: &x {p: 1}\nb: *x\n---\nc: 1\n";
        let ranges = pieces(text, 2);
        assert_eq!(ranges.len(), 2);
        let read = for_each_document_in(text, ranges[0].clone(), |_| {}).unwrap();
        assert!(read.expanded_aliases);
        let read = for_each_document_in(text, ranges[1].clone(), |_| {}).unwrap();
        assert!(!read.expanded_aliases);
        for text in [
            "%YAML 1.2\n---\na: 1\n---\nb: 2\n",
            "a: 1\n---\n%TAG ! tag:x,2000:\n---\nb: 2\n",
            "\u{feff}%YAML 1.2\n---\na: 1\n---\nb: 2\n",
            "a: 1\r---\rb: 2\r---\rc: 3\r",
        ] {
            let whole: Vec<_> = std::iter::once(0..text.len()).collect();
            assert_eq!(pieces(text, 2), whole, "{text:?}");
        }
    }
}
