//! Turns a predicate document into a [`Node`] tree, rejecting anything the matcher cannot run.

use regex_lite::{Regex, RegexBuilder};
use serde_json::{Map, Number, Value};

use super::formats::JsonType;
use super::{Logic, Members, Node, Operand, PredicateError, Test, Text, fold};
use crate::pointer::{JsonPointer, escape_token, kind_name};

/// How deep `and`/`or`/`not` may nest; bounds recursion at load and at match time.
const MAX_DEPTH: usize = 32;

/// Every operation name, in the order error messages list them.
const OPS: &str = "test, contains, starts, ends, matches, more, less, in, contained, intersects, \
                   type, defined, undefined, and, or, not";

/// A predicate object being compiled, with its location in the predicate document.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    at: &'a str,
    op: &'a str,
}

/// Compiles the predicate object `doc` found at pointer `at`, nested `depth` levels deep.
pub(super) fn node(doc: &Value, at: &str, depth: usize) -> Result<Node, PredicateError> {
    let map = doc.as_object().ok_or_else(|| {
        error(
            at.to_owned(),
            format!(
                "a predicate must be an object such as \
                 `{{\"op\": \"starts\", \"path\": \"/IP/src_addr\", \"value\": \"127.\"}}`, \
                 not {}",
                kind_name(doc)
            ),
        )
    })?;
    let obj = Obj {
        map,
        at,
        op: op_name(map, at)?,
    };
    obj.check_keys()?;
    match obj.op {
        "and" => obj.second(Logic::And, depth),
        "or" => obj.second(Logic::Or, depth),
        "not" => obj.second(Logic::Not, depth),
        _ => obj.first(),
    }
}

/// Reads and validates `op`.
fn op_name<'a>(map: &'a Map<String, Value>, at: &str) -> Result<&'a str, PredicateError> {
    let op = map.get("op").ok_or_else(|| {
        error(
            format!("{at}/op"),
            format!("missing `op`; use one of: {OPS}"),
        )
    })?;
    let name = op.as_str().ok_or_else(|| {
        let found = kind_name(op);
        error(
            format!("{at}/op"),
            format!("`op` must be a string, not {found}; use one of: {OPS}"),
        )
    })?;
    match allowed_keys(name) {
        Some(_) => Ok(name),
        None => Err(error(
            format!("{at}/op"),
            format!("unknown op `{name}`; use one of: {OPS}"),
        )),
    }
}

/// The keys an operation accepts, or `None` for an unknown operation.
fn allowed_keys(op: &str) -> Option<&'static [&'static str]> {
    Some(match op {
        "test" | "contains" | "starts" | "ends" | "matches" | "in" | "contained" | "intersects" => {
            &["op", "path", "value", "ignore_case"]
        }
        "more" | "less" | "type" => &["op", "path", "value"],
        "defined" | "undefined" => &["op", "path"],
        "and" | "or" | "not" => &["op", "path", "apply"],
        _ => return None,
    })
}

