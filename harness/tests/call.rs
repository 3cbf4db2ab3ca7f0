//! The call example (`examples/call`) end to end: `l7mpc compile` turns it into ConfigMaps and
//! a headless Service, the harness runs the gateway DaemonSet (host network) and the two
//! rendezvous pods, and UDP clients on the host join calls with a JSONSocket header sent to
//! the node's port 9100.
//!
//! It checks what the example promises: both users of a call meet on one rendezvous pod and
//! hear each other, never themselves nor another call; the `Rule` labels alice a moderator at
//! the gateway, the label crosses to the rendezvous pod in the JSONSocket header, and only
//! her messages are counted there (a client that writes the role into its own header is not);
//! a session without a call is refused with a status header.
//!
//! The gateway owns host ports 9100 (UDP), 9101 (its admin endpoint) and 9103 (its metrics
//! address), which no other test uses; like every cluster test it takes its turn
//! (`common::one_at_a_time`). It needs root, the
//! harness's tools and the `l7mp` and `l7mpc` binaries built next to the harness (`cargo test
//! --workspace` builds them).

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{Value, json};

const GATEWAY_PORT: u16 = 9100;
const GATEWAY_ADMIN: &str = "127.0.0.1:9101";

/// A user in a call: a UDP socket of its own (one source port, so one gateway session) that
/// has done the JSONSocket handshake.
struct User {
    name: &'static str,
    socket: UdpSocket,
}

