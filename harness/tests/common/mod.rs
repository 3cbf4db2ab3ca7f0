//! Test helpers shared by the harness's end-to-end tests: one cluster per test, torn down on
//! drop even when the test fails, and commands run against it.

pub mod images;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

use l7mp_localcluster::pod::MARKER;
use l7mp_localcluster::podman::CLUSTER_LABEL;
use l7mp_localcluster::process::{Proc, find_by_env};
pub use l7mp_localcluster::state::Runtime;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_l7mp-localcluster");

pub fn preflight() {
    assert!(
        rustix::process::geteuid().is_root(),
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

/// Held by every cluster and every set of test containers for its whole life, so that they come
/// one at a time: the task1 and call scenarios own fixed host ports (9001, 9100, ...), and the
/// tests were written to run file after file, each file in a test binary of its own.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    // A test that failed holding the turn has torn its cluster down on the way out.
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

/// One test cluster; torn down on drop even when the test fails.
pub struct Cluster {
    /// The state directory (a temporary one per test).
    pub state: tempfile::TempDir,
    /// The cluster's name.
    pub name: String,
    /// Its bridge.
    pub bridge: String,
    /// Its pod subnet.
    pub subnet: String,
    /// What runs its containers.
    pub runtime: Runtime,
    /// The turn ([`one_at_a_time`]), given back after the cluster's `down` on drop: the last
    /// field, so dropped last.
    _turn: MutexGuard<'static, ()>,
}

impl Cluster {
    pub fn new(name: &str, n: u8) -> Cluster {
        Cluster::with_runtime(name, n, Runtime::Process)
    }

    /// A cluster whose containers `runtime` runs.
    pub fn with_runtime(name: &str, n: u8, runtime: Runtime) -> Cluster {
        preflight();
        let turn = one_at_a_time();
        Cluster {
            state: tempfile::Builder::new()
                .prefix("l7mp-localcluster-test")
                .tempdir_in("/run")
                .or_else(|_| tempfile::tempdir())
                .unwrap(),
            name: name.to_string(),
            bridge: format!("l7lct{n}"),
            subnet: format!("10.244.{}.0/24", 200 + u32::from(n)),
            runtime,
            _turn: turn,
        }
    }

    pub fn node_ip(&self) -> String {
        self.subnet.replace(".0/24", ".1")
    }

    pub fn dir(&self) -> PathBuf {
        self.state.path().join(&self.name)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--state-dir")
            .arg(self.state.path())
            .arg("--cluster")
            .arg(&self.name);
        c
    }

    pub fn up_args(&self, mode: &str, file: &Path) -> Command {
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
        if self.runtime == Runtime::Podman {
            c.args(["--runtime", "podman"]);
        }
        c
    }

    /// The workload manifests in `dir` as this cluster runs them: as they are for the process
    /// runtime; for podman, copied into `work` to name the proxy image the tests build (both
    /// images built first).
    pub fn workloads(&self, dir: &Path, work: &Path) -> PathBuf {
        match self.runtime {
            Runtime::Process => dir.to_path_buf(),
            Runtime::Podman => images::with_test_images(dir, work),
        }
    }

    /// Writes `yaml` into `work` as `name` and returns its path. `APP` in it stands for the
    /// examples' app image (socat and perl), built first for the podman runtime.
    pub fn manifest(&self, work: &Path, name: &str, yaml: &str) -> PathBuf {
        let image = match self.runtime {
            Runtime::Process => images::example_image(),
            Runtime::Podman => images::app_image(),
        };
        let path = work.join(name);
        std::fs::write(&path, yaml.replace("APP", &image)).unwrap();
        path
    }

    /// The pod's entry in `status --json`.
    pub fn pod(&self, name: &str) -> Value {
        let status = self.status();
        pods(&status)
            .into_iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no pod {name} in {status}"))
    }

    /// Polls `status` until `check` accepts pod `name`'s entry (the containers start in the
    /// background); fails with the last one after a generous deadline.
    pub fn wait_for(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let p = self.pod(name);
            if check(&p) {
                return p;
            }
            assert!(
                std::time::Instant::now() < end,
                "pod {name} never {what}: {p:#}"
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    }

    /// Polls `status` until every pod is ready; fails after a generous deadline.
    pub fn wait_all_ready(&self) {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let status = self.status();
            if pods(&status).iter().all(|p| p["ready"] == true) {
                return;
            }
            assert!(
                std::time::Instant::now() < end,
                "not every pod became ready: {status:#}"
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    }

    /// `describe POD`.
    pub fn describe(&self, name: &str) -> String {
        let out = self.cmd().args(["describe", name]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The podman containers carrying this cluster's label (none for the process runtime).
    pub fn containers(&self) -> Vec<String> {
        if self.runtime == Runtime::Process {
            return Vec::new();
        }
        let out = images::ok({
            let mut c = images::podman();
            c.args(["ps", "-a", "--format", "{{.Names}}", "--filter"])
                .arg(format!("label={CLUSTER_LABEL}={}", self.dir().display()));
            c
        });
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    pub fn run(&self, mut c: Command) -> Output {
        let out = c.output().unwrap();
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// `up` with several manifest files or folders.
    pub fn up_all(&self, files: &[&Path]) {
        let mut c = self.up_args("up", files[0]);
        for f in &files[1..] {
            c.arg("-f").arg(f);
        }
        let out = self.run(c);
        assert!(out.status.success(), "up failed");
    }

    /// `apply` of manifest files or folders to the running cluster.
    pub fn apply(&self, files: &[&Path]) {
        let mut c = self.cmd();
        c.arg("apply");
        for f in files {
            c.arg("-f").arg(f);
        }
        let out = self.run(c);
        assert!(out.status.success(), "apply failed");
    }

    pub fn up(&self, file: &Path) {
        let out = self.run(self.up_args("up", file));
        assert!(out.status.success(), "up failed");
    }

    pub fn exec(&self, pod: &str, container: Option<&str>, stdin: &str, argv: &[&str]) -> String {
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
    pub fn udp(&self, from: &str, to: &str, line: &str) -> String {
        self.exec(
            from,
            None,
            &format!("{line}\n"),
            &["socat", "-t", "2", "-", &format!("udp4:{to}")],
        )
    }

    pub fn status(&self) -> Value {
        let out = self.cmd().args(["status", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn state(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir().join("state.json")).unwrap()).unwrap()
    }

    pub fn down(&self) {
        let out = self.run({
            let mut c = self.cmd();
            c.arg("down");
            c
        });
        assert!(out.status.success(), "down failed");
    }

    /// Everything a cluster created, as its state lists it: netns names, links, processes.
    pub fn inventory(&self) -> (Vec<String>, Vec<String>, Vec<Proc>) {
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

    pub fn assert_clean(&self, inventory: &(Vec<String>, Vec<String>, Vec<Proc>)) {
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
        assert_eq!(
            self.containers(),
            Vec::<String>::new(),
            "containers left behind"
        );
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let netns_prefix = format!("/run/netns/l7lc-{}-", self.name);
        let state_dir = self.dir().display().to_string();
        let left: Vec<&str> = mounts
            .lines()
            .filter(|l| l.contains(&netns_prefix) || l.contains(&state_dir))
            .collect();
        assert!(left.is_empty(), "mounts left behind: {left:?}");
        assert!(!self.dir().exists(), "state directory left behind");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.cmd().arg("down").output();
    }
}

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn pods(status: &Value) -> Vec<Value> {
    status["pods"].as_array().unwrap().clone()
}

/// Container `container`'s entry in a pod's `containerStatuses`.
pub fn container_status<'a>(pod: &'a Value, container: &str) -> &'a Value {
    pod["containerStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == container)
        .unwrap_or_else(|| panic!("no container {container} in {pod:#}"))
}

pub fn pod_named<'a>(pods: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    pods.iter()
        .filter(|p| p["name"].as_str().unwrap().starts_with(prefix))
        .collect()
}

/// The repository root (examples, compiler).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A binary built next to the harness.
pub fn sibling_binary(name: &str) -> PathBuf {
    let bin = Path::new(BIN).with_file_name(name);
    assert!(
        bin.is_file(),
        "{} is missing: build it first (`cargo build -p l7mp -p l7mpc`, or run the tests with \
         `cargo test --workspace`)",
        bin.display()
    );
    bin
}

/// Runs `l7mpc compile -f ... --output-dir DIR` (plus `--pods` when given) and returns DIR.
pub fn compile(out: &Path, inputs: &[PathBuf], pods: Option<&Path>) -> PathBuf {
    let _ = std::fs::remove_dir_all(out);
    let mut cmd = Command::new(sibling_binary("l7mpc"));
    cmd.arg("compile");
    for i in inputs {
        cmd.arg("-f").arg(i);
    }
    if let Some(p) = pods {
        cmd.arg("--pods").arg(p);
    }
    cmd.arg("--output-dir").arg(out);
    let result = cmd.output().unwrap();
    assert!(
        result.status.success(),
        "l7mpc compile failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    out.to_path_buf()
}

/// The body of `GET path` on a proxy's admin endpoint at `addr`, or `None` when it does not
/// answer 200 (not up yet, not ready).
pub fn admin_get(addr: &str, path: &str) -> Option<String> {
    use std::io::Read;
    let mut conn = std::net::TcpStream::connect(addr).ok()?;
    conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    conn.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// Waits until every admin endpoint in `addrs` reports its config applied (`/readyz`).
pub fn wait_ready(addrs: &[String], deadline: std::time::Duration) {
    let end = std::time::Instant::now() + deadline;
    for addr in addrs {
        while admin_get(addr, "/readyz").is_none() {
            assert!(
                std::time::Instant::now() < end,
                "the proxy with admin endpoint {addr} never became ready"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
