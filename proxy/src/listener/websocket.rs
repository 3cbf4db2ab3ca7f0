//! WebSocket listeners: one session per connection, each message one datagram. The upgrade
//! request becomes `/HTTP/...` metadata (method, path, query, lower-cased headers) that rules
//! can match. A connection takes its slot under the listener's session limit when it is
//! accepted, so pending handshakes count; one that does not complete the handshake in time, or
//! is not an upgrade at all, is counted as a session error and closed.
//!
//! Subprotocols (`Sec-WebSocket-Protocol`): RFC 6455 has the server select one of those the
//! client offers, and clients (browsers, tungstenite) fail a handshake whose answer names none.
//! The listener selects the first one offered, as the original did. It answers before the
//! session is routed, so it cannot wait for an upstream's choice; instead the session's
//! `/HTTP/headers/sec-websocket-protocol` is narrowed to the selected one, so that a WebSocket
//! cluster hop, which carries that header on, offers its upstream only what the client already
//! agreed to: the upstream confirms it or the hop fails, and the two ends never disagree.

use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use l7mp_config::model::ListenerSpec;
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::accept_hdr_async_with_config;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

use super::{accept_loop, ip_metadata};
use crate::session::ListenerCtx;
use crate::stage::{Stage, WsStage};
use crate::websocket_config;

/// Time a client has to finish the upgrade.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until the listener stops; handshakes run on their own tasks.
pub async fn serve(listener: std::net::TcpListener, ctx: Arc<ListenerCtx>) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    accept_loop(
        &ctx,
        |cx| listener.poll_accept(cx),
        |(stream, peer), id| {
            let Some(permit) = ctx.admit_connection(stream.as_fd()) else {
                return;
            };
            let name = format!("WS:{peer}-{id}");
            tokio::spawn(upgrade(stream, ctx.clone(), permit, name));
        },
    )
    .await
}

/// Runs the handshake, holding the session's slot `permit`, and starts the session.
async fn upgrade(
    stream: TcpStream,
    ctx: Arc<ListenerCtx>,
    permit: OwnedSemaphorePermit,
    name: String,
) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let wanted_path = match super::transport(&ctx.config().spec) {
        ListenerSpec::WebSocket { path, .. } => path.clone(),
        _ => None,
    };
    let mut http = None;
    // The signature is tungstenite's handshake callback; the error is its HTTP response.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        if wanted_path
            .as_deref()
            .is_some_and(|p| p != req.uri().path())
        {
            let mut refusal = ErrorResponse::new(Some("no WebSocket service at this path".into()));
            *refusal.status_mut() = StatusCode::NOT_FOUND;
            return Err(refusal);
        }
        let mut metadata = request_metadata(req);
        if let Some(chosen) = select_subprotocol(req)
            && let Ok(value) = HeaderValue::from_str(chosen)
        {
            if let Some(h) = metadata.get_mut("headers").and_then(Value::as_object_mut) {
                h.insert(PROTOCOL_HEADER.into(), Value::String(chosen.to_string()));
            }
            resp.headers_mut().insert(PROTOCOL_HEADER, value);
        }
        http = Some(metadata);
        Ok(resp)
    };
    let handshake = accept_hdr_async_with_config(stream, callback, Some(websocket_config()));
    let ws = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            ctx.stats.session_errors.inc();
            tracing::info!(session = %name, listener = %ctx.name, "WebSocket handshake failed: {e}");
            return;
        }
        Err(_) => {
            ctx.stats.session_errors.inc();
            tracing::info!(session = %name, listener = %ctx.name, "WebSocket handshake timed out");
            return;
        }
    };
    let mut metadata = ip_metadata("TCP", peer, local);
    if let (Value::Object(m), Some(h)) = (&mut metadata, http) {
        m.insert("HTTP".into(), h);
    }
    ctx.spawn_session(
        permit,
        Stage::WebSocket(Box::new(WsStage::new(ws))),
        metadata,
        name,
        || {},
    );
}

/// The subprotocol header, lower-cased as it appears in `/HTTP/headers`.
const PROTOCOL_HEADER: &str = "sec-websocket-protocol";

/// The first subprotocol the client offers, across every `Sec-WebSocket-Protocol` line of the
/// request; `None` when it offers none (or only values that are not visible ASCII).
fn select_subprotocol(req: &Request) -> Option<&str> {
    req.headers()
        .get_all(PROTOCOL_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| !p.is_empty())
}

/// `/HTTP` metadata of an upgrade request.
fn request_metadata(req: &Request) -> Value {
    let headers: Map<String, Value> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_ascii_lowercase(), Value::String(value))
        })
        .collect();
    let uri = req.uri();
    json!({
        "version": format!("{:?}", req.version()).trim_start_matches("HTTP/").to_string(),
        "method": req.method().as_str(),
        "url": {
            "href": uri.to_string(),
            "path": uri.path(),
            "query": uri.query().unwrap_or(""),
        },
        "headers": headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offering(lines: &[&str]) -> Request {
        let mut req = Request::builder().uri("/");
        for line in lines {
            req = req.header(PROTOCOL_HEADER, *line);
        }
        req.body(()).unwrap_or_default()
    }

    #[test]
    fn the_first_offered_subprotocol_is_selected() {
        assert_eq!(
            select_subprotocol(&offering(&["chat, superchat"])),
            Some("chat")
        );
        assert_eq!(
            select_subprotocol(&offering(&[" , mqtt", "chat"])),
            Some("mqtt")
        );
        assert_eq!(select_subprotocol(&offering(&[])), None);
        assert_eq!(select_subprotocol(&offering(&[" , "])), None);
    }
}
