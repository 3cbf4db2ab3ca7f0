//! The resolved config the proxy runs: every object named, every reference checked, every
//! predicate, pointer and default worked out. Produced only by [`crate::resolve`].
//!
//! Objects compare by value so that a reload can tell which ones changed.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::model::{ClusterSpec, ListenerSpec, RetryOn, UnixMode};
use crate::pointer::JsonPointer;
use crate::predicate::Predicate;

/// Default seconds of silence after which a session ends.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default concurrent sessions per listener.
pub const DEFAULT_MAX_SESSIONS: u32 = 10_000;

/// A validated config file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// Listeners in file order.
    pub listeners: Vec<ListenerConfig>,
    /// Clusters by name.
    pub clusters: BTreeMap<String, ClusterConfig>,
    /// Rule lists by name: the names of their rules, in order.
    pub rulelists: BTreeMap<String, Vec<String>>,
    /// Rules by name.
    pub rules: BTreeMap<String, RuleConfig>,
    /// Routes by name.
    pub routes: BTreeMap<String, RouteConfig>,
    /// `admin.log_level` as a `tracing` filter ([`crate::log_level::to_filter`]), used when
    /// the command line sets none.
    pub log_level: Option<String>,
}

/// A listener, ready to bind.
#[derive(Clone, Debug, PartialEq)]
pub struct ListenerConfig {
    /// Unique name.
    pub name: String,
    /// Protocol and address, as written.
    pub spec: ListenerSpec,
    /// The socket it binds, with its addresses parsed at load: binding has nothing left to
    /// check.
    pub socket: ListenerSocket,
    /// The rule list that routes its sessions.
    pub rulelist: String,
    /// Silence after which a session ends; `None` never.
    pub idle_timeout: Option<Duration>,
    /// Concurrent sessions beyond which new ones are refused.
    pub max_sessions: u32,
    /// How long an ended session stays listed on the admin endpoint; `None` not at all.
    pub track: Option<Duration>,
}

impl ListenerConfig {
    /// What makes a listener the same socket across reloads: its protocol and where it binds.
    /// Everything else can change without closing the socket.
    pub fn identity(&self) -> ListenerIdentity {
        ListenerIdentity::of(&self.spec)
    }
}

impl ListenerIdentity {
    /// The socket `spec` binds (a JSONSocket listener binds its transport's).
    pub fn of(spec: &ListenerSpec) -> ListenerIdentity {
        match spec {
            ListenerSpec::Udp { port, address, .. } => {
                ListenerIdentity::Udp(address.clone(), *port)
            }
            ListenerSpec::Tcp { port, address } => ListenerIdentity::Tcp(address.clone(), *port),
            ListenerSpec::WebSocket { port, address, .. } => {
                ListenerIdentity::Tcp(address.clone(), *port)
            }
            ListenerSpec::UnixDomainSocket { filename, .. } => {
                ListenerIdentity::Unix(filename.clone())
            }
            ListenerSpec::JsonSocket { transport, .. } => ListenerIdentity::of(transport),
        }
    }
}

/// The socket a listener binds (a JSONSocket listener's is its transport's), parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenerSocket {
    /// A UDP port.
    Udp {
        /// Local address; `None` binds `--bind-address`, else the wildcard address.
        address: Option<IpAddr>,
        /// Local port.
        port: u16,
        /// The peers it serves.
        peers: UdpPeers,
    },
    /// A TCP port serving byte streams.
    Tcp {
        /// Local address; `None` as for UDP.
        address: Option<IpAddr>,
        /// Local port.
        port: u16,
    },
    /// A TCP port serving WebSocket connections.
    WebSocket {
        /// Local address; `None` as for UDP.
        address: Option<IpAddr>,
        /// Local port.
        port: u16,
    },
    /// A Unix domain socket.
    Unix {
        /// The socket file.
        path: PathBuf,
        /// Stream or seqpacket.
        mode: UnixMode,
    },
}

