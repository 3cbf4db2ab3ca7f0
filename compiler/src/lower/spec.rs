//! Protocol specs: the CRD's one-key maps (`{UDP: {port: 9001}}`) to the proxy's tagged form
//! (`protocol: UDP, port: 9001`). Protocols the proxy does not implement yet come back as `Err`
//! with their name, for an [`crate::diagnostics::Code::Unsupported`] diagnostic.

use l7mp_config::model;

use crate::crd::{self, ClusterSpec, ListenerSpec};

/// The proxy listener spec, or the name of the unsupported protocol.
pub fn listener(spec: &ListenerSpec) -> Result<model::ListenerSpec, &'static str> {
    if let Some(udp) = &spec.transport.udp {
        let connect = udp.connect.as_ref().map(|c| model::PeerFilter {
            address: c.address.clone(),
            port: c.port.map(|p| p.0),
        });
        let mode = udp.options.as_ref().and_then(|o| o.mode).map(|m| match m {
            crd::UdpMode::Server => model::UdpMode::Server,
            crd::UdpMode::Singleton => model::UdpMode::Singleton,
        });
        return Ok(model::ListenerSpec::Udp {
            port: udp.port.0,
            address: None,
            connect,
            options: mode.map(|mode| model::UdpListenerOptions { mode: Some(mode) }),
        });
    }
    if let Some(tcp) = &spec.transport.tcp {
        return Ok(model::ListenerSpec::Tcp {
            port: tcp.port.0,
            address: None,
        });
    }
    if let Some(ws) = &spec.transport.websocket {
        return Ok(model::ListenerSpec::WebSocket {
            port: ws.port.0,
            address: None,
            path: ws.path.clone(),
        });
    }
    if let Some(unix) = &spec.transport.unix {
        return Ok(model::ListenerSpec::UnixDomainSocket {
            filename: unix.filename.clone(),
            mode: None,
        });
    }
    Err(if spec.http.is_some() {
        "HTTP"
    } else {
        "JSONSocket"
    })
}

/// The proxy cluster spec, or the name of the unsupported protocol.
pub fn cluster(spec: &ClusterSpec) -> Result<model::ClusterSpec, &'static str> {
    let bind = |b: &Option<crd::AddressPort>| {
        b.as_ref().map(|b| model::Bind {
            address: b.address.clone(),
            port: b.port.map(|p| p.0),
        })
    };
    Ok(if let Some(udp) = &spec.transport.udp {
        model::ClusterSpec::Udp {
            port: udp.port.0,
            bind: bind(&udp.bind),
        }
    } else if let Some(tcp) = &spec.transport.tcp {
        model::ClusterSpec::Tcp {
            port: tcp.port.0,
            bind: bind(&tcp.bind),
        }
    } else if let Some(ws) = &spec.transport.websocket {
        model::ClusterSpec::WebSocket {
            port: ws.port.0,
            path: None,
            bind: None,
        }
    } else if let Some(unix) = &spec.transport.unix {
        model::ClusterSpec::UnixDomainSocket {
            mode: None,
            filename: unix.filename.clone(),
        }
    } else if spec.echo.is_some() {
        model::ClusterSpec::Echo {}
    } else if spec.discard.is_some() {
        model::ClusterSpec::Discard {}
    } else if let Some(logger) = &spec.logger {
        model::ClusterSpec::Logger {
            log_file: logger.log_file.clone(),
            log_prefix: logger.log_prefix.clone(),
        }
    } else {
        return Err(unsupported_cluster(spec));
    })
}

fn unsupported_cluster(spec: &ClusterSpec) -> &'static str {
    [
        (spec.json_socket.is_some(), "JSONSocket"),
        (spec.stdio.is_some(), "Stdio"),
        (spec.sync.is_some(), "Sync"),
        (spec.json_encap.is_some(), "JSONEncap"),
        (spec.json_decap.is_some(), "JSONDecap"),
        (spec.metric.is_some(), "Metric"),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name))
    .unwrap_or("(none)")
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
