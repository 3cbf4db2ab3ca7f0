//! End-to-end tests of the harness: real namespaces, bridge, dnsmasq, socat and perl. They need
//! root and `ip`, `dnsmasq`, `socat`, `perl`, `getent`, and fail at once with a clear message
//! when something is missing (`apt-get install -y iproute2 dnsmasq-base socat perl`). Each test runs
//! its own cluster (own state directory, bridge and subnet), so they run in parallel.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use l7mp_localcluster::pod::MARKER;
use l7mp_localcluster::process::{Proc, find_by_env};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_l7mp-localcluster");
const SAFE: &str = "bcdfghjklmnpqrstvwxz2456789";

fn preflight() {
    // SAFETY: geteuid has no preconditions.
    assert!(
        unsafe { libc::geteuid() } == 0,
        "these tests must run as root: they create network namespaces, a bridge and mounts"
    );
    let path = std::env::var("PATH").unwrap_or_default() + ":/usr/sbin:/sbin";
    let missing: Vec<&str> = ["ip", "dnsmasq", "socat", "perl", "getent", "sh"]
        .into_iter()
        .filter(|t| !path.split(':').any(|d| Path::new(d).join(t).is_file()))
        .collect();
    assert!(
        missing.is_empty(),
        "missing programs {missing:?}: apt-get install -y iproute2 dnsmasq-base socat perl"
    );
}

/// One test cluster; torn down on drop even when the test fails.
struct Cluster {
    state: tempfile::TempDir,
    name: String,
    bridge: String,
    subnet: String,
}

impl Cluster {
    fn new(name: &str, n: u8) -> Cluster {
        preflight();
        Cluster {
            state: tempfile::Builder::new()
                .prefix("l7mp-localcluster-test")
                .tempdir_in("/run")
                .or_else(|_| tempfile::tempdir())
                .unwrap(),
            name: name.to_string(),
            bridge: format!("l7lct{n}"),
            subnet: format!("10.244.{}.0/24", 200 + u32::from(n)),
        }
    }

    fn node_ip(&self) -> String {
        self.subnet.replace(".0/24", ".1")
    }

    fn dir(&self) -> PathBuf {
        self.state.path().join(&self.name)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--state-dir")
            .arg(self.state.path())
            .arg("--cluster")
            .arg(&self.name);
        c
    }

    fn up_args(&self, mode: &str, file: &Path) -> Command {
        let mut c = self.cmd();
        c.args([
            mode,
            "--bridge",
            &self.bridge,
            "--subnet",
            &self.subnet,
            "-f",
        ])
        .arg(file);
        c
    }

    fn run(&self, mut c: Command) -> Output {
        let out = c.output().unwrap();
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        out
    }

    fn up(&self, file: &Path) {
        let out = self.run(self.up_args("up", file));
        assert!(out.status.success(), "up failed");
    }

