//! Readiness and startup probes, as the kubelet runs them: `httpGet` and `tcpSocket` against the
//! pod's IP (which the host reaches through the bridge, so the probe lands in the pod's network
//! namespace; host-network pods answer at the node IP), `exec` through the runtime. There is no
//! prober loop: a probe runs each time readiness is looked at (`status`, `describe`, `apply`,
//! `run`'s DNS refresh), so `initialDelaySeconds`, `periodSeconds` and the thresholds do not
//! apply; the timeout does.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// One probe of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// A command in the container; exit code 0 passes.
    Exec(Vec<String>),
    /// `GET path` on the port; a status from 200 to 399 passes.
    Http {
        /// Port.
        port: u16,
        /// Path.
        path: String,
        /// `httpHeaders` (name, value).
        headers: Vec<(String, String)>,
    },
    /// A TCP connection to the port passes.
    Tcp(u16),
}

/// A probe with its timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timed {
    /// What is checked.
    pub probe: Probe,
    /// `timeoutSeconds` (default 1).
    pub timeout: Duration,
}

/// Runs an exec probe's command in the container: its exit code, or why it could not run.
pub type Exec<'a> = &'a dyn Fn(&[String], Duration) -> Result<i32, String>;

/// The container's probe `field` (`readinessProbe`, `startupProbe`), or why it is unusable.
pub fn parse(container: &Value, field: &str) -> Result<Option<Timed>, String> {
    let Some(p) = container.get(field) else {
        return Ok(None);
    };
    let timeout = Duration::from_secs(p.get("timeoutSeconds").and_then(Value::as_u64).unwrap_or(1));
    let port = |h: &Value| -> Result<u16, String> {
        match h.get("port") {
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| format!("{field}: port {n} is out of range")),
            Some(Value::String(name)) => container
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
                .and_then(|p| p.get("containerPort").and_then(Value::as_u64))
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| format!("{field}: the container has no port named {name:?}")),
            _ => Err(format!("{field}: no port")),
        }
    };
    let probe = if let Some(e) = p.get("exec") {
        let command: Vec<String> = e
            .get("command")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        if command.is_empty() {
            return Err(format!("{field}: exec has no command"));
        }
        Probe::Exec(command)
    } else if let Some(h) = p.get("httpGet") {
        if h.get("scheme").and_then(Value::as_str).unwrap_or("HTTP") != "HTTP" {
            return Err(format!("{field}: only the HTTP scheme is probed"));
        }
        Probe::Http {
            port: port(h)?,
            path: h
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or("/")
                .to_string(),
            headers: h
                .get("httpHeaders")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|kv| {
                    let s = |k: &str| kv.get(k).and_then(Value::as_str).unwrap_or_default();
                    (s("name").to_string(), s("value").to_string())
                })
                .collect(),
        }
    } else if let Some(t) = p.get("tcpSocket") {
        Probe::Tcp(port(t)?)
    } else {
        return Err(format!(
            "{field}: only exec, httpGet and tcpSocket probes are run"
        ));
    };
    Ok(Some(Timed { probe, timeout }))
}

/// Runs the probe against the pod at `ip`; `Err` says why it failed, as `describe` shows it.
pub fn run(p: &Timed, ip: IpAddr, exec: Exec<'_>) -> Result<(), String> {
    match &p.probe {
        Probe::Exec(command) => match exec(command, p.timeout)? {
            0 => Ok(()),
            code => Err(format!("command {command:?} exited with {code}")),
        },
        Probe::Tcp(port) => connect(ip, *port, p.timeout).map(|_| ()),
        Probe::Http {
            port,
            path,
            headers,
        } => {
            let mut conn = connect(ip, *port, p.timeout)?;
            let mut request = format!("GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\n");
            for (k, v) in headers {
                request += &format!("{k}: {v}\r\n");
            }
            request += "User-Agent: kube-probe/l7mp-localcluster\r\nConnection: close\r\n\r\n";
            let io = |e: std::io::Error| format!("Get \"http://{ip}:{port}{path}\": {e}");
            conn.write_all(request.as_bytes()).map_err(io)?;
            // The status line may come in pieces (a server writing it in parts): read until
            // its end, the connection's, or 64 bytes, which hold any status code.
            let mut head = [0u8; 64];
            let mut n = 0;
            while n < head.len() && !head[..n].contains(&b'\n') {
                match conn.read(&mut head[n..]).map_err(io)? {
                    0 => break,
                    read => n += read,
                }
            }
            let line = String::from_utf8_lossy(&head[..n]);
            let code: u16 = line
                .strip_prefix("HTTP/1.")
                .and_then(|r| r.get(2..5))
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("Get \"http://{ip}:{port}{path}\": not an HTTP answer"))?;
            if (200..400).contains(&code) {
                Ok(())
            } else {
                Err(format!("HTTP probe failed with statuscode: {code}"))
            }
        }
    }
}

fn connect(ip: IpAddr, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let conn = TcpStream::connect_timeout(&SocketAddr::new(ip, port), timeout)
        .map_err(|e| format!("dial tcp {ip}:{port}: {e}"))?;
    conn.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    conn.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener};

    use super::*;

    fn no_exec(_: &[String], _: Duration) -> Result<i32, String> {
        Err("no exec here".into())
    }

    #[test]
    fn parses_the_three_kinds_and_named_ports() {
        let c = serde_json::json!({
            "ports": [{"name": "admin", "containerPort": 1234}],
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": "admin"}, "timeoutSeconds": 2},
            "startupProbe": {"tcpSocket": {"port": 9}},
            "livenessProbe": {"exec": {"command": ["true"]}},
        });
        let r = parse(&c, "readinessProbe").unwrap().unwrap();
        assert_eq!(r.timeout, Duration::from_secs(2));
        assert!(matches!(r.probe, Probe::Http { port: 1234, ref path, .. } if path == "/readyz"));
        assert_eq!(
            parse(&c, "startupProbe").unwrap().unwrap().probe,
            Probe::Tcp(9)
        );
        assert_eq!(
            parse(&c, "livenessProbe").unwrap().unwrap().probe,
            Probe::Exec(vec!["true".into()])
        );
        let bad = serde_json::json!({"readinessProbe": {"httpGet": {"port": "nope"}}});
        assert!(
            parse(&bad, "readinessProbe")
                .unwrap_err()
                .contains("no port named \"nope\"")
        );
    }

    #[test]
    fn http_and_tcp_probes_hit_a_real_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for (i, conn) in listener.incoming().take(3).enumerate() {
                let mut conn = conn.unwrap();
                // The whole request before the answer: closing with part of it unread would
                // reset the connection under the prober's feet.
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(n) if n > 0 => request.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
                if request.is_empty() {
                    continue; // the TCP probe only connects
                }
                let status = if i == 1 {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                };
                let _ = write!(conn, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
            }
        });
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let timed = |probe| Timed {
            probe,
            timeout: Duration::from_secs(5),
        };
        run(&timed(Probe::Tcp(port)), ip, &no_exec).unwrap();
        let http = timed(Probe::Http {
            port,
            path: "/readyz".into(),
            headers: vec![],
        });
        run(&http, ip, &no_exec).unwrap();
        let e = run(&http, ip, &no_exec).unwrap_err();
        assert!(e.contains("statuscode: 503"), "{e}");
        server.join().unwrap();
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(run(&timed(Probe::Tcp(closed)), ip, &no_exec).is_err());
        let exec = timed(Probe::Exec(vec!["x".into()]));
        assert_eq!(
            run(&exec, ip, &|_, _| Ok(3)).unwrap_err(),
            "command [\"x\"] exited with 3"
        );
    }
}
