//! WebSocket cluster connections. The URL's host and port come from the endpoint and the
//! cluster, so any session can use it, whatever its source protocol (the original needed HTTP
//! metadata and failed for sessions from UDP listeners). When the session has `/HTTP`
//! metadata (a WebSocket listener's upgrade request, or rewrites), the request carries it on
//! as the original did: the path and query, the request headers and the subprotocol.
//!
//! Never forwarded: `Host` (the endpoint's, set from the URL), the handshake's own headers
//! (`Sec-WebSocket-Key`, `-Version`, `-Accept`, `-Extensions`; this hop negotiates its own),
//! hop-by-hop headers (`Connection`, `Upgrade`, `Keep-Alive`, `Proxy-Authenticate`,
//! `Proxy-Authorization`, `TE`, `Trailer`, `Transfer-Encoding`) and `Content-Length`.

use std::io;

use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use crate::websocket_config;

/// Request headers that belong to one hop (or to the handshake itself) and are never copied
/// from the session's `/HTTP/headers`.
const NOT_FORWARDED: &[&str] = &[
    "host",
    "connection",
    "upgrade",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "content-length",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-accept",
    "sec-websocket-extensions",
];

/// Performs the client handshake for `ws://host:port<path>` over an open TCP connection. The
/// path is the cluster's `path`, else the session's `/HTTP/url/path` and `query`, else `/`.
pub async fn handshake(
    stream: TcpStream,
    host: &str,
    port: u16,
    path: Option<&str>,
    metadata: &Value,
) -> io::Result<WebSocketStream<TcpStream>> {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let path = path.map_or_else(|| session_path(metadata), str::to_string);
    let url = format!("ws://{host}:{port}{path}");
    let mut request = url
        .into_client_request()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let headers = request.headers_mut();
    for (name, value) in session_headers(metadata) {
        headers.insert(name, value);
    }
    let (ws, _response) = client_async_with_config(request, stream, Some(websocket_config()))
        .await
        .map_err(io::Error::other)?;
    Ok(ws)
}

/// `/HTTP/url/path` with `?` and `/HTTP/url/query` when there is one; `/` without a path.
fn session_path(metadata: &Value) -> String {
    let url = metadata.pointer("/HTTP/url");
    let text = |key: &str| url.and_then(|u| u.get(key)).and_then(Value::as_str);
    let path = text("path").filter(|p| p.starts_with('/')).unwrap_or("/");
    match text("query").filter(|q| !q.is_empty()) {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    }
}

/// The session's `/HTTP/headers` that go on to the next hop: string values (numbers and
/// booleans as their JSON text) under valid names, minus [`NOT_FORWARDED`].
fn session_headers(metadata: &Value) -> Vec<(HeaderName, HeaderValue)> {
    let Some(Value::Object(headers)) = metadata.pointer("/HTTP/headers") else {
        return Vec::new();
    };
    headers
        .iter()
        .filter(|(name, _)| !NOT_FORWARDED.contains(&name.to_ascii_lowercase().as_str()))
        .filter_map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => value.to_string(),
                _ => return None,
            };
            let header = HeaderName::from_bytes(name.as_bytes()).ok()?;
            let value = HeaderValue::from_str(&text).ok()?;
            Some((header, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_path_and_query_come_from_the_session_when_it_has_them() {
        let with = json!({"HTTP": {"url": {"path": "/foo/bar", "query": "x=1"}}});
        assert_eq!(session_path(&with), "/foo/bar?x=1");
        let no_query = json!({"HTTP": {"url": {"path": "/foo", "query": ""}}});
        assert_eq!(session_path(&no_query), "/foo");
        assert_eq!(session_path(&json!({"IP": {}})), "/");
        assert_eq!(session_path(&json!({"HTTP": {"url": {"path": 7}}})), "/");
    }

    #[test]
    fn hop_by_hop_and_handshake_headers_stay_behind() {
        let metadata = json!({"HTTP": {"headers": {
            "x-user": "alice",
            "sec-websocket-protocol": "chat",
            "host": "proxy:8080",
            "connection": "Upgrade",
            "upgrade": "websocket",
            "sec-websocket-key": "abc",
            "sec-websocket-version": "13",
            "sec-websocket-extensions": "permessage-deflate",
            "Transfer-Encoding": "chunked",
            "x-count": 3,
            "x-object": {"a": 1},
            "bad name": "v",
        }}});
        let mut kept: Vec<(String, String)> = session_headers(&metadata)
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        kept.sort();
        assert_eq!(
            kept,
            [
                ("sec-websocket-protocol".to_string(), "chat".to_string()),
                ("x-count".to_string(), "3".to_string()),
                ("x-user".to_string(), "alice".to_string()),
            ]
        );
    }
}
