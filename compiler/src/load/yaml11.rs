//! YAML 1.1 booleans: `yes`, `no`, `on`, `off`, `y` and `n` unquoted are strings to the compiler
//! and the proxy (YAML 1.2) but booleans to Kubernetes (YAML 1.1), so a label value or a field
//! may change meaning between `l7mpc` and the cluster. Each plain one gets a warning.

use l7mp_config::yaml::{Document, push_token};
use serde_json::Value;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};

/// Warns about every unquoted YAML 1.1 boolean among the values of `doc` from `file`.
pub fn check(file: &str, text: &str, doc: &Document, diags: &mut Diagnostics) {
    walk(&doc.value, &mut String::new(), &mut |pointer, s| {
        let location = doc.locate(pointer);
        // A quoted scalar's text starts with its quote; a plain one with the word itself.
        let plain = text
            .get(location.offset..)
            .is_some_and(|rest| rest.starts_with(s));
        if plain {
            let message = format!("`{s}` is a string here but a boolean to Kubernetes (YAML 1.1)");
            let hint = format!("quote it (\"{s}\") if it is text, or write true/false");
            diags.push(Diagnostic::new(Code::Yaml11Boolean, file, location, message).hint(hint));
        }
    });
}

/// Calls `found` on every YAML 1.1 boolean under `value`, at `pointer`: one buffer grows and
/// shrinks with the depth, since every node of every document is walked.
fn walk(value: &Value, pointer: &mut String, found: &mut dyn FnMut(&str, &str)) {
    let len = pointer.len();
    match value {
        Value::String(s) if is_yaml11_bool(s) => found(pointer, s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                push_token(pointer, &i.to_string());
                walk(item, pointer, found);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                push_token(pointer, key);
                walk(item, pointer, found);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

fn is_yaml11_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_scalars_warn() {
        let text = "a: yes\nb: \"no\"\nc: [on, 'off']\nd: yesterday\n";
        let docs = l7mp_config::yaml::parse_documents(text).unwrap();
        let mut diags = Diagnostics::default();
        check("f.yaml", text, &docs[0], &mut diags);
        let lines: Vec<usize> = diags
            .into_sorted()
            .iter()
            .map(|d| d.location.line)
            .collect();
        assert_eq!(lines, [1, 3]);
    }
}
