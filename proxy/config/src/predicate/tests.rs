use serde_json::{Value, json};

use super::{Predicate, PredicateError};

/// Metadata as the UDP listener emits it.
fn udp_session() -> Value {
    json!({
        "IP": {"src_addr": "127.0.0.1", "dst_addr": "10.0.0.1"},
        "UDP": {"src_port": 5000, "dst_port": 9001}
    })
}

/// Metadata as the HTTP listener emits it, plus rewritten labels that need escaping.
fn http_session() -> Value {
    json!({
        "IP": {"src_addr": "10.0.0.7", "dst_addr": "10.0.0.1"},
        "TCP": {"src_port": 41234, "dst_port": 8080},
        "HTTP": {
            "version": "1.1",
            "method": "GET",
            "url": {"path": "/api/v1/config", "query": "verbose=1", "host": "l7mp.io", "port": 8080},
            "headers": {
                "user-agent": "Mozilla/5.0 Chrome/120.0",
                "content-type": "Application/JSON",
                "x-tags": ["canary", "EU-West"],
                "accept-language": "en-US",
                "referer": "https://l7mp.io/docs#rules",
                "x-request-start": "2026-11-30T00:01:33.25Z"
            }
        },
        "labels": {"a/b": "slash", "m~n": "tilde", "tier": null, "weights": [10, 20, 30.5]}
    })
}

fn compile(doc: Value) -> Predicate {
    Predicate::compile(&doc).unwrap_or_else(|e| panic!("{doc} should compile: {e}"))
}

/// Checks each `(predicate, expected)` pair against `meta`, naming the one that fails.
fn assert_cases(meta: &Value, cases: &[(Value, bool)]) {
    for (doc, expected) in cases {
        assert_eq!(compile(doc.clone()).matches(meta), *expected, "{doc}");
    }
}

fn compile_error(doc: Value) -> PredicateError {
    match Predicate::compile(&doc) {
        Ok(_) => panic!("{doc} should not compile"),
        Err(e) => e,
    }
}

#[test]
fn test_op_is_deep_equality() {
    assert_cases(
        &http_session(),
        &[
            (
                json!({"op": "test", "path": "/HTTP/method", "value": "GET"}),
                true,
            ),
            (
                json!({"op": "test", "path": "/HTTP/method", "value": "get"}),
                false,
            ),
            (
                json!({"op": "test", "path": "/TCP/dst_port", "value": 8080}),
                true,
            ),
            (
                json!({"op": "test", "path": "/TCP/dst_port", "value": 8080.0}),
                true,
            ),
            (
                json!({"op": "test", "path": "/TCP/dst_port", "value": "8080"}),
                false,
            ),
            (
                json!({"op": "test", "path": "/IP", "value": {"dst_addr": "10.0.0.1", "src_addr": "10.0.0.7"}}),
                true,
            ),
            (
                json!({"op": "test", "path": "/IP", "value": {"src_addr": "10.0.0.7"}}),
                false,
            ),
            (
                json!({"op": "test", "path": "/labels/tier", "value": null}),
                true,
            ),
            (
                json!({"op": "test", "path": "/labels/missing", "value": null}),
                false,
            ),
        ],
    );
}

#[test]
fn test_op_ignore_case_folds_nested_strings() {
    assert_cases(
        &http_session(),
        &[
            (
                json!({"op": "test", "path": "/HTTP/method", "value": "get", "ignore_case": true}),
                true,
            ),
            (
                json!({"op": "test", "path": "/HTTP/method", "value": "put", "ignore_case": true}),
                false,
            ),
            (
                json!({"op": "test", "path": "/HTTP/headers/x-tags", "value": ["CANARY", "eu-west"], "ignore_case": true}),
                true,
            ),
            (
                json!({"op": "test", "path": "/HTTP/headers/x-tags", "value": ["CANARY", "eu-west"]}),
                false,
            ),
        ],
    );
}

