//! The seed's task end to end, as a cluster would run it: `l7mpc compile` turns
//! `examples/task1` into ConfigMaps and Services, the harness runs the workloads (our proxy as
//! gateway and sidecars, the apps' socat + perl commands as written), and a client on the host
//! sends the seed's messages to the node's UDP port 9001.
//!
//! The gateway runs in the host network namespace and owns host ports 9001, 9002, 1234 and
//! 9102; the scenarios take turns with every cluster test (`common::one_at_a_time`). They need root and
//! the tools the harness needs, and the `l7mp` and `l7mpc` binaries built next to the harness
//! (`cargo test --workspace` builds them).

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{Value, json};

const SEED_MESSAGES: [&str; 2] = ["This is a test!", "Hurray it's working!"];

fn example(part: &str) -> PathBuf {
    repo().join("examples/task1").join(part)
}

fn test_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/task1")
        .join(name)
}

/// The seed's resources with `gateway` (a folder or file) for the gateway.
fn seed_inputs(gateway: PathBuf, extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut v = vec![example("mesh"), gateway, example("workloads")];
    v.extend_from_slice(extra);
    v
}

/// A UDP client with its own source port, as one `socat - udp4:NODE:PORT` is.
struct Client {
    socket: UdpSocket,
}

impl Client {
    fn new(node: &str, port: u16) -> Client {
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        socket.connect((node, port)).unwrap();
        Client { socket }
    }

    /// Sends `line` and collects what comes back within a short window (the reply may come in
    /// more than one datagram). Empty when nothing came.
    fn exchange(&self, line: &str) -> String {
        let mut buf = [0u8; 2048];
        // A late answer to an earlier exchange is not this one's.
        self.socket.set_nonblocking(true).unwrap();
        while self.socket.recv(&mut buf).is_ok() {}
        self.socket.set_nonblocking(false).unwrap();
        self.socket.send(format!("{line}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        self.socket
            .set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        while let Ok(n) = self.socket.recv(&mut buf) {
            reply.push_str(&String::from_utf8_lossy(&buf[..n]));
            self.socket
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
        }
        reply
    }

    /// Like `exchange`, but retries until a reply comes: the first sessions can race the
    /// pods starting and their DNS names appearing.
    fn exchange_until_reply(&self, line: &str, deadline: Duration) -> String {
        let end = Instant::now() + deadline;
        loop {
            let reply = self.exchange(line);
            if !reply.is_empty() || Instant::now() > end {
                // A retry can bring the late answer to the attempt before it as well: keep
                // the first whole answer (each ends with the line it answers).
                let end_of_first = reply.find(&format!("{line}\n")).map(|i| i + line.len() + 1);
                return reply[..end_of_first.unwrap_or(reply.len())].to_string();
            }
        }
    }
}

/// The worker and transcoder pod names in a reply, checking its exact shape:
/// `Echo on <worker>: \nTranscoded on <transcoder>: <message>\n`.
fn parse_reply(reply: &str, message: &str) -> (String, String) {
    try_parse_reply(reply, message).unwrap_or_else(|| panic!("unexpected reply {reply:?}"))
}

/// [`parse_reply`], `None` for a reply of another shape.
fn try_parse_reply(reply: &str, message: &str) -> Option<(String, String)> {
    let (worker, rest) = reply
        .strip_prefix("Echo on ")?
        .split_once(": \nTranscoded on ")?;
    let transcoder = rest.strip_suffix(&format!(": {message}\n"))?;
    Some((worker.to_string(), transcoder.to_string()))
}

fn pod_names(c: &Cluster, prefix: &str) -> BTreeSet<String> {
    pods(&c.status())
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Which workers and transcoders answer `sessions` new client sessions.
fn spread(node: &str, port: u16, sessions: usize) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut workers = BTreeSet::new();
    let mut transcoders = BTreeSet::new();
    for i in 0..sessions {
        let message = format!("session {i}");
        let reply = Client::new(node, port).exchange_until_reply(&message, Duration::from_secs(10));
        let (w, t) = parse_reply(&reply, &message);
        workers.insert(w);
        transcoders.insert(t);
    }
    (workers, transcoders)
}

/// Like [`spread`], in rounds of `sessions` until `workers` worker pods have answered or 20 s
/// have passed, adding up what answered. A worker the gateway tried before its app listened
/// (an ICMP refusal) is left out of balancing for the passive health check's back-off (5 s at
/// first), so right after start-up one round may see only the other worker.
fn spread_until_workers(
    node: &str,
    port: u16,
    sessions: usize,
    workers: usize,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut seen_workers, mut seen_transcoders) = spread(node, port, sessions);
    while seen_workers.len() < workers && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let (w, t) = spread(node, port, sessions);
        seen_workers.extend(w);
        seen_transcoders.extend(t);
    }
    (seen_workers, seen_transcoders)
}