impl User {
    /// Sends `header` from a fresh socket and returns the gateway's status header, `None`
    /// when none came.
    fn attempt(node: &str, header: &Value) -> (UdpSocket, Option<Value>) {
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        socket.connect((node, GATEWAY_PORT)).unwrap();
        socket.send(header.to_string().as_bytes()).unwrap();
        // Longer than the gateway's worst case (its hop's 2 s connect timeout), so a second
        // attempt never races a first one that is still being routed.
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 4096];
        let answer = socket
            .recv(&mut buf)
            .ok()
            .map(|n| serde_json::from_slice(&buf[..n]).expect("the status header is JSON"));
        (socket, answer)
    }

    /// Joins a call as `name` with `header`, retrying until the gateway answers 200: the
    /// first sessions race the rendezvous pods' names appearing in DNS.
    fn join_with(node: &str, name: &'static str, header: &Value) -> User {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let (socket, answer) = User::attempt(node, header);
            if answer
                .as_ref()
                .is_some_and(|a| a["JSONSocketStatus"] == 200)
            {
                return User { name, socket };
            }
            assert!(
                Instant::now() < end,
                "{name} could not join with {header}: last answer {answer:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Joins `call` as `name`.
    fn join(node: &str, call: &str, name: &'static str) -> User {
        User::join_with(node, name, &hello(call, name))
    }

    fn say(&self, text: &str) {
        self.socket.send(text.as_bytes()).unwrap();
    }

    /// The next message, or `None` after `wait`.
    fn hear(&self, wait: Duration) -> Option<String> {
        self.socket.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

/// The JSONSocket header of `user` joining `call`.
fn hello(call: &str, user: &str) -> Value {
    json!({"JSONSocketVersion": 1, "call": call, "user": user})
}

/// `from` says each of `lines`; `to` hears exactly those, in order.
fn talk(from: &User, to: &User, lines: &[String]) {
    for line in lines {
        from.say(line);
    }
    for line in lines {
        let heard = to.hear(Duration::from_secs(3));
        assert_eq!(
            heard.as_deref(),
            Some(line.as_str()),
            "{} did not hear {}",
            to.name,
            from.name
        );
    }
}

/// The messages `user` says: numbered, so that a lost or duplicated one shows.
fn lines(user: &User, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{} says {i}", user.name)).collect()
}

/// A counter's value in Prometheus text (0 when absent).
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// What the moderator hops of all rendezvous pods counted: (messages, bytes).
fn moderated_traffic(admins: &[String]) -> (u64, u64) {
    let metrics: Vec<String> = admins
        .iter()
        .map(|a| admin_get(a, "/metrics").expect("the rendezvous pods' metrics"))
        .collect();
    let total = |series: &str| -> u64 { metrics.iter().map(|m| counter(m, series)).sum() };
    (
        total("l7mp_metric_packets_total{counter=\"moderator_packets\"}"),
        total("l7mp_metric_bytes_total{counter=\"moderator_bytes\"}"),
    )
}

/// Compiles the example, brings it up as cluster `name` (its containers run by `runtime`), and
/// waits for its proxies; returns the cluster and the rendezvous pods' admin addresses.
fn start(
    name: &str,
    n: u8,
    runtime: Runtime,
    work: &Path,
    example: &Path,
) -> (Cluster, Vec<String>) {
    let c = Cluster::with_runtime(name, n, runtime);
    let inputs = [example.to_path_buf()];
    let out = compile(&work.join("compiled"), &inputs, None);
    c.up_all(&[&c.workloads(&example.join("workloads"), work), &out]);
    let admins: Vec<String> = pod_named(&pods(&c.status()), "rendezvous-")
        .iter()
        .map(|p| format!("{}:1234", p["ip"].as_str().unwrap()))
        .collect();
    assert_eq!(admins.len(), 2, "two rendezvous pods");
    wait_ready(
        &[admins.clone(), vec![GATEWAY_ADMIN.to_string()]].concat(),
        Duration::from_secs(20),
    );
    (c, admins)
}

/// Each call's two sessions are on one pod (Sync joined them), and only the moderator's
/// session passed the Metric hop.
fn check_placement(admins: &[String]) {
    let sessions: Vec<Vec<Value>> = admins
        .iter()
        .map(|a| serde_json::from_str(&admin_get(a, "/sessions").unwrap()).unwrap())
        .collect();
    let counts: Vec<usize> = sessions.iter().map(Vec::len).collect();
    let total: usize = counts.iter().sum();
    assert_eq!(total, 4, "sessions per pod: {counts:?}");
    assert!(
        counts.iter().all(|n| n % 2 == 0),
        "a call was split: {counts:?}"
    );
    let moderated = sessions
        .iter()
        .flatten()
        .filter(|s| s["stages"][0]["cluster"] == "default/moderator-metric")
        .count();
    assert_eq!(moderated, 1, "moderator sessions: {sessions:?}");
}

/// No call, no rendezvous: the Sync cluster refuses, and the user gets the status.
fn check_refusal(node: &str) {
    let (_, answer) = User::attempt(node, &json!({"JSONSocketVersion": 1, "user": "eve"}));
    let answer = answer.expect("a status header for a session without a call");
    assert_eq!(answer["JSONSocketStatus"], 503, "{answer}");
    let message = answer["JSONSocketMessage"].as_str().unwrap_or_default();
    assert!(message.contains("/JSONSocket/call"), "{answer}");
}

/// Compiles the example with its Rule changed to make bob the moderator, applies it to the
/// running cluster, and waits until a new session of bob's is counted.
fn make_bob_the_moderator(c: &Cluster, work: &Path, example: &Path, admins: &[String]) {
    let rule = std::fs::read_to_string(example.join("rules/alice-moderates.yaml")).unwrap();
    assert!(
        rule.contains("value: alice"),
        "the example's Rule changed: {rule}"
    );
    let bob_rule = work.join("bob-moderates.yaml");
    std::fs::write(&bob_rule, rule.replace("value: alice", "value: bob")).unwrap();
    let parts = ["gateway", "rendezvous", "workloads"].map(|p| example.join(p));
    let inputs = [&parts[..], &[bob_rule]].concat();
    c.apply(&[&compile(&work.join("bob"), &inputs, None)]);
    let node = c.node_ip();
    let end = Instant::now() + Duration::from_secs(15);
    for call in 0.. {
        let before = moderated_traffic(admins).0;
        let bob = User::join(&node, &format!("later-{call}"), "bob");
        let frank = User::join(&node, &format!("later-{call}"), "frank");
        talk(&bob, &frank, &lines(&bob, 1));
        if moderated_traffic(admins).0 == before + 1 {
            return;
        }
        assert!(Instant::now() < end, "the changed Rule never took effect");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn two_users_meet_in_a_call_and_the_rule_labels_the_moderator_until_it_changes() {
    call_example("call", 30, Runtime::Process);
}

/// The same with every container run by podman from the images scripts/image.sh builds.
#[test]
fn the_call_example_runs_in_podman_containers() {
    call_example("callpm", 31, Runtime::Podman);
}

fn call_example(name: &str, n: u8, runtime: Runtime) {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let example = repo().join("examples/call");
    let (c, admins) = start(name, n, runtime, work.path(), &example);
    let node = c.node_ip();

    // Two calls at once. Carol writes a role into her own header: the gateway does not pass
    // it on, so she is no moderator.
    let alice = User::join(&node, "c42", "alice");
    let bob = User::join(&node, "c42", "bob");
    let mut carols = hello("c7", "carol");
    carols["role"] = json!("moderator");
    let carol = User::join_with(&node, "carol", &carols);
    let dave = User::join(&node, "c7", "dave");
    let said_by_alice = lines(&alice, 3);
    talk(&alice, &bob, &said_by_alice);
    talk(&bob, &alice, &lines(&bob, 4));
    talk(&carol, &dave, &lines(&carol, 2));
    talk(&dave, &carol, &lines(&dave, 1));
    for user in [&alice, &bob, &carol, &dave] {
        let extra = user.hear(Duration::from_millis(500));
        assert_eq!(
            extra, None,
            "{} heard its own or another call's message",
            user.name
        );
    }
    check_placement(&admins);
    let bytes = said_by_alice.iter().map(|l| l.len() as u64).sum();
    assert_eq!(
        moderated_traffic(&admins),
        (said_by_alice.len() as u64, bytes)
    );
    check_refusal(&node);

    // A changed Rule applied while the calls run: new sessions get the new label, and the
    // calls in progress go on as they were.
    make_bob_the_moderator(&c, work.path(), &example, &admins);
    talk(&alice, &bob, &lines(&alice, 1));
    talk(&dave, &carol, &lines(&dave, 1));

    let inventory = c.inventory();
    c.down();
    c.assert_clean(&inventory);
    eprintln!(
        "call example end to end ({runtime:?}): {:?}",
        started.elapsed()
    );
}
