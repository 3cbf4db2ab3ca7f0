//! Kubernetes' `$(VAR)` references in a container's `command`, `args` and `env` values.

use std::collections::BTreeMap;

use serde_json::Value;

/// A container's `command` or `args` (`field`) with references to `vars` expanded; `None` when
/// the container does not set it.
pub fn expand_list(
    container: &Value,
    field: &str,
    vars: &BTreeMap<String, String>,
) -> Option<Vec<String>> {
    container.get(field).and_then(Value::as_array).map(|a| {
        a.iter()
            .map(|v| {
                let text = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                expand(&text, vars)
            })
            .collect()
    })
}

/// Kubernetes' `$(VAR)` expansion: defined variables are replaced, `$$` is a literal `$`,
/// undefined references stay as written.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('$') {
            out.push('$');
            rest = a;
        } else if let Some(a) = after.strip_prefix('(') {
            match a.find(')') {
                Some(j) if vars.contains_key(&a[..j]) => {
                    out.push_str(&vars[&a[..j]]);
                    rest = &a[j + 1..];
                }
                Some(j) => {
                    out.push_str(&rest[i..i + 3 + j]);
                    rest = &a[j + 1..];
                }
                None => {
                    out.push_str(&rest[i..]);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_kubernetes() {
        let vars = BTreeMap::from([("POD_NAME".to_string(), "w-1".to_string())]);
        assert_eq!(expand("on $(POD_NAME):", &vars), "on w-1:");
        assert_eq!(expand("$$(POD_NAME)", &vars), "$(POD_NAME)");
        assert_eq!(expand("$(NOPE) $|", &vars), "$(NOPE) $|");
        assert_eq!(expand("$ENV{POD_NAME} $(", &vars), "$ENV{POD_NAME} $(");
        assert_eq!(
            expand("\"BEGIN{$|=1} s/^/Echo on $ENV{POD_NAME}: \\\\n/\"", &vars),
            "\"BEGIN{$|=1} s/^/Echo on $ENV{POD_NAME}: \\\\n/\""
        );
    }
}