/// Compiles `inputs` and brings them up with the example's workloads as cluster `name`, its
/// containers run by `runtime`.
fn start(name: &str, n: u8, runtime: Runtime, work: &Path, inputs: &[PathBuf]) -> Cluster {
    let c = Cluster::with_runtime(name, n, runtime);
    let out = compile(&work.join("compiled"), inputs, None);
    c.up_all(&[&c.workloads(&example("workloads"), work), &out]);
    // DNS follows readiness at `up` and `apply` only: a pod that became ready after `up`
    // returned (a worker whose sidecar was still starting, on a loaded machine) would stay
    // out of its Service. Once every pod is ready, an `apply` of the same output adds it.
    c.wait_all_ready();
    c.apply(&[&out]);
    c
}

#[test]
fn the_seed_exchange_load_balancing_and_reconfiguration() {
    seed_exchange_load_balancing_and_reconfiguration("task1", 20, Runtime::Process);
}

/// The same with every container run by podman from the images scripts/image.sh builds.
#[test]
fn the_seed_exchange_load_balancing_and_reconfiguration_in_podman_containers() {
    seed_exchange_load_balancing_and_reconfiguration("task1pm", 25, Runtime::Podman);
}

fn seed_exchange_load_balancing_and_reconfiguration(name: &str, n: u8, runtime: Runtime) {
    let work = tempfile::tempdir().unwrap();
    let c = start(
        name,
        n,
        runtime,
        work.path(),
        &seed_inputs(example("gateway"), &[]),
    );
    let node = c.node_ip();
    let workers = pod_names(&c, "worker-deployment-");
    let transcoders = pod_names(&c, "transcoder-deployment-");
    assert_eq!((workers.len(), transcoders.len()), (2, 2));

    // The seed's exchange, with real pod names.
    for message in SEED_MESSAGES {
        let reply = Client::new(&node, 9001).exchange_until_reply(message, Duration::from_secs(20));
        let (w, t) = parse_reply(&reply, message);
        assert!(workers.contains(&w), "{w} is not a worker pod: {workers:?}");
        assert!(
            transcoders.contains(&t),
            "{t} is not a transcoder pod: {transcoders:?}"
        );
    }

    // ConsistentHash without a key picks at random per session: over 40 sessions every pod
    // answers.
    let (seen_workers, seen_transcoders) = spread_until_workers(&node, 9001, 40, workers.len());
    assert_eq!(seen_workers, workers);
    assert_eq!(seen_transcoders, transcoders);

    // Reconfiguration through the ConfigMaps, with the pods left running. A session opened
    // before the change keeps working through it.
    let before = Client::new(&node, 9001);
    let first = parse_reply(
        &before.exchange_until_reply("before", Duration::from_secs(10)),
        "before",
    );
    let out = compile(
        &work.path().join("second-gateway"),
        &seed_inputs(example("gateway"), &[test_data("gateway-9002.yaml")]),
        None,
    );
    c.apply(&[&out]);
    let added = Client::new(&node, 9002).exchange_until_reply("added", Duration::from_secs(15));
    parse_reply(&added, "added");
    assert_eq!(parse_reply(&before.exchange("still"), "still"), first);

    // Trivial instead of ConsistentHash for the transcoders: new sessions all reach one.
    let trivial = compile(
        &work.path().join("trivial-policy"),
        &[
            example("mesh/uds-cluster.yaml"),
            example("mesh/transcoder-vsvc.yaml"),
            example("mesh/udp-cluster.yaml"),
            test_data("websocket-cluster-trivial.yaml"),
            example("gateway"),
            test_data("gateway-9002.yaml"),
            example("workloads"),
        ],
        None,
    );
    c.apply(&[&trivial]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, seen) = spread(&node, 9001, 8);
        if seen.len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Trivial never took effect: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(parse_reply(&before.exchange("after"), "after"), first);
    let inventory = c.inventory();
    c.down();
    c.assert_clean(&inventory);
}

