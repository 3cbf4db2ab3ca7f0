//! Listeners: their specs (ports, addresses, paths, JSONSocket transports and header timeout),
//! their rule lists, defaults, and the check that no two listeners share a port or socket path.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Kind, Resolver};
use crate::config::{DEFAULT_IDLE_TIMEOUT_SECS, DEFAULT_MAX_SESSIONS, ListenerConfig};
use crate::model::{Listener, ListenerSpec, Ref, UdpMode};
use crate::wording;

impl Resolver<'_> {
    pub(super) fn add_listener(&mut self, l: &Listener, at: &str) {
        if !self.define(Kind::Listener, &l.name, at) {
            return;
        }
        let object = format!("listener \"{}\"", l.name);
        self.check_listener_spec(&object, &l.spec, &format!("{at}/spec"));
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
        self.config.listeners.push(ListenerConfig {
            name: l.name.clone(),
            spec: l.spec.clone(),
            rulelist,
            idle_timeout: (idle > 0).then(|| Duration::from_secs(idle)),
            max_sessions: options.max_sessions.unwrap_or(DEFAULT_MAX_SESSIONS),
            track: options.track.filter(|t| *t > 0).map(Duration::from_secs),
        });
    }

    fn check_listener_spec(&mut self, object: &str, spec: &ListenerSpec, at: &str) {
        match spec {
            ListenerSpec::Udp {
                port,
                address,
                connect,
                options,
            } => {
                self.check_port(object, *port, &format!("{at}/port"));
                self.check_ip(object, address.as_deref(), &format!("{at}/address"));
                let connect = connect.clone().unwrap_or_default();
                self.check_ip(
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
            }
            ListenerSpec::Tcp { port, address } => {
                self.check_port(object, *port, &format!("{at}/port"));
                self.check_ip(object, address.as_deref(), &format!("{at}/address"));
            }
            ListenerSpec::WebSocket {
                port,
                address,
                path,
            } => {
                self.check_port(object, *port, &format!("{at}/port"));
                self.check_ip(object, address.as_deref(), &format!("{at}/address"));
                self.check_http_path(object, path.as_deref(), &format!("{at}/path"));
            }
            ListenerSpec::UnixDomainSocket { filename, .. } => {
                if filename.is_empty() {
                    self.error(
                        object,
                        &format!("{at}/filename"),
                        "the socket path is empty".into(),
                        "give the path of the socket file, such as /tmp/app.sock",
                    );
                }
            }
            ListenerSpec::JsonSocket {
                transport,
                header_timeout,
            } => {
                let transport_at = format!("{at}/transport");
                if matches!(**transport, ListenerSpec::JsonSocket { .. }) {
                    self.error(
                        object,
                        &format!("{transport_at}/protocol"),
                        "JSONSocket cannot run over JSONSocket".into(),
                        "use UDP, TCP, WebSocket or UnixDomainSocket as the transport",
                    );
                } else {
                    self.check_listener_spec(object, transport, &transport_at);
                }
                if *header_timeout == Some(0) {
                    self.error(
                        object,
                        &format!("{at}/header_timeout"),
                        "a header timeout of 0 ms refuses every client".into(),
                        "give the milliseconds a client may take to send its header, \
                         such as 5000, or leave it out",
                    );
                }
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
