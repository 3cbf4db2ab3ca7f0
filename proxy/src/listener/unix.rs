//! Unix domain socket listeners, as a byte stream (SOCK_STREAM, like the original) or keeping
//! message boundaries (SOCK_SEQPACKET). A stale socket file left by an earlier run is removed
//! at start (anything else at that path is an error, never deleted), and the file is removed
//! when the listener goes away.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::Context;

use serde_json::json;
use socket2::{Domain, SockAddr, Socket, Type};
use tokio::net::UnixListener;
use tokio_seqpacket::UnixSeqpacketListener;

use super::{ListenerCtx, accept_loop};
use crate::stage::Stage;

/// Removes the socket file when dropped, unless another socket has taken the path since (a
/// reload that re-binds the same path while the old listener drains).
struct SocketFile {
    path: PathBuf,
    inode: Option<u64>,
}

impl SocketFile {
    /// Clears a stale socket at `path` so it can be bound again.
    fn claim(path: &str) -> io::Result<Self> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{path} exists and is not a socket; refusing to remove it"),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Self {
            path: PathBuf::from(path),
            inode: None,
        })
    }

    /// Remembers which file the bound socket created.
    fn bound(mut self) -> Self {
        self.inode = std::fs::symlink_metadata(&self.path).ok().map(|m| m.ino());
        self
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let current = std::fs::symlink_metadata(&self.path).ok().map(|m| m.ino());
        if current.is_some() && current == self.inode {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A bound byte-stream Unix listener.
pub struct StreamListener {
    listener: std::os::unix::net::UnixListener,
    file: SocketFile,
}

impl StreamListener {
    /// Binds `path`.
    pub fn bind(path: &str) -> io::Result<Self> {
        let file = SocketFile::claim(path)?;
        let listener = std::os::unix::net::UnixListener::bind(file.path())?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            file: file.bound(),
        })
    }

    /// Accepts connections until the listener stops.
    pub async fn serve(self, ctx: Arc<ListenerCtx>) -> io::Result<()> {
        let listener = UnixListener::from_std(self.listener)?;
        let path = self.file.path();
        let accept = |cx: &mut Context<'_>| listener.poll_accept(cx).map_ok(|(s, _)| s);
        accept_loop(&ctx, accept, |stream, id| {
            start(&ctx, path, Stage::Unix(stream), id);
        })
        .await
    }
}

/// A bound message-preserving Unix listener.
pub struct SeqpacketListener {
    socket: Socket,
    file: SocketFile,
}

impl SeqpacketListener {
    /// Binds `path`.
    pub fn bind(path: &str) -> io::Result<Self> {
        let file = SocketFile::claim(path)?;
        let socket = Socket::new(Domain::UNIX, Type::SEQPACKET, None)?;
        socket.set_nonblocking(true)?;
        socket.bind(&SockAddr::unix(file.path())?)?;
        socket.listen(1024)?;
        Ok(Self {
            socket,
            file: file.bound(),
        })
    }

    /// Accepts connections until the listener stops.
    pub async fn serve(self, ctx: Arc<ListenerCtx>) -> io::Result<()> {
        let mut listener = UnixSeqpacketListener::try_from(OwnedFd::from(self.socket))?;
        let path = self.file.path();
        accept_loop(
            &ctx,
            |cx| listener.poll_accept(cx),
            |socket, id| {
                start(&ctx, path, Stage::Seqpacket(socket), id);
            },
        )
        .await
    }
}

/// Starts a session for an accepted connection on the socket at `path`.
fn start(ctx: &Arc<ListenerCtx>, path: &Path, source: Stage, id: u64) {
    let Some(permit) = ctx.admit() else { return };
    let name = format!("UNIX:{}-{id}", ctx.name);
    let md = json!({"UNIX": {"filename": path.display().to_string()}});
    ctx.spawn_session(permit, source, md, name, || {});
}
