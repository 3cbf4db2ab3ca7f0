//! Clusters: where sessions go, as remote endpoints reached over a protocol or as an in-proxy
//! transform, and the local address a cluster connects from.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Endpoint, HeaderEntry, LoadBalancer, UnixMode};

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
        /// JSON pointer into the session metadata naming the domain (the original's spelling
        /// without the leading `/` is accepted, with a warning).
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