impl Obj<'_> {
    /// Rejects keys the operation does not use, so typos such as `ignorecase` surface.
    fn check_keys(&self) -> Result<(), PredicateError> {
        let allowed = allowed_keys(self.op).unwrap_or_default();
        match self.map.keys().find(|key| !allowed.contains(&key.as_str())) {
            Some(key) => Err(self.error(
                &escape_token(key),
                format!(
                    "unknown key `{key}` in a `{}` predicate; allowed keys are: {}",
                    self.op,
                    allowed.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// Compiles `and`/`or`/`not`: optional prefix `path` plus a non-empty `apply` array.
    fn second(&self, logic: Logic, depth: usize) -> Result<Node, PredicateError> {
        if depth >= MAX_DEPTH {
            return Err(error(
                self.at.to_owned(),
                format!("and/or/not nest more than {MAX_DEPTH} levels deep; flatten the predicate"),
            ));
        }
        let path = self.map.get("path").map(|_| self.path()).transpose()?;
        let apply = self
            .apply()?
            .iter()
            .enumerate()
            .map(|(i, sub)| node(sub, &format!("{}/apply/{i}", self.at), depth + 1))
            .collect::<Result<_, _>>()?;
        Ok(Node::Second { path, logic, apply })
    }

    /// The `apply` member: a non-empty array of sub-predicates.
    fn apply(&self) -> Result<&[Value], PredicateError> {
        let example = "e.g. `\"apply\": [{\"op\": \"defined\", \"path\": \"/HTTP\"}]`";
        let value = self.map.get("apply").ok_or_else(|| {
            self.error(
                "apply",
                format!(
                    "a `{}` predicate needs `apply`, an array of predicates, {example}",
                    self.op
                ),
            )
        })?;
        let items = value.as_array().ok_or_else(|| {
            self.error(
                "apply",
                format!(
                    "`apply` must be an array of predicates, not {}; wrap a single predicate in `[...]`",
                    kind_name(value)
                ),
            )
        })?;
        if items.is_empty() {
            return Err(self.error(
                "apply",
                format!("`apply` is empty; list at least one predicate, {example}"),
            ));
        }
        Ok(items)
    }

    /// Compiles a first-order operation: a required `path` plus its operand.
    fn first(&self) -> Result<Node, PredicateError> {
        let test = match self.op {
            "test" => Test::Equal(self.operand()?),
            "contains" => self.contains()?,
            "starts" => Test::Starts(self.text()?),
            "ends" => Test::Ends(self.text()?),
            "matches" => Test::Matches(self.regex()?),
            "more" => Test::More(self.number()?),
            "less" => Test::Less(self.number()?),
            "in" => Test::In(self.members()?),
            "contained" => Test::Contained(self.members()?),
            "intersects" => Test::Intersects(self.members()?),
            "type" => Test::Type(self.type_name()?),
            "defined" => Test::Defined,
            // `op_name` accepted only known names, so the one left is `undefined`.
            _ => Test::Undefined,
        };
        Ok(Node::First {
            path: self.path()?,
            test,
        })
    }

    /// The `path` member as a validated JSON pointer.
    fn path(&self) -> Result<JsonPointer, PredicateError> {
        let value = self.map.get("path").ok_or_else(|| {
            self.error(
                "path",
                format!(
                    "a `{}` predicate needs `path`, a JSON pointer to the metadata field to test, \
                     e.g. `\"path\": \"/IP/src_addr\"`",
                    self.op
                ),
            )
        })?;
        let text = value.as_str().ok_or_else(|| {
            self.error(
                "path",
                format!(
                    "`path` must be a string holding a JSON pointer such as `/IP/src_addr`, not {}",
                    kind_name(value)
                ),
            )
        })?;
        JsonPointer::parse(text).map_err(|e| self.error("path", e.to_string()))
    }

    /// The `value` member, which every operation with an operand requires.
    fn value(&self, wanted: &str) -> Result<&Value, PredicateError> {
        self.map.get("value").ok_or_else(|| {
            self.error(
                "value",
                format!("a `{}` predicate needs `value`: {wanted}", self.op),
            )
        })
    }

    /// The `ignore_case` flag (default false).
    fn ignore_case(&self) -> Result<bool, PredicateError> {
        match self.map.get("ignore_case") {
            None => Ok(false),
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(other) => Err(self.error(
                "ignore_case",
                format!(
                    "`ignore_case` must be `true` or `false`, not {}",
                    kind_name(other)
                ),
            )),
        }
    }

    /// Any JSON value, compared by deep equality.
    fn operand(&self) -> Result<Operand, PredicateError> {
        Ok(Operand {
            value: self
                .value("the JSON value to compare with, e.g. `\"value\": \"GET\"`")?
                .clone(),
            ignore_case: self.ignore_case()?,
        })
    }

    /// `contains` takes any value; a string value also enables substring matching.
    fn contains(&self) -> Result<Test, PredicateError> {
        let element = self.operand()?;
        let text = element
            .value
            .as_str()
            .map(|s| self.folded(s, element.ignore_case));
        Ok(Test::Contains { element, text })
    }

    /// A string operand, lowercased up front when `ignore_case` is set.
    fn text(&self) -> Result<Text, PredicateError> {
        let value = self.value("a string, e.g. `\"value\": \"127.\"`")?;
        let s = value
            .as_str()
            .ok_or_else(|| self.wrong_type(value, "a string, e.g. `\"127.\"`"))?;
        Ok(self.folded(s, self.ignore_case()?))
    }

    /// Wraps `s` as a [`Text`], folding it to lowercase when `ignore_case` is set.
    fn folded(&self, s: &str, ignore_case: bool) -> Text {
        let value = if ignore_case { fold(s) } else { s.to_owned() };
        Text { value, ignore_case }
    }

    /// A regular expression, compiled now so matching never compiles one.
    fn regex(&self) -> Result<Regex, PredicateError> {
        let value = self.value("a regular expression, e.g. `\"value\": \"^/api/v[0-9]+/\"`")?;
        let pattern = value
            .as_str()
            .ok_or_else(|| self.wrong_type(value, "a regular expression string"))?;
        RegexBuilder::new(pattern)
            .case_insensitive(self.ignore_case()?)
            .build()
            .map_err(|e| {
                self.error(
                    "value",
                    format!("`{pattern}` is not a valid regular expression: {e}"),
                )
            })
    }

    /// A numeric bound for `more`/`less`.
    fn number(&self) -> Result<Number, PredicateError> {
        let value = self.value("a number, e.g. `\"value\": 1024`")?;
        match value {
            Value::Number(n) => Ok(n.clone()),
            Value::String(s) if s.parse::<f64>().is_ok() => {
                Err(self.wrong_type(value, &format!("a number; drop the quotes and write `{s}`")))
            }
            other => Err(self.wrong_type(other, "a number, e.g. `1024`")),
        }
    }

    /// An array operand for `in`/`contained`/`intersects`.
    fn members(&self) -> Result<Members, PredicateError> {
        let value = self.value("an array, e.g. `\"value\": [\"GET\", \"HEAD\"]`")?;
        let values = value
            .as_array()
            .ok_or_else(|| self.wrong_type(value, "an array; wrap a single value in `[...]`"))?;
        Ok(Members {
            values: values.clone(),
            ignore_case: self.ignore_case()?,
        })
    }

    /// A type name for `type`.
    fn type_name(&self) -> Result<JsonType, PredicateError> {
        let names = JsonType::names().collect::<Vec<_>>().join(", ");
        let value = self.value(&format!("one of the type names {names}"))?;
        let name = value
            .as_str()
            .ok_or_else(|| self.wrong_type(value, &format!("a type name, one of: {names}")))?;
        JsonType::from_name(name).ok_or_else(|| {
            self.error(
                "value",
                format!("unknown type `{name}`; use one of: {names}"),
            )
        })
    }

    fn wrong_type(&self, found: &Value, wanted: &str) -> PredicateError {
        self.error(
            "value",
            format!(
                "`{}` needs `value` to be {wanted}, not {}",
                self.op,
                kind_name(found)
            ),
        )
    }

    /// An error located at member `key` (already escaped) of this predicate object.
    fn error(&self, key: &str, message: String) -> PredicateError {
        error(format!("{}/{key}", self.at), message)
    }
}

fn error(path: String, message: String) -> PredicateError {
    PredicateError { path, message }
}