#[test]
fn the_trivial_variant_uses_one_transcoder() {
    let work = tempfile::tempdir().unwrap();
    let c = start(
        "task1tr",
        21,
        Runtime::Process,
        work.path(),
        &seed_inputs(example("trivial"), &[]),
    );
    let node = c.node_ip();
    Client::new(&node, 9001).exchange_until_reply("warm-up", Duration::from_secs(20));
    let (workers, transcoders) = spread_until_workers(&node, 9001, 40, 2);
    assert_eq!(workers.len(), 2, "both workers answer: {workers:?}");
    assert_eq!(
        transcoders.len(),
        1,
        "one transcoder answers: {transcoders:?}"
    );
    c.down();
}

#[test]
fn a_killed_transcoder_is_skipped_by_new_sessions() {
    killed_transcoder_is_skipped("task1kill", 22, Runtime::Process);
}

/// The same with podman containers: the processes killed are the containers' (podman's
/// monitor runs outside the pod's network namespace), so the containers exit.
#[test]
fn a_killed_transcoder_container_is_skipped_by_new_sessions() {
    killed_transcoder_is_skipped("task1killpm", 26, Runtime::Podman);
}

fn killed_transcoder_is_skipped(name: &str, n: u8, runtime: Runtime) {
    let work = tempfile::tempdir().unwrap();
    let inputs = seed_inputs(test_data("gateway-retry.yaml"), &[]);
    let c = start(name, n, runtime, work.path(), &inputs);
    let node = c.node_ip();
    Client::new(&node, 9001).exchange_until_reply("warm-up", Duration::from_secs(20));
    let transcoders = pod_names(&c, "transcoder-deployment-");
    let victim = transcoders.iter().next().unwrap().clone();
    let netns = pods(&c.status())
        .iter()
        .find(|p| p["name"] == victim.as_str())
        .and_then(|p| p["netns"].as_str().map(str::to_string))
        .expect("the pod's netns");
    let pids = Command::new("ip")
        .args(["netns", "pids", &netns])
        .output()
        .unwrap();
    for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
        let _ = Command::new("kill").args(["-9", pid]).status();
    }
    // Every new session is answered, and only by the survivor.
    let (_, seen) = spread(&node, 9001, 20);
    assert!(!seen.contains(&victim), "the killed pod answered: {seen:?}");
    assert_eq!(seen.len(), 1);
    // The pod is not ready, and says why.
    let status = c.status();
    let pod = pod_named(&pods(&status), &victim)[0].clone();
    assert_eq!(pod["ready"], false, "{pod}");
    if runtime == Runtime::Podman {
        assert_eq!(pod["status"], "Error", "{pod}");
        let codes: Vec<&Value> = pod["containerStatuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["exitCode"])
            .collect();
        assert!(codes.contains(&&json!(137)), "SIGKILL: {pod}");
    }
    let inventory = c.inventory();
    c.down();
    c.assert_clean(&inventory);
}

