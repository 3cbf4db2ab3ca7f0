//! WebSocket cluster connections. The URL is built from the cluster and endpoint alone, so any
//! session can use it, whatever its source protocol (the original needed HTTP metadata and
//! failed for sessions from UDP listeners).

use std::io;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use crate::websocket_config;

/// Performs the client handshake for `ws://host:port/path` over an open TCP connection.
pub async fn handshake(
    stream: TcpStream,
    host: &str,
    port: u16,
    path: Option<&str>,
) -> io::Result<WebSocketStream<TcpStream>> {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let url = format!("ws://{host}:{port}{}", path.unwrap_or("/"));
    let request = url
        .into_client_request()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let (ws, _response) = client_async_with_config(request, stream, Some(websocket_config()))
        .await
        .map_err(io::Error::other)?;
    Ok(ws)
}
