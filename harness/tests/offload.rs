//! UDP offload across pods (`examples/offload`): the seed's cluster with a gateway that runs
//! `--offload on` at its eth0 and has, beside the seed's chained route (port 9001, through the
//! transcoder, which stays in user space), a pure UDP route of its own (port 9003, straight to
//! the workers). A client on the node talks to the gateway pod over the bridge; after a
//! session's first datagram the kernel forwards the rest from the gateway's eth0, over the
//! bridge, to a worker's veth, and the replies back.
//!
//! Needs root, the tools the harness needs, clang-built offload in `l7mp`, and the `l7mp` and
//! `l7mpc` binaries built next to the harness (`cargo test --workspace` builds them).

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

fn task1(part: &str) -> PathBuf {
    repo().join("examples/task1").join(part)
}

fn offload(part: &str) -> PathBuf {
    repo().join("examples/offload").join(part)
}

/// Runs `args` (a program and its arguments) in the network namespace `netns`, failing the
/// test when it fails; its stdout.
fn in_netns(netns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", netns])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?} in {netns}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `Udp:` counter of `/proc/net/snmp` as `snmp` (its text) has it.
fn udp_counter(snmp: &str, name: &str) -> u64 {
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
    let i = names.split_whitespace().position(|n| n == name).unwrap();
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

/// The value of the sample `sample` (name and labels) in a `/metrics` text, 0 when absent.
fn sample(metrics: &str, sample: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Sends `line` and returns the first reply datagram, `None` after `wait`.
fn exchange(socket: &UdpSocket, line: &str, wait: Duration) -> Option<String> {
    let mut buf = [0u8; 2048];
    socket.set_nonblocking(true).unwrap();
    while socket.recv(&mut buf).is_ok() {}
    socket.set_nonblocking(false).unwrap();
    socket.set_read_timeout(Some(wait)).unwrap();
    socket.send(format!("{line}\n").as_bytes()).unwrap();
    let n = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// [`exchange`] until a reply comes (the first sessions can race the workers' DNS names).
fn exchange_until_reply(socket: &UdpSocket, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(reply) = exchange(socket, line, Duration::from_secs(1)) {
            return reply;
        }
        assert!(Instant::now() < deadline, "no reply to {line:?}");
    }
}

/// Whether `reply` is a worker's direct answer to `line`: `Echo on worker-…: \n<line>\n`.
fn worker_echo(reply: &str, line: &str) -> bool {
    reply.starts_with("Echo on worker-deployment-") && reply.ends_with(&format!(": \n{line}\n"))
}

/// The seed's chained route through the gateway at `gateway`: worker and transcoder both
/// answer (`Echo on <worker>: \nTranscoded on <transcoder>: <message>\n`).
fn seed_route_answers(gateway: &str, message: &str) {
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket.connect((gateway, 9001)).unwrap();
    let mut reply = exchange_until_reply(&socket, message);
    // The reply may come in more than one datagram.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !reply.ends_with(&format!(": {message}\n")) && Instant::now() < deadline {
        let mut buf = [0u8; 2048];
        if let Ok(n) = socket.recv(&mut buf) {
            reply.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    assert!(
        reply.starts_with("Echo on worker-deployment-")
            && reply.contains(": \nTranscoded on transcoder-deployment-")
            && reply.ends_with(&format!(": {message}\n")),
        "unexpected reply {reply:?}"
    );
}

fn signal(pids: &[String], sig: &str) {
    for pid in pids {
        let _ = Command::new("kill").args([sig, pid]).status();
    }
}

#[test]
fn the_gateway_offloads_its_pure_udp_route_across_pods_beside_the_seeds_chained_one() {
    let work = tempfile::tempdir().unwrap();
    let c = Cluster::new("offload", 46);
    let workloads = [
        task1("workloads/transcoder-deployment.yaml"),
        task1("workloads/worker-deployment.yaml"),
        offload("workloads"),
    ];
    let mut inputs = vec![task1("mesh"), task1("gateway"), offload("gateway")];
    inputs.extend(workloads.iter().cloned());
    let out = compile(&work.path().join("compiled"), &inputs, None);
    let mut up: Vec<&Path> = workloads.iter().map(PathBuf::as_path).collect();
    up.push(&out);
    c.up_all(&up);
    c.wait_all_ready();
    c.apply(&[&out]);

    let status = c.status();
    let all = pods(&status);
    let field = |p: &Value, f: &str| p[f].as_str().unwrap().to_string();
    let gateway = pod_named(&all, "l7mp-ingress-")[0];
    let (gateway_ip, gateway_ns) = (field(gateway, "ip"), field(gateway, "netns"));
    let workers: Vec<String> = pod_named(&all, "worker-deployment-")
        .iter()
        .map(|p| field(p, "netns"))
        .collect();
    // A Kubernetes node runs with IPv4 forwarding on, and its pods inherit it; this machine
    // may not: the gateway pod's loopback needs it for the routes out.
    in_netns(
        &gateway_ns,
        &["sysctl", "-q", "-w", "net.ipv4.conf.lo.forwarding=1"],
    );
    // Full checksums from both ends (the node over the bridge, the workers), so that what the
    // kernel rewrote is verified by the receiving sockets.
    let bridge_off = Command::new("ethtool")
        .args(["-K", &c.bridge, "tx", "off"])
        .output()
        .unwrap();
    assert!(bridge_off.status.success(), "{bridge_off:?}");
    for ns in &workers {
        in_netns(ns, &["ethtool", "-K", "eth0", "tx", "off"]);
    }
    let node_errors = || {
        udp_counter(
            &std::fs::read_to_string("/proc/net/snmp").unwrap(),
            "InCsumErrors",
        )
    };
    let node_errors_before = node_errors();

    seed_route_answers(&gateway_ip, "This is a test!");

    // The pure UDP route: its first datagram goes through the gateway's user space...
    let metrics = format!("{gateway_ip}:9102");
    let get = || admin_get(&metrics, "/metrics").expect("the gateway's /metrics");
    let client = UdpSocket::bind("0.0.0.0:0").unwrap();
    client.connect((gateway_ip.as_str(), 9003)).unwrap();
    let first = exchange_until_reply(&client, "offloaded 0");
    assert!(worker_echo(&first, "offloaded 0"), "{first:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sample(&get(), "l7mp_offload_sessions_active") != 1 {
        assert!(Instant::now() < deadline, "never offloaded:\n{}", get());
        std::thread::sleep(Duration::from_millis(50));
    }
    // ...and with the gateway stopped, the kernel answers the rest on its own.
    let pids: Vec<String> = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "pids", &gateway_ns])
            .output()
            .unwrap()
            .stdout,
    )
    .split_whitespace()
    .map(str::to_string)
    .collect();
    assert!(!pids.is_empty());
    signal(&pids, "-STOP");
    let mut answered = 0;
    for i in 1..=100 {
        let line = format!("offloaded {i}");
        let reply = exchange(&client, &line, Duration::from_secs(2));
        answered += usize::from(reply.is_some_and(|r| worker_echo(&r, &line)));
    }
    signal(&pids, "-CONT");
    assert_eq!(answered, 100, "answered with the gateway stopped");

    let m = get();
    assert_eq!(
        sample(&m, "l7mp_offload_packets_total{direction=\"upstream\"}"),
        100,
        "{m}"
    );
    let downstream = sample(&m, "l7mp_offload_packets_total{direction=\"downstream\"}");
    assert!((100..=101).contains(&downstream), "{m}");
    for reason in ["not_loopback", "forwarding_disabled", "no_route", "too_big"] {
        let name = format!("l7mp_offload_fallbacks_total{{reason=\"{reason}\"}}");
        assert_eq!(sample(&m, &name), 0, "{name}");
    }
    for ns in &workers {
        let snmp = in_netns(ns, &["cat", "/proc/net/snmp"]);
        assert_eq!(udp_counter(&snmp, "InCsumErrors"), 0, "in {ns}");
    }
    assert_eq!(node_errors(), node_errors_before);

    // The chained route still works beside it, through user space.
    seed_route_answers(&gateway_ip, "Hurray it's working!");
    c.down();
}
