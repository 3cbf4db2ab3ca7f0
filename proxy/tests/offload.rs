//! UDP kernel offload over real sockets and real processes. Each test runs its proxy, echo
//! server and clients in network namespaces of its own (so the program never sees the
//! machine's traffic and tests can run side by side on the same ports), as root.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use aya::programs::tc::{SchedClassifier, TcAttachType};
use socket2::{Domain, Protocol, Socket, Type};

use crate::common::netns::Netns;

const LISTENER: u16 = 9000;
const ECHO: u16 = 7000;

/// The proxy, in a namespace, killed on drop.
struct Proxy {
    child: Child,
    dir: tempfile::TempDir,
}

impl Proxy {
    fn start(ns: &Netns, config: &str, args: &[&str]) -> Proxy {
        Self::start_with(ns, &[], config, args)
    }

    /// [`Proxy::start`] through `wrapper` (see [`Proxy::spawn_with`]).
    fn start_with(ns: &Netns, wrapper: &[&str], config: &str, args: &[&str]) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        fs::write(&path, config).unwrap();
        let child = Self::spawn_with(ns, wrapper, &path, args, Stdio::null())
            .spawn()
            .unwrap();
        let proxy = Proxy { child, dir };
        proxy.wait_for(ns, "l7mp_config_generation 1");
        proxy
    }

    fn spawn(ns: &Netns, config: &Path, args: &[&str], stderr: Stdio) -> Command {
        Self::spawn_with(ns, &[], config, args, stderr)
    }

    /// The proxy's command line in `ns`, run through `wrapper` (a program and its arguments)
    /// when one is given.
    fn spawn_with(
        ns: &Netns,
        wrapper: &[&str],
        config: &Path,
        args: &[&str],
        stderr: Stdio,
    ) -> Command {
        let file = fs::File::open(ns.path()).unwrap();
        let bin = env!("CARGO_BIN_EXE_l7mp");
        let mut cmd = match wrapper {
            [program, rest @ ..] => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(bin);
                cmd
            }
            [] => Command::new(bin),
        };
        cmd.arg("--config")
            .arg(config)
            .args(["--metrics-address", "none", "--workers", "1"])
            .args(["--drain-timeout", "0.1"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(stderr);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(
                move || match libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                },
            );
        }
        cmd
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, sig: i32) {
        // SAFETY: a plain system call on our own child.
        unsafe { libc::kill(self.pid(), sig) };
        // A stop takes effect when each thread next leaves the kernel: wait for all of them.
        let stopped = |want: bool| {
            let tasks = fs::read_dir(format!("/proc/{}/task", self.pid())).unwrap();
            tasks.flatten().all(|t| {
                let stat = fs::read_to_string(t.path().join("stat")).unwrap_or_default();
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                state.starts_with('T') == want
            })
        };
        let want = match sig {
            libc::SIGSTOP => true,
            libc::SIGCONT => false,
            _ => return,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !stopped(want) {
            assert!(
                Instant::now() < deadline,
                "signal {sig} did not take effect"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn metrics(&self, ns: &Netns) -> String {
        get(ns, "/metrics")
    }

    fn wait_for(&self, ns: &Netns, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = ns.enter(|| try_get("/metrics")).unwrap_or_default();
            if m.lines().any(|l| l == line) {
                return;
            }
            assert!(Instant::now() < deadline, "no `{line}` in:\n{m}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn reload(&self, config: &str) {
        let path = self.dir.path().join("config.yaml");
        let tmp = self.dir.path().join("config.tmp");
        fs::write(&tmp, config).unwrap();
        fs::rename(tmp, path).unwrap();
    }

    /// Applies `config` (the second generation), checks that the reload withdrew the one
    /// offloaded flow, and that with the proxy stopped nothing answers `client` any more: the
    /// kernel no longer forwards the session. The proxy runs again when this returns.
    fn reload_withdraws_the_flow(&self, ns: &Netns, client: &UdpSocket, config: &str) {
        self.reload(config);
        self.wait_for(ns, "l7mp_config_generation 2");
        let m = self.metrics(ns);
        assert_eq!(value(&m, "l7mp_offload_sessions_withdrawn_total"), 1);
        assert_eq!(value(&m, "l7mp_offload_sessions_active"), 0);
        self.signal(libc::SIGSTOP);
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        client.send(b"after the reload").unwrap();
        assert!(
            client.recv(&mut [0u8; 64]).is_err(),
            "the kernel still forwards"
        );
        self.signal(libc::SIGCONT);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn try_get(path: &str) -> Option<String> {
    let mut s = TcpStream::connect("127.0.0.1:1234").ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn get(ns: &Netns, path: &str) -> String {
    ns.enter(|| try_get(path)).expect("admin endpoint answers")
}

fn value(metrics: &str, sample: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// A UDP echo server on `addr` in `ns`, for the life of the test process.
fn echo(ns: &Netns, addr: &str) {
    let socket = ns.enter(|| UdpSocket::bind(addr).unwrap());
    thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&buf[..n], peer);
        }
    });
}

/// A client socket in `ns` connected to `to`.
fn client(ns: &Netns, to: &str) -> UdpSocket {
    ns.enter(|| {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.connect(to).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    })
}

/// Sends `n` datagrams one by one and checks each echo, from the address sent to.
fn round_trips(socket: &UdpSocket, n: usize) {
    let mut buf = [0u8; 2048];
    for i in 0..n {
        let out = format!("datagram {i} of {n}");
        socket.send(out.as_bytes()).unwrap();
        let len = socket.recv(&mut buf).expect("an echo");
        assert_eq!(&buf[..len], out.as_bytes());
    }
}

fn config(endpoint: &str, idle: u32) -> String {
    format!(
        "listeners:
  - name: l
    spec: {{protocol: UDP, port: {LISTENER}}}
    options: {{idle_timeout: {idle}}}
    rules:
      - action:
          route:
            destination: echo
clusters:
  - name: echo
    spec: {{protocol: UDP, port: {ECHO}}}
    endpoints:
      - spec: {{address: {endpoint}}}
"
    )
}

const ON: &[&str] = &["--offload", "on"];

#[test]
fn offloaded_datagrams_bypass_the_proxy_and_are_counted_exactly() {
    let ns = Netns::new();
    echo(&ns, "127.0.0.1:7000");
    let proxy = Proxy::start(&ns, &config("127.0.0.1", 60), ON);
    let c = client(&ns, "127.0.0.1:9000");
    round_trips(&c, 1);
    proxy.wait_for(&ns, "l7mp_offload_sessions_active 1");
    // Stopped, the proxy cannot forward a datagram: the kernel does it all.
    proxy.signal(libc::SIGSTOP);
    round_trips(&c, 500);
    // A new peer needs the proxy: nothing comes back while it is stopped.
    let other = client(&ns, "127.0.0.1:9000");
    other
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    other.send(b"new peer").unwrap();
    assert!(other.recv(&mut [0u8; 64]).is_err());
    proxy.signal(libc::SIGCONT);
    let mut buf = [0u8; 64];
    let n = other
        .recv(&mut buf)
        .expect("the new peer is answered once the proxy runs");
    assert_eq!(&buf[..n], b"new peer");
    let m = proxy.metrics(&ns);
    assert_eq!(
        value(&m, "l7mp_offload_packets_total{direction=\"upstream\"}"),
        500
    );
    // The echo of each session's first datagram may already meet the installed flow, or not.
    let downstream = value(&m, "l7mp_offload_packets_total{direction=\"downstream\"}");
    assert!((500..=502).contains(&downstream), "{downstream}");
    // The listener's and cluster's counters include what the kernel forwarded.
    let rx = "l7mp_listener_packets_total{listener=\"l\",direction=\"rx\"}";
    assert_eq!(value(&m, rx), 502, "{m}");
    assert_eq!(
        value(
            &m,
            "l7mp_listener_packets_total{listener=\"l\",direction=\"tx\"}"
        ),
        502
    );
    assert_eq!(
        value(
            &m,
            "l7mp_cluster_packets_total{cluster=\"echo\",direction=\"tx\"}"
        ),
        502
    );
    let bytes: u64 = (0..500)
        .map(|i| format!("datagram {i} of 500").len() as u64)
        .sum();
    assert_eq!(
        value(&m, "l7mp_offload_bytes_total{direction=\"upstream\"}"),
        bytes
    );
    let sessions = get(&ns, "/sessions");
    let body = &sessions[sessions.find("\r\n\r\n").unwrap() + 4..];
    let sessions: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(sessions[0]["traffic"]["rx_packets"], 501, "{sessions}");
    assert_eq!(ns.udp_counter("InCsumErrors"), 0);
}

/// Every UDP packet the namespace's IP layer delivers, as a raw socket sees it: after the
/// offload program's rewrite at ingress, before the UDP layer. Read on a thread of its own
/// until `stop` and what is queued then, into a receive buffer large enough for a whole test's
/// packets: on a loaded machine the thread may not run for a while, and the default buffer
/// (about 270 small packets) then dropped the tail.
fn capture_udp(ns: &Netns, stop: Arc<AtomicBool>) -> thread::JoinHandle<Vec<Vec<u8>>> {
    let raw = ns.enter(|| Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)).unwrap());
    raw.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let size: libc::c_int = 16 << 20;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live c_int, on a socket this
    // function owns. SO_RCVBUFFORCE (root) goes past `net.core.rmem_max`.
    let set = unsafe {
        libc::setsockopt(
            raw.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&raw const size).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(
        set,
        0,
        "SO_RCVBUFFORCE: {}",
        std::io::Error::last_os_error()
    );
    thread::spawn(move || {
        let mut packets = Vec::new();
        let raw: UdpSocket = raw.into();
        let mut buf = [0u8; 2048];
        // After `stop`, what is still queued is read too: until a read times out.
        loop {
            match raw.recv(&mut buf) {
                Ok(n) => packets.push(buf[..n].to_vec()),
                Err(_) if stop.load(Ordering::Relaxed) => break,
                Err(_) => {}
            }
        }
        packets
    })
}

/// The checksum field of a captured UDP packet, checked.
#[derive(Debug, PartialEq)]
enum Checksum {
    /// A full checksum over the pseudo-header, header and payload, which verifies.
    Full,
    /// The seed a sender with checksum offload leaves (`lo` always does): the sum of the
    /// pseudo-header only, for the device to finish. It must match the packet's addresses.
    Partial,
    Bad,
}

/// One's-complement sum of `data` as 16-bit big-endian words, folded.
fn ones_sum(data: impl Iterator<Item = u8>, mut sum: u32) -> u32 {
    let bytes: Vec<u8> = data.collect();
    for pair in bytes.chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// (source port, destination port, checksum) of a captured IPv4 UDP packet.
fn udp_checksum(packet: &[u8]) -> (u16, u16, Checksum) {
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let udp = &packet[ihl..];
    let word = |at: usize| u16::from_be_bytes([udp[at], udp[at + 1]]);
    let pseudo = ones_sum(packet[12..20].iter().copied(), 17 + u32::from(word(4)));
    let checksum = if ones_sum(udp.iter().copied(), pseudo) == 0xffff {
        Checksum::Full
    } else if u32::from(word(6)) == pseudo {
        Checksum::Partial
    } else {
        Checksum::Bad
    };
    (word(0), word(2), checksum)
}

/// A UDP datagram from `from` to `to` with a full checksum, for a raw socket to send: the
/// kernel adds the IP header and leaves the checksum as it is.
fn udp_with_checksum(from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut datagram = [from.port(), to.port(), len, 0]
        .iter()
        .flat_map(|w| w.to_be_bytes())
        .chain(payload.iter().copied())
        .collect::<Vec<u8>>();
    let addresses = from.ip().octets().into_iter().chain(to.ip().octets());
    let pseudo = ones_sum(addresses, 17 + u32::from(len));
    // A sum of zero goes as all ones (RFC 768): zero would mean "no checksum", which the
    // program rightly leaves as it is, and which the capture's check would call bad.
    let sum = match !(ones_sum(datagram.iter().copied(), pseudo) as u16) {
        0 => 0xffff,
        sum => sum,
    };
    datagram[6..8].copy_from_slice(&sum.to_be_bytes());
    datagram
}

#[test]
fn offloaded_datagrams_carry_correct_checksums_both_ways() {
    let ns = Netns::new();
    echo(&ns, "127.0.0.1:7000");
    let proxy = Proxy::start(&ns, &config("127.0.0.1", 60), ON);
    let stop = Arc::new(AtomicBool::new(false));
    let capture = capture_udp(&ns, stop.clone());
    // The client receives on a UDP socket but sends through a raw one, with full checksums
    // of its own: `lo`'s checksum offload cannot be turned off, and a partial checksum would
    // leave the ports out of what the rewrite must keep right.
    let c = client(&ns, "127.0.0.1:9000");
    let raw = ns.enter(|| Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)).unwrap());
    let (from, to) = match (c.local_addr().unwrap(), c.peer_addr().unwrap()) {
        (SocketAddr::V4(from), SocketAddr::V4(to)) => {
            (SocketAddrV4::new(*to.ip(), from.port()), to)
        }
        other => panic!("not IPv4: {other:?}"),
    };
    let ask = |i: usize| {
        let payload = format!("datagram {i}");
        let datagram = udp_with_checksum(from, to, payload.as_bytes());
        raw.send_to(&datagram, &SocketAddr::V4(to).into()).unwrap();
        let mut buf = [0u8; 64];
        let n = c.recv(&mut buf).expect("an echo");
        assert_eq!(&buf[..n], payload.as_bytes());
    };
    ask(0);
    proxy.wait_for(&ns, "l7mp_offload_sessions_active 1");
    // Stopped, the proxy forwards nothing: every datagram from here is rewritten by the kernel.
    proxy.signal(libc::SIGSTOP);
    (1..=200).for_each(ask);
    proxy.signal(libc::SIGCONT);
    stop.store(true, Ordering::Relaxed);
    let packets = capture.join().unwrap();
    let (mut upstream, mut downstream) = (0, 0);
    for packet in &packets {
        let (src, dst, checksum) = udp_checksum(packet);
        assert_ne!(checksum, Checksum::Bad, "{src} -> {dst}: {packet:02x?}");
        // Rewritten towards the echo server (the client's full checksum, updated), and the
        // echo's replies rewritten back to the client (its partial one, updated).
        // (The first datagram went through the proxy, which sent it with a partial one.)
        let first = packet.ends_with(b"datagram 0");
        if dst == 7000 && src != from.port() && !first {
            assert_eq!(checksum, Checksum::Full, "{src} -> {dst}: {packet:02x?}");
            upstream += 1;
        }
        downstream += usize::from(src == 9000 && dst == from.port() && !first);
    }
    assert!(
        upstream >= 200,
        "{upstream} rewritten towards the echo server"
    );
    assert!(
        downstream >= 200,
        "{downstream} rewritten back to the client"
    );
}

/// Joins `a` and `b` with a veth pair, `a_addr` and `b_addr` (with prefixes) on its ends, and
/// returns the ends' names (each named after the namespace on its other side). An end in
/// `full` sends full checksums (no transmit checksum offload), which the receiving sockets
/// check; the others leave partial ones (CHECKSUM_PARTIAL) for the receiver to trust.
fn veth(a: &Netns, a_addr: &str, b: &Netns, b_addr: &str, full: &[&Netns]) -> (String, String) {
    let name = |peer: &Netns| format!("v{}", &peer.name()[peer.name().len().saturating_sub(14)..]);
    let (a_end, b_end) = (name(b), name(a));
    a.ip(&[
        "link",
        "add",
        &a_end,
        "type",
        "veth",
        "peer",
        "name",
        &b_end,
        "netns",
        b.name(),
    ]);
    for (ns, end, addr) in [(a, &a_end, a_addr), (b, &b_end, b_addr)] {
        ns.ip(&["addr", "add", addr, "dev", end]);
        ns.ip(&["link", "set", end, "up"]);
        if full.iter().any(|f| f.name() == ns.name()) {
            ns.exec(&["ethtool", "-K", end, "tx", "off"]);
        }
    }
    (a_end, b_end)
}

/// Sets `net.ipv4.conf.lo.forwarding` in `ns`: the program looks routes out up from loopback.
fn lo_forwarding(ns: &Netns, on: bool) {
    let value = format!("net.ipv4.conf.lo.forwarding={}", u8::from(on));
    ns.exec(&["sysctl", "-q", "-w", &value]);
}

fn fallbacks(m: &str, reason: &str) -> u64 {
    value(
        m,
        &format!("l7mp_offload_fallbacks_total{{reason=\"{reason}\"}}"),
    )
}

/// Asserts that the metrics `m` count `datagrams` offloaded each way for one session (the echo
/// of its first datagram may already find the flow installed, or not) and no fallback.
fn assert_one_session_offloaded(m: &str, datagrams: u64) {
    assert_eq!(
        value(m, "l7mp_offload_packets_total{direction=\"upstream\"}"),
        datagrams
    );
    let downstream = value(m, "l7mp_offload_packets_total{direction=\"downstream\"}");
    assert!(
        (datagrams..=datagrams + 1).contains(&downstream),
        "{downstream}"
    );
    for reason in ["not_loopback", "forwarding_disabled", "no_route", "too_big"] {
        assert_eq!(fallbacks(m, reason), 0, "{reason}");
    }
}

#[test]
fn datagrams_the_program_cannot_send_on_go_through_user_space_counted() {
    // client namespace --veth-- proxy namespace (proxy and echo server on 10.77.0.1), with
    // forwarding off on the proxy's loopback.
    let (outside, inside) = (Netns::new(), Netns::new());
    let (_, b) = veth(
        &outside,
        "10.77.0.2/24",
        &inside,
        "10.77.0.1/24",
        &[&outside, &inside],
    );
    lo_forwarding(&inside, false);
    echo(&inside, "10.77.0.1:7000");
    let interfaces = format!("lo,{b}");
    let proxy = Proxy::start(
        &inside,
        &config("10.77.0.1", 60),
        &["--offload", "on", "--offload-interfaces", &interfaces],
    );
    let c = client(&outside, "10.77.0.1:9000");
    round_trips(&c, 50);
    let m = proxy.metrics(&inside);
    assert_eq!(value(&m, "l7mp_offload_sessions_total"), 1);
    // The client's datagrams, for a local endpoint, arrive on the veth, not on loopback.
    assert_eq!(fallbacks(&m, "not_loopback"), 49);
    // The echoes, for the client behind the veth, need a route looked up from loopback.
    let disabled = fallbacks(&m, "forwarding_disabled");
    assert!((49..=50).contains(&disabled), "{disabled}");
    assert_eq!(
        value(&m, "l7mp_offload_packets_total{direction=\"upstream\"}")
            + value(&m, "l7mp_offload_packets_total{direction=\"downstream\"}"),
        0
    );
    assert_eq!(
        value(
            &m,
            "l7mp_listener_packets_total{listener=\"l\",direction=\"rx\"}"
        ),
        50
    );
    assert_eq!(outside.udp_counter("InCsumErrors"), 0);
    assert_eq!(inside.udp_counter("InCsumErrors"), 0);
}

/// Checks every UDP packet in `packets` that came from `from_port`: none with a bad checksum;
/// returns how many carried `kind`.
fn checksums(packets: &[Vec<u8>], from_port: u16, kind: Checksum) -> usize {
    let mut count = 0;
    for packet in packets {
        let (src, dst, checksum) = udp_checksum(packet);
        if src != from_port {
            continue;
        }
        assert_ne!(checksum, Checksum::Bad, "{src} -> {dst}: {packet:02x?}");
        count += usize::from(checksum == kind);
    }
    count
}

/// A client, a proxy and an echo server in three namespaces, the proxy's between the other
/// two: client 10.78.1.2 --veth-- 10.78.1.1 proxy 10.78.2.1 --veth-- 10.78.2.2 echo server.
/// [`Routed::bridged`] puts the proxy's side of the second link in a bridge that holds
/// 10.78.2.1, as on a node whose gateway runs in the host network and reaches its pods through
/// the CNI bridge.
struct Routed {
    client_ns: Netns,
    proxy_ns: Netns,
    echo_ns: Netns,
    /// The proxy's interfaces towards the client (a veth end) and towards the echo server (a
    /// veth end, or the bridge).
    to_client: String,
    to_echo: String,
    /// The echo server's veth end, towards the proxy.
    echo_end: String,
}

impl Routed {
    fn new() -> Routed {
        let (client_ns, proxy_ns, echo_ns) = (Netns::new(), Netns::new(), Netns::new());
        // The client's datagrams carry partial checksums all the way (a redirected skb stays
        // CHECKSUM_PARTIAL, for the veth to pass on as it is), the echo server's replies full
        // ones.
        let (_, to_client) = veth(&client_ns, "10.78.1.2/24", &proxy_ns, "10.78.1.1/24", &[]);
        let (to_echo, echo_end) = veth(
            &proxy_ns,
            "10.78.2.1/24",
            &echo_ns,
            "10.78.2.2/24",
            &[&echo_ns],
        );
        lo_forwarding(&proxy_ns, true);
        echo(&echo_ns, "10.78.2.2:7000");
        Routed {
            client_ns,
            proxy_ns,
            echo_ns,
            to_client,
            to_echo,
            echo_end,
        }
    }

    /// Starts the proxy with offload on both its interfaces and a client whose session the
    /// first round trip has offloaded.
    fn offloaded_session(&self) -> (Proxy, UdpSocket) {
        let proxy = Proxy::start(
            &self.proxy_ns,
            &config("10.78.2.2", 60),
            &[
                "--offload",
                "on",
                "--offload-interfaces",
                &self.interfaces(),
            ],
        );
        let c = client(&self.client_ns, "10.78.1.1:9000");
        round_trips(&c, 1);
        proxy.wait_for(&self.proxy_ns, "l7mp_offload_sessions_active 1");
        (proxy, c)
    }

    /// [`Routed::new`] with the proxy's end of the echo server's link moved into a bridge
    /// `br-echo`, which takes over its address.
    fn bridged() -> Routed {
        let mut routed = Routed::new();
        let ns = &routed.proxy_ns;
        ns.ip(&["addr", "flush", "dev", &routed.to_echo]);
        ns.ip(&["link", "add", "br-echo", "type", "bridge"]);
        ns.ip(&["link", "set", &routed.to_echo, "master", "br-echo"]);
        ns.ip(&["addr", "add", "10.78.2.1/24", "dev", "br-echo"]);
        ns.ip(&["link", "set", "br-echo", "up"]);
        routed.to_echo = "br-echo".into();
        routed
    }

    /// The `--offload-interfaces` of the proxy: both its veth ends.
    fn interfaces(&self) -> String {
        format!("{},{}", self.to_client, self.to_echo)
    }
}

#[test]
fn datagrams_are_routed_between_namespaces_both_ways_until_the_cluster_goes() {
    let routed = Routed::new();
    let interfaces = routed.interfaces();
    let Routed {
        client_ns,
        proxy_ns,
        echo_ns,
        ..
    } = routed;
    // With exactly the capabilities the docs name, as a pod spec's `add` gives them.
    let capabilities = [
        "setpriv",
        "--bounding-set",
        "-all,+net_admin,+bpf",
        "--inh-caps",
        "-all",
        "--",
    ];
    let proxy = Proxy::start_with(
        &proxy_ns,
        &capabilities,
        &config("10.78.2.2", 60),
        &["--offload", "on", "--offload-interfaces", &interfaces],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (at_client, at_echo) = (
        capture_udp(&client_ns, stop.clone()),
        capture_udp(&echo_ns, stop.clone()),
    );
    let c = client(&client_ns, "10.78.1.1:9000");
    round_trips(&c, 1);
    proxy.wait_for(&proxy_ns, "l7mp_offload_sessions_active 1");
    // Stopped, the proxy forwards nothing: the kernel routes every datagram from here, out of
    // the other veth and back.
    proxy.signal(libc::SIGSTOP);
    round_trips(&c, 200);
    // With the neighbours forgotten, the next hop's MAC address is resolved on the way.
    proxy_ns.ip(&["neigh", "flush", "all"]);
    round_trips(&c, 100);
    proxy.signal(libc::SIGCONT);
    stop.store(true, Ordering::Relaxed);
    let (at_client, at_echo) = (at_client.join().unwrap(), at_echo.join().unwrap());
    // Rewritten from the echo server's full checksums and the client's partial ones, updated.
    assert!(checksums(&at_client, 9000, Checksum::Full) >= 300);
    let upstream_port = at_echo
        .iter()
        .map(|p| udp_checksum(p).0)
        .find(|&p| p != 7000)
        .expect("datagrams reached the echo server");
    let partial = checksums(&at_echo, upstream_port, Checksum::Partial);
    assert!(
        partial >= 300,
        "{partial} partial, {} full of {} at the echo server",
        checksums(&at_echo, upstream_port, Checksum::Full),
        at_echo.len()
    );
    assert_eq!(client_ns.udp_counter("InCsumErrors"), 0);
    assert_eq!(echo_ns.udp_counter("InCsumErrors"), 0);
    let m = proxy.metrics(&proxy_ns);
    assert_one_session_offloaded(&m, 300);
    // A reload that removes the cluster (the route now names another) withdraws the flow.
    let without = config("10.78.2.2", 60).replace("echo", "other");
    proxy.reload_withdraws_the_flow(&proxy_ns, &c, &without);
}

/// The ids of the TCX ingress programs on `lo` of `ns`.
fn attached(ns: &Netns) -> Vec<u32> {
    ns.enter(|| {
        let (_, programs) = SchedClassifier::query_tcx("lo", TcAttachType::Ingress).unwrap();
        programs.iter().map(|p| p.id()).collect()
    })
}

#[test]
fn a_killed_proxy_leaves_no_program_or_map_behind() {
    let ns = Netns::new();
    echo(&ns, "127.0.0.1:7000");
    let mut proxy = Proxy::start(&ns, &config("127.0.0.1", 60), ON);
    round_trips(&client(&ns, "127.0.0.1:9000"), 3);
    proxy.wait_for(&ns, "l7mp_offload_sessions_active 1");
    let programs = attached(&ns);
    assert_eq!(programs.len(), 1);
    proxy.signal(libc::SIGKILL);
    proxy.child.wait().unwrap();
    // Freed once the kernel let go of the program (deferred work: wait for it).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !attached(&ns).is_empty()
        || aya::programs::loaded_programs().any(|p| p.is_ok_and(|p| p.id() == programs[0]))
    {
        assert!(Instant::now() < deadline, "the program outlived its proxy");
        thread::sleep(Duration::from_millis(50));
    }
    // And the next proxy starts and offloads as if nothing happened.
    let proxy = Proxy::start(&ns, &config("127.0.0.1", 60), ON);
    round_trips(&client(&ns, "127.0.0.1:9000"), 3);
    proxy.wait_for(&ns, "l7mp_offload_sessions_active 1");
    drop(proxy);
}

#[test]
fn a_stopped_proxy_detaches() {
    let ns = Netns::new();
    let mut proxy = Proxy::start(&ns, &config("127.0.0.1", 60), ON);
    assert_eq!(attached(&ns).len(), 1);
    proxy.signal(libc::SIGTERM);
    assert!(proxy.child.wait().unwrap().success());
    assert!(attached(&ns).is_empty());
}

#[test]
fn offload_on_fails_the_start_with_the_reason_and_auto_carries_on() {
    let ns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    fs::write(&path, config("127.0.0.1", 60)).unwrap();
    let args = ["--offload", "on", "--offload-interfaces", "nosuchif0"];
    let out = Proxy::spawn(&ns, &path, &args, Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--offload=on") && stderr.contains("\"nosuchif0\""),
        "{stderr}"
    );
    // Without the capabilities.
    let setpriv = [
        "setpriv",
        "--bounding-set",
        "-all",
        "--inh-caps",
        "-all",
        "--",
    ];
    let mut cmd = Proxy::spawn_with(&ns, &setpriv, &path, &["--offload", "on"], Stdio::piped());
    let setpriv = cmd.output().unwrap();
    assert_eq!(setpriv.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&setpriv.stderr);
    assert!(stderr.contains("CAP_BPF and CAP_NET_ADMIN"), "{stderr}");
    // auto: says why and forwards in user space.
    echo(&ns, "127.0.0.1:7000");
    let proxy = Proxy::start(
        &ns,
        &config("127.0.0.1", 60),
        &["--offload", "auto", "--offload-interfaces", "nosuchif0"],
    );
    round_trips(&client(&ns, "127.0.0.1:9000"), 5);
    let m = proxy.metrics(&ns);
    assert_eq!(
        value(
            &m,
            "l7mp_listener_packets_total{listener=\"l\",direction=\"rx\"}"
        ),
        5
    );
    assert!(!m.contains("l7mp_offload_"), "{m}");
}

#[test]
fn a_full_flow_table_leaves_sessions_in_user_space() {
    let ns = Netns::new();
    echo(&ns, "127.0.0.1:7000");
    // Room for one session (two entries).
    let proxy = Proxy::start(
        &ns,
        &config("127.0.0.1", 60),
        &["--offload", "on", "--offload-flows", "2"],
    );
    let (first, second) = (client(&ns, "127.0.0.1:9000"), client(&ns, "127.0.0.1:9000"));
    round_trips(&first, 1);
    proxy.wait_for(&ns, "l7mp_offload_sessions_active 1");
    round_trips(&second, 1);
    proxy.wait_for(
        &ns,
        "l7mp_offload_sessions_refused_total{reason=\"full\"} 1",
    );
    round_trips(&second, 20);
    round_trips(&first, 20);
    let m = proxy.metrics(&ns);
    assert_eq!(
        value(&m, "l7mp_offload_packets_total{direction=\"upstream\"}"),
        20
    );
    assert_eq!(
        value(
            &m,
            "l7mp_listener_packets_total{listener=\"l\",direction=\"rx\"}"
        ),
        42
    );
    assert_eq!(value(&m, "l7mp_offload_sessions_active"), 1);
}

#[test]
fn offloaded_sessions_stay_while_traffic_flows_and_end_when_idle() {
    let ns = Netns::new();
    echo(&ns, "127.0.0.1:7000");
    // Two seconds: a client thread held off the CPU for a whole timeout on a loaded machine
    // ended the session of a one-second timeout (1 run in ~20 at load 9).
    let proxy = Proxy::start(&ns, &config("127.0.0.1", 2), ON);
    let c = client(&ns, "127.0.0.1:9000");
    round_trips(&c, 1);
    proxy.wait_for(&ns, "l7mp_offload_sessions_active 1");
    // Traffic only through the kernel for two idle timeouts: the session lives on.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        round_trips(&c, 1);
        thread::sleep(Duration::from_millis(50));
    }
    let m = proxy.metrics(&ns);
    assert_eq!(value(&m, "l7mp_listener_sessions_total{listener=\"l\"}"), 1);
    assert_eq!(
        value(&m, "l7mp_listener_sessions_active{listener=\"l\"}"),
        1
    );
    // Quiet: it ends, and its flow leaves the kernel.
    proxy.wait_for(&ns, "l7mp_listener_sessions_active{listener=\"l\"} 0");
    proxy.wait_for(&ns, "l7mp_offload_sessions_active 0");
    // The next datagram starts a new session, offloaded again.
    round_trips(&c, 1);
    proxy.wait_for(&ns, "l7mp_offload_sessions_total 2");
}

#[test]
fn a_reload_that_changes_the_cluster_sends_its_flows_back_to_user_space() {
    let ns = Netns::new();
    echo(&ns, "127.0.0.1:7000");
    let proxy = Proxy::start(&ns, &config("127.0.0.1", 60), ON);
    let c = client(&ns, "127.0.0.1:9000");
    round_trips(&c, 1);
    proxy.wait_for(&ns, "l7mp_offload_sessions_active 1");
    round_trips(&c, 10);
    // The same endpoint spelled differently: the cluster changed.
    let changed = config("127.0.0.1", 60).replace(
        "- spec: {address: 127.0.0.1}",
        "- spec: {address: 127.0.0.1}\n        weight: 2",
    );
    // The session goes on, through the proxy now (stopped, it answers nothing).
    proxy.reload_withdraws_the_flow(&ns, &c, &changed);
    let mut buf = [0u8; 64];
    let n = c.recv(&mut buf).expect("answered through user space");
    assert_eq!(&buf[..n], b"after the reload");
    let m = proxy.metrics(&ns);
    assert_eq!(
        value(&m, "l7mp_offload_packets_total{direction=\"upstream\"}"),
        10
    );
    assert_eq!(
        value(
            &m,
            "l7mp_listener_packets_total{listener=\"l\",direction=\"rx\"}"
        ),
        12
    );
    assert_eq!(value(&m, "l7mp_listener_sessions_total{listener=\"l\"}"), 1);
}

#[test]
fn a_datagram_too_big_or_without_a_route_goes_through_user_space_counted() {
    let routed = Routed::new();
    let Routed {
        client_ns,
        proxy_ns,
        echo_ns,
        to_echo,
        echo_end,
        ..
    } = &routed;
    let (proxy, c) = routed.offloaded_session();
    let offloaded = |m: &str| value(m, "l7mp_offload_packets_total{direction=\"upstream\"}");

    // Bigger than the way out's MTU: the kernel's route lookup says so, and user space sends
    // it, fragmented by the stack. Both ends of the link get the small MTU, so the echo comes
    // back in fragments, which the program leaves alone.
    for (ns, end) in [(proxy_ns, to_echo), (echo_ns, echo_end)] {
        ns.ip(&["link", "set", end, "mtu", "600"]);
    }
    let big = vec![b'x'; 1000];
    c.send(&big).unwrap();
    let mut buf = [0u8; 2048];
    let len = c.recv(&mut buf).expect("the echo of the big datagram");
    assert_eq!(&buf[..len], &big[..]);
    let m = proxy.metrics(proxy_ns);
    assert_eq!(fallbacks(&m, "too_big"), 1);
    // Small datagrams of the same session stay in the kernel.
    round_trips(&c, 10);
    let m = proxy.metrics(proxy_ns);
    assert_eq!(offloaded(&m), 10);

    // No route to the endpoint: user space gets the datagram, cannot send it either, and ends
    // the session as it would without offload (its flow leaves the map with it).
    proxy_ns.ip(&["route", "add", "blackhole", "10.78.2.2/32"]);
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    c.send(b"into the blackhole").unwrap();
    assert!(c.recv(&mut buf).is_err(), "an echo through a blackhole");
    let m = proxy.metrics(proxy_ns);
    assert_eq!(fallbacks(&m, "no_route"), 1);
    let errors = "l7mp_listener_session_errors_total{listener=\"l\"}";
    assert_eq!(value(&m, errors), 1);
    assert_eq!(value(&m, "l7mp_offload_sessions_active"), 0);
    // With the route back, the client's next datagram opens a new session, answered from user
    // space and offloaded from the second datagram on.
    proxy_ns.ip(&["route", "del", "blackhole", "10.78.2.2/32"]);
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    round_trips(&c, 10);
    let m = proxy.metrics(proxy_ns);
    assert_eq!(value(&m, "l7mp_offload_sessions_total"), 2);
    assert_eq!(value(&m, "l7mp_offload_sessions_active"), 1);
    assert_eq!(offloaded(&m), 10 + 9);
    assert_eq!(client_ns.udp_counter("InCsumErrors"), 0);
    assert_eq!(echo_ns.udp_counter("InCsumErrors"), 0);
}

#[test]
fn datagrams_are_forwarded_through_a_bridge_as_from_a_host_network_gateway() {
    let routed = Routed::bridged();
    let Routed {
        client_ns,
        proxy_ns,
        echo_ns,
        ..
    } = &routed;
    let (proxy, c) = routed.offloaded_session();
    // Stopped, the proxy forwards nothing: every echo below crossed the bridge both ways in
    // the kernel.
    proxy.signal(libc::SIGSTOP);
    round_trips(&c, 100);
    proxy.signal(libc::SIGCONT);
    let m = proxy.metrics(proxy_ns);
    assert_one_session_offloaded(&m, 100);
    assert_eq!(client_ns.udp_counter("InCsumErrors"), 0);
    assert_eq!(echo_ns.udp_counter("InCsumErrors"), 0);
}
