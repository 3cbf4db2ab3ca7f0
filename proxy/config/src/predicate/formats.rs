//! The type names of the `type` operation and the string-format checks behind them.
//!
//! The checks follow the draft's references (RFC 3339 dates and times, RFC 5646 language tags,
//! RFC 4647 language ranges, RFC 3987 IRIs) closely enough to route on, without new crates.

use serde_json::Value;

/// A type name accepted by the `type` operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum JsonType {
    Number,
    String,
    Boolean,
    Object,
    Array,
    Null,
    Undefined,
    Date,
    Time,
    DateTime,
    Lang,
    LangRange,
    Iri,
    AbsoluteIri,
}

/// Each type's name as written in predicates.
const NAMES: [(&str, JsonType); 14] = [
    ("number", JsonType::Number),
    ("string", JsonType::String),
    ("boolean", JsonType::Boolean),
    ("object", JsonType::Object),
    ("array", JsonType::Array),
    ("null", JsonType::Null),
    ("undefined", JsonType::Undefined),
    ("date", JsonType::Date),
    ("time", JsonType::Time),
    ("date-time", JsonType::DateTime),
    ("lang", JsonType::Lang),
    ("lang-range", JsonType::LangRange),
    ("iri", JsonType::Iri),
    ("absolute-iri", JsonType::AbsoluteIri),
];

impl JsonType {
    /// All type names, for error messages.
    pub(super) fn names() -> impl Iterator<Item = &'static str> {
        NAMES.iter().map(|(name, _)| *name)
    }

    /// The type called `name`, if there is one.
    pub(super) fn from_name(name: &str) -> Option<JsonType> {
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// Whether `target` (`None` when absent) has this type.
    pub(super) fn matches(self, target: Option<&Value>) -> bool {
        let Some(value) = target else {
            return self == JsonType::Undefined;
        };
        let text = value.as_str();
        match self {
            JsonType::Number => value.is_number(),
            JsonType::String => value.is_string(),
            JsonType::Boolean => value.is_boolean(),
            JsonType::Object => value.is_object(),
            JsonType::Array => value.is_array(),
            JsonType::Null => value.is_null(),
            JsonType::Undefined => false,
            JsonType::Date => text.is_some_and(is_date),
            JsonType::Time => text.is_some_and(is_time),
            JsonType::DateTime => text.is_some_and(is_date_time),
            JsonType::Lang => text.is_some_and(is_lang),
            JsonType::LangRange => text.is_some_and(is_lang_range),
            JsonType::Iri => text.is_some_and(is_iri),
            JsonType::AbsoluteIri => text.is_some_and(|s| is_iri(s) && !s.contains('#')),
        }
    }
}

/// RFC 3339 `full-date`: `YYYY-MM-DD` naming a real calendar day.
fn is_date(s: &str) -> bool {
    let shape =
        s.len() == 10 && s.as_bytes().get(4) == Some(&b'-') && s.as_bytes().get(7) == Some(&b'-');
    match (shape, digits(s, 0, 4), digits(s, 5, 2), digits(s, 8, 2)) {
        (true, Some(year), Some(month), Some(day)) => {
            (1..=days_in_month(year, month)).contains(&day)
        }
        _ => false,
    }
}

/// RFC 3339 `full-time`: `HH:MM:SS[.frac]` then `Z` or `±HH:MM`.
fn is_time(s: &str) -> bool {
    let Some(rest) = s.get(8..).filter(|_| hh_mm_ss(s)) else {
        return false;
    };
    let offset = match rest.strip_prefix('.') {
        Some(fraction) => {
            let offset = fraction.trim_start_matches(|c: char| c.is_ascii_digit());
            if offset.len() == fraction.len() {
                return false; // `.` must be followed by at least one digit
            }
            offset
        }
        None => rest,
    };
    offset.eq_ignore_ascii_case("z") || is_offset(offset)
}

/// RFC 3339 `date-time`: a date, `T`, a time.
fn is_date_time(s: &str) -> bool {
    match (s.get(..10), s.get(10..11), s.get(11..)) {
        (Some(date), Some("T" | "t"), Some(time)) => is_date(date) && is_time(time),
        _ => false,
    }
}

/// A numeric offset `+HH:MM` / `-HH:MM`.
fn is_offset(s: &str) -> bool {
    let signed = s.starts_with('+') || s.starts_with('-');
    signed && s.len() == 6 && s.get(1..).is_some_and(hh_mm)
}

/// `HH:MM:SS` at the start of `s`; second 60 is allowed for leap seconds.
fn hh_mm_ss(s: &str) -> bool {
    hh_mm(s) && s.as_bytes().get(5) == Some(&b':') && digits(s, 6, 2).is_some_and(|sec| sec <= 60)
}

/// `HH:MM` at the start of `s`, a valid 24-hour time.
fn hh_mm(s: &str) -> bool {
    let colon = s.as_bytes().get(2) == Some(&b':');
    colon && digits(s, 0, 2).is_some_and(|h| h <= 23) && digits(s, 3, 2).is_some_and(|m| m <= 59)
}

/// The number written by exactly `len` ASCII digits at byte offset `from`.
fn digits(s: &str, from: usize, len: usize) -> Option<u32> {
    let part = s.get(from..from.checked_add(len)?)?;
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    }
}

/// RFC 5646 language tag, structurally: a 2–8 letter primary language (or `x`/`i` followed by
/// more subtags), then alphanumeric subtags of 1–8 characters.
fn is_lang(s: &str) -> bool {
    let (first, rest) = s.split_once('-').map_or((s, None), |(f, r)| (f, Some(r)));
    let singleton = first.eq_ignore_ascii_case("x") || first.eq_ignore_ascii_case("i");
    let primary = subtag(first, 2, |b| b.is_ascii_alphabetic());
    (primary || (singleton && rest.is_some()))
        && rest.is_none_or(|r| {
            r.split('-')
                .all(|t| subtag(t, 1, |b| b.is_ascii_alphanumeric()))
        })
}

/// RFC 4647 extended language range: `*` or letters first, then alphanumeric or `*` subtags.
fn is_lang_range(s: &str) -> bool {
    let mut subtags = s.split('-');
    let first = subtags.next().unwrap_or_default();
    (first == "*" || subtag(first, 1, |b| b.is_ascii_alphabetic()))
        && subtags.all(|t| t == "*" || subtag(t, 1, |b| b.is_ascii_alphanumeric()))
}

/// A subtag of `min`..=8 bytes that all satisfy `allowed`.
fn subtag(t: &str, min: usize, allowed: fn(&u8) -> bool) -> bool {
    (min..=8).contains(&t.len()) && t.bytes().all(|b| allowed(&b))
}

/// RFC 3987 IRI, structurally: a scheme, `:`, then no spaces, controls or excluded
/// characters, well-formed `%` escapes and at most one `#`.
fn is_iri(s: &str) -> bool {
    let scheme = s
        .split_once(':')
        .is_some_and(|(scheme, _)| is_scheme(scheme));
    let clean = !s
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || "<>\"{}|\\^`".contains(c));
    let escapes = s.split('%').skip(1).all(|after| {
        after
            .get(..2)
            .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    scheme && clean && escapes && s.matches('#').count() <= 1
}

/// RFC 3986 scheme: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}
