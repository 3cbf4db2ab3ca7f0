//! The one-line details drawings print under a node's name: the protocol as the config writes
//! it (`UDP`, `WebSocket`, `JSONSocket over TCP`) and the port or path.

use l7mp_config::model::{ClusterSpec, ListenerSpec};
use serde::Serialize;

use super::apps::Socket;
use crate::lower::EndpointPlan;

/// `UDP 9001`, `WebSocket 8888/path`, `UnixDomainSocket /tmp/x.sock`.
pub fn listener(spec: &ListenerSpec) -> String {
    let at = match spec {
        ListenerSpec::Udp { port, .. } | ListenerSpec::Tcp { port, .. } => port.to_string(),
        ListenerSpec::WebSocket { port, path, .. } => {
            format!("{port}{}", path.as_deref().unwrap_or_default())
        }
        ListenerSpec::UnixDomainSocket { filename, .. } => filename.clone(),
        ListenerSpec::JsonSocket { transport, .. } => {
            return format!("{} over {}", protocol(spec), listener(transport));
        }
    };
    format!("{} {at}", protocol(spec))
}

/// `UDP 9999`, `WebSocket 8888/path`; just the protocol for Unix sockets (the path is the
/// endpoint's) and in-proxy clusters.
pub fn cluster(spec: &ClusterSpec) -> String {
    let at = match spec {
        ClusterSpec::Udp { port, .. } | ClusterSpec::Tcp { port, .. } => port.to_string(),
        ClusterSpec::WebSocket { port, path, .. } => {
            format!("{port}{}", path.as_deref().unwrap_or_default())
        }
        ClusterSpec::JsonSocket { transport, .. } => {
            return format!("{} over {}", protocol(spec), cluster(transport));
        }
        _ => return protocol(spec),
    };
    format!("{} {at}", protocol(spec))
}

/// `UDP 9999` or `unix /tmp/x.sock`.
pub fn socket(socket: &Socket) -> String {
    match socket {
        Socket::Unix(path) => format!("unix {path}"),
        Socket::Port(protocol, port) => format!("{protocol} {port}"),
    }
}

/// `2 pods` for an endpoint chosen by selector; empty for a fixed one.
pub fn pods(endpoint: &EndpointPlan) -> String {
    match (endpoint.workloads.is_empty(), endpoint.pods) {
        (true, _) => String::new(),
        (false, 1) => "1 pod".into(),
        (false, n) => format!("{n} pods"),
    }
}

/// The `protocol` tag the config file writes for `spec` (its serde tag, so names never drift
/// from the config format).
fn protocol(spec: &impl Serialize) -> String {
    serde_json::to_value(spec)
        .ok()
        .and_then(|v| v.get("protocol")?.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_and_ports_as_the_config_writes_them() {
        let udp = ListenerSpec::Udp {
            port: 9001,
            address: None,
            connect: None,
            options: None,
        };
        assert_eq!(listener(&udp), "UDP 9001");
        let json = ListenerSpec::JsonSocket {
            transport: Box::new(udp),
            header_timeout: None,
        };
        assert_eq!(listener(&json), "JSONSocket over UDP 9001");
        let ws = ClusterSpec::WebSocket {
            port: 8888,
            path: Some("/x".into()),
            bind: None,
        };
        assert_eq!(cluster(&ws), "WebSocket 8888/x");
        assert_eq!(cluster(&ClusterSpec::Echo {}), "Echo");
        let uds = ClusterSpec::UnixDomainSocket {
            mode: None,
            filename: None,
        };
        assert_eq!(cluster(&uds), "UnixDomainSocket");
    }
}
