//! The config file as people write it: the original l7mp static format (`admin`, `listeners`,
//! `clusters`, `rulelists`, `rules`, `routes`), where any object may be given inline or by name.
//!
//! These types only describe shape; [`crate::resolve`] checks meaning and produces the flat,
//! fully named [`crate::Config`] the proxy runs. Unknown fields are rejected so that a typo is an
//! error, not a silently ignored setting.

use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A whole config file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Process-level settings.
    #[serde(default)]
    pub admin: Admin,
    /// Sockets the proxy accepts sessions on.
    #[serde(default)]
    pub listeners: Vec<Listener>,
    /// Where sessions go: remote endpoints or in-proxy transforms.
    #[serde(default)]
    pub clusters: Vec<Cluster>,
    /// Named rule lists that listeners and `apply` actions refer to.
    #[serde(default)]
    pub rulelists: Vec<RuleList>,
    /// Named rules that rule lists refer to.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Named routes that rules refer to.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Present in the original's config dumps; accepted and ignored so that a dump loads.
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub endpoints: Option<Value>,
    /// Present in the original's config dumps; accepted and ignored so that a dump loads.
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub sessions: Option<Value>,
    /// Written by `l7mpc`: where the file came from, for humans and for status pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<Generated>,
}

/// Provenance stamped by the compiler (an extension of the original format).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Generated {
    /// The tool that wrote the file.
    #[serde(default)]
    pub by: Option<String>,
    /// The workload the file was compiled for (`namespace/kind/name`).
    #[serde(default)]
    pub workload: Option<String>,
}

/// Process-level settings. The original's `admin` keys are accepted; only `log_level` has an
/// effect (the command line wins over it). There is no write API, so `strict` is moot.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Default log level when `--log-level` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Accepted for compatibility; logs always go to stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,
    /// Accepted for compatibility; unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_path: Option<String>,
    /// Accepted for compatibility; unused (there is no REST API to be strict about).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// A name, or the object itself written in place.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "NameOr{T}")]
pub enum Ref<T> {
    /// Refers to a top-level object of that name.
    Name(String),
    /// The object, defined here.
    Inline(T),
}

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
    /// Seconds an ended session stays listed (accepted from the original).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<u64>,
    /// Seconds without traffic after which a session ends (default 60; 0 disables it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<u64>,
    /// Concurrent sessions beyond which new ones are refused (default 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

/// Unix domain socket flavours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UnixMode {
    /// SOCK_STREAM: a byte stream; message boundaries are lost.
    #[default]
    Stream,
    /// SOCK_SEQPACKET: connection-oriented and message-preserving.
    Seqpacket,
}

/// A cluster: a set of endpoints and how to reach them, or an in-proxy transform.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Unique among clusters; optional when the cluster is written inline in a route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Protocol and its settings.
    pub spec: ClusterSpec,
    /// Remote endpoints (none for in-proxy clusters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    /// Endpoint choice per session (default `Trivial`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loadbalancer: Option<LoadBalancer>,
    /// Accepted from the original, which ignores it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
}

/// Cluster protocols.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "protocol", deny_unknown_fields)]
pub enum ClusterSpec {
    /// A connected UDP socket per session.
    #[serde(rename = "UDP")]
    Udp {
        /// Endpoint port.
        port: u16,
        /// Local address and port to send from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bind: Option<Bind>,
    },
    /// A TCP connection per session.
    #[serde(rename = "TCP")]
    Tcp {
        /// Endpoint port.
        port: u16,
        /// Local address and port to connect from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bind: Option<Bind>,
    },
    /// A WebSocket connection per session to `ws://<endpoint>:<port><path>`.
    #[serde(rename = "WebSocket", alias = "WS")]
    WebSocket {
        /// Endpoint port.
        port: u16,
        /// Request path (default `/`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// Local address to connect from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bind: Option<Bind>,
    },
    /// A Unix domain socket connection per session; the endpoint address is the path.
    #[serde(rename = "UnixDomainSocket")]
    UnixDomainSocket {
        /// `stream` (default) or `seqpacket`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<UnixMode>,
        /// Accepted for the seed's manifests, which repeat the endpoint path here; unused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
    },
    /// Sends every message back where it came from.
    Echo {},
    /// Swallows every message.
    Discard {},
    /// Writes every message to a log, then passes it on.
    Logger {
        /// `-` or absent for stdout, else a file path (appended to).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_file: Option<String>,
        /// Text written before each message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_prefix: Option<String>,
    },
    /// JSONSocket client: after the transport connects, sends a JSON header built from `header`
    /// and waits for the server's status header. Endpoints and load balancing are this
    /// cluster's; the transport gives the protocol and port.
    #[serde(rename = "JSONSocket")]
    JsonSocket {
        /// The protocol that carries it: UDP, TCP, WebSocket or UnixDomainSocket.
        transport: Box<ClusterSpec>,
        /// How the request header is built, in order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        header: Vec<HeaderEntry>,
    },
    /// A rendezvous: sessions whose metadata at `query` has the same value share one broadcast
    /// domain, and what one member sends reaches every other member.
    Sync {
        /// JSON pointer into the session metadata naming the domain.
        query: String,
    },
    /// Wraps each message as `{"metadata": <session metadata>, "payload": "<base64>"}`.
    #[serde(rename = "JSONEncap")]
    JsonEncap {},
    /// Unwraps messages made by `JSONEncap` to their payload; one that does not decode is
    /// dropped and counted.
    #[serde(rename = "JSONDecap")]
    JsonDecap {},
    /// Passes messages on and counts their bytes and packets, exported on `/metrics`.
    Metric {
        /// Name of the byte counter (default: the cluster's name).
        #[serde(
            default,
            alias = "byteCounterName",
            skip_serializing_if = "Option::is_none"
        )]
        byte_counter_name: Option<String>,
        /// Name of the packet counter (default: the cluster's name).
        #[serde(
            default,
            alias = "packetCounterName",
            skip_serializing_if = "Option::is_none"
        )]
        packet_counter_name: Option<String>,
    },
    /// The proxy's standard input and output, for debugging.
    Stdio {},
}