#[test]
fn contains_on_strings_and_arrays() {
    assert_cases(
        &http_session(),
        &[
            (
                json!({"op": "contains", "path": "/HTTP/headers/user-agent", "value": "Chrome"}),
                true,
            ),
            (
                json!({"op": "contains", "path": "/HTTP/headers/user-agent", "value": "chrome"}),
                false,
            ),
            (
                json!({"op": "contains", "path": "/HTTP/headers/user-agent", "value": "chrome", "ignore_case": true}),
                true,
            ),
            (
                json!({"op": "contains", "path": "/HTTP/headers/x-tags", "value": "canary"}),
                true,
            ),
            (
                json!({"op": "contains", "path": "/HTTP/headers/x-tags", "value": "eu-west"}),
                false,
            ),
            (
                json!({"op": "contains", "path": "/HTTP/headers/x-tags", "value": "eu-west", "ignore_case": true}),
                true,
            ),
            (
                json!({"op": "contains", "path": "/labels/weights", "value": 20}),
                true,
            ),
            (
                json!({"op": "contains", "path": "/labels/weights", "value": 25}),
                false,
            ),
            (
                json!({"op": "contains", "path": "/TCP/dst_port", "value": 80}),
                false,
            ),
            (
                json!({"op": "contains", "path": "/HTTP/method", "value": 1}),
                false,
            ),
        ],
    );
}

#[test]
fn starts_and_ends() {
    let udp = udp_session();
    assert_cases(
        &udp,
        &[
            (
                json!({"op": "starts", "path": "/IP/src_addr", "value": "127."}),
                true,
            ),
            (
                json!({"op": "starts", "path": "/IP/dst_addr", "value": "127."}),
                false,
            ),
            (
                json!({"op": "starts", "path": "/UDP/src_port", "value": "50"}),
                false,
            ),
            (
                json!({"op": "ends", "path": "/IP/src_addr", "value": ".0.1"}),
                true,
            ),
            (
                json!({"op": "ends", "path": "/IP/src_addr", "value": ".0.2"}),
                false,
            ),
        ],
    );
    let doc = json!({"name": "testtest", "short": "abc"});
    assert_cases(
        &doc,
        &[
            (
                json!({"op": "ends", "path": "/name", "value": "test"}),
                true,
            ),
            (
                json!({"op": "ends", "path": "/short", "value": "abcd"}),
                false,
            ),
        ],
    );
}

#[test]
fn starts_and_ends_ignore_case() {
    assert_cases(
        &http_session(),
        &[
            (
                json!({"op": "starts", "path": "/HTTP/headers/content-type", "value": "application/", "ignore_case": true}),
                true,
            ),
            (
                json!({"op": "starts", "path": "/HTTP/headers/content-type", "value": "application/"}),
                false,
            ),
            (
                json!({"op": "ends", "path": "/HTTP/headers/content-type", "value": "/JSON", "ignore_case": true}),
                true,
            ),
            (
                json!({"op": "ends", "path": "/HTTP/headers/content-type", "value": "/xml", "ignore_case": true}),
                false,
            ),
        ],
    );
}

#[test]
fn matches_is_unanchored_regex() {
    assert_cases(
        &http_session(),
        &[
            (
                json!({"op": "matches", "path": "/HTTP/url/path", "value": "v[0-9]+/conf"}),
                true,
            ),
            (
                json!({"op": "matches", "path": "/HTTP/url/path", "value": "^/api/v2/"}),
                false,
            ),
            (
                json!({"op": "matches", "path": "/HTTP/headers/content-type", "value": "^application/json$"}),
                false,
            ),
            (
                json!({"op": "matches", "path": "/HTTP/headers/content-type", "value": "^application/json$", "ignore_case": true}),
                true,
            ),
            (
                json!({"op": "matches", "path": "/TCP/dst_port", "value": "80"}),
                false,
            ),
        ],
    );
}

