//! The l7mp proxy: listeners, clusters, sessions and routing for one static config file.
//!
//! Layout, in layers: a module imports only from the layers below it, never from its own or
//! one above, so there are no import loops between modules (a unit test, `layering`, checks
//! that for the top-level modules and for the submodules of each folder).
//!
//! 1. Leaves: [`msg`] (what stages exchange and the message size limits), [`stats`] counts,
//!    [`gate`] polls rare events only once they fired, [`throttle`] thins repeated warnings,
//!    [`fds`] keeps descriptors for the admin endpoint, [`lb`] chooses endpoints, [`logging`]
//!    writes the log.
//! 2. Below the stages: [`udp`] (UDP hops and peers, batched receives, the listener's
//!    shortcut past a session's task), [`transform`] (in-proxy transforms: Echo, Logger,
//!    Sync, ...), and [`offload`], which hands established UDP pair sessions to a tc program
//!    in the kernel.
//! 3. [`stage`]: one connection of a session, any protocol; [`jsonsocket`] does the JSONSocket
//!    header exchange on a stage.
//! 4. [`cluster`] connects a route's hops (one file per protocol) and [`routing`] picks a
//!    route for each session with the config's rules.
//! 5. [`session`]: a listener's context and session registry, and the running sessions (the
//!    general ring of stages, and the UDP pair session).
//! 6. [`listener`] accepts connections and hands them to sessions (one file per protocol).
//! 7. [`proxy`] starts and stops the whole, [`reload`] follows the config file, [`admin`]
//!    reports, read-only, over HTTP.
//!
//! The config format itself lives in the `l7mp-config` crate, shared with the compiler.

pub mod admin;
pub mod cluster;
pub mod fds;
pub mod gate;
pub mod jsonsocket;
#[cfg(test)]
mod layering;
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
pub mod transform;
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
