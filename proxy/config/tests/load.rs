//! Loading whole config files: the original's format with named and inline objects, and every
//! kind of mistake a person makes in one, each reported with its line, object and field.

use l7mp_config::config::{LbPolicy, RuleTarget};
use l7mp_config::load::check_model;
use l7mp_config::model::{ClusterSpec, ConfigFile, RetryOn};
use l7mp_config::yaml::{Location, parse_documents};
use l7mp_config::{Diagnostic, Severity, load_str};

fn errors(text: &str) -> Vec<Diagnostic> {
    match load_str("test.yaml", text) {
        Ok(_) => panic!("the config should have been rejected"),
        Err(d) => d,
    }
}

fn one_error(text: &str) -> Diagnostic {
    let d = errors(text);
    assert_eq!(d.len(), 1, "expected exactly one diagnostic, got: {d:#?}");
    d.into_iter().next().unwrap()
}

const SEED_CHAIN: &str = r#"
admin:
  log_level: info
listeners:
  - name: gateway
    spec: {protocol: UDP, port: 9001}
    rules:
      - action:
          route:
            destination: worker
            ingress:
              - transcoder
            retry: {retry_on: always, num_retries: 3, timeout: 500}
clusters:
  - name: transcoder
    spec: {protocol: WebSocket, port: 8888}
    loadbalancer: {policy: ConsistentHash}
    endpoints:
      - spec: {address: 10.0.0.1}
      - spec: {address: 10.0.0.2}
        weight: 2
  - name: worker
    spec: {protocol: UDP, port: 9999}
    loadbalancer: {policy: HashRing, key: /IP/src_addr}
    endpoints:
      - name: w1
        spec: {address: worker.default.svc.cluster.local}
"#;

