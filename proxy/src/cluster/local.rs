//! In-proxy clusters: transforms that run inside the session instead of connecting anywhere.
//! As a destination they turn messages around; as an ingress or egress hop they pass them on.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use l7mp_config::model::ClusterSpec;

/// What an in-proxy stage does with each message.
#[derive(Clone)]
pub enum Transform {
    /// Returns every message unchanged.
    Echo,
    /// Drops every message.
    Discard,
    /// Writes `prefix: message` to its sink, then returns the message.
    Logger(Arc<LogSink>),
}

impl Transform {
    /// The transform for an in-proxy cluster spec, or `None` for remote protocols.
    pub fn for_spec(spec: &ClusterSpec) -> io::Result<Option<Transform>> {
        Ok(match spec {
            ClusterSpec::Echo {} => Some(Transform::Echo),
            ClusterSpec::Discard {} => Some(Transform::Discard),
            ClusterSpec::Logger {
                log_file,
                log_prefix,
            } => Some(Transform::Logger(Arc::new(LogSink::open(
                log_file.as_deref(),
                log_prefix.clone().unwrap_or_default(),
            )?))),
            _ => None,
        })
    }

    /// Runs the transform on one message; `None` means the message is consumed.
    pub fn apply(&self, data: Bytes) -> Option<Bytes> {
        match self {
            Transform::Echo => Some(data),
            Transform::Discard => None,
            Transform::Logger(sink) => {
                sink.write(&data);
                Some(data)
            }
        }
    }
}

/// Where a Logger cluster writes: stdout or a file opened once for all sessions (appending,
/// unlike the original, which truncated the file for every new session).
pub struct LogSink {
    file: Option<Mutex<File>>,
    prefix: String,
}

impl LogSink {
    fn open(path: Option<&str>, prefix: String) -> io::Result<Self> {
        let file = match path {
            None | Some("-") | Some("stdout") => None,
            Some(p) => Some(Mutex::new(
                OpenOptions::new().create(true).append(true).open(p)?,
            )),
        };
        Ok(Self { file, prefix })
    }

    /// Writes one record; a failed write is not worth failing the session for.
    fn write(&self, data: &[u8]) {
        let mut record = Vec::with_capacity(self.prefix.len() + 2 + data.len());
        if !self.prefix.is_empty() {
            record.extend_from_slice(self.prefix.as_bytes());
            record.extend_from_slice(b": ");
        }
        record.extend_from_slice(data);
        let result = match &self.file {
            Some(f) => f
                .lock()
                .map_err(|_| io::Error::other("log file lock poisoned"))
                .and_then(|mut f| f.write_all(&record)),
            None => io::stdout().lock().write_all(&record),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "Logger cluster could not write");
        }
    }
}