#[test]
fn more_and_less_compare_numbers_only() {
    let udp = udp_session();
    assert_cases(
        &udp,
        &[
            (
                json!({"op": "more", "path": "/UDP/src_port", "value": 1024}),
                true,
            ),
            (
                json!({"op": "more", "path": "/UDP/src_port", "value": 5000}),
                false,
            ),
            (
                json!({"op": "less", "path": "/UDP/src_port", "value": 5000.5}),
                true,
            ),
            (
                json!({"op": "less", "path": "/UDP/src_port", "value": -1}),
                false,
            ),
            (
                json!({"op": "more", "path": "/IP/src_addr", "value": 0}),
                false,
            ),
            (
                json!({"op": "less", "path": "/UDP/missing", "value": 10}),
                false,
            ),
        ],
    );
    let big = json!({"bytes": u64::MAX, "delta": -5});
    assert_cases(
        &big,
        &[
            (
                json!({"op": "more", "path": "/bytes", "value": u64::MAX - 1}),
                true,
            ),
            (json!({"op": "less", "path": "/delta", "value": 0}), true),
            (json!({"op": "less", "path": "/bytes", "value": -1}), false),
        ],
    );
}

#[test]
fn in_contained_intersects() {
    assert_cases(
        &http_session(),
        &[
            (
                json!({"op": "in", "path": "/HTTP/method", "value": ["GET", "HEAD"]}),
                true,
            ),
            (
                json!({"op": "in", "path": "/HTTP/method", "value": ["POST", "PUT"]}),
                false,
            ),
            (
                json!({"op": "in", "path": "/HTTP/method", "value": ["get"], "ignore_case": true}),
                true,
            ),
            (
                json!({"op": "in", "path": "/HTTP/missing", "value": [null]}),
                false,
            ),
            (
                json!({"op": "contained", "path": "/HTTP/headers/x-tags", "value": ["canary", "EU-West", "beta"]}),
                true,
            ),
            (
                json!({"op": "contained", "path": "/HTTP/headers/x-tags", "value": ["canary"]}),
                false,
            ),
            (
                json!({"op": "contained", "path": "/HTTP/headers/x-tags", "value": ["CANARY", "eu-west"], "ignore_case": true}),
                true,
            ),
            (
                json!({"op": "contained", "path": "/TCP/dst_port", "value": [80, 8080]}),
                true,
            ),
            (
                json!({"op": "contained", "path": "/TCP/dst_port", "value": [80, 443]}),
                false,
            ),
            (
                json!({"op": "intersects", "path": "/HTTP/headers/x-tags", "value": ["beta", "canary"]}),
                true,
            ),
            (
                json!({"op": "intersects", "path": "/HTTP/headers/x-tags", "value": ["beta", "eu-west"]}),
                false,
            ),
            (
                json!({"op": "intersects", "path": "/HTTP/headers/x-tags", "value": ["eu-west"], "ignore_case": true}),
                true,
            ),
            (
                json!({"op": "intersects", "path": "/HTTP/method", "value": ["GET"]}),
                false,
            ),
        ],
    );
}

#[test]
fn type_of_json_values() {
    let meta = http_session();
    let cases: Vec<(Value, bool)> = [
        ("/TCP/dst_port", "number", true),
        ("/HTTP/method", "number", false),
        ("/HTTP/method", "string", true),
        ("/TCP/dst_port", "string", false),
        ("/IP", "object", true),
        ("/labels/tier", "object", false),
        ("/labels/weights", "object", false),
        ("/labels/weights", "array", true),
        ("/IP", "array", false),
        ("/labels/tier", "null", true),
        ("/labels/missing", "null", false),
        ("/labels/missing", "undefined", true),
        ("/labels/tier", "undefined", false),
    ]
    .into_iter()
    .map(|(path, ty, hit)| (json!({"op": "type", "path": path, "value": ty}), hit))
    .collect();
    assert_cases(&meta, &cases);
    assert_cases(
        &json!({"tls": true, "plain": "true"}),
        &[
            (
                json!({"op": "type", "path": "/tls", "value": "boolean"}),
                true,
            ),
            (
                json!({"op": "type", "path": "/plain", "value": "boolean"}),
                false,
            ),
        ],
    );
}