#[test]
fn inline_objects_get_names_derived_from_their_parents() {
    let loaded = load_str("seed.yaml", SEED_CHAIN).unwrap();
    let c = &loaded.config;
    assert_eq!(c.listeners[0].rulelist, "gateway-rules");
    assert_eq!(c.rulelists["gateway-rules"], vec!["gateway-rules-rule-0"]);
    let rule = &c.rules["gateway-rules-rule-0"];
    assert_eq!(
        rule.target,
        RuleTarget::Route("gateway-rules-rule-0-route".into())
    );
    let route = &c.routes["gateway-rules-rule-0-route"];
    assert_eq!(route.destination, "worker");
    assert_eq!(route.ingress, vec!["transcoder"]);
    assert_eq!(route.retry.retry_on, RetryOn::Always);
    assert_eq!(route.retry.num_retries, 3);
    assert_eq!(route.retry.timeout.as_millis(), 500);
    let ws = &c.clusters["transcoder"];
    assert_eq!(ws.policy, LbPolicy::ConsistentHash);
    assert_eq!(ws.endpoints[1].weight, 2);
    assert_eq!(ws.endpoints[0].name, "transcoder-endpoint-0");
    assert_eq!(
        c.clusters["worker"].key.as_ref().unwrap().as_str(),
        "/IP/src_addr"
    );
    assert_eq!(c.log_level.as_deref(), Some("info"));
    assert_eq!(loaded.sha256.len(), 64);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn named_objects_and_apply_resolve() {
    let text = r#"
listeners:
  - name: l
    spec: {protocol: TCP, port: 7000}
    rules: main
rulelists:
  - name: main
    rules: [to-sub]
  - name: sub
    rules:
      - match: {op: starts, path: /IP/src_addr, value: "127."}
        action: {route: r, rewrite: [{path: /labels/who, value: local}]}
rules:
  - name: to-sub
    action: {apply: sub}
routes:
  - name: r
    cluster: {spec: {protocol: Echo}}
    egress: [{spec: {protocol: Logger, log_prefix: out}}]
"#;
    let c = load_str("t.yaml", text).unwrap().config;
    assert_eq!(c.rules["to-sub"].target, RuleTarget::Apply("sub".into()));
    assert_eq!(c.routes["r"].destination, "r-destination");
    assert_eq!(c.routes["r"].egress, vec!["r-egress-0"]);
    assert!(matches!(
        c.clusters["r-egress-0"].spec,
        ClusterSpec::Logger { .. }
    ));
    let rule = &c.rules["sub-rule-0"];
    assert!(rule.matcher.is_some());
    assert_eq!(rule.rewrite[0].0.as_str(), "/labels/who");
    // The default retry policy of the original.
    assert_eq!(c.routes["r"].retry.retry_on, RetryOn::Never);
    assert_eq!(c.routes["r"].retry.num_retries, 1);
}

#[test]
fn unknown_field_names_the_line_and_field() {
    let d = one_error(
        "listeners:\n  - name: l\n    spec: {protocol: TCP, port: 7000}\n    rulez: []\n",
    );
    assert_eq!(d.location.line, 4, "{d}");
    assert!(d.message.contains("rulez"), "{d}");
    assert_eq!(d.object, "listener \"l\"");
}

#[test]
fn out_of_range_port_is_rejected() {
    let d = one_error("clusters:\n  - name: c\n    spec: {protocol: UDP, port: 70000}\n");
    assert!(d.message.contains("70000"), "{d}");
    assert_eq!(d.location.line, 3, "{d}");
    assert_eq!(d.field, "/clusters/0/spec/port", "{d}");
}

#[test]
fn unknown_protocol_lists_the_known_ones() {
    let d = one_error("clusters:\n  - name: c\n    spec: {protocol: SCTP, port: 1}\n");
    assert!(
        d.message.contains("SCTP") && d.message.contains("UDP"),
        "{d}"
    );
}

#[test]
fn dangling_reference_suggests_the_closest_name() {
    let d = one_error(
        r#"
listeners:
  - name: l
    spec: {protocol: UDP, port: 9001}
    rules: [{action: {route: {destination: udp-clustr}}}]
clusters:
  - name: udp-cluster
    spec: {protocol: UDP, port: 9999}
    endpoints: [{spec: {address: 127.0.0.1}}]
"#,
    );
    assert!(d.message.contains("no cluster named \"udp-clustr\""), "{d}");
    assert_eq!(d.hint.as_deref(), Some("did you mean \"udp-cluster\"?"));
    assert_eq!(d.location.line, 5);
    assert_eq!(d.field, "/listeners/0/rules/0/action/route/destination");
}

#[test]
fn every_problem_is_reported_at_once() {
    let d = errors(
        r#"
listeners:
  - name: a
    spec: {protocol: UDP, port: 0}
    rules: missing
  - name: a
    spec: {protocol: TCP, port: 80, address: not-an-ip}
    rules: missing
"#,
    );
    let text: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|t| t.contains("port 0")), "{text:#?}");
    assert!(
        text.iter().any(|t| t.contains("defined twice")),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|t| t.contains("no rulelist named")),
        "{text:#?}"
    );
}

#[test]
fn two_listeners_on_one_port_clash_but_udp_and_tcp_do_not() {
    let base = |second: &str| {
        format!(
            "listeners:\n  - name: a\n    spec: {{protocol: UDP, port: 9000}}\n    rules: r\n  \
             - name: b\n    spec: {second}\n    rules: r\nrulelists: [{{name: r, rules: []}}]\n"
        )
    };
    assert!(load_str("t", &base("{protocol: TCP, port: 9000}")).is_ok());
    let d = one_error(&base("{protocol: UDP, port: 9000}"));
    assert!(d.message.contains("already uses"), "{d}");
}

#[test]
fn apply_cycles_are_errors() {
    let d = one_error(
        r#"
listeners: [{name: l, spec: {protocol: TCP, port: 1000}, rules: a}]
rulelists:
  - {name: a, rules: [{action: {apply: b}}]}
  - {name: b, rules: [{action: {apply: a}}]}
"#,
    );
    assert!(d.message.contains("a -> b -> a"), "{d}");
}

