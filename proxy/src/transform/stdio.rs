//! The Stdio cluster, for debugging: what a session sends to it is written to the proxy's
//! standard output, and what is read from standard input is sent to the sessions.
//!
//! A process has one stdin and one stdout, so both are served by one pair of threads shared by
//! every Stdio session, started when the first one connects:
//! - The writer writes each message as it is, in the order messages arrive from all sessions
//!   (each message in one piece). Sessions hand messages over through a bounded channel, so a
//!   stdout nobody reads slows the Stdio sessions down rather than filling memory.
//! - The reader reads stdin in chunks (on a terminal, a chunk is a line) and sends each chunk,
//!   as one message, to **every** Stdio session connected at that moment; what is read while
//!   none is connected is discarded. A session that does not keep up loses chunks.
//! - End of stdin only ends the input: sessions stay up and their output is still written (a
//!   proxy often runs with stdin closed).
//!
//! Blocking threads rather than tasks keep blocking reads and writes off the workers.

use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::fanout::{Group, MemberId};
use crate::msg::MAX_STREAM_CHUNK;

/// Messages waiting for stdout before senders wait.
const OUT_QUEUE: usize = 1024;

/// The process's stdin and stdout.
struct Hub {
    out: mpsc::Sender<Bytes>,
    readers: Arc<Group>,
}

static HUB: OnceLock<Hub> = OnceLock::new();

fn hub() -> &'static Hub {
    HUB.get_or_init(|| {
        let (out, rx) = mpsc::channel(OUT_QUEUE);
        let readers = Arc::new(Group::default());
        spawn("l7mp-stdout", move || write_stdout(rx));
        let group = readers.clone();
        spawn("l7mp-stdin", move || read_stdin(&group));
        Hub { out, readers }
    })
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        tracing::warn!("Stdio cluster: cannot start {name} thread: {e}");
    }
}

fn write_stdout(mut rx: mpsc::Receiver<Bytes>) {
    while let Some(data) = rx.blocking_recv() {
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(&data).and_then(|()| out.flush()) {
            tracing::warn!("Stdio cluster: cannot write to stdout: {e}");
        }
    }
}

fn read_stdin(readers: &Group) {
    let mut buf = vec![0u8; MAX_STREAM_CHUNK];
    let mut stdin = std::io::stdin().lock();
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let d = readers.publish(None, &Bytes::copy_from_slice(&buf[..n]));
                if d.dropped > 0 {
                    tracing::debug!(sessions = d.dropped, "Stdio sessions too slow for stdin");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!("Stdio cluster: cannot read stdin: {e}");
                return;
            }
        }
    }
}

/// One session's use of stdin and stdout; dropping it stops its stdin feed.
pub struct StdioPort {
    id: MemberId,
    /// Chunks read from stdin.
    pub inbox: mpsc::Receiver<Bytes>,
}

impl StdioPort {
    /// Connects a session (starting the stdin and stdout threads on first use).
    pub fn open() -> Self {
        let (id, inbox) = hub().readers.join();
        Self { id, inbox }
    }

    /// Writes `data` to stdout, waiting while stdout lags far behind.
    pub async fn write(&self, data: Bytes) {
        // Fails only when the writer thread could not start; already logged then.
        let _ = hub().out.send(data).await;
    }
}

impl Drop for StdioPort {
    fn drop(&mut self) {
        hub().readers.leave(self.id);
    }
}
