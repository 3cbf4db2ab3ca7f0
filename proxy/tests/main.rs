//! The proxy's integration tests, as one test binary: each module below was a binary of its
//! own, and all of them compiled the `common` helpers again. They now share one process, so
//! what is process-wide (SIGHUP, the proxy's registry of the ports it holds, descriptors) is
//! shared through `common` ([`common::SIGNALS`]), never assumed private.

mod common;

mod admin;
mod balancing;
mod chains;
mod cli;
mod failover;
mod handshakes;
mod jsonsocket;
mod lenient_paths;
mod lifecycle;
mod log_flood;
mod logs;
mod offload;
mod original_corpus;
mod ownership;
mod protocols;
mod reload;
mod routing;
mod smoke;
mod sync;
mod transforms;
mod unix_connect;
mod websocket_frames;
mod websocket_metadata;
mod wire_errors;