#[test]
fn the_seed_runs_with_pod_ip_endpoints() {
    let work = tempfile::tempdir().unwrap();
    let inputs = seed_inputs(example("gateway"), &[]);
    let c = start("task1pods", 23, Runtime::Process, work.path(), &inputs);
    // A `kubectl get pods -o yaml` snapshot of the running pods, then a recompile that writes
    // their IPs instead of Service names, applied to the running pods.
    let items: Vec<Value> = pods(&c.status())
        .iter()
        .map(|p| {
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": p["name"], "namespace": p["namespace"], "labels": p["labels"]},
                "status": {"podIP": p["ip"]},
            })
        })
        .collect();
    let snapshot = work.path().join("pods.yaml");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    std::fs::write(&snapshot, serde_json::to_string_pretty(&list).unwrap()).unwrap();
    let out = compile(&work.path().join("with-pods"), &inputs, Some(&snapshot));
    let ingress = std::fs::read_to_string(out.join("default/configmap-l7mp-ingress-config.yaml"))
        .expect("the gateway's ConfigMap");
    assert!(
        !ingress.contains("svc.cluster.local"),
        "pod IPs, not names: {ingress}"
    );
    c.apply(&[&out]);
    let node = c.node_ip();
    for message in SEED_MESSAGES {
        let reply = Client::new(&node, 9001).exchange_until_reply(message, Duration::from_secs(20));
        parse_reply(&reply, message);
    }
    let (workers, transcoders) = spread_until_workers(&node, 9001, 40, 2);
    assert_eq!((workers.len(), transcoders.len()), (2, 2));
    c.down();
}

/// A burst of new sessions, as many users arriving at once make: 200 clients, each its own UDP
/// socket and source port, each sending one datagram, all sent before any reply is read. Every
/// session is answered, with its own message, by one of the pods.
#[test]
fn two_hundred_new_sessions_at_once_are_all_answered() {
    const SESSIONS: usize = 200;
    let work = tempfile::tempdir().unwrap();
    let c = start(
        "task1burst",
        24,
        Runtime::Process,
        work.path(),
        &seed_inputs(example("gateway"), &[]),
    );
    let node = c.node_ip();
    let workers = pod_names(&c, "worker-deployment-");
    let transcoders = pod_names(&c, "transcoder-deployment-");
    // Every pod's app is up before the burst: sequential sessions until each pod has answered.
    Client::new(&node, 9001).exchange_until_reply("warm-up", Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut seen_workers, mut seen_transcoders) = (BTreeSet::new(), BTreeSet::new());
    while seen_workers != workers || seen_transcoders != transcoders {
        assert!(
            Instant::now() < deadline,
            "not every pod answered before the burst: {seen_workers:?} {seen_transcoders:?}"
        );
        let (w, t) = spread(&node, 9001, 4);
        seen_workers.extend(w);
        seen_transcoders.extend(t);
    }

    let clients: Vec<Client> = (0..SESSIONS).map(|_| Client::new(&node, 9001)).collect();
    for (i, client) in clients.iter().enumerate() {
        client
            .socket
            .send(format!("burst {i}\n").as_bytes())
            .unwrap();
    }
    // Replies are read afterwards, each socket until its whole answer is in or the common
    // deadline has passed (a lost session never answers).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut wrong = Vec::new();
    let mut unanswered = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let message = format!("burst {i}");
        let mut reply = String::new();
        let mut buf = [0u8; 2048];
        while !reply.ends_with(&format!(": {message}\n")) {
            let left = deadline.saturating_duration_since(Instant::now());
            client
                .socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match client.socket.recv(&mut buf) {
                Ok(n) => reply.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => break,
            }
        }
        if reply.is_empty() {
            unanswered.push(i);
            continue;
        }
        match try_parse_reply(&reply, &message) {
            Some((w, t)) if workers.contains(&w) && transcoders.contains(&t) => {}
            _ => wrong.push(reply),
        }
    }
    assert!(
        unanswered.is_empty() && wrong.is_empty(),
        "{} of {SESSIONS} sessions answered right; unanswered: {unanswered:?}; wrong: {wrong:?}",
        SESSIONS - unanswered.len() - wrong.len()
    );
    c.down();
}
