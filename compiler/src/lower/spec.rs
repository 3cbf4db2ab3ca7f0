//! Protocol specs: the CRD's one-key maps (`{UDP: {port: 9001}}`) to the proxy's tagged form
//! (`protocol: UDP, port: 9001`). Protocols the proxy does not implement (HTTP listeners) come
//! back as `Err` with their name, for an [`crate::diagnostics::Code::Unsupported`] diagnostic;
//! malformed JSON pointers (Sync `query`, JSONSocket `header`) with their place in the spec.

use l7mp_config::model;
use l7mp_config::pointer::JsonPointer;
use serde::Deserialize;

use crate::crd::{self, ClusterSpec, ListenerSpec};

/// The "protocol" of a spec that names none the compiler knows: the schema stage has reported
/// it (L7MPC0205/0206), so lowering only skips the spec.
pub(super) const NO_PROTOCOL: &str = "(none)";

/// Why a CRD spec has no proxy spec: a protocol the proxy lacks, or a bad value at a pointer
/// relative to the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecError {
    /// The protocol's name.
    Unsupported(&'static str),
    /// A malformed JSON pointer: where (below the spec) and why.
    Pointer {
        /// Pointer relative to the spec, such as `/Sync/query`.
        at: String,
        /// What is wrong, naming the pointer.
        message: String,
    },
}

/// The proxy listener spec, or the name of the unsupported protocol.
pub fn listener(spec: &ListenerSpec) -> Result<model::ListenerSpec, &'static str> {
    if let Some(json) = &spec.json_socket {
        let transport = listener_transport(&json.transport).ok_or("JSONSocket")?;
        return Ok(model::ListenerSpec::JsonSocket {
            transport: Box::new(transport),
            header_timeout: json.header_timeout,
        });
    }
    if spec.http.is_some() {
        return Err("HTTP");
    }
    listener_transport(&spec.transport).ok_or(NO_PROTOCOL)
}

/// The proxy spec of a listener transport protocol; None when no protocol is set.
fn listener_transport(transport: &crd::ListenerTransport) -> Option<model::ListenerSpec> {
    if let Some(udp) = &transport.udp {
        let connect = udp.connect.as_ref().map(|c| model::PeerFilter {
            address: c.address.clone(),
            port: c.port.map(|p| p.0),
        });
        let mode = udp.options.as_ref().and_then(|o| o.mode).map(|m| match m {
            crd::UdpMode::Server => model::UdpMode::Server,
            crd::UdpMode::Singleton => model::UdpMode::Singleton,
        });
        return Some(model::ListenerSpec::Udp {
            port: udp.port.0,
            address: None,
            connect,
            options: mode.map(|mode| model::UdpListenerOptions { mode: Some(mode) }),
        });
    }
    if let Some(tcp) = &transport.tcp {
        return Some(model::ListenerSpec::Tcp {
            port: tcp.port.0,
            address: None,
        });
    }
    if let Some(ws) = &transport.websocket {
        return Some(model::ListenerSpec::WebSocket {
            port: ws.port.0,
            address: None,
            path: ws.path.clone(),
        });
    }
    transport
        .unix
        .as_ref()
        .map(|unix| model::ListenerSpec::UnixDomainSocket {
            filename: unix.filename.clone(),
            mode: None,
        })
}

/// The proxy cluster spec, or why there is none.
pub fn cluster(spec: &ClusterSpec) -> Result<model::ClusterSpec, SpecError> {
    if let Some(transport) = cluster_transport(&spec.transport) {
        return Ok(transport);
    }
    if let Some(json) = &spec.json_socket {
        let transport =
            cluster_transport(&json.transport).ok_or(SpecError::Unsupported("JSONSocket"))?;
        let mut header = Vec::new();
        for (i, entry) in json.header.iter().flatten().enumerate() {
            header.push(header_entry(entry, &format!("/JSONSocket/header/{i}"))?);
        }
        return Ok(model::ClusterSpec::JsonSocket {
            transport: Box::new(transport),
            header,
        });
    }
    if let Some(sync) = &spec.sync {
        check_pointer(&sync.query, "/Sync/query")?;
        return Ok(model::ClusterSpec::Sync {
            query: sync.query.clone(),
        });
    }
    if let Some(metric) = &spec.metric {
        return Ok(model::ClusterSpec::Metric {
            byte_counter_name: metric.byte_counter_name.clone(),
            packet_counter_name: metric.packet_counter_name.clone(),
        });
    }
    if let Some(logger) = &spec.logger {
        return Ok(model::ClusterSpec::Logger {
            log_file: logger.log_file.clone(),
            log_prefix: logger.log_prefix.clone(),
        });
    }
    [
        (spec.echo.is_some(), model::ClusterSpec::Echo {}),
        (spec.discard.is_some(), model::ClusterSpec::Discard {}),
        (spec.stdio.is_some(), model::ClusterSpec::Stdio {}),
        (spec.json_encap.is_some(), model::ClusterSpec::JsonEncap {}),
        (spec.json_decap.is_some(), model::ClusterSpec::JsonDecap {}),
    ]
    .into_iter()
    .find_map(|(set, spec)| set.then_some(spec))
    .ok_or(SpecError::Unsupported(NO_PROTOCOL))
}

