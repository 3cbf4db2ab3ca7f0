//! Listeners: the sockets the proxy accepts sessions on, their protocols and session options,
//! and the UDP-specific peer filter and mode.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Ref, Rule, UnixMode};

/// A listener: a socket and the rules that pick a route for each session it accepts.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Unique among listeners.
    pub name: String,
    /// Protocol and address.
    pub spec: ListenerSpec,
    /// A rule list name, or the rules inline.
    pub rules: Ref<Vec<Ref<Rule>>>,
    /// Session-level limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ListenerOptions>,
}

/// Per-listener session settings (extensions of the original, which has only `track`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerOptions {
    /// Seconds an ended session stays listed on the admin endpoint's `/sessions` (as in the
    /// original; default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<u64>,
    /// Seconds without traffic after which a session ends (default 60; 0 disables it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<u64>,
    /// Concurrent sessions beyond which new ones are refused (default 10,000; at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_sessions: Option<u32>,
}

/// Listener protocols. Each is a `protocol:` value with its own fields.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "protocol", deny_unknown_fields)]
pub enum ListenerSpec {
    /// UDP: one session per remote address and port (server mode) or one fixed peer (singleton).
    #[serde(rename = "UDP")]
    Udp {
        /// Local port.
        port: u16,
        /// Local address (default: `--bind-address`, else the wildcard address).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        /// Accept only this peer (either part may be left out).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connect: Option<PeerFilter>,
        /// `mode: server | singleton`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        options: Option<UdpListenerOptions>,
    },
    /// TCP: one session per connection, a byte stream.
    #[serde(rename = "TCP")]
    Tcp {
        /// Local port.
        port: u16,
        /// Local address.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// WebSocket: one session per connection, each message one datagram.
    #[serde(rename = "WebSocket", alias = "WS")]
    WebSocket {
        /// Local port.
        port: u16,
        /// Local address.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        /// Accept upgrades only for this request path (default: any path).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// A Unix domain socket: a byte stream, or datagrams with `mode: seqpacket`.
    #[serde(rename = "UnixDomainSocket")]
    UnixDomainSocket {
        /// The socket's path; a stale file there is removed at start, the file at exit.
        filename: String,
        /// `stream` (default, like the original) or `seqpacket` (keeps message boundaries).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<UnixMode>,
    },
    /// JSONSocket: the client's first message is a JSON header that becomes the session's
    /// `/JSONSocket` metadata; the listener answers with a status header, then payload flows.
    #[serde(rename = "JSONSocket")]
    JsonSocket {
        /// The protocol that carries it: UDP, TCP, WebSocket or UnixDomainSocket.
        transport: Box<ListenerSpec>,
        /// Milliseconds a client may take to send its header before it is refused (default
        /// 5000; the original waits forever).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header_timeout: Option<u64>,
    },
}

impl ListenerSpec {
    /// The `protocol:` value, for logs.
    pub fn protocol(&self) -> &'static str {
        match self {
            ListenerSpec::Udp { .. } => "UDP",
            ListenerSpec::Tcp { .. } => "TCP",
            ListenerSpec::WebSocket { .. } => "WebSocket",
            ListenerSpec::UnixDomainSocket { .. } => "UnixDomainSocket",
            ListenerSpec::JsonSocket { .. } => "JSONSocket",
        }
    }
}

/// Which remote peer a UDP listener accepts.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PeerFilter {
    /// Peer IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Peer port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// UDP listener options of the original format.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UdpListenerOptions {
    /// Default: `singleton` when both `connect.address` and `connect.port` are set, else `server`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<UdpMode>,
}

/// How a UDP listener turns datagrams into sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UdpMode {
    /// One session per remote address and port.
    Server,
    /// One session with the fixed `connect` peer, opened at startup.
    Singleton,
}

impl UdpMode {
    /// The mode a UDP listener runs in: the one it names, else singleton exactly when both
    /// parts of `connect` are set (the original's rule).
    pub fn of(connect: Option<&PeerFilter>, options: Option<&UdpListenerOptions>) -> UdpMode {
        match options.and_then(|o| o.mode) {
            Some(mode) => mode,
            None if connect.is_some_and(|c| c.address.is_some() && c.port.is_some()) => {
                UdpMode::Singleton
            }
            None => UdpMode::Server,
        }
    }
}
