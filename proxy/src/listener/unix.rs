//! Unix domain socket listeners, as a byte stream (SOCK_STREAM, like the original) or keeping
//! message boundaries (SOCK_SEQPACKET). A socket file at the path is removed at start only when
//! it is stale (a connect to it is refused) or when this process's own listener holds it (a
//! reload re-binding the path); a live socket of another process is an error, as is anything
//! that is not a socket. The file is removed when the listener goes away, and only if it is
//! still the very file the listener created.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::Context;

use serde_json::json;
use socket2::{Domain, SockAddr, Socket, Type};
use tokio::net::UnixListener;
use tokio::sync::OwnedSemaphorePermit;
use tokio_seqpacket::UnixSeqpacketListener;

use super::accept_loop;
use super::claim::{Claim, Held};
use crate::session::ListenerCtx;
use crate::stage::Stage;

/// Which file a path named when the listener bound it: device, inode and change time, so that
/// a file made later at the same path (which may get the freed inode number) is told apart.
type Identity = (u64, u64, i64, i64);

fn identity(path: &Path) -> Option<Identity> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino(), m.ctime(), m.ctime_nsec()))
}

/// The listener's socket file: removed when dropped, unless another file has taken the path
/// since (a reload that re-binds the path while the old listener drains, or another program).
struct SocketFile {
    path: PathBuf,
    identity: Option<Identity>,
    _claim: Claim,
}

impl SocketFile {
    /// Makes `path` free to bind a socket of type `kind`: a stale socket file is removed, as
    /// is one this process's listener holds; a live socket of another process is an error.
    fn claim(path: &Path, kind: Type) -> io::Result<Self> {
        let held = Held::Unix(path.to_path_buf());
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => {
                if !Claim::is_ours(&held) {
                    ensure_stale(path, kind)?;
                }
                std::fs::remove_file(path)?;
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not a socket; refusing to remove it",
                        path.display()
                    ),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Self {
            path: path.to_path_buf(),
            identity: None,
            _claim: Claim::new(held),
        })
    }

    /// Remembers which file the bound socket created.
    fn bound(mut self) -> Self {
        self.identity = identity(&self.path);
        self
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let current = identity(&self.path);
        if current.is_some() && current == self.identity {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Succeeds when the socket at `path` is stale: nothing listens on it, so a connect is
/// refused. A connect that succeeds, finds the backlog full or meets a socket of another type
/// means another process serves it.
fn ensure_stale(path: &Path, kind: Type) -> io::Result<()> {
    let probe = Socket::new(Domain::UNIX, kind, None)?;
    probe.set_nonblocking(true)?;
    match probe.connect(&SockAddr::unix(path)?) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
        Err(e)
            if e.kind() != io::ErrorKind::WouldBlock
                && e.raw_os_error() != Some(libc::EPROTOTYPE) =>
        {
            Err(io::Error::new(
                e.kind(),
                format!(
                    "{}: cannot tell whether another process serves this socket: {e}",
                    path.display()
                ),
            ))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{} is a socket another process is listening on; stop that process or \
                 choose another filename",
                path.display()
            ),
        )),
    }
}

/// A bound byte-stream Unix listener.
pub struct StreamListener {
    listener: std::os::unix::net::UnixListener,
    file: SocketFile,
}

impl StreamListener {
    /// Binds `path`.
    pub fn bind(path: &Path) -> io::Result<Self> {
        let file = SocketFile::claim(path, Type::STREAM)?;
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
            if let Some(permit) = ctx.admit_connection(stream.as_fd()) {
                start(&ctx, path, permit, Stage::Unix(stream), id);
            }
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
    pub fn bind(path: &Path) -> io::Result<Self> {
        let file = SocketFile::claim(path, Type::SEQPACKET)?;
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
                if let Some(permit) = ctx.admit_connection(socket.as_fd()) {
                    start(&ctx, path, permit, Stage::Seqpacket(socket), id);
                }
            },
        )
        .await
    }
}

/// Starts a session, in the slot `permit`, for an accepted connection on the socket at `path`.
fn start(
    ctx: &Arc<ListenerCtx>,
    path: &Path,
    permit: OwnedSemaphorePermit,
    source: Stage,
    id: u64,
) {
    let name = format!("UNIX:{}-{id}", ctx.name);
    let md = json!({"UNIX": {"filename": path.display().to_string()}});
    ctx.spawn_session(permit, source, md, name, || {});
}