#[test]
fn datagrams_into_a_byte_stream_warn() {
    let loaded = load_str(
        "t",
        r#"
listeners:
  - name: gw
    spec: {protocol: UDP, port: 9001}
    rules: [{action: {route: {destination: uds}}}]
clusters:
  - name: uds
    spec: {protocol: UnixDomainSocket}
    endpoints: [{spec: {address: /tmp/x.sock}}]
"#,
    )
    .unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    let w = &loaded.warnings[0];
    assert_eq!(w.severity, Severity::Warning);
    assert!(w.message.contains("hop \"uds\""), "{w}");
}

#[test]
fn a_session_limit_of_zero_is_rejected_at_its_field() {
    let d = one_error(
        "listeners:\n  - name: l\n    spec: {protocol: TCP, port: 5}\n    \
         options: {max_sessions: 0}\n    \
         rules: [{action: {route: {destination: {spec: {protocol: Echo}}}}}]\n",
    );
    assert_eq!(d.field, "/listeners/0/options/max_sessions", "{d}");
    assert_eq!(d.location.line, 4, "{d}");
    assert!(d.to_string().contains("listener \"l\""), "{d}");
    assert!(d.message.contains("limit of 0"), "{d}");
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("leave it out")),
        "{d}"
    );
}

#[test]
fn singleton_mode_needs_a_peer() {
    let d = one_error(
        "listeners: [{name: l, spec: {protocol: UDP, port: 5, options: {mode: singleton}}, \
         rules: [{action: {route: {destination: {spec: {protocol: Echo}}}}}]}]\n",
    );
    assert!(d.message.contains("singleton"), "{d}");
}

#[test]
fn whole_file_problems() {
    assert!(one_error("").message.contains("no content"));
    assert!(
        one_error("a: 1\n---\nb: 2\n")
            .message
            .contains("2 YAML documents")
    );
    assert!(one_error("[1, 2]\n").message.contains("not a mapping"));
    let d = one_error("listeners: [\n");
    assert!(d.message.starts_with("invalid YAML"), "{d}");
}

#[test]
fn action_needs_exactly_one_target() {
    let d = errors(
        "rules:\n  - name: a\n    action: {}\n  - name: b\n    action: {route: r, apply: l}\n",
    );
    assert!(d.iter().any(|d| d.message.contains("neither")));
    assert!(d.iter().any(|d| d.message.contains("both")));
}

#[test]
fn errors_inside_a_spec_point_at_the_field() {
    let d = one_error(
        "listeners:\n  - name: l\n    spec:\n      protocol: TCP\n      port: 80\n      prot: 1\n    rules: []\n",
    );
    assert_eq!(d.field, "/listeners/0/spec/prot", "{d}");
    assert_eq!(d.location.line, 6, "{d}");
    let d = one_error(
        "listeners:\n  - name: l\n    spec:\n      protocol: TCP\n      port: eighty\n    rules: []\n",
    );
    assert_eq!(d.field, "/listeners/0/spec/port", "{d}");
    assert_eq!(d.location.line, 5, "{d}");
}

const JSONSOCKET_AND_TRANSFORMS: &str = r#"
listeners:
  - name: calls
    spec:
      protocol: JSONSocket
      header_timeout: 2000
      transport: {protocol: UDP, port: 9000}
    rules:
      - action:
          route:
            destination: {spec: {protocol: Sync, query: /JSONSocket/call}}
            ingress:
              - {spec: {protocol: Metric, byteCounterName: call_bytes}}
              - {spec: {protocol: JSONEncap}}
              - {spec: {protocol: JSONDecap}}
