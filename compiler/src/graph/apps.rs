//! Apps: what an endpoint reaches when no proxy listener takes its socket. The socket comes from
//! the compiler's resolved data only: the endpoint's Unix socket path (in the sending pod), a
//! loopback address (the sending pod's port), or the pods its selector resolved to; the app's
//! name from the pod template's containers that declare that port or mount the socket's folder.

use std::net::IpAddr;

use l7mp_config::model::{ClusterSpec, ListenerSpec};
use serde_json::Value;

use super::network_port;
use crate::load::Object;
use crate::lower::EndpointPlan;

/// A socket in a workload's pods.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Socket {
    /// A Unix socket path.
    Unix(String),
    /// A transport protocol (`UDP`/`TCP`) and port.
    Port(&'static str, u16),
}

/// The socket a listener takes.
pub fn socket_of(listener: &ListenerSpec) -> Socket {
    match listener {
        ListenerSpec::Udp { port, .. } => Socket::Port("UDP", *port),
        ListenerSpec::Tcp { port, .. } | ListenerSpec::WebSocket { port, .. } => {
            Socket::Port("TCP", *port)
        }
        ListenerSpec::UnixDomainSocket { filename, .. } => Socket::Unix(filename.clone()),
        ListenerSpec::JsonSocket { transport, .. } => socket_of(transport),
    }
}

/// The workloads and sockets an endpoint of a cluster of `spec` on workload `own` sends to.
/// Fixed addresses other than loopback ones are outside the mesh and give none.
pub fn targets(own: usize, spec: &ClusterSpec, endpoint: &EndpointPlan) -> Vec<(usize, Socket)> {
    if let Some(path) = &endpoint.path {
        return vec![(own, Socket::Unix(path.clone()))];
    }
    let Some((port, protocol)) = network_port(spec) else {
        return Vec::new();
    };
    let socket = Socket::Port(protocol, port);
    let fixed = endpoint.workloads.is_empty();
    if fixed && !endpoint.addresses.is_empty() && endpoint.addresses.iter().all(|a| loopback(a)) {
        return vec![(own, socket)];
    }
    (endpoint.workloads.iter())
        .map(|&w| (w, socket.clone()))
        .collect()
}

/// Whether `address` names the pod itself.
fn loopback(address: &str) -> bool {
    address.eq_ignore_ascii_case("localhost")
        || address.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `app` with the containers of `workload` (other than its proxy `container`) that serve
/// `socket`: `app echo`.
pub fn name(workload: &Object, socket: &Socket, proxy: Option<&str>) -> String {
    let names: Vec<&str> = containers(workload, socket)
        .into_iter()
        .filter(|c| Some(*c) != proxy)
        .collect();
    if names.is_empty() {
        "app".into()
    } else {
        format!("app {}", names.join(", "))
    }
}

/// The containers of `workload`'s pod template that serve `socket`: those declaring its port
/// (`containerPort` and `protocol`, TCP by default), or for a Unix socket those mounting a
/// volume on a folder that holds it.
pub fn containers<'a>(workload: &'a Object, socket: &Socket) -> Vec<&'a str> {
    let Some(base) = workload.kind.pod_pointer() else {
        return Vec::new();
    };
    let containers = workload
        .value()
        .pointer(&format!("{base}/spec/containers"))
        .and_then(Value::as_array);
    let entries = |c: &'a Value, key: &str| {
        c.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect::<Vec<&Value>>()
    };
    containers
        .into_iter()
        .flatten()
        .filter(|c| match socket {
            Socket::Port(protocol, port) => entries(c, "ports").iter().any(|p| {
                p.get("containerPort").and_then(Value::as_u64) == Some(u64::from(*port))
                    && p.get("protocol").and_then(Value::as_str).unwrap_or("TCP") == *protocol
            }),
            Socket::Unix(path) => entries(c, "volumeMounts").iter().any(|m| {
                m.get("mountPath")
                    .and_then(Value::as_str)
                    .is_some_and(|dir| holds(dir, path))
            }),
        })
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect()
}

/// Whether folder `dir` holds `path`.
fn holds(dir: &str, path: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_the_pod_itself() {
        for a in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1"] {
            assert!(loopback(a), "{a}");
        }
        for a in ["10.0.0.1", "example.com", "", "localhost.example.com"] {
            assert!(!loopback(a), "{a}");
        }
    }

    #[test]
    fn a_folder_holds_the_paths_below_it() {
        assert!(holds("/tmp", "/tmp/uds-echo.sock"));
        assert!(holds("/tmp/", "/tmp/uds-echo.sock"));
        assert!(holds("/", "/run/x.sock"));
        assert!(!holds("/tmp", "/tmpfoo/x.sock"));
        assert!(!holds("/tmp", "/tmp"));
        assert!(!holds("/tmp/a", "/tmp/x.sock"));
    }
}
