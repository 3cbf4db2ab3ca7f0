//! Reading a proxy's `/metrics` (Prometheus text): the few samples the soak checks, the config
//! reload counters and the config in force, and the live session count.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// What the soak reads from one scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct Scrape {
    /// `l7mp_config_reloads_total{result="ok"}`.
    pub reloads_ok: f64,
    /// `l7mp_config_reloads_total{result="error"}`.
    pub reloads_failed: f64,
    /// The `sha256` label of `l7mp_config_info`: the config in force.
    pub sha256: Option<String>,
    /// `l7mp_listener_sessions_active`, summed over the listeners.
    pub sessions: f64,
}

/// Scrapes `http://addr/metrics`.
pub fn scrape(addr: SocketAddr) -> Result<Scrape, String> {
    let text = get(addr, "/metrics")?;
    Ok(parse(&text))
}

/// The samples the soak reads from Prometheus text (absent ones as 0 or `None`).
pub fn parse(text: &str) -> Scrape {
    let mut s = Scrape {
        reloads_ok: 0.0,
        reloads_failed: 0.0,
        sha256: None,
        sessions: 0.0,
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let value: f64 = value.parse().unwrap_or(0.0);
        match series {
            "l7mp_config_reloads_total{result=\"ok\"}" => s.reloads_ok = value,
            "l7mp_config_reloads_total{result=\"error\"}" => s.reloads_failed = value,
            _ if series.starts_with("l7mp_listener_sessions_active{") => s.sessions += value,
            _ => {
                if let Some(sha) = series
                    .strip_prefix("l7mp_config_info{sha256=\"")
                    .and_then(|r| r.strip_suffix("\"}"))
                {
                    s.sha256 = Some(sha.to_string());
                }
            }
        }
    }
    s
}

/// The body of `GET path` (HTTP/1.1, one request per connection, as the proxy serves it).
fn get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let fail = |e: std::io::Error| format!("GET http://{addr}{path}: {e}");
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(fail)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(fail)?;
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").map_err(fail)?;
    let mut text = String::new();
    conn.read_to_string(&mut text).map_err(fail)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET http://{addr}{path}: no complete HTTP answer"))?;
    if head.starts_with("HTTP/1.1 200") {
        Ok(body.to_string())
    } else {
        let status = head.lines().next().unwrap_or_default();
        Err(format!("GET http://{addr}{path}: {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_samples_the_soak_reads() {
        let text = "# HELP l7mp_config_reloads Config loads.\n\
            l7mp_config_reloads_total{result=\"ok\"} 3\n\
            l7mp_config_reloads_total{result=\"error\"} 2\n\
            l7mp_config_info{sha256=\"abc\"} 1\n\
            l7mp_listener_sessions_active{listener=\"a\"} 5\n\
            l7mp_listener_sessions_active{listener=\"b\"} 7\n\
            l7mp_listener_sessions_total{listener=\"b\"} 70\n";
        let s = parse(text);
        assert_eq!(
            s,
            Scrape {
                reloads_ok: 3.0,
                reloads_failed: 2.0,
                sha256: Some("abc".into()),
                sessions: 12.0
            }
        );
    }
}