#[test]
fn type_of_string_formats() {
    let samples = json!({
        "date": "2024-02-29", "bad_date": "2023-02-29", "month_13": "2024-13-01",
        "time": "23:59:60.123+05:30", "time_z": "08:15:00z", "bad_time": "24:00:00Z", "no_offset": "08:15:00",
        "dt": "2026-11-30T00:01:33.25Z", "bad_dt": "2026-11-30 00:01:33Z",
        "lang": "en-US", "private": "x-klingon", "bad_lang": "en_US", "lone_x": "x",
        "range": "de-*-DE", "star": "*", "bad_range": "de--DE",
        "iri": "https://l7mp.io/docs#rules", "urn": "urn:l7mp:rule:42", "relative": "/docs",
        "spaced": "https://l7mp.io/a b", "bad_pct": "https://l7mp.io/%zz"
    });
    let cases: Vec<(Value, bool)> = [
        ("/date", "date", true),
        ("/bad_date", "date", false),
        ("/month_13", "date", false),
        ("/time", "time", true),
        ("/time_z", "time", true),
        ("/bad_time", "time", false),
        ("/no_offset", "time", false),
        ("/dt", "date-time", true),
        ("/bad_dt", "date-time", false),
        ("/date", "date-time", false),
        ("/lang", "lang", true),
        ("/private", "lang", true),
        ("/bad_lang", "lang", false),
        ("/lone_x", "lang", false),
        ("/range", "lang-range", true),
        ("/star", "lang-range", true),
        ("/bad_range", "lang-range", false),
        ("/iri", "iri", true),
        ("/urn", "iri", true),
        ("/relative", "iri", false),
        ("/spaced", "iri", false),
        ("/bad_pct", "iri", false),
        ("/urn", "absolute-iri", true),
        ("/iri", "absolute-iri", false),
    ]
    .into_iter()
    .map(|(path, ty, hit)| (json!({"op": "type", "path": path, "value": ty}), hit))
    .collect();
    assert_cases(&samples, &cases);
}

#[test]
fn type_checks_survive_odd_strings() {
    let odd = [
        "",
        "é",
        "2024-02-2é",
        "2024-02-29T",
        "2024-02-29Té",
        "12:3é:00Z",
        "12:30:00.Z",
        "12:30:00+05:3",
        "%",
        "a:%e",
        "a:%é1",
        "-",
        "x-",
        "*-",
        "日本語-x",
        ":",
        "a:b#c#d",
    ];
    let types = [
        "date",
        "time",
        "date-time",
        "lang",
        "lang-range",
        "iri",
        "absolute-iri",
    ];
    for value in odd {
        let meta = json!({"v": value});
        for ty in types {
            let hit = compile(json!({"op": "type", "path": "/v", "value": ty})).matches(&meta);
            assert!(
                !hit || ty.ends_with("iri"),
                "{value:?} should not be a {ty}"
            );
        }
    }
}

#[test]
fn defined_and_undefined() {
    assert_cases(
        &http_session(),
        &[
            (json!({"op": "defined", "path": "/HTTP/method"}), true),
            (json!({"op": "defined", "path": "/labels/tier"}), true),
            (json!({"op": "defined", "path": "/UDP"}), false),
            (json!({"op": "undefined", "path": "/UDP/src_port"}), true),
            (json!({"op": "undefined", "path": "/labels/tier"}), false),
        ],
    );
}

#[test]
fn escaped_paths_and_array_indexes() {
    assert_cases(
        &http_session(),
        &[
            (
                json!({"op": "test", "path": "/labels/a~1b", "value": "slash"}),
                true,
            ),
            (
                json!({"op": "test", "path": "/labels/m~0n", "value": "tilde"}),
                true,
            ),
            (json!({"op": "defined", "path": "/labels/a/b"}), false),
            (
                json!({"op": "test", "path": "/HTTP/headers/x-tags/1", "value": "EU-West"}),
                true,
            ),
            (
                json!({"op": "defined", "path": "/HTTP/headers/x-tags/01"}),
                false,
            ),
            (
                json!({"op": "defined", "path": "/HTTP/headers/x-tags/-"}),
                false,
            ),
            (
                json!({"op": "more", "path": "/labels/weights/2", "value": 30}),
                true,
            ),
        ],
    );
}

