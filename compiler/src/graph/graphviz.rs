//! Graphviz's `dot` program turning the `dot` text into SVG, when it is installed.

use std::io::Write;
use std::process::{Command, Stdio};

/// Why Graphviz drew nothing.
#[derive(Debug, thiserror::Error)]
pub enum GraphvizError {
    /// `dot` is not on the PATH.
    #[error(
        "Graphviz's `dot` is not installed (install Graphviz, or draw with `--renderer builtin`)"
    )]
    Missing,
    /// `dot` ran and failed.
    #[error("Graphviz's `dot -Tsvg` failed: {0}")]
    Failed(String),
}

/// The SVG `dot -Tsvg` makes of `text`.
pub fn svg(text: &str) -> Result<String, GraphvizError> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => GraphvizError::Missing,
            _ => GraphvizError::Failed(e.to_string()),
        })?;
    let failed = |e: std::io::Error| GraphvizError::Failed(e.to_string());
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| GraphvizError::Failed("its standard input could not be opened".into()))?;
    // Written from a thread: `dot` may fill its output pipe before it has read all its input.
    let input = text.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().map_err(failed)?;
    let written = writer
        .join()
        .map_err(|_| GraphvizError::Failed("writing its input panicked".into()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(GraphvizError::Failed(format!(
            "{} ({})",
            stderr.trim(),
            output.status
        )));
    }
    written.map_err(failed)?;
    String::from_utf8(output.stdout)
        .map_err(|_| GraphvizError::Failed("its output is not UTF-8".into()))
}