/// One step in building a JSONSocket request header: exactly one of `path` and `set`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderEntry {
    /// Copy a metadata value into the header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<HeaderCopy>,
    /// Set a header field to a constant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<HeaderSet>,
}

/// A metadata value copied into a JSONSocket header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum HeaderCopy {
    /// A pointer into the metadata; the value replaces the whole header (`to: /`).
    From(String),
    /// A pointer into the metadata and where in the header the value goes.
    FromTo {
        /// JSON pointer into the session metadata.
        from: String,
        /// JSON pointer into the header (`/` replaces the whole header).
        to: String,
    },
}

/// A constant header field.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderSet {
    /// JSON pointer into the header.
    pub key: String,
    /// The value.
    pub value: Value,
}

/// Local address (and port) a cluster connects from.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bind {
    /// Local IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Local port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// One remote endpoint of a cluster.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// Optional label, shown in status and logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the endpoint is.
    pub spec: EndpointSpec,
    /// Relative share of sessions under `ConsistentHash` (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// An endpoint's address.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// An IP address, a DNS name (every address it resolves to is one endpoint) or, for Unix
    /// domain socket clusters, a socket path.
    pub address: String,
}

/// Endpoint selection.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// `Trivial`, `ConsistentHash` (alias `HashRing`) or `RoundRobin`.
    pub policy: String,
    /// For `ConsistentHash`: a JSON pointer into the session metadata whose value is hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A named list of rules, evaluated in order; the first match wins.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleList {
    /// Unique among rule lists.
    pub name: String,
    /// Rules by name or inline.
    pub rules: Vec<Ref<Rule>>,
}

/// A rule: a predicate on the session metadata and what to do when it holds.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique among rules; optional for inline rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A JSON predicate (draft-snell-json-test); absent or a string means "always".
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub matcher: Option<Value>,
    /// What the rule does.
    pub action: Action,
}

/// A rule's action.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Metadata edits, applied in order before routing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite: Vec<Rewrite>,
    /// The route for the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Ref<Route>>,
    /// Continue in this named rule list instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<String>,
}

/// Sets a metadata field.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rewrite {
    /// JSON pointer of the field; missing parents are created.
    pub path: String,
    /// The new value.
    pub value: Value,
}

/// A route: the chain of clusters a session passes through.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Unique among routes; optional for inline routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the session ends up (`cluster` is the original's older spelling).
    #[serde(alias = "cluster")]
    pub destination: Ref<Cluster>,
    /// Hops between the source and the destination.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Ref<Cluster>>,
    /// Hops between the destination and the source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<Ref<Cluster>>,
    /// Connect and reconnect policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
}

/// Retry policy of a route. Fields left out take their defaults (unlike the original, where a
/// partial object silently disabled retries).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// When to retry (default `never`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<RetryOn>,
    /// Extra attempts (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_retries: Option<u32>,
    /// Milliseconds each connect attempt may take (default 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// The failures a route retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RetryOn {
    /// Never: a failed connect or a disconnect ends the session.
    Never,
    /// Retry failed connects.
    ConnectFailure,
    /// Reconnect a hop that disconnects.
    Disconnect,
    /// Both.
    Always,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ref<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RefVisitor(PhantomData))
    }
}

/// Accepts a string as a name and anything else as the inline object, deserializing the latter
/// through the same deserializer so that error paths stay exact.
struct RefVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for RefVisitor<T> {
    type Value = Ref<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a name or an inline object")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Ref<T>, E> {
        Ok(Ref::Name(v.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Ref<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Ref::Inline)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Ref<T>, A::Error> {
        T::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Ref::Inline)
    }
}

/// The JSON Schema of the config file, generated from these types; checked in as
/// `schemas/l7mp-config.schema.json` for editors and other tools.
pub fn json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(ConfigFile)).unwrap_or_default()
}