/// The peers a UDP listener serves (its `connect` filter and mode, parsed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpPeers {
    /// A session per remote address and port that passes the filter.
    Server {
        /// Only this peer address (`None`: any).
        address: Option<IpAddr>,
        /// Only this peer port (`None`: any).
        port: Option<u16>,
    },
    /// One session with this peer, its socket connected to it.
    Singleton(SocketAddr),
}

/// The socket a listener owns, for clash detection and reload diffs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListenerIdentity {
    /// A UDP port on an address (`None`: the default address).
    Udp(Option<String>, u16),
    /// A TCP port on an address (TCP and WebSocket listeners).
    Tcp(Option<String>, u16),
    /// A Unix socket path.
    Unix(String),
}

/// `ADDRESS:PORT` (`*` for the default address) or the socket's path, for logs.
impl fmt::Display for ListenerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenerIdentity::Udp(address, port) | ListenerIdentity::Tcp(address, port) => {
                write!(f, "{}:{port}", address.as_deref().unwrap_or("*"))
            }
            ListenerIdentity::Unix(path) => f.write_str(path),
        }
    }
}

/// A cluster with its endpoints and load-balancing policy.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterConfig {
    /// Unique name.
    pub name: String,
    /// Protocol and its settings.
    pub spec: ClusterSpec,
    /// Remote endpoints, in file order.
    pub endpoints: Vec<EndpointConfig>,
    /// How a session's endpoint is chosen.
    pub policy: LbPolicy,
    /// Metadata value hashed by `ConsistentHash`; `None` picks at random.
    pub key: Option<JsonPointer>,
    /// The local address its connections bind (a JSONSocket cluster's is its transport's),
    /// parsed at load; `None`: any address, any port.
    pub bind: Option<LocalAddress>,
}

/// A cluster's `bind`, parsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalAddress {
    /// Local IP address (`None`: the unspecified address of the endpoint's family).
    pub address: Option<IpAddr>,
    /// Local port (`None`: an ephemeral port).
    pub port: Option<u16>,
}

/// One remote endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Label for logs and status.
    pub name: String,
    /// Where it is, parsed at load.
    pub address: EndpointAddress,
    /// Relative share under `ConsistentHash`.
    pub weight: u32,
}

/// An endpoint's address: what kind it is was settled at load, from its text and the
/// cluster's protocol. Names stay names: they are resolved at run time, and again as they
/// change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointAddress {
    /// An IP address (network protocols).
    Ip(IpAddr),
    /// A DNS name (network protocols): every address it resolves to is one endpoint.
    Name(String),
    /// A socket path (UnixDomainSocket clusters).
    Path(PathBuf),
}

/// As written in the file (an IP address in its canonical form).
impl fmt::Display for EndpointAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointAddress::Ip(ip) => ip.fmt(f),
            EndpointAddress::Name(name) => f.write_str(name),
            EndpointAddress::Path(path) => path.display().fmt(f),
        }
    }
}

/// Load-balancing policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LbPolicy {
    /// Always the first endpoint.
    Trivial,
    /// The same key always gets the same endpoint; endpoint changes move few keys.
    ConsistentHash,
    /// Endpoints in turn.
    RoundRobin,
}

impl LbPolicy {
    /// Parses a policy name as the original spells it (`HashRing` is `ConsistentHash`).
    pub fn parse(name: &str) -> Option<LbPolicy> {
        match name {
            "Trivial" => Some(LbPolicy::Trivial),
            "ConsistentHash" | "HashRing" => Some(LbPolicy::ConsistentHash),
            "RoundRobin" => Some(LbPolicy::RoundRobin),
            _ => None,
        }
    }
}

