//! Unix domain socket cluster connections: the endpoint address is the socket path.

use std::io;
use std::path::Path;

use tokio::net::UnixStream;
use tokio_seqpacket::UnixSeqpacket;

/// Connects a byte-stream socket.
pub async fn connect_stream(path: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(path).await
}

/// Connects a message-preserving (SOCK_SEQPACKET) socket.
pub async fn connect_seqpacket(path: &Path) -> io::Result<UnixSeqpacket> {
    UnixSeqpacket::connect(path).await
}
