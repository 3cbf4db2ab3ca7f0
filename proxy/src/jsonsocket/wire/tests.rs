use super::*;
use l7mp_config::model::HeaderSet;

fn status(bytes: &[u8]) -> u16 {
    match parse_request(bytes) {
        Ok(_) => 200,
        Err(r) => r.status,
    }
}

#[test]
fn request_versions_and_shapes() {
    assert_eq!(status(br#"{"JSONSocketVersion":1,"a":2}"#), 200);
    assert_eq!(status(br#"{"JSONSocketVersion":1.0}"#), 200);
    assert_eq!(status(br#"{"JSONSocketVersion":0}"#), 200);
    assert_eq!(status(br#"{"JSONSocketVersion":2}"#), 505);
    assert_eq!(status(br#"{"JSONSocketVersion":-1}"#), 505);
    assert_eq!(status(br#"{"JSONSocketVersion":"a"}"#), 400);
    assert_eq!(status(br#"{"JSONSocketVersion":0.4}"#), 400);
    assert_eq!(status(br#"{"JSONSocketVersion":1e300}"#), 400);
    assert_eq!(status(br#"{"other":1}"#), 400);
    assert_eq!(status(b"not json"), 400);
    assert_eq!(status(b"[1,2]"), 400);
    assert_eq!(status(br#""JSONSocketVersion""#), 400);
    assert_eq!(status(b"\xff\xfe"), 400);
    assert_eq!(status(b""), 400);
}

#[test]
fn request_keeps_the_whole_header_and_refusals_say_what_to_do() {
    let h = parse_request(br#"{"JSONSocketVersion":1,"user":{"id":7}}"#).expect("valid");
    assert_eq!(h["user"]["id"], 7);
    let r = parse_request(br#"{"x":1}"#).expect_err("no version");
    assert!(r.message.contains("add \"JSONSocketVersion\": 1"), "{r:?}");
    let r = parse_request(b"[]").expect_err("array");
    assert!(r.message.contains("an array, not a JSON object"), "{r:?}");
    let r = parse_request(br#"{"JSONSocketVersion":2}"#).expect_err("v2");
    assert!(r.message.contains("version 2"), "{r:?}");
}

#[test]
fn oversized_request_is_refused() {
    let big = format!(
        r#"{{"JSONSocketVersion":1,"pad":"{}"}}"#,
        "x".repeat(MAX_HEADER)
    );
    let r = parse_request(big.as_bytes()).expect_err("too large");
    assert_eq!(r.status, 400);
    assert!(r.message.contains("too large"), "{r:?}");
}

#[test]
fn response_round_trips_through_the_check() {
    let ok = response(200, "OK");
    let v: Value = serde_json::from_slice(&ok).expect("json");
    assert_eq!(
        v,
        json!({"JSONSocketVersion":1,"JSONSocketStatus":200,"JSONSocketMessage":"OK"})
    );
    assert_eq!(check_response(&ok), Ok(()));
    let e = check_response(&response(404, "Not Found: no rule")).expect_err("404");
    assert!(e.contains("404") && e.contains("no rule"), "{e}");
}

#[test]
fn bad_responses_are_rejected() {
    for bad in [
        &b"garbage"[..],
        br#"[200]"#,
        br#"{"JSONSocketStatus":200}"#,
        br#"{"JSONSocketVersion":"1","JSONSocketStatus":200}"#,
        br#"{"JSONSocketVersion":2,"JSONSocketStatus":200}"#,
        br#"{"JSONSocketVersion":1}"#,
        br#"{"JSONSocketVersion":1,"JSONSocketStatus":199}"#,
        br#"{"JSONSocketVersion":1,"JSONSocketStatus":300}"#,
        br#"{"JSONSocketVersion":1,"JSONSocketStatus":"200"}"#,
    ] {
        assert!(
            check_response(bad).is_err(),
            "{:?} passed",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(
        check_response(br#"{"JSONSocketVersion":1,"JSONSocketStatus":204}"#),
        Ok(())
    );
}

fn copy(from: &str) -> HeaderEntry {
    HeaderEntry {
        path: Some(HeaderCopy::From(from.into())),
        set: None,
    }
}

fn copy_to(from: &str, to: &str) -> HeaderEntry {
    HeaderEntry {
        path: Some(HeaderCopy::FromTo {
            from: from.into(),
            to: to.into(),
        }),
        set: None,
    }
}

fn set(key: &str, value: Value) -> HeaderEntry {
    HeaderEntry {
        path: None,
        set: Some(HeaderSet {
            key: key.into(),
            value,
        }),
    }
}

fn build(entries: &[HeaderEntry], metadata: Value) -> Value {
    let bytes = HeaderPlan::new(entries).expect("plan").build(&metadata);
    serde_json::from_slice(&bytes).expect("header is JSON")
}

#[test]
fn header_is_built_in_order_and_the_version_forced() {
    let md = json!({"HTTP": {"headers": {"host": "h"}}, "IP": {"src_addr": "1.2.3.4"}});
    assert_eq!(build(&[], md.clone()), json!({"JSONSocketVersion": 1}));
    assert_eq!(
        build(
            &[
                copy("/HTTP/headers"),
                copy_to("/IP/src_addr", "/client/ip"),
                set("/tag", json!([1, 2])),
                set("/JSONSocketVersion", json!(7)),
            ],
            md.clone()
        ),
        json!({"host": "h", "client": {"ip": "1.2.3.4"}, "tag": [1, 2], "JSONSocketVersion": 1})
    );
    // A later root copy replaces what came before.
    assert_eq!(
        build(&[set("/a", json!(1)), copy("/IP")], md.clone()),
        json!({"src_addr": "1.2.3.4", "JSONSocketVersion": 1})
    );
    // `/` as the source copies the whole metadata.
    assert_eq!(build(&[copy_to("/", "/md")], md.clone())["md"], md.clone());
}

#[test]
fn header_skips_what_cannot_be_copied() {
    let md = json!({"s": "text", "zero": 0});
    assert_eq!(
        build(
            &[
                copy("/missing"),
                copy("/s"),
                copy_to("/zero", "/z"),
                set("/z/deeper", json!(1)),
            ],
            md
        ),
        json!({"z": 0, "JSONSocketVersion": 1})
    );
}

/// Feeds `chunks` one after the other into one growing buffer, as a stream reader does.
fn scan_chunks(chunks: &[&[u8]]) -> Scan {
    let mut scanner = ObjectEnd::default();
    let mut buf = Vec::new();
    let mut last = Scan::Incomplete;
    for c in chunks {
        buf.extend_from_slice(c);
        last = scanner.scan(&buf);
        if last != Scan::Incomplete {
            break;
        }
    }
    last
}

#[test]
fn object_end_in_a_stream() {
    assert_eq!(scan_chunks(&[b" {\"a\":1}rest"]), Scan::End(8));
    assert_eq!(
        scan_chunks(&[b"{\"a\"", b":[1,{}]", b"}", b"x"]),
        Scan::End(12)
    );
    assert_eq!(scan_chunks(&[b"{\"}\\\"{\"", b":1}"]), Scan::End(10));
    assert_eq!(scan_chunks(&[b"{\"a\":"]), Scan::Incomplete);
    assert_eq!(scan_chunks(&[b"  [1]"]), Scan::NotObject);
    assert_eq!(scan_chunks(&[b"hello"]), Scan::NotObject);
    assert_eq!(scan_chunks(&[b"\n\n"]), Scan::Incomplete);
}
