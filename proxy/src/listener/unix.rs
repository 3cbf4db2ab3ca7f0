//! Unix domain socket listeners, as a byte stream (SOCK_STREAM, like the original) or keeping
//! message boundaries (SOCK_SEQPACKET). A stale socket file left by an earlier run is removed
//! at start (anything else at that path is an error, never deleted), and the file is removed
//! when the listener goes away.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use socket2::{Domain, SockAddr, Socket, Type};
use tokio::net::UnixListener;
use tokio_seqpacket::UnixSeqpacketListener;

use super::{ListenerCtx, accept_backoff};
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

fn metadata(path: &Path) -> serde_json::Value {
    json!({"UNIX": {"filename": path.display().to_string()}})
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
        let mut id = 0u64;
        loop {
            let stream = tokio::select! {
                r = listener.accept() => match r {
                    Ok((s, _)) => s,
                    Err(e) => {
                        accept_backoff(&ctx.name, &e).await;
                        continue;
                    }
                },
                () = ctx.accepting.cancelled() => return Ok(()),
            };
            let Some(permit) = ctx.admit() else { continue };
            let name = format!("UNIX:{}-{id}", ctx.name);
            id += 1;
            let md = metadata(self.file.path());
            ctx.spawn_session(permit, Stage::Unix(stream), md, name, || {});
        }
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
        let mut id = 0u64;
        loop {
            let socket = tokio::select! {
                r = listener.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        accept_backoff(&ctx.name, &e).await;
                        continue;
                    }
                },
                () = ctx.accepting.cancelled() => return Ok(()),
            };
            let Some(permit) = ctx.admit() else { continue };
            let name = format!("UNIX:{}-{id}", ctx.name);
            id += 1;
            let md = metadata(self.file.path());
            ctx.spawn_session(permit, Stage::Seqpacket(socket), md, name, || {});
        }
    }
}