/// The proxy spec of a cluster transport protocol; None when no protocol is set.
fn cluster_transport(transport: &crd::ClusterTransport) -> Option<model::ClusterSpec> {
    let bind = |b: &Option<crd::AddressPort>| {
        b.as_ref().map(|b| model::Bind {
            address: b.address.clone(),
            port: b.port.map(|p| p.0),
        })
    };
    if let Some(udp) = &transport.udp {
        Some(model::ClusterSpec::Udp {
            port: udp.port.0,
            bind: bind(&udp.bind),
        })
    } else if let Some(tcp) = &transport.tcp {
        Some(model::ClusterSpec::Tcp {
            port: tcp.port.0,
            bind: bind(&tcp.bind),
        })
    } else if let Some(ws) = &transport.websocket {
        Some(model::ClusterSpec::WebSocket {
            port: ws.port.0,
            path: None,
            bind: None,
        })
    } else {
        transport
            .unix
            .as_ref()
            .map(|unix| model::ClusterSpec::UnixDomainSocket {
                mode: None,
                filename: unix.filename.clone(),
            })
    }
}

/// A JSONSocket header entry at `at`: `path` is a pointer string or `{from, to}`, every
/// pointer must parse. The schema has already required exactly one of `path` and `set`.
fn header_entry(entry: &crd::HeaderEntry, at: &str) -> Result<model::HeaderEntry, SpecError> {
    let path = match &entry.path {
        None => None,
        Some(value) => {
            let copy = model::HeaderCopy::deserialize(value).map_err(|_| SpecError::Pointer {
                at: format!("{at}/path"),
                message: "`path` must be a JSON pointer string or `{from: POINTER, to: POINTER}`"
                    .into(),
            })?;
            match &copy {
                model::HeaderCopy::From(from) => check_pointer(from, &format!("{at}/path"))?,
                model::HeaderCopy::FromTo { from, to } => {
                    check_pointer(from, &format!("{at}/path/from"))?;
                    check_pointer(to, &format!("{at}/path/to"))?;
                }
            }
            Some(copy)
        }
    };
    let set = match &entry.set {
        None => None,
        Some(set) => {
            check_pointer(&set.key, &format!("{at}/set/key"))?;
            Some(model::HeaderSet {
                key: set.key.clone(),
                value: set.value.clone(),
            })
        }
    };
    Ok(model::HeaderEntry { path, set })
}

/// Ok when `text` is a JSON pointer the proxy accepts.
fn check_pointer(text: &str, at: &str) -> Result<(), SpecError> {
    JsonPointer::parse(text)
        .map(|_| ())
        .map_err(|e| SpecError::Pointer {
            at: at.to_string(),
            message: e.to_string(),
        })
}

/// The cluster a `linkedVirtualService` Target makes of the VirtualService's listener: the same
/// protocol and port, as a client.
pub fn linked_cluster(listener: &model::ListenerSpec) -> model::ClusterSpec {
    match listener {
        model::ListenerSpec::Udp { port, .. } => model::ClusterSpec::Udp {
            port: *port,
            bind: None,
        },
        model::ListenerSpec::Tcp { port, .. } => model::ClusterSpec::Tcp {
            port: *port,
            bind: None,
        },
        model::ListenerSpec::WebSocket { port, path, .. } => model::ClusterSpec::WebSocket {
            port: *port,
            path: path.clone(),
            bind: None,
        },
        model::ListenerSpec::UnixDomainSocket { filename, mode } => {
            model::ClusterSpec::UnixDomainSocket {
                mode: *mode,
                filename: Some(filename.clone()),
            }
        }
        model::ListenerSpec::JsonSocket { transport, .. } => model::ClusterSpec::JsonSocket {
            transport: Box::new(linked_cluster(transport)),
            header: Vec::new(),
        },
    }
}

/// The port and Service protocol (`UDP`/`TCP`) that pods serve a cluster on; None for Unix
/// sockets and in-proxy clusters.
pub fn network_port(spec: &model::ClusterSpec) -> Option<(u16, &'static str)> {
    match spec {
        model::ClusterSpec::Udp { port, .. } => Some((*port, "UDP")),
        model::ClusterSpec::Tcp { port, .. } | model::ClusterSpec::WebSocket { port, .. } => {
            Some((*port, "TCP"))
        }
        model::ClusterSpec::JsonSocket { transport, .. } => network_port(transport),
        _ => None,
    }
}
