//! The Logger cluster's sink: stdout or a file, with an optional prefix per record.

use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};

/// Where a Logger cluster writes: stdout or a file opened once for all sessions (appending,
/// unlike the original, which truncated the file for every new session).
pub struct LogSink {
    file: Option<Mutex<File>>,
    prefix: String,
}

impl LogSink {
    /// Opens `path` (`-`, `stdout` or none: standard output) for appending.
    pub fn open(path: Option<&str>, prefix: String) -> io::Result<Self> {
        let file = match path {
            None | Some("-") | Some("stdout") => None,
            Some(p) => Some(Mutex::new(
                OpenOptions::new().create(true).append(true).open(p)?,
            )),
        };
        Ok(Self { file, prefix })
    }

    /// Writes one record; a failed write is not worth failing the session for.
    pub fn write(&self, data: &[u8]) {
        let mut record = Vec::with_capacity(self.prefix.len() + 2 + data.len());
        if !self.prefix.is_empty() {
            record.extend_from_slice(self.prefix.as_bytes());
            record.extend_from_slice(b": ");
        }
        record.extend_from_slice(data);
        let result = match &self.file {
            Some(f) => f.lock().write_all(&record),
            None => io::stdout().lock().write_all(&record),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "Logger cluster could not write");
        }
    }
}
