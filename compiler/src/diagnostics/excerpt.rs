//! The few lines of a file that a human-format diagnostic shows, cut out once per diagnostic.
//!
//! miette finds a span's context lines by scanning its source from the first byte, and a
//! `NamedSource` owns its text: handing it the whole file for every diagnostic costs the file's
//! size per diagnostic, quadratic in a file with many problems. miette also pads each source
//! line through a `format!` width, which panics past 65,535 characters. So the line starts of a
//! file are found once ([`LineIndex`]) and each diagnostic gets an [`Excerpt`]: only the lines
//! around its node, each at most [`MAX_LINE`] bytes, a longer one cut to a window around the node
//! with `…` where text was left out. Lines of ordinary length come out exactly as miette shows
//! them from the whole file.

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// The longest line shown whole, in bytes; longer ones are cut to this much plus `…` marks.
/// Manifests rarely have lines of more than a hundred characters; minified JSON has one line.
pub(super) const MAX_LINE: usize = 200;

/// How much of a cut line is shown before the node, in bytes: enough to see its key.
const LEAD: usize = 60;

/// Marks text left out of a cut line.
const ELLIPSIS: &str = "…";

/// Where each line of a text starts. Lines end at `\n`, `\r\n` or a lone `\r`, as miette counts
/// them, so that line numbers agree with what it would compute from the whole text.
#[derive(Debug)]
pub(super) struct LineIndex<'s> {
    text: &'s str,
    /// Byte offset of each line's first character; the first is 0.
    starts: Vec<usize>,
}

impl<'s> LineIndex<'s> {
    /// Indexes `text` in one pass.
    pub(super) fn new(text: &'s str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            let lone_cr = b == b'\r' && bytes.get(i + 1) != Some(&b'\n');
            if b == b'\n' || lone_cr {
                starts.push(i + 1);
            }
        }
        Self { text, starts }
    }

    /// The 0-based line holding byte `offset` (a line break belongs to the line it ends).
    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset) - 1
    }

    /// The byte ranges of line `line`'s text and of its line break (empty for the last line).
    fn line(&self, line: usize) -> (usize, usize, usize) {
        let start = self.starts[line];
        let next = self
            .starts
            .get(line + 1)
            .copied()
            .unwrap_or(self.text.len());
        let bytes = self.text.as_bytes();
        let mut end = next;
        if end > start && bytes[end - 1] == b'\n' {
            end -= 1;
        }
        if end > start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        (start, end, next)
    }

    /// The excerpt for a node at byte `offset` that is `len` bytes long, in the file `name`.
    /// Only the node's first line is underlined: a caret under a whole block says less.
    pub(super) fn excerpt(&self, name: &str, offset: usize, len: usize) -> Excerpt {
        let offset = offset.min(self.text.len());
        let line = self.line_of(offset);
        // miette shows one line before and one after the node; one more after keeps its scan
        // ending where it would in the whole text.
        let first = line.saturating_sub(1);
        let last = (line + 2).min(self.starts.len() - 1);
        let mut excerpt = Excerpt {
            name: name.to_string(),
            text: String::new(),
            first_line: first,
            label: SourceSpan::from((0, 1)),
            node_line: (0, 0),
            cut: (0, 0),
        };
        for i in first..=last {
            let (start, end, next) = self.line(i);
            if i != line {
                excerpt.text.push_str(&self.head(start, end));
                excerpt.text.push_str(&self.text[end..next]);
                continue;
            }
            let node_len = len.min(end.saturating_sub(offset)).max(1);
            let (from, to) = self.window(start, end, offset, node_len);
            let lead = if from > start { ELLIPSIS } else { "" };
            let line_start = excerpt.text.len();
            excerpt.text.push_str(lead);
            let at = excerpt.text.len() + (offset - from);
            excerpt.text.push_str(&self.text[from..to]);
            if to < end {
                excerpt.text.push_str(ELLIPSIS);
            }
            excerpt.text.push_str(&self.text[end..next]);
            // A node on a line break underlines it, as miette does; a cut node ends at the cut.
            let shown = if offset < to {
                node_len.min(to - offset)
            } else {
                1
            };
            excerpt.label = SourceSpan::from((at, shown));
            excerpt.node_line = (line_start + lead.len(), excerpt.text.len());
            excerpt.cut = (from - start, lead.len());
        }
        excerpt
    }

    /// The text of the line from `start` to `end`, cut after [`MAX_LINE`] bytes.
    fn head(&self, start: usize, end: usize) -> String {
        if end - start <= MAX_LINE {
            return self.text[start..end].to_string();
        }
        let cut = floor_char_boundary(self.text, start + MAX_LINE);
        format!("{}{ELLIPSIS}", &self.text[start..cut])
    }

    /// The part of the line from `start` to `end` to show for a node at `offset`: the whole line
    /// when it is short, else [`MAX_LINE`] bytes starting a little before the node.
    fn window(&self, start: usize, end: usize, offset: usize, len: usize) -> (usize, usize) {
        if end - start <= MAX_LINE {
            return (start, end);
        }
        let from = floor_char_boundary(self.text, offset.saturating_sub(LEAD).max(start));
        let to = floor_char_boundary(self.text, (from + MAX_LINE).min(end));
        // The node's first character is always shown, however long the node.
        let to = to.max(ceil_char_boundary(
            self.text,
            (offset + len.min(1)).min(end),
        ));
        (from, to)
    }
}

