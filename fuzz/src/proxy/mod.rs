//! A running proxy: the `l7mp` binary serves a UDP, a WebSocket and two JSONSocket (over TCP
//! and over UDP) listeners, all routed to an Echo cluster, and gets batches of generated
//! traffic: datagrams, WebSocket upgrade requests (valid or edited) followed by frames built
//! field by field (any opcode, reserved bits, mask, a length that may lie) and then maybe
//! corrupted, and JSONSocket headers from [`crate::jsonsocket::wire`]. After every batch the
//! process must still run, answer `/healthz` on its admin address, echo a datagram, and stay
//! under [`RSS_CEILING`] resident.

mod traffic;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bounds::{CASE_TIMEOUT, Case};
use crate::settings::{Summary, fuzz};
use traffic::{Answer, expected_status, head_ends, object_ends};
pub use traffic::{Frame, Send, batches};

/// The most the proxy may have resident: it starts at a few MiB, and a batch is at most a
/// few hundred KiB, so more is memory that traffic made it keep.
pub const RSS_CEILING: u64 = 512 << 20;

/// How long a client waits for an answer that may never come.
const QUIET: Duration = Duration::from_millis(100);

/// The `l7mp` binary: `L7MP_FUZZ_PROXY`, else the one cargo built next to this test.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("L7MP_FUZZ_PROXY") {
        return PathBuf::from(path);
    }
    // The test runs as target/<profile>/deps/<name>-<hash>; the binaries are in <profile>.
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("l7mp"))
        .expect("the test binary is in a target directory");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p l7mp` first (`cargo test --workspace` builds it), \
         or set L7MP_FUZZ_PROXY to the binary",
        bin.display()
    );
    bin
}

/// A running proxy and its addresses; killed when dropped.
pub struct Running {
    child: Mutex<Child>,
    admin: SocketAddr,
    udp: SocketAddr,
    ws: SocketAddr,
    js_tcp: SocketAddr,
    js_udp: SocketAddr,
    clients: Vec<UdpSocket>,
    dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

impl Running {
    /// Starts the proxy and waits until `/healthz` answers.
    pub fn start() -> Running {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let [admin, udp, ws, js_tcp, js_udp] = [(); 5].map(|()| l7mp_test_ports::reserved_port());
        let config = format!(
            "listeners:
  - {{name: udp, spec: {{protocol: UDP, port: {udp}}}, rules: [{{action: {{route: {{destination: echo}}}}}}]}}
  - {{name: ws, spec: {{protocol: WebSocket, port: {ws}}}, rules: [{{action: {{route: {{destination: echo}}}}}}]}}
  - name: js-tcp
    spec: {{protocol: JSONSocket, transport: {{protocol: TCP, port: {js_tcp}}}, header_timeout: 300}}
    rules:
      - match: {{op: test, path: /JSONSocket/user, value: ann}}
        action: {{route: {{destination: echo}}}}
  - name: js-udp
    spec: {{protocol: JSONSocket, transport: {{protocol: UDP, port: {js_udp}}}, header_timeout: 300}}
    rules: [{{action: {{route: {{destination: echo}}}}}}]
clusters:
  - {{name: echo, spec: {{protocol: Echo}}}}
"
        );
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, config).expect("write the config");
        let log = std::fs::File::create(dir.path().join("stderr.log")).expect("log file");
        let mut command = Command::new(binary());
        // SAFETY: prctl is async-signal-safe and touches nothing of the parent's. The proxy
        // dies with the thread that starts it (the test's), even when a hung case keeps this
        // `Running` alive past the test.
        unsafe {
            command.pre_exec(
                || match libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                },
            );
        }
        let child = command
            .arg("--config")
            .arg(&path)
            .args([
                "--bind-address",
                "127.0.0.1",
                "--workers",
                "2",
                "--log-level",
                "warn",
            ])
            .args(["--admin-address", &local(admin).to_string()])
            .args(["--metrics-address", "none"])
            .env_remove("L7MP_LOG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start l7mp");
        let clients = (0..4)
            .map(|_| {
                let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a client");
                s.set_read_timeout(Some(QUIET)).expect("timeout");
                s
            })
            .collect();
        let running = Running {
            child: Mutex::new(child),
            admin: local(admin),
            udp: local(udp),
            ws: local(ws),
            js_tcp: local(js_tcp),
            js_udp: local(js_udp),
            clients,
            dir,
        };
        let deadline = Instant::now() + CASE_TIMEOUT;
        while running.healthz().is_err() {
            assert!(
                Instant::now() < deadline,
                "l7mp did not start: {}",
                running.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        running
    }

    /// The proxy's log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// GET /healthz: Ok when it answers 200.
    fn healthz(&self) -> Result<(), String> {
        let mut conn =
            TcpStream::connect_timeout(&self.admin, CASE_TIMEOUT).map_err(|e| e.to_string())?;
        conn.set_read_timeout(Some(CASE_TIMEOUT))
            .map_err(|e| e.to_string())?;
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut reply = String::new();
        conn.read_to_string(&mut reply).map_err(|e| e.to_string())?;
        match reply.starts_with("HTTP/1.1 200") {
            true => Ok(()),
            false => Err(format!("/healthz answered {reply:?}")),
        }
    }

    /// The proxy's resident memory in bytes.
    fn rss(&self, pid: u32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// Sends a batch, then checks that the proxy runs, answers and stays small.
    pub fn check(&self, batch: &[Send]) {
        for send in batch {
            self.send(send);
        }
        let pid = {
            let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
            if let Ok(Some(status)) = child.try_wait() {
                panic!("l7mp exited ({status}); its log:\n{}", self.log());
            }
            child.id()
        };
        if let Err(e) = self.healthz() {
            panic!("/healthz failed: {e}; the log:\n{}", self.log());
        }
        let probe = &self.clients[0];
        // Earlier answers may still be queued: read until the probe's own echo comes back.
        probe.send_to(b"probe", self.udp).expect("send the probe");
        let deadline = Instant::now() + CASE_TIMEOUT;
        let mut buf = vec![0u8; 65_536];
        loop {
            assert!(
                Instant::now() < deadline,
                "no echo of the probe datagram: {}",
                self.log()
            );
            if let Ok((n, from)) = probe.recv_from(&mut buf)
                && from == self.udp
                && &buf[..n] == b"probe"
            {
                break;
            }
        }
        let rss = self.rss(pid);
        assert!(rss <= RSS_CEILING, "l7mp has {} MiB resident", rss >> 20);
    }

    /// Sends one thing and checks the answers that must come: the echo of a datagram, the
    /// upgrade of an unedited handshake, the status of a well-formed JSONSocket header (200
    /// when the rule for user `ann` routes it, else 404).
    fn send(&self, send: &Send) {
        match send {
            Send::Udp { from, bytes } => {
                let socket = &self.clients[from % self.clients.len()];
                let _ = socket.send_to(bytes, self.udp);
                if !bytes.is_empty() {
                    self.echoed(socket, self.udp, bytes);
                }
            }
            Send::WebSocket { handshake, frames } => {
                // A client waits for the upgrade before it sends frames (RFC 6455, 4.1): frames
                // in the same read as the request are refused as junk after it.
                let frames: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
                let upgraded: Answer = handshake.edits.is_empty().then_some(head_ends);
                let writes = [(handshake.text.as_bytes(), upgraded), (&frames[..], None)];
                let reply = self.stream(self.ws, &writes);
                if handshake.edits.is_empty() {
                    assert!(
                        reply.starts_with(b"HTTP/1.1 101"),
                        "no upgrade: {}",
                        String::from_utf8_lossy(&reply)
                    );
                }
            }
            Send::JsonSocketTcp(wire) => {
                let status = expected_status(&wire.bytes);
                let header: Answer = status.map(|_| object_ends as fn(&[u8]) -> bool);
                let reply = self.stream(self.js_tcp, &[(&wire.bytes, header)]);
                if let Some(status) = status {
                    let mut answer = serde_json::Deserializer::from_slice(&reply).into_iter();
                    let got = match answer.next() {
                        Some(Ok(serde_json::Value::Object(h))) => {
                            h.get("JSONSocketStatus").cloned()
                        }
                        _ => None,
                    };
                    assert_eq!(
                        got,
                        Some(status.into()),
                        "JSONSocket answer: {}",
                        String::from_utf8_lossy(&reply)
                    );
                }
            }
            Send::JsonSocketUdp(wire) => {
                let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a client");
                socket.set_read_timeout(Some(QUIET)).expect("timeout");
                let cut = wire
                    .cuts
                    .first()
                    .map_or(wire.bytes.len(), |c| c % (wire.bytes.len() + 1));
                let (header, payload) = wire.bytes.split_at(cut);
                let mut buf = vec![0u8; 65_536];
                let _ = socket.send_to(header, self.js_udp);
                let _ = socket.recv_from(&mut buf);
                let _ = socket.send_to(payload, self.js_udp);
                let _ = socket.recv_from(&mut buf);
            }
        }
    }

    /// Waits for `bytes` to come back to `socket` from `from`, skipping late answers to
    /// earlier datagrams.
    fn echoed(&self, socket: &UdpSocket, from: SocketAddr, bytes: &[u8]) {
        let deadline = Instant::now() + CASE_TIMEOUT / 2;
        let mut buf = vec![0u8; 65_536];
        loop {
            assert!(
                Instant::now() < deadline,
                "no echo of a datagram; the log:\n{}",
                self.log()
            );
            if let Ok((n, sender)) = socket.recv_from(&mut buf)
                && sender == from
                && &buf[..n] == bytes
            {
                return;
            }
        }
    }

    /// Writes each of `writes` on a new connection to `to`, reading after each what comes
    /// back: until `answered` holds for all read so far when given (an answer that must
    /// come, however slow a loaded machine makes it), else until the peer is quiet for a
    /// moment; always until the peer closes. Returns all that came back.
    fn stream(&self, to: SocketAddr, writes: &[(&[u8], Answer)]) -> Vec<u8> {
        let Ok(mut conn) = TcpStream::connect_timeout(&to, CASE_TIMEOUT) else {
            panic!("{to} refused a connection; the log:\n{}", self.log());
        };
        let _ = conn.set_read_timeout(Some(QUIET));
        let _ = conn.set_write_timeout(Some(CASE_TIMEOUT / 4));
        let mut reply = Vec::new();
        let mut buf = vec![0u8; 65_536];
        for (bytes, answered) in writes {
            if conn.write_all(bytes).is_err() {
                break;
            }
            let deadline = Instant::now() + CASE_TIMEOUT / 2;
            while answered.is_none_or(|done| !done(&reply)) && Instant::now() < deadline {
                match conn.read(&mut buf) {
                    Ok(0) => return reply,
                    Ok(n) => reply.extend_from_slice(&buf[..n]),
                    Err(e)
                        if answered.is_some()
                            && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
        }
        reply
    }
}

/// Runs the target: starts the proxy and sends `cases` batches per round.
pub fn run(cases: u32) -> Summary {
    let running = Arc::new(Running::start());
    let target = Arc::clone(&running);
    let case: Case<Vec<Send>> = Arc::new(move |batch: &Vec<Send>| target.check(batch));
    fuzz("running proxy", cases, batches(), case)
}