clusters:
  - name: upstream
    spec:
      protocol: JSONSocket
      transport: {protocol: TCP, port: 8000}
      header:
        - path: /IP/src_addr
        - path: {from: /UDP/src_port, to: /port}
        - set: {key: /app, value: voice}
    endpoints:
      - spec: {address: 127.0.0.1}
"#;

#[test]
fn jsonsocket_and_transform_clusters_load() {
    let loaded = load_str("test.yaml", JSONSOCKET_AND_TRANSFORMS).expect("valid config");
    let c = &loaded.config;
    assert!(matches!(
        c.clusters["calls-rules-rule-0-route-destination"].spec,
        ClusterSpec::Sync { .. }
    ));
    let ClusterSpec::JsonSocket { transport, header } = &c.clusters["upstream"].spec else {
        panic!("upstream should be a JSONSocket cluster");
    };
    assert!(matches!(**transport, ClusterSpec::Tcp { port: 8000, .. }));
    assert_eq!(header.len(), 3);
    assert!(matches!(
        &c.clusters["calls-rules-rule-0-route-ingress-0"].spec,
        ClusterSpec::Metric { byte_counter_name: Some(n), packet_counter_name: None } if n == "call_bytes"
    ));
}

#[test]
fn jsonsocket_needs_a_remote_transport() {
    let d = one_error(
        "clusters:\n  - name: c\n    spec:\n      protocol: JSONSocket\n      transport: {protocol: Echo}\n",
    );
    assert_eq!(d.field, "/clusters/0/spec/transport/protocol", "{d}");
    assert!(d.message.contains("remote protocol"), "{d}");
}

#[test]
fn jsonsocket_listener_cannot_nest() {
    let d = one_error(
        "listeners:\n  - name: l\n    spec:\n      protocol: JSONSocket\n      transport:\n        protocol: JSONSocket\n        transport: {protocol: TCP, port: 1}\n    rules: []\n",
    );
    assert_eq!(d.field, "/listeners/0/spec/transport/protocol", "{d}");
}

#[test]
fn header_entries_need_exactly_one_action_and_valid_pointers() {
    let d = errors(
        "clusters:\n  - name: c\n    spec:\n      protocol: JSONSocket\n      transport: {protocol: UDP, port: 1}\n      header:\n        - {}\n        - path: /bad~escape\n    endpoints: [{spec: {address: 127.0.0.1}}]\n",
    );
    let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "/clusters/0/spec/header/0",
            "/clusters/0/spec/header/1/path"
        ],
        "{d:#?}"
    );
    assert_eq!(d[0].location.line, 7, "{}", d[0]);
}

#[test]
fn sync_query_must_be_a_pointer() {
    let d = one_error("clusters:\n  - name: s\n    spec: {protocol: Sync, query: /ca~ll}\n");
    assert_eq!(d.field, "/clusters/0/spec/query", "{d}");
}

#[test]
fn udp_mode_is_singleton_only_when_named_or_both_peer_parts_are_set() {
    use l7mp_config::model::{PeerFilter, UdpListenerOptions, UdpMode};
    let both = PeerFilter {
        address: Some("10.0.0.1".into()),
        port: Some(5000),
    };
    let port_only = PeerFilter {
        address: None,
        port: Some(5000),
    };
    let server = UdpListenerOptions {
        mode: Some(UdpMode::Server),
    };
    assert_eq!(UdpMode::of(None, None), UdpMode::Server);
    assert_eq!(UdpMode::of(Some(&port_only), None), UdpMode::Server);
    assert_eq!(UdpMode::of(Some(&both), None), UdpMode::Singleton);
    assert_eq!(UdpMode::of(Some(&both), Some(&server)), UdpMode::Server);
}

const LENIENT: &str = r#"
listeners:
  - name: in
    spec: {protocol: UDP, port: 9000}
    rules:
      - action:
          rewrite: [{path: labels/session_id, value: s1}]
          route: {destination: js}
      - match: {op: test, path: /labels/x, value: 1}
        action: {route: {destination: sync}}
