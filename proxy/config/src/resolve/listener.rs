//! Listeners: their specs (ports, addresses, paths, JSONSocket transports and header timeout),
//! their rule lists, defaults, and the check that no two listeners share a port or socket path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{Kind, Resolver};
use crate::config::{
    DEFAULT_IDLE_TIMEOUT_SECS, DEFAULT_MAX_SESSIONS, ListenerConfig, ListenerSocket, UdpPeers,
};
use crate::model::{Listener, ListenerSpec, Ref, UdpMode};
use crate::wording;

impl Resolver<'_> {
    pub(super) fn add_listener(&mut self, l: &Listener, at: &str) {
        if !self.define(Kind::Listener, &l.name, at) {
            return;
        }
        let object = format!("listener \"{}\"", l.name);
        let socket = self.listener_socket(&object, &l.spec, &format!("{at}/spec"));
        let rulelist = match &l.rules {
            Ref::Name(name) => {
                self.reference(Kind::RuleList, name, &object, &format!("{at}/rules"));
                name.clone()
            }
            Ref::Inline(items) => {
                let name = format!("{}-rules", l.name);
                let items_at = format!("{at}/rules");
                self.add_rulelist(name.clone(), items, &items_at, &items_at);
                name
            }
        };
        let options = l.options.clone().unwrap_or_default();
        if options.max_sessions == Some(0) {
            self.error(
                &object,
                &format!("{at}/options/max_sessions"),
                "a session limit of 0 refuses every session".into(),
                "give the most sessions the listener may run at once, such as 10000, \
                 or leave it out for the default",
            );
        }
        let idle = options.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT_SECS);
        // No socket: its spec has errors (reported), and the config is refused.
        let Some(socket) = socket else { return };
        self.config.listeners.push(ListenerConfig {
            name: l.name.clone(),
            spec: l.spec.clone(),
            socket,
            rulelist,
            idle_timeout: (idle > 0).then(|| Duration::from_secs(idle)),
            max_sessions: options.max_sessions.unwrap_or(DEFAULT_MAX_SESSIONS),
            track: options.track.filter(|t| *t > 0).map(Duration::from_secs),
        });
    }

    /// Checks `spec` and parses the socket it binds; `None` when it has errors that leave no
    /// socket to describe (reported; other errors are reported too, and refuse the config).
    fn listener_socket(
        &mut self,
        object: &str,
        spec: &ListenerSpec,
        at: &str,
    ) -> Option<ListenerSocket> {
        match spec {
            ListenerSpec::Udp {
                port,
                address,
                connect,
                options,
            } => {
                self.check_port(object, *port, &format!("{at}/port"));
                let local = self.ip(object, address.as_deref(), &format!("{at}/address"));
                let connect = connect.clone().unwrap_or_default();
                let peer = self.ip(
                    object,
                    connect.address.as_deref(),
                    &format!("{at}/connect/address"),
                );
                let singleton = options.as_ref().and_then(|o| o.mode) == Some(UdpMode::Singleton);
                if singleton && (connect.address.is_none() || connect.port.is_none()) {
                    self.error(
                        object,
                        &format!("{at}/options/mode"),
                        "singleton mode needs the peer's address and port".into(),
                        "set both `connect.address` and `connect.port`, or use `mode: server`",
                    );
                }
                let peers = match UdpMode::of(Some(&connect), options.as_ref()) {
                    UdpMode::Singleton => {
                        UdpPeers::Singleton(SocketAddr::new(peer?, connect.port?))
                    }
                    UdpMode::Server => UdpPeers::Server {
                        address: peer,
                        port: connect.port,
                    },
                };
                Some(ListenerSocket::Udp {
                    address: local,
                    port: *port,
                    peers,
                })
            }
            ListenerSpec::Tcp { port, address } => {
                self.check_port(object, *port, &format!("{at}/port"));
                let local = self.ip(object, address.as_deref(), &format!("{at}/address"));
                Some(ListenerSocket::Tcp {
                    address: local,
                    port: *port,
                })
            }
            ListenerSpec::WebSocket {
                port,
                address,
                path,
            } => {
                self.check_port(object, *port, &format!("{at}/port"));
                let local = self.ip(object, address.as_deref(), &format!("{at}/address"));
                self.check_http_path(object, path.as_deref(), &format!("{at}/path"));
                Some(ListenerSocket::WebSocket {
                    address: local,
                    port: *port,
                })
            }
            ListenerSpec::UnixDomainSocket { filename, mode } => {
                if filename.is_empty() {
                    self.error(
                        object,
                        &format!("{at}/filename"),
                        "the socket path is empty".into(),
                        "give the path of the socket file, such as /tmp/app.sock",
                    );
                    return None;
                }
                Some(ListenerSocket::Unix {
                    path: PathBuf::from(filename),
                    mode: mode.unwrap_or_default(),
                })
            }
            ListenerSpec::JsonSocket {
                transport,
                header_timeout,
            } => {
                let transport_at = format!("{at}/transport");
                let socket = if matches!(**transport, ListenerSpec::JsonSocket { .. }) {
                    self.error(
                        object,
                        &format!("{transport_at}/protocol"),
                        "JSONSocket cannot run over JSONSocket".into(),
                        "use UDP, TCP, WebSocket or UnixDomainSocket as the transport",
                    );
                    None
                } else {
                    self.listener_socket(object, transport, &transport_at)
                };
                if *header_timeout == Some(0) {
                    self.error(
                        object,
                        &format!("{at}/header_timeout"),
                        "a header timeout of 0 ms refuses every client".into(),
                        "give the milliseconds a client may take to send its header, \
                         such as 5000, or leave it out",
                    );
                }
                socket
            }
        }
    }

    pub(super) fn check_listener_clashes(&mut self) {
        let mut seen = BTreeMap::new();
        let listeners = self.config.listeners.clone();
        for (i, l) in listeners.iter().enumerate() {
            if let Some(first) = seen.insert(l.identity(), l.name.clone()) {
                self.error(
                    &format!("listener \"{}\"", l.name),
                    &format!("/listeners/{i}/spec"),
                    wording::listener_clash(&first),
                    wording::LISTENER_CLASH_HINT,
                );
            }
        }
    }
}
