//! The state directory of one cluster: everything `up`, `apply` and `down` need to share, and the
//! log of everything created (in creation order), which teardown walks backwards.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::process::Proc;

/// One thing created on the host, to be removed by teardown.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    /// The bridge.
    Bridge { name: String },
    /// A network namespace (`ip netns`).
    Netns { name: String },
    /// The host end of a veth pair.
    Link { name: String },
    /// A started process (and its process group).
    Process {
        #[serde(flatten)]
        proc: Proc,
        what: String,
    },
    /// A directory created on the host as a mount point (removed if empty).
    Dir { path: PathBuf },
    /// An empty file created on the host as a mount point.
    File { path: PathBuf },
    /// A podman container (`--runtime podman`), stopped with `grace` seconds before SIGKILL.
    Container { name: String, grace: u64 },
}

/// What runs a pod's containers.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    /// Host processes in the pod's namespaces, programs taken from the host.
    #[default]
    Process,
    /// Podman containers from the images the manifests name, in the pod's network namespace.
    Podman,
}

impl std::str::FromStr for Runtime {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "process" => Ok(Runtime::Process),
            "podman" => Ok(Runtime::Podman),
            _ => Err(format!(
                "unknown runtime {s:?} (expected process or podman)"
            )),
        }
    }
}

/// A container as `up` started it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ContainerRef {
    /// A host process (the process runtime).
    Process(Proc),
    /// A podman container.
    Podman(PodmanRef),
}

/// A container of the podman runtime.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PodmanRef {
    /// The podman container's name.
    pub container: String,
    /// The image it runs.
    pub image: String,
    /// What it runs: `command`/`args` against the image's entrypoint and CMD.
    #[serde(default)]
    pub argv: Vec<String>,
    /// The user it runs as (`runAsUser`, else the image's `USER`; empty: root).
    #[serde(default)]
    pub user: String,
    /// Why it never started (`ErrImageNeverPull`, `StartError`) and what to do, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Reason>,
}

/// A Kubernetes-style reason for a container's state, with its message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reason {
    /// One word, as kubectl shows it (`ErrImageNeverPull`, `StartError`, `Error`...).
    pub reason: String,
    /// What happened and what to do.
    pub message: String,
}

/// A resource and the pod it belongs to (none: the cluster's own).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Created {
    /// Pod name, for resources removed with their pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The resource.
    #[serde(flatten)]
    pub resource: Resource,
}

/// A running pod.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pod {
    /// Pod name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// `Kind/namespace/name` of the workload that made it.
    pub owner: String,
    /// Hash of the pod template it was made from.
    pub template_hash: String,
    /// Its labels (the template's, plus `pod-template-hash` for Deployments).
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Its IP (the node IP for host-network pods).
    pub ip: Ipv4Addr,
    /// Whether it runs in the host's network namespace.
    pub host_network: bool,
    /// Its network namespace (none for host-network pods).
    pub netns: Option<String>,
    /// Its DNS hostname and subdomain (StatefulSet pods: name and serviceName).
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub subdomain: Option<String>,
    /// The pod spec.
    pub spec: Value,
    /// Its containers (processes or podman containers), by container name.
    pub containers: BTreeMap<String, ContainerRef>,
}