clusters:
  - name: js
    spec:
      protocol: JSONSocket
      transport: {protocol: UDP, port: 9001}
      header:
        - path: HTTP/headers
        - path: {from: IP/src_addr, to: client/addr}
        - set: {key: /some/nested/meta/, value: data}
    loadbalancer: {policy: HashRing, key: IP/src_addr}
    endpoints: [{spec: {address: 127.0.0.1}}]
  - name: sync
    spec: {protocol: Sync, query: labels/session_id}
"#;

#[test]
fn the_originals_lenient_paths_load_as_pointers_with_a_warning_each() {
    let loaded = load_str("lenient.yaml", LENIENT).unwrap();
    let warned: Vec<(&str, &str)> = loaded
        .warnings
        .iter()
        .map(|d| {
            assert_eq!(d.severity, Severity::Warning, "{d}");
            (d.field.as_str(), d.message.as_str())
        })
        .collect();
    assert_eq!(
        warned,
        [
            (
                "/clusters/0/spec/header/0/path",
                "the path `HTTP/headers` is read as the JSON pointer `/HTTP/headers`"
            ),
            (
                "/clusters/0/spec/header/1/path/from",
                "the path `IP/src_addr` is read as the JSON pointer `/IP/src_addr`"
            ),
            (
                "/clusters/0/spec/header/1/path/to",
                "the path `client/addr` is read as the JSON pointer `/client/addr`"
            ),
            (
                "/clusters/0/spec/header/2/set/key",
                "the path `/some/nested/meta/` is read as the JSON pointer `/some/nested/meta`"
            ),
            (
                "/clusters/0/loadbalancer/key",
                "the path `IP/src_addr` is read as the JSON pointer `/IP/src_addr`"
            ),
            (
                "/clusters/1/spec/query",
                "the path `labels/session_id` is read as the JSON pointer `/labels/session_id`"
            ),
            (
                "/listeners/0/rules/0/action/rewrite/0/path",
                "the path `labels/session_id` is read as the JSON pointer `/labels/session_id`"
            ),
        ],
        "{:#?}",
        loaded.warnings
    );
    assert!(
        loaded.warnings[0]
            .to_string()
            .contains("hint: write `/HTTP/headers`"),
        "{}",
        loaded.warnings[0]
    );
    let c = &loaded.config;
    let js = &c.clusters["js"];
    assert_eq!(js.key.as_ref().map(|k| k.as_str()), Some("/IP/src_addr"));
    let ClusterSpec::JsonSocket { header, .. } = &js.spec else {
        panic!("a JSONSocket cluster");
    };
    let header = serde_json::to_value(header).unwrap();
    assert_eq!(
        header,
        serde_json::json!([
            {"path": "/HTTP/headers"},
            {"path": {"from": "/IP/src_addr", "to": "/client/addr"}},
            {"set": {"key": "/some/nested/meta", "value": "data"}},
        ])
    );
    assert_eq!(
        c.clusters["sync"].spec,
        ClusterSpec::Sync {
            query: "/labels/session_id".into()
        }
    );
    let rewrite = &c.rules["in-rules-rule-0"].rewrite;
    assert_eq!(rewrite[0].0.as_str(), "/labels/session_id");
}

#[test]
fn predicates_stay_strict_about_paths() {
    let all = errors(&LENIENT.replace("path: /labels/x", "path: labels/x"));
    let mut rejected = all.iter().filter(|d| d.is_error());
    let d = rejected.next().expect("an error");
    assert!(rejected.next().is_none(), "{all:#?}");
    assert_eq!(d.field, "/listeners/0/rules/1/match/path", "{d}");
    assert!(d.message.contains("must start with `/`"), "{d}");
}

