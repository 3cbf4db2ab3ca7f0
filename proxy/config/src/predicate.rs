//! JSON predicates (draft-snell-json-test-07), the language l7mp rules use to match sessions.
//!
//! A rule's `match` is compiled once at config load, so a bad predicate is a load error with a
//! location instead of a rule that silently never matches, and matching a new session's
//! metadata does no parsing, regex compilation or (outside `ignore_case`) allocation.

mod compile;
mod formats;

use std::cmp::Ordering;

use regex_lite::Regex;
use serde_json::{Number, Value};

use crate::pointer::JsonPointer;
use formats::JsonType;

/// A compiled rule match, evaluated against each new session's metadata.
///
/// ```
/// use l7mp_config::predicate::Predicate;
/// use serde_json::json;
///
/// let local = Predicate::compile(&json!({"op": "starts", "path": "/IP/src_addr", "value": "127."}))?;
/// assert!(local.matches(&json!({"IP": {"src_addr": "127.0.0.1"}, "UDP": {"src_port": 5000}})));
/// # Ok::<(), l7mp_config::predicate::PredicateError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Predicate {
    node: Node,
}

/// Why a predicate document was rejected at config load.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid predicate at `{path}`: {message}")]
pub struct PredicateError {
    /// JSON pointer into the predicate document locating the problem, e.g. `/apply/1/value`.
    pub path: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// One predicate object: a first-order test of one value, or a combination of sub-predicates.
#[derive(Clone, Debug)]
enum Node {
    First {
        path: JsonPointer,
        test: Test,
    },
    Second {
        /// Re-roots the sub-predicates: their paths are relative to this one.
        path: Option<JsonPointer>,
        logic: Logic,
        apply: Vec<Node>,
    },
}

/// The second-order operations.
#[derive(Clone, Copy, Debug)]
enum Logic {
    And,
    Or,
    /// True iff none of the sub-predicates is true (the draft's definition).
    Not,
}

/// A first-order operation with its pre-validated operand.
#[derive(Clone, Debug)]
enum Test {
    Equal(Operand),
    Contains {
        element: Operand,
        text: Option<Text>,
    },
    Starts(Text),
    Ends(Text),
    Matches(Regex),
    More(Number),
    Less(Number),
    In(Members),
    Contained(Members),
    Intersects(Members),
    Type(JsonType),
    Defined,
    Undefined,
}

/// A JSON operand compared by deep equality.
#[derive(Clone, Debug)]
struct Operand {
    value: Value,
    ignore_case: bool,
}

/// A string operand; stored lowercased when `ignore_case` is set.
#[derive(Clone, Debug)]
struct Text {
    value: String,
    ignore_case: bool,
}

/// The elements of an array operand, for the set-like operations.
#[derive(Clone, Debug)]
struct Members {
    values: Vec<Value>,
    ignore_case: bool,
}

impl Predicate {
    /// Validates and compiles a predicate document, reporting the first problem with its location.
    pub fn compile(doc: &Value) -> Result<Predicate, PredicateError> {
        compile::node(doc, "", 0).map(|node| Predicate { node })
    }