/// Everything about one cluster.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    /// Cluster name.
    pub cluster: String,
    /// Bridge name.
    pub bridge: String,
    /// Pod network (first address) and prefix length.
    pub network: Ipv4Addr,
    pub prefix: u8,
    /// The node IP: the bridge's address, where host-network pods and DNS are reached.
    pub node_ip: Ipv4Addr,
    /// Directory put first on the containers' PATH (where `l7mp` is).
    pub bin_dir: PathBuf,
    /// Image → program, for containers without `command`.
    pub images: BTreeMap<String, String>,
    /// Give host-network pods cluster DNS whatever their dnsPolicy.
    #[serde(default)]
    pub hostnet_cluster_dns: bool,
    /// What runs the containers.
    #[serde(default)]
    pub runtime: Runtime,
    /// Resources in creation order.
    pub created: Vec<Created>,
    /// ConfigMaps by `namespace/name`.
    pub configmaps: BTreeMap<String, Value>,
    /// Services by `namespace/name`.
    pub services: BTreeMap<String, Value>,
    /// Workloads by `Kind/namespace/name`.
    pub workloads: BTreeMap<String, Value>,
    /// Pods by name.
    pub pods: BTreeMap<String, Pod>,
    /// The dnsmasq process.
    pub dnsmasq: Option<Proc>,
    /// What the DNS hosts file last held.
    #[serde(default)]
    pub dns_hosts: String,
    /// The pod IP handed out last: the next pod gets the first free one after it.
    #[serde(default)]
    pub last_ip: Option<Ipv4Addr>,
}

/// Where one cluster's files live.
#[derive(Clone, Debug)]
pub struct Dirs {
    /// `<state root>/<cluster>`.
    pub root: PathBuf,
}

impl Dirs {
    /// The directories of cluster `name` under `state_root`.
    pub fn new(state_root: &Path, name: &str) -> Dirs {
        Dirs {
            root: state_root.join(name),
        }
    }
    /// `state.json`.
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }
    /// A pod's directory.
    pub fn pod(&self, pod: &str) -> PathBuf {
        self.root.join("pods").join(pod)
    }
    /// Container logs and dnsmasq's.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// A container's log file.
    pub fn log(&self, pod: &str, container: &str) -> PathBuf {
        self.logs().join(format!("{pod}_{container}.log"))
    }
    /// dnsmasq's hosts file.
    pub fn dns_hosts(&self) -> PathBuf {
        self.root.join("dns").join("hosts")
    }
}

impl State {
    /// Reads the state of `cluster`, for a command that needs it up.
    pub fn load_up(dirs: &Dirs, cluster: &str) -> Result<State> {
        State::load(dirs)?.ok_or_else(|| {
            anyhow!(
                "cluster {cluster} is not up (no state in {})",
                dirs.root.display()
            )
        })
    }

    /// The pod called `name`, for a command that names one.
    pub fn pod(&self, name: &str) -> Result<&Pod> {
        self.pods
            .get(name)
            .ok_or_else(|| anyhow!("no pod {name} in cluster {} (see `status`)", self.cluster))
    }

    /// Reads the state; `None` when the cluster is not up.
    pub fn load(dirs: &Dirs) -> Result<Option<State>> {
        let file = dirs.state_file();
        match fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("reading {}", file.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow!("reading {}: {e}", file.display())),
        }
    }

    /// Writes the state atomically (temporary file, then rename).
    pub fn save(&self, dirs: &Dirs) -> Result<()> {
        fs::create_dir_all(&dirs.root)?;
        let file = dirs.state_file();
        let tmp = dirs.root.join("state.json.tmp");
        let text = serde_json::to_vec_pretty(self).expect("state serializes");
        fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, &file).with_context(|| format!("writing {}", file.display()))?;
        Ok(())
    }

    /// Records a created resource.
    pub fn record(&mut self, pod: Option<&str>, resource: Resource) {
        self.created.push(Created {
            pod: pod.map(str::to_string),
            resource,
        });
    }
}

/// An exclusive lock on a cluster (a `flock` on `<state root>/<cluster>.lock`), held while a
/// command changes it.
pub struct Lock {
    _file: fs::File,
}

impl Lock {
    /// Takes the lock, waiting for another invocation to finish.
    pub fn take(state_root: &Path, cluster: &str) -> Result<Lock> {
        fs::create_dir_all(state_root)
            .with_context(|| format!("creating {}", state_root.display()))?;
        let path = state_root.join(format!("{cluster}.lock"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.lock()
            .map_err(|e| anyhow!("locking {}: {e}", path.display()))?;
        Ok(Lock { _file: file })
    }
}