    fn exec(&self, pod: &str, container: Option<&str>, stdin: &str, argv: &[&str]) -> String {
        let mut c = self.cmd();
        c.args(["exec", pod]);
        if let Some(name) = container {
            c.args(["-c", name]);
        }
        c.arg("--").args(argv);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "exec {argv:?} in {pod}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Sends one line over UDP from a pod and returns the reply.
    fn udp(&self, from: &str, to: &str, line: &str) -> String {
        self.exec(
            from,
            None,
            &format!("{line}\n"),
            &["socat", "-t", "2", "-", &format!("udp4:{to}")],
        )
    }

    fn status(&self) -> Value {
        let out = self.cmd().args(["status", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn state(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir().join("state.json")).unwrap()).unwrap()
    }

    fn down(&self) {
        let out = self.run({
            let mut c = self.cmd();
            c.arg("down");
            c
        });
        assert!(out.status.success(), "down failed");
    }

    /// Everything a cluster created, as its state lists it: netns names, links, processes.
    fn inventory(&self) -> (Vec<String>, Vec<String>, Vec<Proc>) {
        let state = self.state();
        let mut netns = Vec::new();
        let mut links = Vec::new();
        let mut procs = Vec::new();
        for c in state["created"].as_array().unwrap() {
            match c["kind"].as_str().unwrap() {
                "netns" => netns.push(c["name"].as_str().unwrap().to_string()),
                "link" | "bridge" => links.push(c["name"].as_str().unwrap().to_string()),
                "process" => procs.push(Proc {
                    pid: c["pid"].as_i64().unwrap() as i32,
                    start: c["start"].as_u64().unwrap(),
                }),
                _ => {}
            }
        }
        (netns, links, procs)
    }

    fn assert_clean(&self, inventory: &(Vec<String>, Vec<String>, Vec<Proc>)) {
        let (netns, links, procs) = inventory;
        for n in netns {
            assert!(
                !Path::new("/run/netns").join(n).exists(),
                "netns {n} left behind"
            );
        }
        let listed = String::from_utf8(
            Command::new("ip")
                .args(["netns", "list"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        assert!(
            !listed.contains(&format!("l7lc-{}-", self.name)),
            "netns left behind: {listed}"
        );
        for l in links {
            assert!(
                !Path::new("/sys/class/net").join(l).exists(),
                "link {l} left behind"
            );
        }
        assert!(!Path::new("/sys/class/net").join(&self.bridge).exists());
        for p in procs {
            assert!(!p.alive(), "process {} left behind", p.pid);
        }
        let marker = format!("{MARKER}={}/", self.dir().display());
        assert_eq!(
            find_by_env(&marker),
            Vec::<i32>::new(),
            "processes left behind"
        );
        assert!(!self.dir().exists(), "state directory left behind");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.cmd().arg("down").output();
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn pods(status: &Value) -> Vec<Value> {
    status["pods"].as_array().unwrap().clone()
}

fn pod_named<'a>(pods: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    pods.iter()
        .filter(|p| p["name"].as_str().unwrap().starts_with(prefix))
        .collect()
}

#[test]
fn pods_talk_resolve_share_tmp_follow_configmaps_and_tear_down() {
    let c = Cluster::new("t1", 1);
    c.up(&data("echo.yaml"));
    let status = c.status();
    let all = pods(&status);
    assert_eq!(all.len(), 4, "{status:#}");
    assert!(all.iter().all(|p| p["ready"] == true), "{status:#}");

    // Names in the controllers' patterns.
    let echo = pod_named(&all, "echo-");
    assert_eq!(echo.len(), 2);
    for p in &echo {
        let name = p["name"].as_str().unwrap();
        let parts: Vec<&str> = name.split('-').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert_eq!((parts[1].len(), parts[2].len()), (10, 5), "{name}");
        assert!(
            name[5..].chars().all(|ch| ch == '-' || SAFE.contains(ch)),
            "{name}"
        );
    }
    assert_eq!(
        echo[0]["name"].as_str().unwrap()[..16],
        echo[1]["name"].as_str().unwrap()[..16]
    );
    let node = pod_named(&all, "node-echo-");
    assert_eq!(node.len(), 1);
    assert_eq!(node[0]["ip"], c.node_ip().as_str());
    assert_eq!(node[0]["hostNetwork"], true);

    let (e0, e1) = (
        echo[0]["name"].as_str().unwrap(),
        echo[1]["name"].as_str().unwrap(),
    );
    let (ip0, ip1) = (
        echo[0]["ip"].as_str().unwrap(),
        echo[1]["ip"].as_str().unwrap(),
    );
    assert_ne!(ip0, ip1);

    // Pod to pod over the bridge, the seed's filter with the downward-API POD_NAME.
    assert_eq!(
        c.udp(e0, &format!("{ip1}:9999"), "hello"),
        format!("Echo on {e1}: \nhello\n")
    );
    assert_eq!(
        c.udp(e1, &format!("{ip0}:9999"), "hi"),
        format!("Echo on {e0}: \nhi\n")
    );
    // A host-network pod at the node IP.
    let node_name = node[0]["name"].as_str().unwrap();
    assert_eq!(
        c.udp("prefixer", &format!("{}:9997", c.node_ip()), "x"),
        format!("Node echo on {node_name}: x\n")
    );
    // Downward API.
    let env = c.exec(
        e0,
        None,
        "",
        &["sh", "-c", "echo $POD_NAME $POD_IP $HOSTNAME; hostname"],
    );
    assert_eq!(env, format!("{e0} {ip0} {e0}\n{e0}\n"));

    // Cluster DNS: the headless Service is every pod's IP, by full name and by search path.
    let want: BTreeSet<String> = [ip0.to_string(), ip1.to_string()].into();
    for name in ["echo.default.svc.cluster.local", "echo"] {
        let out = c.exec("prefixer", None, "", &["getent", "ahostsv4", name]);
        let got: BTreeSet<String> = out
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect();
        assert_eq!(got, want, "{name}: {out}");
    }
    let reply = c.udp("prefixer", "echo:9999", "by name");
    assert!(
        reply.starts_with("Echo on echo-") && reply.ends_with(": \nby name\n"),
        "{reply}"
    );

    // /tmp: shared by a pod's containers, private to the pod.
    assert_eq!(
        c.exec(e0, Some("echo"), "", &["cat", "/tmp/owner"]),
        format!("{e0}\n")
    );
    assert_eq!(
        c.exec(e1, Some("echo"), "", &["cat", "/tmp/owner"]),
        format!("{e1}\n")
    );
    assert_ne!(
        std::fs::read_to_string("/tmp/owner").unwrap_or_default(),
        format!("{e0}\n")
    );
    assert_eq!(c.exec("prefixer", None, "", &["ls", "-A", "/tmp"]), "");

    // The ConfigMap volume in the kubelet's layout, then swapped by apply.
    let vol = c.dir().join("pods/prefixer/volumes/config");
    let before = std::fs::read_link(vol.join("..data")).unwrap();
    assert!(before.to_str().unwrap().starts_with("..20"));
    assert_eq!(
        std::fs::read_link(vol.join("prefix")).unwrap(),
        Path::new("..data/prefix")
    );
    assert_eq!(
        c.udp("prefixer", "127.0.0.1:9998", "a"),
        "v1 on prefixer: a\n"
    );
    let text = std::fs::read_to_string(data("echo.yaml")).unwrap();
    let changed = c.state.path().join("changed.yaml");
    std::fs::write(&changed, text.replace("prefix: \"v1\"", "prefix: \"v2\"")).unwrap();
    let names_before: Vec<String> = all
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    let out = c.run({
        let mut a = c.cmd();
        a.args(["apply", "-f"]).arg(&changed);
        a
    });
    assert!(out.status.success());
    let after = std::fs::read_link(vol.join("..data")).unwrap();
    assert_ne!(before, after);
    assert!(!vol.join(&before).exists(), "old version removed");
    assert_eq!(
        std::fs::read_link(vol.join("prefix")).unwrap(),
        Path::new("..data/prefix")
    );
    assert_eq!(
        c.exec("prefixer", None, "", &["cat", "/etc/prefixer/prefix"]),
        "v2"
    );
    assert_eq!(
        c.udp("prefixer", "127.0.0.1:9998", "b"),
        "v2 on prefixer: b\n"
    );
    // Nothing else was restarted.
    let names_after: Vec<String> = pods(&c.status())
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names_before, names_after);

    // Scaling by apply updates DNS.
    std::fs::write(
        &changed,
        text.replace("prefix: \"v1\"", "prefix: \"v2\"")
            .replace("replicas: 2", "replicas: 3"),
    )
    .unwrap();
    let out = c.run({
        let mut a = c.cmd();
        a.args(["apply", "-f"]).arg(&changed);
        a
    });
    assert!(out.status.success());
    let out = c.exec("prefixer", None, "", &["getent", "ahostsv4", "echo"]);
    let got: BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(got.len(), 3, "{out}");

    let inventory = c.inventory();
    assert!(
        inventory.0.len() >= 4 && inventory.2.len() >= 8,
        "{inventory:?}"
    );
    c.down();
    c.assert_clean(&inventory);
    c.down(); // idempotent
}

#[test]
fn run_mode_tears_down_on_sigterm() {
    let c = Cluster::new("t2", 2);
    let mut child = c
        .up_args("run", &data("echo.yaml"))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut inventory = None;
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(c.dir().join("state.json")) {
            let state: Value = serde_json::from_str(&text).unwrap_or_default();
            if state["pods"].as_object().is_some_and(|p| p.len() == 4)
                && pods(&c.status()).iter().all(|p| p["ready"] == true)
            {
                inventory = Some(c.inventory());
                break;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "run exited early");
        std::thread::sleep(Duration::from_millis(100));
    }
    let inventory = inventory.expect("cluster came up");
    assert_eq!(
        c.udp("prefixer", "127.0.0.1:9998", "a"),
        "v1 on prefixer: a\n"
    );
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    c.assert_clean(&inventory);
}

#[test]
fn a_failed_up_leaves_nothing_behind() {
    let c = Cluster::new("t3", 3);
    let file = c.state.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: good}\nspec:\n  containers:\n    - {name: s, image: x, command: [sleep, '1000000']}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n    - {name: s, image: x, command: [no-such-program-l7mp]}\n",
    )
    .unwrap();
    let out = c.run(c.up_args("up", &file));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pod bad container s: program \"no-such-program-l7mp\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("pod/good started"),
        "the first pod was running: {stderr}"
    );
    c.assert_clean(&(Vec::new(), Vec::new(), Vec::new()));
    let out = c.run({
        let mut a = c.cmd();
        a.arg("status");
        a
    });
    assert!(!out.status.success());
}
