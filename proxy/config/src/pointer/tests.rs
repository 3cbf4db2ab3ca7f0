use serde_json::{Value, json};

use super::{JsonPointer, PointerError};

/// Metadata as an HTTP listener would emit it, plus keys that need escaping.
fn http_session() -> Value {
    json!({
        "IP": {"src_addr": "10.0.0.7", "dst_addr": "10.0.0.1"},
        "TCP": {"src_port": 41234, "dst_port": 8080},
        "HTTP": {
            "method": "GET",
            "url": {"path": "/api/v1/config", "query": ""},
            "headers": {"user-agent": "curl/8.5.0", "x-forwarded-for": ["10.1.1.1", "10.2.2.2"]}
        },
        "a/b": "slash",
        "m~n": "tilde",
        "": "empty key"
    })
}

fn ptr(text: &str) -> JsonPointer {
    JsonPointer::parse(text).expect("test pointer is valid")
}

#[test]
fn empty_pointer_is_whole_document() {
    let doc = http_session();
    assert_eq!(ptr("").get(&doc), Some(&doc));
    assert!(ptr("").tokens().is_empty());
}

#[test]
fn get_follows_nested_members() {
    let doc = http_session();
    assert_eq!(ptr("/IP/src_addr").get(&doc), Some(&json!("10.0.0.7")));
    assert_eq!(ptr("/TCP/dst_port").get(&doc), Some(&json!(8080)));
    assert_eq!(
        ptr("/HTTP/url/path").get(&doc),
        Some(&json!("/api/v1/config"))
    );
    assert_eq!(ptr("/UDP/src_port").get(&doc), None);
    assert_eq!(ptr("/IP/src_addr/more").get(&doc), None);
}

#[test]
fn escapes_are_decoded() {
    let doc = http_session();
    assert_eq!(ptr("/a~1b").tokens(), ["a/b"]);
    assert_eq!(ptr("/a~1b").get(&doc), Some(&json!("slash")));
    assert_eq!(ptr("/m~0n").get(&doc), Some(&json!("tilde")));
    assert_eq!(ptr("/").get(&doc), Some(&json!("empty key")));
    assert_eq!(ptr("/~01").tokens(), ["~1"], "~01 decodes to ~1, not /");
}

#[test]
fn array_indexes_follow_rfc() {
    let doc = http_session();
    let xff = "/HTTP/headers/x-forwarded-for";
    assert_eq!(ptr(&format!("{xff}/0")).get(&doc), Some(&json!("10.1.1.1")));
    assert_eq!(ptr(&format!("{xff}/1")).get(&doc), Some(&json!("10.2.2.2")));
    assert_eq!(ptr(&format!("{xff}/2")).get(&doc), None);
    assert_eq!(ptr(&format!("{xff}/01")).get(&doc), None, "leading zero");
    assert_eq!(ptr(&format!("{xff}/-")).get(&doc), None, "- never matches");
    assert_eq!(ptr(&format!("{xff}/+1")).get(&doc), None);
    assert_eq!(
        ptr(&format!("{xff}/99999999999999999999999")).get(&doc),
        None
    );
}

