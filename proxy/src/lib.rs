//! The l7mp proxy: listeners, clusters, sessions and routing for one static config file.
//!
//! Layout: [`listener`] accepts sessions (one file per protocol), [`routing`] picks a route for
//! each with the config's rules, [`cluster`] connects the route's hops (one file per protocol,
//! plus in-proxy transforms), [`session`] moves messages around the resulting ring of
//! [`stage`]s, [`jsonsocket`] does the JSONSocket header exchange for listeners and clusters,
//! [`lb`] chooses endpoints, [`stats`] counts, [`throttle`] thins repeated warnings, [`fds`]
//! keeps descriptors for the admin endpoint, [`proxy`] starts and stops the whole, [`reload`]
//! follows the config file, [`admin`] reports, read-only, over HTTP, and [`logging`] writes the
//! log. [`offload`] hands established one-hop UDP sessions to a tc program in the kernel.
//! The config format itself lives in the `l7mp-config` crate, shared with the compiler.

pub mod admin;
pub mod cluster;
pub mod fds;
pub mod gate;
pub mod jsonsocket;
pub mod lb;
pub mod listener;
pub mod logging;
pub mod msg;
pub mod offload;
pub mod proxy;
pub mod reload;
pub mod routing;
pub mod session;
pub mod stage;
pub mod stats;
pub mod throttle;
pub mod udp;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// WebSocket settings for both listeners and clusters: small buffers, since a proxy holds many
/// idle connections, and a message cap at the UDP datagram size the rest of the proxy uses.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(Some(msg::MAX_DATAGRAM))
        .max_frame_size(Some(msg::MAX_DATAGRAM))
}
