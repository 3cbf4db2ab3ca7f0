//! A running proxy: the `l7mp` binary serves a UDP, a WebSocket and two JSONSocket (over TCP
//! and over UDP) listeners, all routed to an Echo cluster, and gets batches of generated
//! traffic: datagrams, WebSocket upgrade requests (valid or edited) followed by frames built
//! field by field (any opcode, reserved bits, mask, a length that may lie) and then maybe
//! corrupted, and JSONSocket headers from [`crate::jsonsocket::wire`]. After every batch the
//! process must still run, answer `/healthz` on its admin address, echo a datagram, and stay
//! under [`RSS_CEILING`] resident.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use l7mp::jsonsocket::wire::{ObjectEnd, Scan, parse_request};
use proptest::prelude::*;

use crate::bounds::{CASE_TIMEOUT, Case};
use crate::jsonsocket::{WireInput, wire};
use crate::mutate::{Mutated, mutated};
use crate::settings::{Summary, fuzz};

/// The most the proxy may have resident: it starts at a few MiB, and a batch is at most a
/// few hundred KiB, so more is memory that traffic made it keep.
pub const RSS_CEILING: u64 = 512 << 20;

/// How long a client waits for an answer that may never come.
const QUIET: Duration = Duration::from_millis(100);

/// One thing a client sends.
#[derive(Clone, Debug)]
pub enum Send {
    /// A datagram to the UDP listener, from client socket `from` (of four).
    Udp { from: usize, bytes: Vec<u8> },
    /// An upgrade request to the WebSocket listener, then frames.
    WebSocket {
        handshake: Mutated,
        frames: Vec<Frame>,
    },
    /// A header (and payload) on a new TCP connection to the JSONSocket listener.
    JsonSocketTcp(WireInput),
    /// A header datagram (and one of payload) to the JSONSocket listener over UDP.
    JsonSocketUdp(WireInput),
}

/// A WebSocket frame, field by field, then maybe corrupted.
#[derive(Clone, Debug)]
pub struct Frame {
    /// FIN and the three reserved bits (the high nibble of the first byte).
    pub flags: u8,
    /// The opcode (any of 16).
    pub opcode: u8,
    /// The masking key; `None` sends the frame unmasked, which clients must not.
    pub mask: Option<[u8; 4]>,
    /// The payload.
    pub payload: Vec<u8>,
    /// A length to announce instead of the payload's, in the 16- or 64-bit form.
    pub lie: Option<u64>,
    /// Bytes overwritten in the encoded frame: (offset modulo its length, value).
    pub corrupt: Vec<(usize, u8)>,
}

impl Frame {
    /// The frame as sent.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![(self.flags & 0xf0) | (self.opcode & 0x0f)];
        let masked = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.lie.unwrap_or(self.payload.len() as u64);
        match len {
            0..=125 if self.lie.is_none() => out.push(masked | len as u8),
            0..=0xffff => {
                out.push(masked | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(masked | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        match self.mask {
            Some(key) => {
                out.extend_from_slice(&key);
                out.extend(self.payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            }
            None => out.extend_from_slice(&self.payload),
        }
        for &(at, value) in &self.corrupt {
            let i = at % out.len();
            out[i] = value;
        }
        out
    }
}

/// The upgrade request a browser would send.
const HANDSHAKE: &str = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn frame() -> impl Strategy<Value = Frame> {
    (
        prop_oneof![3 => Just(0x80u8), 1 => any::<u8>()],
        prop_oneof![2 => Just(2u8), 1 => Just(1u8), 1 => Just(8u8), 1 => Just(9u8), 1 => Just(0u8), 1 => 0u8..16],
        prop_oneof![4 => any::<[u8; 4]>().prop_map(Some), 1 => Just(None)],
        proptest::collection::vec(any::<u8>(), 0..300),
        prop_oneof![6 => Just(None), 1 => any::<u64>().prop_map(Some), 1 => (0u64..70_000).prop_map(Some)],
        prop_oneof![4 => Just(vec![]), 1 => proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)],
    )
        .prop_map(|(flags, opcode, mask, payload, lie, corrupt)| Frame {
            flags,
            opcode,
            mask,
            payload,
            lie,
            corrupt,
        })
}

fn send() -> impl Strategy<Value = Send> {
    let handshake = prop_oneof![
        3 => Just(Mutated { seed: "handshake".into(), edits: vec![], text: HANDSHAKE.into() }),
        1 => mutated(vec![("handshake".into(), HANDSHAKE.into())], 3, 16),
    ];
    prop_oneof![
        (0usize..4, proptest::collection::vec(any::<u8>(), 0..2000))
            .prop_map(|(from, bytes)| Send::Udp { from, bytes }),
        (handshake, proptest::collection::vec(frame(), 0..5))
            .prop_map(|(handshake, frames)| Send::WebSocket { handshake, frames }),
        wire().prop_map(Send::JsonSocketTcp),
        wire().prop_map(Send::JsonSocketUdp),
    ]
}

/// Batches of 1 to 4 sends: with the checks after them, well within a case's 5 s even when
/// a loaded machine slows every answer down.
pub fn batches() -> impl Strategy<Value = Vec<Send>> {
    proptest::collection::vec(send(), 1..=4)
}

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

/// A port free on 127.0.0.1 for both TCP and UDP right now.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind udp");
        let port = udp.local_addr().expect("local addr").port();
        if std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
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
        let [admin, udp, ws, js_tcp, js_udp] = [(); 5].map(|()| free_port());
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

/// What must come back after a write before reading stops, when anything must.
type Answer = Option<fn(&[u8]) -> bool>;

/// Whether `reply` holds a whole HTTP head (the upgrade's answer).
fn head_ends(reply: &[u8]) -> bool {
    reply.windows(4).any(|w| w == b"\r\n\r\n")
}

/// Whether `reply` holds a whole JSON object (the JSONSocket status header).
fn object_ends(reply: &[u8]) -> bool {
    matches!(
        ObjectEnd::default().scan(reply),
        Scan::End(_) | Scan::NotObject
    )
}

/// The status the JSONSocket listener must answer `bytes` with when they start with a
/// well-formed header: 200 for user `ann`, whom the rule routes, else 404.
fn expected_status(bytes: &[u8]) -> Option<u16> {
    let Scan::End(end) = ObjectEnd::default().scan(bytes) else {
        return None;
    };
    let header = parse_request(&bytes[..end]).ok()?;
    Some(match header.get("user") {
        Some(user) if user == "ann" => 200,
        _ => 404,
    })
}

/// Runs the target: starts the proxy and sends `cases` batches per round.
pub fn run(cases: u32) -> Summary {
    let running = Arc::new(Running::start());
    let target = Arc::clone(&running);
    let case: Case<Vec<Send>> = Arc::new(move |batch: &Vec<Send>| target.check(batch));
    fuzz("running proxy", cases, batches(), case)
}