#[test]
fn parse_requires_leading_slash() {
    let err = JsonPointer::parse("a/b").expect_err("no leading slash");
    assert_eq!(
        err,
        PointerError::MissingSlash {
            pointer: "a/b".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "JSON pointer `a/b` must start with `/` (write `/a/b`)"
    );
}

#[test]
fn parse_rejects_bad_escapes() {
    let err = JsonPointer::parse("/m~2n").expect_err("~2 is not an escape");
    assert!(matches!(&err, PointerError::BadEscape { escape, .. } if escape == "~2"));
    assert!(err.to_string().contains("write `~0` for a `~`"), "{err}");
    let err = JsonPointer::parse("/trailing~").expect_err("lone ~");
    assert!(matches!(&err, PointerError::BadEscape { escape, .. } if escape == "~"));
}

#[test]
fn display_and_as_str_keep_original_text() {
    let p = ptr("/HTTP/headers/a~1b");
    assert_eq!(p.as_str(), "/HTTP/headers/a~1b");
    assert_eq!(p.to_string(), "/HTTP/headers/a~1b");
}

#[test]
fn serde_round_trips_as_string_and_validates() {
    let p: JsonPointer = serde_json::from_value(json!("/UDP/src_port")).expect("valid");
    assert_eq!(p, ptr("/UDP/src_port"));
    assert_eq!(
        serde_json::to_value(&p).expect("serializes"),
        json!("/UDP/src_port")
    );
    let err = serde_json::from_value::<JsonPointer>(json!("UDP/src_port")).expect_err("invalid");
    assert!(err.to_string().contains("write `/UDP/src_port`"), "{err}");
    assert!(serde_json::from_value::<JsonPointer>(json!(5)).is_err());
}

#[test]
fn set_replaces_existing_member() {
    let mut doc = http_session();
    ptr("/HTTP/method")
        .set(&mut doc, json!("POST"))
        .expect("set");
    assert_eq!(doc["HTTP"]["method"], json!("POST"));
}

#[test]
fn set_creates_missing_intermediate_objects() {
    let mut doc = json!({"IP": {"src_addr": "127.0.0.1"}});
    ptr("/labels/app/tier")
        .set(&mut doc, json!("frontend"))
        .expect("set");
    assert_eq!(doc["labels"], json!({"app": {"tier": "frontend"}}));
    assert_eq!(doc["IP"]["src_addr"], json!("127.0.0.1"));
}

#[test]
fn set_uses_escaped_tokens() {
    let mut doc = json!({});
    ptr("/a~1b/m~0n").set(&mut doc, json!(1)).expect("set");
    assert_eq!(doc, json!({"a/b": {"m~n": 1}}));
}

#[test]
fn set_replaces_whole_document_for_empty_pointer() {
    let mut doc = http_session();
    ptr("")
        .set(&mut doc, json!({"UDP": {"src_port": 5000}}))
        .expect("set");
    assert_eq!(doc, json!({"UDP": {"src_port": 5000}}));
}

#[test]
fn set_on_arrays_replaces_or_appends() {
    let mut doc = json!({"hops": ["10.1.1.1", "10.2.2.2"]});
    ptr("/hops/0")
        .set(&mut doc, json!("192.168.0.1"))
        .expect("replace");
    ptr("/hops/-")
        .set(&mut doc, json!("10.3.3.3"))
        .expect("append with -");
    ptr("/hops/3")
        .set(&mut doc, json!("10.4.4.4"))
        .expect("append at len");
    ptr("/hops/-/via")
        .set(&mut doc, json!("lb"))
        .expect("append intermediate");
    assert_eq!(
        doc["hops"],
        json!(["192.168.0.1", "10.2.2.2", "10.3.3.3", "10.4.4.4", {"via": "lb"}])
    );
}

#[test]
fn set_rejects_out_of_range_and_non_index_tokens() {
    let mut doc = json!({"hops": ["10.1.1.1"]});
    for token in ["5", "01", "x"] {
        let err = ptr(&format!("/hops/{token}"))
            .set(&mut doc, json!(0))
            .expect_err("bad index");
        assert!(
            matches!(&err, PointerError::BadIndex { len: 1, token: t, parent, .. } if t == token && parent == "/hops"),
            "{err:?}"
        );
    }
    assert_eq!(
        doc,
        json!({"hops": ["10.1.1.1"]}),
        "failed writes change nothing"
    );
}

#[test]
fn set_through_scalar_names_the_token() {
    let mut doc = json!({"UDP": {"src_port": 5000}, "a/b": null});
    let err = ptr("/UDP/src_port/low")
        .set(&mut doc, json!(1))
        .expect_err("through number");
    assert_eq!(
        err.to_string(),
        "cannot set `/UDP/src_port/low`: `/UDP/src_port` holds a number, which has no member \
         `low`; rewrite `/UDP/src_port` itself or choose a path that goes through objects and arrays"
    );
    let err = ptr("/a~1b/c")
        .set(&mut doc, json!(1))
        .expect_err("through null");
    assert!(
        matches!(&err, PointerError::ThroughScalar { parent, kind: "null", .. } if parent == "/a~1b")
    );
}

#[test]
fn lenient_paths_become_the_pointer_the_original_meant() {
    for (text, meant) in [
        ("HTTP/headers", "/HTTP/headers"),
        ("labels/session_id", "/labels/session_id"),
        ("IP/src_addr", "/IP/src_addr"),
        ("/some/nested/meta/", "/some/nested/meta"),
        ("meta//", "/meta"),
        ("//", "/"),
    ] {
        assert_eq!(super::lenient(text), meant, "{text}");
    }
    for text in ["", "/", "/IP/src_addr", "/a~1b"] {
        assert!(
            matches!(super::lenient(text), std::borrow::Cow::Borrowed(t) if t == text),
            "{text}"
        );
    }
}
