//! The cluster's side of JSONSocket: once the transport is connected, send the request header
//! and wait for a status in 200..=299. Every failure is a connect failure of the hop, so the
//! route's retries and its timeout (which bounds the whole exchange) apply.

use std::io;

use bytes::Bytes;

use super::{Header, ReadError, read_header, wire};
use crate::stage::Stage;

/// Sends `request` on `stage` and checks the server's answer. Returns the stage and any
/// payload the server sent right behind its answer (byte streams), to be forwarded first.
pub async fn connect(mut stage: Stage, request: Bytes) -> io::Result<(Stage, Option<Bytes>)> {
    stage.send(request).await?;
    let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let Header { bytes, rest } = read_header(&mut stage).await.map_err(|e| match e {
        ReadError::TooLarge => invalid(format!(
            "JSONSocket server's answer is over {} bytes",
            wire::MAX_HEADER
        )),
        ReadError::NotObject => invalid("JSONSocket server's answer is not a JSON object".into()),
        ReadError::Closed(_) => io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "JSONSocket server closed before answering",
        ),
        ReadError::Failed(e) => e,
    })?;
    wire::check_response(&bytes).map_err(invalid)?;
    Ok((stage, rest))
}
