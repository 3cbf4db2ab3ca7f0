//! Just enough HTTP/1.1 for a read-only admin endpoint: read one request head (bounded in size
//! and time), answer with a complete response and close. No keep-alive, no chunking, no
//! request bodies: every answer carries `Content-Length` and `Connection: close`. Nothing a
//! client sends can make this panic; what cannot be parsed gets a 400.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request head accepted; a bigger one gets 431.
pub const MAX_HEAD: usize = 8 * 1024;

/// Time a client has to send its request head. Probes and scrapers send theirs at once, so
/// an idle client is dropped after a second rather than holding a connection (and, beyond the
/// connection budget, it is closed sooner, as newer connections arrive).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// The parts of a request the admin endpoint looks at.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent (methods are case-sensitive).
    pub method: String,
    /// The path, without the query string.
    pub path: String,
}

/// Why no request could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BadRequest {
    /// The client closed or sent nothing usable in time: nothing to answer.
    Gone,
    /// Not an HTTP/1.x request line.
    Malformed,
    /// The head is larger than [`MAX_HEAD`].
    TooLarge,
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type` of the body.
    pub content_type: &'static str,
    /// Extra header lines (each without the line end).
    pub headers: Vec<String>,
    /// The body (not sent for HEAD).
    pub body: Vec<u8>,
}

impl Response {
    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: body.into().into_bytes(),
        }
    }

    /// A JSON response.
    pub fn json(value: &serde_json::Value) -> Self {
        let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
        body.push(b'\n');
        Self {
            status: 200,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    /// The response to a request that could not be read, if one is due.
    pub fn for_bad_request(bad: &BadRequest) -> Option<Self> {
        match bad {
            BadRequest::Gone => None,
            BadRequest::Malformed => Some(Self::text(400, "bad request\n")),
            BadRequest::TooLarge => Some(Self::text(431, "request head too large\n")),
        }
    }

    /// The status line, headers and (unless `head_only`) body, ready to send.
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for h in &self.headers {
            out.push_str(h);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// Reads one request head from `conn`, giving up after [`HEAD_TIMEOUT`].
pub async fn read_request(conn: &mut (impl AsyncRead + Unpin)) -> Result<Request, BadRequest> {
    match tokio::time::timeout(HEAD_TIMEOUT, read_head(conn)).await {
        Ok(head) => parse(&head?),
        Err(_) => Err(BadRequest::Gone),
    }
}

/// Reads until the blank line that ends the head.
async fn read_head(conn: &mut (impl AsyncRead + Unpin)) -> Result<Vec<u8>, BadRequest> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = conn.read(&mut chunk).await.map_err(|_| BadRequest::Gone)?;
        if n == 0 {
            // A client that closes after a request line without the blank line still gets
            // its answer; one that sent nothing does not.
            return if head.is_empty() {
                Err(BadRequest::Gone)
            } else {
                Ok(head)
            };
        }
        let searched_from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_end(&head[searched_from..]) {
            head.truncate(searched_from + end);
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(BadRequest::TooLarge);
        }
    }
}

/// Where the head in `buf` ends (before `\r\n\r\n` or `\n\n`), if it does.
fn find_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find(|&i| buf[i..].starts_with(b"\r\n\r\n") || buf[i..].starts_with(b"\n\n"))
}

/// Parses the request line of `head`; header lines are ignored.
pub fn parse(head: &[u8]) -> Result<Request, BadRequest> {
    if head.len() > MAX_HEAD {
        return Err(BadRequest::TooLarge);
    }
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = std::str::from_utf8(&head[..line_end]).map_err(|_| BadRequest::Malformed)?;
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BadRequest::Malformed);
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic());
    if !token(method) || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(BadRequest::Malformed);
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
    })
}

/// Sends `response` and closes the connection, reading briefly what the client may still send
/// (an unread request body would make the close a reset that can destroy the response).
pub async fn finish(
    conn: &mut (impl AsyncRead + AsyncWrite + Unpin),
    response: &Response,
    head_only: bool,
) -> io::Result<()> {
    conn.write_all(&response.to_bytes(head_only)).await?;
    conn.shutdown().await?;
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut left = 256 * 1024usize;
        while let Ok(n) = conn.read(&mut sink).await {
            if n == 0 || n >= left {
                break;
            }
            left -= n;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str) -> Result<Request, BadRequest> {
        Ok(Request {
            method: method.into(),
            path: path.into(),
        })
    }

    #[test]
    fn request_lines_parse_to_method_and_path() {
        assert_eq!(
            parse(b"GET /metrics HTTP/1.1\r\nHost: x"),
            req("GET", "/metrics")
        );
        assert_eq!(parse(b"HEAD /readyz?x=1 HTTP/1.0"), req("HEAD", "/readyz"));
        assert_eq!(parse(b"POST / HTTP/1.1\n"), req("POST", "/"));
    }

    #[test]
    fn garbage_is_malformed() {
        for bad in [
            &b""[..],
            b"\xff\xfe",
            b"GET",
            b"GET /",
            b"GET / HTTP/2",
            b"GET  / HTTP/1.1",
            b"GET metrics HTTP/1.1",
            b"G\0T / HTTP/1.1",
            b"GET / HTTP/1.1 extra",
        ] {
            assert_eq!(parse(bad), Err(BadRequest::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn the_head_ends_at_the_first_blank_line() {
        assert_eq!(find_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(20));
        assert_eq!(find_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(find_end(b"GET / HTTP/1.1\r\n"), None);
    }

    #[test]
    fn responses_carry_length_and_close() {
        let r = Response::text(503, "not ready\n");
        let full = String::from_utf8(r.to_bytes(false)).unwrap();
        assert!(full.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(full.contains("Content-Length: 10\r\nConnection: close\r\n\r\nnot ready\n"));
        let head = String::from_utf8(r.to_bytes(true)).unwrap();
        assert!(head.ends_with("\r\n\r\n"));
    }
}