#[test]
fn and_or_not() {
    let udp = udp_session();
    let local = json!({"op": "starts", "path": "/IP/src_addr", "value": "127."});
    let high_port = json!({"op": "more", "path": "/UDP/src_port", "value": 1024});
    let is_http = json!({"op": "defined", "path": "/HTTP"});
    assert_cases(
        &udp,
        &[
            (json!({"op": "and", "apply": [local, high_port]}), true),
            (json!({"op": "and", "apply": [local, is_http]}), false),
            (json!({"op": "or", "apply": [is_http, high_port]}), true),
            (json!({"op": "or", "apply": [is_http, is_http]}), false),
            (json!({"op": "not", "apply": [is_http]}), true),
            (json!({"op": "not", "apply": [is_http, local]}), false),
        ],
    );
}

#[test]
fn second_order_path_prefixes_nested_paths() {
    let rule = json!({
        "op": "and",
        "path": "/HTTP",
        "apply": [
            {"op": "test", "path": "/method", "value": "GET"},
            {"op": "or", "path": "/headers", "apply": [
                {"op": "contains", "path": "/user-agent", "value": "curl"},
                {"op": "contains", "path": "/x-tags", "value": "canary"}
            ]},
            {"op": "not", "path": "/url", "apply": [
                {"op": "starts", "path": "/path", "value": "/admin"},
                {"op": "defined", "path": ""}
            ]}
        ]
    });
    assert!(
        !compile(rule.clone()).matches(&http_session()),
        "url is defined"
    );
    let mut admin_free = rule;
    admin_free["apply"][2]["apply"][1] = json!({"op": "undefined", "path": ""});
    assert!(compile(admin_free.clone()).matches(&http_session()));
    assert!(
        !compile(admin_free).matches(&udp_session()),
        "no /HTTP prefix"
    );
}

#[test]
fn missing_prefix_makes_everything_beneath_undefined() {
    let doc =
        json!({"op": "and", "path": "/HTTP", "apply": [{"op": "undefined", "path": "/method"}]});
    assert!(compile(doc).matches(&udp_session()));
}

/// Asserts `doc` fails at `path` with a message containing each of `needles`.
fn assert_error(doc: Value, path: &str, needles: &[&str]) {
    let err = compile_error(doc.clone());
    assert_eq!(err.path, path, "{doc}: {err}");
    for needle in needles {
        assert!(
            err.message.contains(needle),
            "{doc}: `{}` lacks `{needle}`",
            err.message
        );
    }
}

#[test]
fn error_not_an_object() {
    assert_error(json!("*"), "", &["must be an object", "not a string"]);
    assert_error(
        json!({"op": "or", "apply": [[]]}),
        "/apply/0",
        &["not an array"],
    );
}

#[test]
fn error_op_missing_or_unknown() {
    assert_error(json!({"path": "/IP"}), "/op", &["missing `op`", "starts"]);
    assert_error(json!({"op": 3}), "/op", &["must be a string"]);
    assert_error(
        json!({"op": "startswith", "path": "/IP/src_addr", "value": "127."}),
        "/op",
        &["unknown op `startswith`", "test, contains, starts, ends"],
    );
}

#[test]
fn error_path_missing_or_invalid() {
    assert_error(
        json!({"op": "defined"}),
        "/path",
        &["needs `path`", "/IP/src_addr"],
    );
    assert_error(
        json!({"op": "test", "path": "IP/src_addr", "value": 1}),
        "/path",
        &["write `/IP/src_addr`"],
    );
    assert_error(json!({"op": "defined", "path": "/a~2"}), "/path", &["`~2`"]);
    assert_error(
        json!({"op": "defined", "path": 5}),
        "/path",
        &["not a number"],
    );
    assert_error(
        json!({"op": "and", "path": "HTTP", "apply": [{"op": "defined", "path": ""}]}),
        "/path",
        &["write `/HTTP`"],
    );
}