#[test]
fn every_protocol_left_out_by_design_is_reported_with_its_reason() {
    let d = errors(
        r#"
listeners:
  - name: api
    spec: {protocol: HTTP, port: 1234}
    rules:
      - action:
          route:
            destination: {spec: {protocol: L7mpController}}
  - name: ctl
    spec: {protocol: JSONSocket, transport: {protocol: HTTP, port: 1235}}
    rules: ctl-rules
clusters:
  - name: controller
    spec: {protocol: L7mpController}
  - name: prom
    spec: {protocol: Prometheus}
routes:
  - name: r
    destination: controller
    ingress: [{spec: {protocol: Prometheus}}]
"#,
    );
    let found: Vec<(&str, &str)> = d
        .iter()
        .map(|d| {
            assert!(d.is_error(), "{d}");
            (d.object.as_str(), d.field.as_str())
        })
        .collect();
    assert_eq!(
        found,
        [
            ("listener \"api\"", "/listeners/0/spec/protocol"),
            (
                "listener \"api\"",
                "/listeners/0/rules/0/action/route/destination/spec/protocol"
            ),
            ("listener \"ctl\"", "/listeners/1/spec/transport/protocol"),
            ("cluster \"controller\"", "/clusters/0/spec/protocol"),
            ("cluster \"prom\"", "/clusters/1/spec/protocol"),
            ("route \"r\"", "/routes/0/ingress/0/spec/protocol"),
        ],
        "{d:#?}"
    );
    assert_eq!(d[0].location.line, 4, "{}", d[0]);
    let first = d[0].to_string();
    assert!(
        first.contains("HTTP listener is not supported, by design"),
        "{first}"
    );
    assert!(first.contains("no write API"), "{first}");
    assert!(first.contains("proxy/README.md"), "{first}");
    assert!(
        d[1].message
            .contains("L7mpController cluster is not supported, by design")
    );
    assert!(d[4].message.contains("/metrics"));
}

#[test]
fn log_level_takes_the_originals_names_and_refuses_unknown_ones() {
    let with = |level: &str| format!("admin:\n  log_level: {level}\nlisteners: []\n");
    let loaded = |level: &str| match load_str("test.yaml", &with(level)) {
        Ok(l) => l.config.log_level,
        Err(d) => panic!("{level}: {d:#?}"),
    };
    assert_eq!(loaded("silly").as_deref(), Some("trace"));
    assert_eq!(loaded("verbose").as_deref(), Some("debug"));
    assert_eq!(
        loaded("\"l7mp=verbose,warn\"").as_deref(),
        Some("l7mp=debug,warn")
    );
    let d = one_error(&with("loud"));
    assert_eq!(d.field, "/admin/log_level", "{d}");
    assert_eq!(d.object, "admin", "{d}");
    assert_eq!(d.location.line, 2, "{d}");
    assert!(d.message.contains("unknown log level \"loud\""), "{d}");
    assert!(
        d.hint.as_deref().unwrap_or_default().contains("silly"),
        "{d}"
    );
}

/// A config built in memory is checked by the same resolver as a file: the same config when
/// valid, the same problems (without locations, there being no text) when not.
#[test]
fn check_model_agrees_with_load_str() {
    let model = |text: &str| -> ConfigFile {
        let doc = parse_documents(text).expect("YAML").remove(0);
        serde_json::from_value(doc.value).expect("a config file")
    };
    let loaded = load_str("t", SEED_CHAIN).expect("the seed chain loads");
    assert_eq!(check_model("t", &model(SEED_CHAIN)), Ok(loaded.config));
    let dangling = "listeners:\n  - name: l\n    spec: {protocol: UDP, port: 9001}\n    \
                    rules: [{action: {route: {destination: nowhere}}}]\n";
    let problems = check_model("t", &model(dangling)).expect_err("a dangling reference");
    let loaded = errors(dangling);
    assert_eq!(problems.len(), loaded.len());
    assert_eq!(problems[0].message, loaded[0].message);
    assert_eq!(problems[0].location, Location::default());
}
