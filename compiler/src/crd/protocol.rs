//! Protocol specs: a listener's or cluster's `spec` is a map with exactly one key, the protocol,
//! whose value holds that protocol's settings (`{UDP: {port: 9001}}`).
//!
//! Each map is a struct of optional fields plus `minProperties`/`maxProperties` 1, which is how
//! the original CRD (oa2) writes it and what a structural schema allows.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// A TCP or UDP port, 1 to 65535. A newtype so every port carries the same range.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port(pub u16);

impl JsonSchema for Port {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Port".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 1, "maximum": 65535})
    }
}

/// A protocol that takes no settings (`Echo: {}`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct NoSettings {}

/// Settings of a protocol that needs only a port.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct PortOnly {
    /// The port.
    pub port: Port,
}

/// Settings of an HTTP-based listener: a port and an optional request path.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct HttpListener {
    /// The port to listen on.
    pub port: Port,
    /// The request path to accept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// An IP address or DNS name and/or a port.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct AddressPort {
    /// The address or DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Port>,
}

/// Settings of a UDP listener.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct UdpListener {
    /// The port to listen on.
    pub port: Port,
    /// The only remote peer to accept (singleton mode when both parts are given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<AddressPort>,
    /// Mode override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<UdpListenerOptions>,
}

/// Options of a UDP listener.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct UdpListenerOptions {
    /// `server`: a session per peer; `singleton`: one session with the `connect` peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<UdpMode>,
}

/// How a UDP listener turns datagrams into sessions.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UdpMode {
    /// A new session for each new peer.
    Server,
    /// One session with one known peer.
    Singleton,
}

/// A Unix domain socket path.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct SocketFile {
    /// The socket's path.
    pub filename: String,
}

/// A Unix domain socket cluster. oa2 allows no settings here, but the seed (and so real users)
/// write the socket path on the cluster too; it is accepted and endpoints still carry the path.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct UdsCluster {
    /// The socket's path, as a default for endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// Settings of a UDP or TCP cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct IpCluster {
    /// The endpoints' port.
    pub port: Port,
    /// The local address and port to send from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<AddressPort>,
}

/// A listener's protocol and its settings: exactly one key.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct ListenerSpec {
    /// HTTP server.
    #[serde(rename = "HTTP", default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpListener>,
    /// The stream and datagram protocols (shared with the protocols a JSONSocket listener runs
    /// over).
    #[serde(flatten)]
    pub transport: ListenerTransport,
    /// JSONSocket over another listener protocol.
    #[serde(
        rename = "JSONSocket",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub json_socket: Option<JsonSocketListener>,
}

/// A JSONSocket listener: the header exchange runs over `transport`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JsonSocketListener {
    /// The listener protocol carrying JSONSocket.
    pub transport: ListenerTransport,
    /// Milliseconds a client may take to send its header (the proxy's default is 5000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub header_timeout: Option<u64>,
}

/// The protocols a JSONSocket listener can run over. A separate type because a CRD schema
/// cannot be recursive.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct ListenerTransport {
    /// WebSocket server.
    #[serde(rename = "WebSocket", default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<HttpListener>,
    /// UDP socket.
    #[serde(rename = "UDP", default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpListener>,
    /// TCP server.
    #[serde(rename = "TCP", default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<PortOnly>,
    /// Unix domain socket server.
    #[serde(
        rename = "UnixDomainSocket",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub unix: Option<SocketFile>,
}

/// A cluster's protocol and its settings: exactly one key.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct ClusterSpec {
    /// The remote protocols (shared with the protocols a JSONSocket cluster runs over).
    #[serde(flatten)]
    pub transport: ClusterTransport,
    /// JSONSocket over another cluster protocol.
    #[serde(
        rename = "JSONSocket",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub json_socket: Option<JsonSocketCluster>,
    /// The proxy's standard input and output (debugging).
    #[serde(rename = "Stdio", default, skip_serializing_if = "Option::is_none")]
    pub stdio: Option<NoSettings>,
    /// Sends every message back.
    #[serde(rename = "Echo", default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<NoSettings>,
    /// Drops every message.
    #[serde(rename = "Discard", default, skip_serializing_if = "Option::is_none")]
    pub discard: Option<NoSettings>,
    /// Logs and passes on every message.
    #[serde(rename = "Logger", default, skip_serializing_if = "Option::is_none")]
    pub logger: Option<LoggerCluster>,
    /// Joins streams whose metadata query gives the same value.
    #[serde(rename = "Sync", default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncCluster>,
    /// Wraps messages and metadata in JSON.
    #[serde(rename = "JSONEncap", default, skip_serializing_if = "Option::is_none")]
    pub json_encap: Option<NoSettings>,
    /// Unwraps the payload of JSON-wrapped messages.
    #[serde(rename = "JSONDecap", default, skip_serializing_if = "Option::is_none")]
    pub json_decap: Option<NoSettings>,
    /// Counts bytes and messages.
    #[serde(rename = "Metric", default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricCluster>,
}

/// A JSONSocket cluster: the header exchange runs over `transport`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct JsonSocketCluster {
    /// The cluster protocol carrying JSONSocket.
    pub transport: ClusterTransport,
    /// How the request header is built from the session metadata, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Vec<HeaderEntry>>,
}

/// One step in building a JSONSocket request header: copy a metadata value (`path`) or set a
/// constant (`set`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[schemars(extend("oneOf" = [{"required": ["path"]}, {"required": ["set"]}]))]
pub struct HeaderEntry {
    /// A JSON pointer into the metadata whose value becomes the whole header, or
    /// `{from, to}`: the value at `from` goes to `to` in the header. Free-form because the CRD
    /// schema cannot say "a string or an object"; lowering checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::any_value")]
    pub path: Option<serde_json::Value>,
    /// A constant header field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<HeaderSet>,
}

/// A constant JSONSocket header field.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct HeaderSet {
    /// JSON pointer into the header.
    pub key: String,
    /// The value.
    #[schemars(schema_with = "super::any_value")]
    pub value: serde_json::Value,
}

/// The protocols a JSONSocket cluster can run over. A separate type because a CRD schema
/// cannot be recursive.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct ClusterTransport {
    /// WebSocket client.
    #[serde(rename = "WebSocket", default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<PortOnly>,
    /// UDP socket.
    #[serde(rename = "UDP", default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<IpCluster>,
    /// TCP client.
    #[serde(rename = "TCP", default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<IpCluster>,
    /// Unix domain socket client.
    #[serde(
        rename = "UnixDomainSocket",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub unix: Option<UdsCluster>,
}

/// Settings of the Logger cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct LoggerCluster {
    /// The file to log to; `-` or absent means standard output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,
    /// A prefix for each logged line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_prefix: Option<String>,
}

/// Settings of the Sync cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct SyncCluster {
    /// JSON pointer into the metadata whose value names the rendezvous.
    pub query: String,
}

/// Settings of the Metric cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricCluster {
    /// Name of the byte counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byte_counter_name: Option<String>,
    /// Name of the message counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet_counter_name: Option<String>,
}
