//! Addresses are parsed once, at load: a bad one is a load error at its field, and a good one
//! reaches the resolved config typed, with the file's text kept as written.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use l7mp_config::config::{EndpointAddress, ListenerSocket, LocalAddress, UdpPeers};
use l7mp_config::model::UnixMode;
use l7mp_config::{Severity, load_str};

/// A config whose listener has `listener` as its spec and whose cluster has `cluster`.
fn config(listener: &str, cluster: &str) -> String {
    format!(
        r#"
listeners:
  - name: in
    spec: {listener}
    rules:
      - action: {{route: {{destination: out}}}}
clusters:
  - name: out
    spec: {cluster}
    endpoints:
      - spec: {{address: 10.0.0.1}}
"#
    )
}

const UDP_CLUSTER: &str = "{protocol: UDP, port: 9000}";
const UDP_LISTENER: &str = "{protocol: UDP, port: 9001}";

#[test]
fn a_bad_address_in_each_field_is_a_load_error_naming_that_field() {
    let cases = [
        (
            config("{protocol: UDP, port: 9001, address: nowhere}", UDP_CLUSTER),
            "listener \"in\"",
            "/listeners/0/spec/address",
        ),
        (
            config(
                "{protocol: UDP, port: 9001, connect: {address: 10.0.0.256, port: 5}}",
                UDP_CLUSTER,
            ),
            "listener \"in\"",
            "/listeners/0/spec/connect/address",
        ),
        (
            config(
                "{protocol: TCP, port: 9001, address: localhost}",
                UDP_CLUSTER,
            ),
            "listener \"in\"",
            "/listeners/0/spec/address",
        ),
        (
            config(
                "{protocol: WebSocket, port: 9001, address: '::g'}",
                UDP_CLUSTER,
            ),
            "listener \"in\"",
            "/listeners/0/spec/address",
        ),
        (
            config(
                "{protocol: JSONSocket, transport: {protocol: UDP, port: 9001, address: x}}",
                UDP_CLUSTER,
            ),
            "listener \"in\"",
            "/listeners/0/spec/transport/address",
        ),
        (
            config(
                UDP_LISTENER,
                "{protocol: UDP, port: 9000, bind: {address: me}}",
            ),
            "cluster \"out\"",
            "/clusters/0/spec/bind/address",
        ),
        (
            config(
                UDP_LISTENER,
                "{protocol: TCP, port: 9000, bind: {address: 1.2.3}}",
            ),
            "cluster \"out\"",
            "/clusters/0/spec/bind/address",
        ),
        (
            config(
                UDP_LISTENER,
                "{protocol: WebSocket, port: 9000, bind: {address: 'fe80::1%eth0'}}",
            ),
            "cluster \"out\"",
            "/clusters/0/spec/bind/address",
        ),
        (
            config(
                UDP_LISTENER,
                "{protocol: JSONSocket, transport: {protocol: TCP, port: 9000, bind: {address: host}}}",
            ),
            "cluster \"out\"",
            "/clusters/0/spec/transport/bind/address",
        ),
    ];
    for (text, object, field) in cases {
        let errors = load_str("bad.yaml", &text).expect_err(field);
        assert_eq!(errors.len(), 1, "{field}: {errors:#?}");
        let d = &errors[0];
        assert_eq!(d.severity, Severity::Error);
        assert_eq!(d.file, "bad.yaml");
        assert_eq!(d.object, object);
        assert_eq!(d.field, field);
        assert!(d.message.ends_with("is not an IP address"), "{d}");
        assert_eq!(
            d.hint.as_deref(),
            Some("write an IPv4 or IPv6 address such as 127.0.0.1")
        );
    }
}

#[test]
fn listener_addresses_reach_the_config_parsed() {
    let socket = |listener: &str| {
        let loaded = load_str("good.yaml", &config(listener, UDP_CLUSTER)).expect(listener);
        loaded.config.listeners[0].socket.clone()
    };
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(
        socket("{protocol: UDP, port: 9001, address: '::1', connect: {address: 10.0.0.9}}"),
        ListenerSocket::Udp {
            address: Some(v6),
            port: 9001,
            peers: UdpPeers::Server {
                address: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9))),
                port: None,
            },
        }
    );
    assert_eq!(
        socket("{protocol: UDP, port: 9001, connect: {address: 10.0.0.9, port: 7}}"),
        ListenerSocket::Udp {
            address: None,
            port: 9001,
            peers: UdpPeers::Singleton(SocketAddr::from(([10, 0, 0, 9], 7))),
        }
    );
    assert_eq!(
        socket(
            "{protocol: JSONSocket, transport: {protocol: WebSocket, port: 80, address: 127.0.0.1}}"
        ),
        ListenerSocket::WebSocket {
            address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            port: 80,
        }
    );
    assert_eq!(
        socket("{protocol: UnixDomainSocket, filename: /tmp/in.sock, mode: seqpacket}"),
        ListenerSocket::Unix {
            path: PathBuf::from("/tmp/in.sock"),
            mode: UnixMode::Seqpacket,
        }
    );
}

#[test]
fn cluster_addresses_reach_the_config_parsed() {
    let text = r#"
listeners:
  - name: in
    spec: {protocol: UDP, port: 9001}
    rules:
      - action: {route: {destination: net, ingress: [unix]}}
clusters:
  - name: net
    spec: {protocol: JSONSocket, transport: {protocol: TCP, port: 9000, bind: {address: '::', port: 4000}}}
    endpoints:
      - spec: {address: 10.0.0.1}
      - spec: {address: worker.default.svc}
  - name: unix
    spec: {protocol: UnixDomainSocket}
    endpoints:
      - spec: {address: /run/app.sock}
"#;
    let loaded = load_str("good.yaml", text).expect("valid");
    let net = &loaded.config.clusters["net"];
    assert_eq!(
        net.bind,
        Some(LocalAddress {
            address: Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            port: Some(4000),
        })
    );
    let addresses: Vec<_> = net.endpoints.iter().map(|e| &e.address).collect();
    assert_eq!(
        addresses,
        [
            &EndpointAddress::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            &EndpointAddress::Name("worker.default.svc".into()),
        ]
    );
    let unix = &loaded.config.clusters["unix"];
    assert_eq!(unix.bind, None);
    assert_eq!(
        unix.endpoints[0].address,
        EndpointAddress::Path(PathBuf::from("/run/app.sock"))
    );
    // Each typed address writes back as the file wrote it.
    let written: Vec<String> = [net, unix]
        .iter()
        .flat_map(|c| c.endpoints.iter().map(|e| e.address.to_string()))
        .collect();
    assert_eq!(written, ["10.0.0.1", "worker.default.svc", "/run/app.sock"]);
}
