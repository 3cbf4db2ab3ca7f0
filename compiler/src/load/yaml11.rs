//! YAML 1.1 booleans: `yes`, `no`, `on`, `off`, `y` and `n` unquoted are strings to the compiler
//! and the proxy (YAML 1.2) but booleans to Kubernetes (YAML 1.1), so a label value or a field
//! may change meaning between `l7mpc` and the cluster. Each plain one gets a warning.

use l7mp_config::yaml::{Document, child_pointer};
use serde_json::Value;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};

/// Warns about every unquoted YAML 1.1 boolean among the values of `doc` from `file`.
pub fn check(file: &str, text: &str, doc: &Document, diags: &mut Diagnostics) {
    walk(&doc.value, String::new(), &mut |pointer, s| {
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

fn walk(value: &Value, pointer: String, found: &mut dyn FnMut(&str, &str)) {
    match value {
        Value::String(s) if is_yaml11_bool(s) => found(&pointer, s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, child_pointer(&pointer, &i.to_string()), found);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                walk(item, child_pointer(&pointer, key), found);
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