/// A rule, with its predicate compiled.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleConfig {
    /// Unique name.
    pub name: String,
    /// `None` matches every session.
    pub matcher: Option<Match>,
    /// Metadata edits applied in order when the rule matches.
    pub rewrite: Vec<(JsonPointer, Value)>,
    /// What a match leads to.
    pub target: RuleTarget,
}

/// Where a matching rule sends the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleTarget {
    /// Route the session.
    Route(String),
    /// Continue in another rule list; its result is final.
    Apply(String),
}

/// A compiled predicate and the JSON it came from (which is what equality compares).
#[derive(Clone, Debug)]
pub struct Match {
    /// As written.
    pub source: Value,
    /// Ready to evaluate.
    pub predicate: Predicate,
}

impl PartialEq for Match {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// A route: the clusters a session passes through.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteConfig {
    /// Unique name.
    pub name: String,
    /// The session's final hop.
    pub destination: String,
    /// Hops from the source toward the destination.
    pub ingress: Vec<String>,
    /// Hops from the destination back toward the source.
    pub egress: Vec<String>,
    /// Connect and reconnect policy.
    pub retry: RetryPolicy,
}

/// A route's retry policy with defaults applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Which failures are retried.
    pub retry_on: RetryOn,
    /// Extra attempts after the first.
    pub num_retries: u32,
    /// Time each connect attempt may take.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retry_on: RetryOn::Never,
            num_retries: 1,
            timeout: Duration::from_millis(2000),
        }
    }
}

/// Whether a protocol carries datagrams (message boundaries survive) or a byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Each message arrives as sent.
    Datagram,
    /// Bytes arrive in arbitrary chunks.
    Stream,
    /// Passes on whatever framing it is given (in-proxy transforms).
    Transparent,
}

impl Framing {
    /// The framing a listener's sessions have.
    pub fn of_listener(spec: &ListenerSpec) -> Framing {
        match spec {
            ListenerSpec::Udp { .. } | ListenerSpec::WebSocket { .. } => Framing::Datagram,
            ListenerSpec::Tcp { .. } => Framing::Stream,
            ListenerSpec::UnixDomainSocket { mode, .. } => Framing::of_unix(*mode),
            ListenerSpec::JsonSocket { transport, .. } => Framing::of_listener(transport),
        }
    }

    /// The framing of a cluster's connections.
    pub fn of_cluster(spec: &ClusterSpec) -> Framing {
        match spec {
            ClusterSpec::Udp { .. } | ClusterSpec::WebSocket { .. } => Framing::Datagram,
            ClusterSpec::Tcp { .. } => Framing::Stream,
            ClusterSpec::UnixDomainSocket { mode, .. } => Framing::of_unix(*mode),
            ClusterSpec::JsonSocket { transport, .. } => Framing::of_cluster(transport),
            ClusterSpec::Echo {}
            | ClusterSpec::Discard {}
            | ClusterSpec::Logger { .. }
            | ClusterSpec::Sync { .. }
            | ClusterSpec::JsonEncap {}
            | ClusterSpec::JsonDecap {}
            | ClusterSpec::Metric { .. }
            | ClusterSpec::Stdio {} => Framing::Transparent,
        }
    }

    fn of_unix(mode: Option<UnixMode>) -> Framing {
        match mode.unwrap_or_default() {
            UnixMode::Stream => Framing::Stream,
            UnixMode::Seqpacket => Framing::Datagram,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_include_the_original_alias() {
        assert_eq!(LbPolicy::parse("Trivial"), Some(LbPolicy::Trivial));
        assert_eq!(
            LbPolicy::parse("ConsistentHash"),
            Some(LbPolicy::ConsistentHash)
        );
        assert_eq!(LbPolicy::parse("HashRing"), Some(LbPolicy::ConsistentHash));
        assert_eq!(LbPolicy::parse("RoundRobin"), Some(LbPolicy::RoundRobin));
        assert_eq!(LbPolicy::parse("roundrobin"), None);
        assert_eq!(LbPolicy::parse(""), None);
    }
}