    /// Whether the session `metadata` satisfies the predicate.
    pub fn matches(&self, metadata: &Value) -> bool {
        self.node.eval(Some(metadata))
    }
}

impl Node {
    /// Evaluates against `root`, which is `None` when a prefix path led nowhere.
    fn eval(&self, root: Option<&Value>) -> bool {
        match self {
            Node::First { path, test } => test.eval(lookup(path, root)),
            Node::Second { path, logic, apply } => {
                let root = path.as_ref().map_or(root, |prefix| lookup(prefix, root));
                logic.eval(apply, root)
            }
        }
    }
}

impl Logic {
    /// Combines the sub-predicates' results, short-circuiting like the draft allows.
    fn eval(self, apply: &[Node], root: Option<&Value>) -> bool {
        let mut results = apply.iter().map(|node| node.eval(root));
        match self {
            Logic::And => results.all(|hit| hit),
            Logic::Or => results.any(|hit| hit),
            Logic::Not => !results.any(|hit| hit),
        }
    }
}

impl Test {
    /// Applies the test to the value at the predicate's path (`None` when absent).
    fn eval(&self, target: Option<&Value>) -> bool {
        let text = target.and_then(Value::as_str);
        let number = target.and_then(Value::as_number);
        match self {
            Test::Equal(operand) => target.is_some_and(|t| operand.equals(t)),
            Test::Contains { element, text: sub } => {
                target.is_some_and(|t| contains(t, element, sub.as_ref()))
            }
            Test::Starts(prefix) => text.is_some_and(|t| prefix.check(t, |t, v| t.starts_with(v))),
            Test::Ends(suffix) => text.is_some_and(|t| suffix.check(t, |t, v| t.ends_with(v))),
            Test::Matches(regex) => text.is_some_and(|t| regex.is_match(t)),
            Test::More(bound) => {
                number.is_some_and(|n| compare(n, bound) == Some(Ordering::Greater))
            }
            Test::Less(bound) => number.is_some_and(|n| compare(n, bound) == Some(Ordering::Less)),
            Test::In(members) => target.is_some_and(|t| members.has(t)),
            Test::Contained(members) => target.is_some_and(|t| members.contain(t)),
            Test::Intersects(members) => target.is_some_and(|t| members.intersect(t)),
            Test::Type(kind) => kind.matches(target),
            Test::Defined => target.is_some(),
            Test::Undefined => target.is_none(),
        }
    }
}

impl Operand {
    /// Deep equality of `target` with the operand.
    fn equals(&self, target: &Value) -> bool {
        json_eq(target, &self.value, self.ignore_case)
    }
}

impl Text {
    /// Applies a string relation to `target` and the operand, lowercasing `target` if needed.
    fn check(&self, target: &str, relation: fn(&str, &str) -> bool) -> bool {
        if self.ignore_case {
            relation(&fold(target), &self.value)
        } else {
            relation(target, &self.value)
        }
    }
}

impl Members {
    /// `target` deep-equals one of the members.
    fn has(&self, target: &Value) -> bool {
        self.values
            .iter()
            .any(|v| json_eq(target, v, self.ignore_case))
    }

    /// An array target is a subset of the members; any other target is one of them.
    fn contain(&self, target: &Value) -> bool {
        match target {
            Value::Array(items) => items.iter().all(|item| self.has(item)),
            other => self.has(other),
        }
    }

    /// An array target shares at least one element with the members.
    fn intersect(&self, target: &Value) -> bool {
        matches!(target, Value::Array(items) if items.iter().any(|item| self.has(item)))
    }
}

/// Resolves `path` under `root`, staying `None` once anything is missing.
fn lookup<'a>(path: &JsonPointer, root: Option<&'a Value>) -> Option<&'a Value> {
    root.and_then(|r| path.get(r))
}

/// `contains`: substring for a string target, deep-equal element for an array target.
fn contains(target: &Value, element: &Operand, text: Option<&Text>) -> bool {
    match target {
        Value::String(s) => text.is_some_and(|sub| sub.check(s, |t, v| t.contains(v))),
        Value::Array(items) => items.iter().any(|item| element.equals(item)),
        _ => false,
    }
}

/// Deep equality where numbers compare by value (`1 == 1.0`) and `ignore_case` folds strings.
fn json_eq(a: &Value, b: &Value, ignore_case: bool) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) if ignore_case => eq_folded(x, y),
        (Value::Number(x), Value::Number(y)) => compare(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q, ignore_case))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w, ignore_case)))
        }
        _ => a == b,
    }
}

/// Orders two JSON numbers, exactly for integers and as floats otherwise.
fn compare(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// Lowercases per character, the same folding `eq_folded` uses, so both agree.
fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Case-insensitive string equality without allocating.
fn eq_folded(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests;