/// The largest character boundary of `text` at or before `i`.
fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest character boundary of `text` at or after `i`.
fn ceil_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The lines around one diagnostic's node, which miette reads instead of the whole file.
/// Offsets are into the excerpt's own text; line numbers and the reported column are the file's.
#[derive(Debug)]
pub(super) struct Excerpt {
    name: String,
    text: String,
    /// The 0-based file line of the excerpt's first line.
    first_line: usize,
    /// The node, in the excerpt's text.
    label: SourceSpan,
    /// The excerpt's bytes of the node's line, after any `…` that marks a cut.
    node_line: (usize, usize),
    /// The bytes cut from the start of the node's line, and the length of the `…` put there
    /// instead: they turn a column in the excerpt back into the file's.
    cut: (usize, usize),
}

impl Excerpt {
    /// The span to underline.
    pub(super) fn label(&self) -> SourceSpan {
        self.label
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner =
            self.text
                .as_bytes()
                .read_span(span, context_lines_before, context_lines_after)?;
        let mut column = inner.column();
        // Only the node's own line can start with a cut, and miette asks for a column only
        // without context lines, for the `file:line:column` header.
        let (from, to) = self.node_line;
        if context_lines_before == 0 && (from..=to).contains(&span.offset()) {
            // The span starts after the `…`, so its column is at least the mark's length.
            column = column - self.cut.1 + self.cut.0;
        }
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line,
            column,
            inner.line_count() + self.first_line,
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
    use proptest::prelude::*;

    use super::*;

    /// The least miette needs to draw a snippet: a source and one label.
    struct Snippet<S> {
        source: S,
        label: SourceSpan,
    }

    impl<S> fmt::Debug for Snippet<S> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("snippet")
        }
    }

    impl<S> fmt::Display for Snippet<S> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("snippet")
        }
    }

    impl<S: fmt::Debug> std::error::Error for Snippet<S> {}

    impl<S: SourceCode + fmt::Debug> miette::Diagnostic for Snippet<S> {
        fn source_code(&self) -> Option<&dyn SourceCode> {
            Some(&self.source)
        }

        fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
            let span = LabeledSpan::new_with_span(Some("field".into()), self.label);
            Some(Box::new(std::iter::once(span)))
        }
    }

    fn draw(diagnostic: &dyn miette::Diagnostic) -> String {
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor());
        let mut out = String::new();
        handler.render_report(&mut out, diagnostic).unwrap();
        out
    }

    /// What miette draws from the whole text, as the renderer did before excerpts.
    fn whole(text: &str, offset: usize, len: usize) -> String {
        let rest = &text[offset..];
        let len = len.min(rest.find('\n').unwrap_or(rest.len())).max(1);
        draw(&Snippet {
            source: NamedSource::new("f.yaml", text.to_string()),
            label: SourceSpan::from((offset, len)),
        })
    }

    fn excerpt(text: &str, offset: usize, len: usize) -> String {
        let excerpt = LineIndex::new(text).excerpt("f.yaml", offset, len);
        let label = excerpt.label();
        draw(&Snippet {
            source: excerpt,
            label,
        })
    }

    proptest! {
        /// Lines of ordinary length look exactly as miette draws them from the whole file.
        #[test]
        fn short_lines_render_as_from_the_whole_text(
            lines in proptest::collection::vec("[ a-zé:\\-]{0,30}", 1..12),
            at in 0usize..400, len in 0usize..40,
        ) {
            let text = lines.join("\n");
            let mut offset = at % (text.len() + 1);
            while !text.is_char_boundary(offset) {
                offset -= 1;
            }
            prop_assert_eq!(excerpt(&text, offset, len), whole(&text, offset, len));
        }
    }

    #[test]
    fn a_long_line_is_cut_around_the_node() {
        let text = format!(
            "a: 1\n{{\"k\": \"{}\", \"port\": 70000}}\n",
            "x".repeat(100_000)
        );
        let offset = text.find("70000").unwrap();
        let out = excerpt(&text, offset, 5);
        let column = offset - "a: 1\n".len() + 1;
        assert!(out.contains(&format!("[f.yaml:2:{column}]")), "{out}");
        assert!(out.contains("…xxx"), "{out}");
        assert!(out.contains("\"port\": 70000}"), "{out}");
        assert!(
            out.lines().all(|l| l.chars().count() < 2 * MAX_LINE),
            "{out}"
        );
        // A node at the start of a long line, and a long context line before and after it.
        let long = "y".repeat(70_000);
        let text = format!("{long}\n{long}: 1\n{long}\n");
        let out = excerpt(&text, 70_001, 70_000);
        assert!(out.contains("[f.yaml:2:1]"), "{out}");
        assert_eq!(out.matches('…').count(), 3, "{out}");
    }

    #[test]
    fn an_excerpt_is_a_few_lines_however_big_the_file() {
        let text = "key: value\n".repeat(100_000);
        let index = LineIndex::new(&text);
        let excerpt = index.excerpt("f.yaml", text.len() / 2, 5);
        assert_eq!(excerpt.text, "key: value\n".repeat(4));
        assert_eq!(excerpt.first_line, 49_999);
        let last = index.excerpt("f.yaml", text.len(), 1);
        assert_eq!(last.text, "key: value\n");
    }
}