#[test]
fn error_value_missing() {
    for op in [
        "test",
        "contains",
        "starts",
        "ends",
        "matches",
        "more",
        "less",
        "in",
        "contained",
        "intersects",
        "type",
    ] {
        assert_error(
            json!({"op": op, "path": "/IP"}),
            "/value",
            &["needs `value`"],
        );
    }
}

#[test]
fn error_value_wrong_type() {
    assert_error(
        json!({"op": "more", "path": "/UDP/src_port", "value": "1024"}),
        "/value",
        &["write `1024`"],
    );
    assert_error(
        json!({"op": "less", "path": "/UDP/src_port", "value": [1]}),
        "/value",
        &["a number", "not an array"],
    );
    for op in ["in", "contained", "intersects"] {
        assert_error(
            json!({"op": op, "path": "/HTTP/method", "value": "GET"}),
            "/value",
            &["an array", "[...]"],
        );
    }
    for op in ["starts", "ends", "matches"] {
        assert_error(
            json!({"op": op, "path": "/HTTP/method", "value": 1}),
            "/value",
            &["string", "not a number"],
        );
    }
    assert_error(
        json!({"op": "type", "path": "/IP", "value": "integer"}),
        "/value",
        &["unknown type `integer`", "date-time"],
    );
    assert_error(
        json!({"op": "type", "path": "/IP", "value": true}),
        "/value",
        &["not a boolean"],
    );
}

#[test]
fn error_invalid_regex() {
    assert_error(
        json!({"op": "matches", "path": "/HTTP/url/path", "value": "^/api/(v1"}),
        "/value",
        &["not a valid regular expression"],
    );
}

#[test]
fn error_apply_missing_not_array_or_empty() {
    assert_error(json!({"op": "and"}), "/apply", &["needs `apply`"]);
    assert_error(
        json!({"op": "or", "apply": {"op": "defined", "path": "/IP"}}),
        "/apply",
        &["not an object", "[...]"],
    );
    assert_error(json!({"op": "not", "apply": []}), "/apply", &["empty"]);
}

#[test]
fn error_unknown_keys() {
    assert_error(
        json!({"op": "test", "path": "/HTTP/method", "value": "get", "ignorecase": true}),
        "/ignorecase",
        &["unknown key `ignorecase`", "ignore_case"],
    );
    assert_error(
        json!({"op": "defined", "path": "/IP", "value": 1}),
        "/value",
        &["op, path"],
    );
    assert_error(
        json!({"op": "more", "path": "/UDP/src_port", "value": 1, "ignore_case": true}),
        "/ignore_case",
        &["unknown key"],
    );
    assert_error(
        json!({"op": "and", "apply": [], "value": 1}),
        "/value",
        &["op, path, apply"],
    );
    assert_error(
        json!({"op": "defined", "path": "/IP", "a/b": 1}),
        "/a~1b",
        &["`a/b`"],
    );
    assert_error(
        json!({"op": "test", "path": "/HTTP/method", "value": "GET", "ignore_case": "yes"}),
        "/ignore_case",
        &["`true` or `false`"],
    );
}

#[test]
fn error_paths_point_into_nested_predicates() {
    let doc = json!({
        "op": "and",
        "apply": [
            {"op": "defined", "path": "/HTTP"},
            {"op": "or", "apply": [
                {"op": "starts", "path": "/IP/src_addr", "value": "127."},
                {"op": "more", "path": "/TCP/src_port", "value": "1024"}
            ]}
        ]
    });
    assert_error(doc, "/apply/1/apply/1/value", &["number"]);
}

#[test]
fn error_nesting_too_deep() {
    let mut doc = json!({"op": "defined", "path": "/IP"});
    for _ in 0..40 {
        doc = json!({"op": "not", "apply": [doc]});
    }
    let err = compile_error(doc);
    assert!(err.message.contains("nest more than"), "{err}");
    assert!(err.path.starts_with("/apply/0/apply/0"), "{err}");
}

#[test]
fn error_display_includes_location() {
    let err = compile_error(json!({"op": "and", "apply": [{"op": "nope"}]}));
    assert!(
        err.to_string()
            .starts_with("invalid predicate at `/apply/0/op`: unknown op `nope`"),
        "{err}"
    );
}
