//! One container as a host process: its command line and environment as Kubernetes builds them,
//! and the namespaces it runs in. Each container gets its own mount namespace (inside its pod's
//! network namespace) in which the pod's directories are bind-mounted: `/tmp`, the volumes at
//! their `mountPath`, `/etc/resolv.conf` and `/etc/hosts`. The pod's containers bind the same
//! directories, so they share them exactly as a pod's containers share its volumes; the host sees
//! none of these mounts, and they vanish with the processes.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::dns;
use crate::kubelet;
use crate::state::{Dirs, Pod, Resource, State};
use crate::{Context, Result, err};

/// The name of the environment variable that marks every process of a cluster (teardown finds
/// stray descendants by it).
pub const MARKER: &str = "L7MP_LOCALCLUSTER";

/// The built-in image → program table, for containers that give no `command`. Keys are the
/// image's last path element without tag or digest.
pub fn default_images() -> BTreeMap<String, String> {
    [
        ("socat", "socat"),
        ("l7mp", "l7mp"),
        ("l7mp-rs", "l7mp"),
        ("perl", "perl"),
        ("python", "python3"),
        ("dnsmasq", "dnsmasq"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

/// `alpine/socat:1.7` → `socat`.
pub fn image_base(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last)
}

/// A bind mount inside a container's mount namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Host path.
    pub source: PathBuf,
    /// Path the container sees.
    pub target: PathBuf,
    /// Read-only.
    pub read_only: bool,
}

/// Everything needed to start one container.
#[derive(Clone, Debug)]
pub struct ContainerPlan {
    /// Container name.
    pub name: String,
    /// Program (absolute host path) and arguments.
    pub argv: Vec<String>,
    /// The environment, complete.
    pub env: Vec<(String, String)>,
    /// Bind mounts, parents first.
    pub mounts: Vec<Mount>,
    /// The pod's network namespace (none: the host's).
    pub netns: Option<String>,
    /// Hostname in a UTS namespace of its own (none for host-network pods).
    pub hostname: Option<String>,
    /// Working directory.
    pub workdir: PathBuf,
    /// The pod's host directory: mount sources under it are bound through a relative path from
    /// it, so that a mount over `/tmp` cannot hide the sources of the next ones.
    pub pod_dir: PathBuf,
}

/// The containers of a pod spec (`containers` or `initContainers`).
pub fn containers<'a>(spec: &'a Value, field: &str) -> Vec<&'a Value> {
    spec.get(field)
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// Host directories behind the pod's volumes, by volume name. Writes ConfigMap volumes in the
/// kubelet's layout and creates emptyDirs.
pub fn prepare_volumes(state: &State, dirs: &Dirs, pod: &Pod) -> Result<BTreeMap<String, PathBuf>> {
    let out = volume_dirs(dirs, pod);
    for vol in containers(&pod.spec, "volumes") {
        let name = vol.get("name").and_then(Value::as_str).unwrap_or_default();
        let dir = out[name].clone();
        if let Some(cm) = vol.get("configMap") {
            let cm_name = cm.get("name").and_then(Value::as_str).unwrap_or_default();
            let optional = cm.get("optional").and_then(Value::as_bool).unwrap_or(false);
            let key = format!("{}/{cm_name}", pod.namespace);
            let payload = match state.configmaps.get(&key) {
                Some(obj) => kubelet::payload(obj, cm.get("items"))
                    .context(|| format!("pod {} volume {name}: ConfigMap {key}", pod.name))?,
                None if optional => kubelet::Payload::new(),
                None => {
                    return Err(err!(
                        "pod {} mounts ConfigMap {key} (volume {name}), which is in none of the \
                         manifests: apply it with the workloads (e.g. l7mpc's output) or mark it optional",
                        pod.name
                    ));
                }
            };
            kubelet::write(&dir, &payload)?;
        } else if vol.get("emptyDir").is_some() {
            fs::create_dir_all(&dir)?;
        } else if vol.get("hostPath").is_some() {
            continue;
        } else {
            return Err(err!(
                "pod {} volume {name}: only configMap, emptyDir and hostPath volumes are supported",
                pod.name
            ));
        }
    }
    Ok(out)
}

/// Host directories behind the pod's volumes, by name, without touching them.
pub fn volume_dirs(dirs: &Dirs, pod: &Pod) -> BTreeMap<String, PathBuf> {
    let base = dirs.pod(&pod.name).join("volumes");
    containers(&pod.spec, "volumes")
        .into_iter()
        .map(|vol| {
            let name = vol.get("name").and_then(Value::as_str).unwrap_or_default();
            let dir = match vol.pointer("/hostPath/path").and_then(Value::as_str) {
                Some(p) => PathBuf::from(p),
                None => base.join(name),
            };
            (name.to_string(), dir)
        })
        .collect()
}

/// Writes the pod's resolv.conf and hosts files and its private /tmp.
pub fn prepare_files(state: &State, dirs: &Dirs, pod: &Pod) -> Result<()> {
    let dir = dirs.pod(&pod.name);
    fs::create_dir_all(dir.join("tmp"))?;
    fs::set_permissions(
        dir.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )?;
    let policy = pod
        .spec
        .get("dnsPolicy")
        .and_then(Value::as_str)
        .unwrap_or("ClusterFirst");
    let resolv =
        if pod.host_network && policy != "ClusterFirstWithHostNet" && !state.hostnet_cluster_dns
            || policy == "Default"
        {
            dns::node_resolv_conf()
        } else {
            dns::resolv_conf(&pod.namespace, state.node_ip)
        };
    fs::write(dir.join("resolv.conf"), resolv)?;
    let hosts = format!(
        "# Kubernetes-managed hosts file (l7mp-localcluster).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{}\t{}\n",
        pod.ip, pod.name
    );
    fs::write(dir.join("hosts"), hosts)?;
    Ok(())
}

/// Plans a container of a pod whose volumes are prepared.
pub fn plan_container(
    state: &State,
    dirs: &Dirs,
    pod: &Pod,
    container: &Value,
    volumes: &BTreeMap<String, PathBuf>,
    override_argv: Option<&[String]>,
) -> Result<ContainerPlan> {
    let cname = container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("container")
        .to_string();
    let what = || format!("pod {} container {cname}", pod.name);
    let env = container_env(state, dirs, pod, container).context(what)?;
    let vars: BTreeMap<String, String> = env.iter().cloned().collect();
    let strings = |field: &str| -> Option<Vec<String>> {
        container.get(field).and_then(Value::as_array).map(|a| {
            a.iter()
                .map(|v| {
                    expand(
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                            .as_str(),
                        &vars,
                    )
                })
                .collect()
        })
    };
    let mut argv = match override_argv {
        Some(a) if !a.is_empty() => a.to_vec(),
        _ => container_argv(state, container, &strings, &what)?,
    };
    let path_var = vars.get("PATH").cloned().unwrap_or_default();
    argv[0] = resolve_program(&argv[0], &path_var).ok_or_else(|| {
        err!(
            "{}: program {:?} is not on the host (PATH {path_var}){}",
            what(),
            argv[0],
            if argv[0] == "l7mp" {
                "; build it (cargo build -p l7mp) or point --bin-dir at it"
            } else {
                ""
            }
        )
    })?;
    if Path::new(&argv[0]).starts_with(&state.bin_dir) {
        argv[0] = stage_program(dirs, &argv[0]).context(what)?;
    }
    let mounts = container_mounts(dirs, pod, container, volumes).context(what)?;
    let workdir = container
        .get("workingDir")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    Ok(ContainerPlan {
        name: cname,
        argv,
        env,
        mounts,
        netns: pod.netns.clone(),
        hostname: (!pod.host_network).then(|| pod.name.clone()),
        workdir,
        pod_dir: dirs.pod(&pod.name),
    })
}

/// `command` (or the image's program) followed by `args`, references expanded.
fn container_argv(
    state: &State,
    container: &Value,
    strings: &dyn Fn(&str) -> Option<Vec<String>>,
    what: &dyn Fn() -> String,
) -> Result<Vec<String>> {
    let mut argv = match strings("command") {
        Some(c) if !c.is_empty() => c,
        _ => {
            let image = container
                .get("image")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let base = image_base(image);
            match state.images.get(base).or_else(|| state.images.get(image)) {
                Some(p) => p.split_whitespace().map(str::to_string).collect(),
                None => {
                    return Err(err!(
                        "{}: no command, and image {image:?} has no known program; give the \
                         container a command or map the image with --image {base}=PROGRAM",
                        what()
                    ));
                }
            }
        }
    };
    argv.extend(strings("args").unwrap_or_default());
    Ok(argv)
}

/// Copies a program from the build directory into the cluster's state directory (once) and
/// returns the copy's path. The build directory may lie under a path that a pod's own mounts
/// hide (a checkout under `/tmp`, which every pod replaces with its private `/tmp`); the state
/// directory never is.
fn stage_program(dirs: &Dirs, program: &str) -> Result<String> {
    let source = Path::new(program);
    let name = source
        .file_name()
        .ok_or_else(|| err!("program path {program:?} has no file name"))?;
    let staged = dirs.root.join("bin").join(name);
    if !staged.is_file() {
        fs::create_dir_all(dirs.root.join("bin"))?;
        let partial = staged.with_extension("partial");
        fs::copy(source, &partial)?;
        fs::rename(&partial, &staged)?;
    }
    Ok(staged.to_string_lossy().into_owned())
}

fn resolve_program(program: &str, path: &str) -> Option<String> {
    if program.contains('/') {
        return Path::new(program).is_file().then(|| program.to_string());
    }
    path.split(':').filter(|d| !d.is_empty()).find_map(|d| {
        let p = Path::new(d).join(program);
        let meta = fs::metadata(&p).ok()?;
        (meta.is_file()
            && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0)
            .then(|| p.to_string_lossy().into_owned())
    })
}

fn container_mounts(
    dirs: &Dirs,
    pod: &Pod,
    container: &Value,
    volumes: &BTreeMap<String, PathBuf>,
) -> Result<Vec<Mount>> {
    let pod_dir = dirs.pod(&pod.name);
    let mut mounts = Vec::new();
    let mut has_tmp = false;
    for vm in containers(container, "volumeMounts") {
        let name = vm.get("name").and_then(Value::as_str).unwrap_or_default();
        let target = vm
            .get("mountPath")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !target.starts_with('/') {
            return Err(err!(
                "volumeMount {name}: mountPath {target:?} is not absolute"
            ));
        }
        let mut source = volumes
            .get(name)
            .cloned()
            .ok_or_else(|| err!("volumeMount {name}: the pod has no such volume"))?;
        if let Some(sub) = vm
            .get("subPath")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            if Path::new(sub)
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
            {
                return Err(err!("volumeMount {name}: bad subPath {sub:?}"));
            }
            // As in Kubernetes: the path is resolved once, so a ConfigMap behind a subPath mount
            // never updates.
            source = fs::canonicalize(source.join(sub))
                .context(|| format!("volumeMount {name}: subPath {sub}"))?;
        }
        let is_configmap = containers(&pod.spec, "volumes").iter().any(|v| {
            v.get("name").and_then(Value::as_str) == Some(name) && v.get("configMap").is_some()
        });
        let target = normalize(target);
        has_tmp |= target == Path::new("/tmp");
        mounts.push(Mount {
            source,
            target,
            read_only: is_configmap || vm.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
        });
    }
    if !has_tmp {
        mounts.push(Mount {
            source: pod_dir.join("tmp"),
            target: PathBuf::from("/tmp"),
            read_only: false,
        });
    }
    mounts.push(Mount {
        source: pod_dir.join("resolv.conf"),
        target: PathBuf::from("/etc/resolv.conf"),
        read_only: false,
    });
    if !pod.host_network {
        mounts.push(Mount {
            source: pod_dir.join("hosts"),
            target: PathBuf::from("/etc/hosts"),
            read_only: false,
        });
    }
    mounts.sort_by_key(|m| m.target.components().count());
    Ok(mounts)
}

fn normalize(p: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(p).components() {
        if let Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

/// Makes sure every mount target exists: inside an earlier mount, the directory is created in
/// that mount's source; on the host, missing directories (or an empty file, for a file mount)
/// are created and recorded so teardown removes them.
pub fn ensure_targets(state: &mut State, mounts: &[Mount]) -> Result<()> {
    for (i, m) in mounts.iter().enumerate() {
        // The deepest earlier mount that contains this target.
        let outer = mounts[..i]
            .iter()
            .filter(|o| m.target.starts_with(&o.target) && m.target != o.target)
            .max_by_key(|o| o.target.components().count());
        let host_path = match outer {
            Some(o) => o
                .source
                .join(m.target.strip_prefix(&o.target).expect("prefix")),
            None => m.target.clone(),
        };
        let record = outer.is_none();
        let is_dir = m.source.is_dir();
        if fs::symlink_metadata(&host_path).is_ok() {
            continue;
        }
        let mut missing = Vec::new();
        let mut p = host_path.parent();
        while let Some(dir) = p {
            if dir.exists() {
                break;
            }
            missing.push(dir.to_path_buf());
            p = dir.parent();
        }
        for dir in missing.into_iter().rev() {
            fs::create_dir(&dir).context(|| format!("creating mount point {}", dir.display()))?;
            if record {
                state.record(None, Resource::Dir { path: dir });
            }
        }
        if is_dir {
            fs::create_dir(&host_path)
                .context(|| format!("creating mount point {}", host_path.display()))?;
            if record {
                state.record(None, Resource::Dir { path: host_path });
            }
        } else {
            fs::write(&host_path, b"")
                .context(|| format!("creating mount point {}", host_path.display()))?;
            if record {
                state.record(None, Resource::File { path: host_path });
            }
        }
    }
    Ok(())
}

/// The container's environment: PATH (the bin dir first), HOSTNAME, HOME, the cluster marker,
/// then `envFrom`, then `env` (values with `$(VAR)` references expanded, `valueFrom` from the
/// downward API or a ConfigMap).
pub fn container_env(
    state: &State,
    dirs: &Dirs,
    pod: &Pod,
    container: &Value,
) -> Result<Vec<(String, String)>> {
    let host_path = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, k: String, v: String| {
        if let Some(slot) = env.iter_mut().find(|(n, _)| *n == k) {
            slot.1 = v;
        } else {
            env.push((k, v));
        }
    };
    set(
        &mut env,
        "PATH".into(),
        format!("{}:{host_path}", state.bin_dir.display()),
    );
    let hostname = if pod.host_network {
        fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    } else {
        pod.name.clone()
    };
    set(&mut env, "HOSTNAME".into(), hostname);
    set(&mut env, "HOME".into(), "/root".into());
    set(
        &mut env,
        MARKER.into(),
        format!("{}/{}", dirs.root.display(), pod.name),
    );
    for from in containers(container, "envFrom") {
        let prefix = from
            .get("prefix")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(r) = from.get("configMapRef") {
            let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
            let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
            match state.configmaps.get(&format!("{}/{name}", pod.namespace)) {
                Some(cm) => {
                    for (k, v) in cm
                        .get("data")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                    {
                        set(
                            &mut env,
                            format!("{prefix}{k}"),
                            v.as_str().unwrap_or_default().into(),
                        );
                    }
                }
                None if optional => {}
                None => {
                    return Err(err!(
                        "envFrom: ConfigMap {name} is in none of the manifests"
                    ));
                }
            }
        } else {
            return Err(err!("envFrom: only configMapRef is supported"));
        }
    }
    for e in containers(container, "env") {
        let name = e
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let vars: BTreeMap<String, String> = env.iter().cloned().collect();
        let value = if let Some(v) = e.get("value") {
            expand(v.as_str().unwrap_or_default(), &vars)
        } else if let Some(from) = e.get("valueFrom") {
            value_from(state, pod, from).context(|| format!("env {name}"))?
        } else {
            String::new()
        };
        set(&mut env, name, value);
    }
    Ok(env)
}

fn value_from(state: &State, pod: &Pod, from: &Value) -> Result<String> {
    if let Some(f) = from.get("fieldRef") {
        let path = f
            .get("fieldPath")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let bracket = |prefix: &str| -> Option<String> {
            let rest = path
                .strip_prefix(prefix)?
                .strip_prefix("['")?
                .strip_suffix("']")?;
            Some(rest.to_string())
        };
        return Ok(match path {
            "metadata.name" => pod.name.clone(),
            "metadata.namespace" => pod.namespace.clone(),
            "metadata.uid" => format!("{:08x}", crate::net::fnv32a(pod.name.as_bytes())),
            "status.podIP" | "status.podIPs" => pod.ip.to_string(),
            "status.hostIP" | "status.hostIPs" => state.node_ip.to_string(),
            "spec.nodeName" => format!("{}-node", state.cluster),
            "spec.serviceAccountName" => pod
                .spec
                .get("serviceAccountName")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string(),
            _ => {
                if let Some(k) = bracket("metadata.labels") {
                    pod.labels.get(&k).cloned().unwrap_or_default()
                } else if let Some(k) = bracket("metadata.annotations") {
                    pod.annotations.get(&k).cloned().unwrap_or_default()
                } else {
                    return Err(err!("fieldRef {path:?} is not supported"));
                }
            }
        });
    }
    if let Some(r) = from.get("configMapKeyRef") {
        let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
        let key = r.get("key").and_then(Value::as_str).unwrap_or_default();
        let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
        let v = state
            .configmaps
            .get(&format!("{}/{name}", pod.namespace))
            .and_then(|cm| cm.pointer(&l7mp_config::yaml::child_pointer("/data", key)))
            .and_then(Value::as_str);
        return match (v, optional) {
            (Some(v), _) => Ok(v.to_string()),
            (None, true) => Ok(String::new()),
            (None, false) => Err(err!("configMapKeyRef {name}/{key} not found")),
        };
    }
    Err(err!(
        "only fieldRef and configMapKeyRef are supported in valueFrom"
    ))
}

/// Kubernetes' `$(VAR)` expansion: defined variables are replaced, `$$` is a literal `$`,
/// undefined references stay as written.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('$') {
            out.push('$');
            rest = a;
        } else if let Some(a) = after.strip_prefix('(') {
            match a.find(')') {
                Some(j) if vars.contains_key(&a[..j]) => {
                    out.push_str(&vars[&a[..j]]);
                    rest = &a[j + 1..];
                }
                Some(j) => {
                    out.push_str(&rest[i..i + 3 + j]);
                    rest = &a[j + 1..];
                }
                None => {
                    out.push_str(&rest[i..]);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Starts the child in a new session (its own process group), detached from the terminal, so
/// that Ctrl-C reaches only the harness and teardown can stop the whole group.
pub fn detach(cmd: &mut Command) {
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| err!("path {} has a NUL", p.display()))
}

/// The command for a planned container: enters the pod's network namespace, makes a mount (and
/// UTS) namespace of its own, bind-mounts the pod's directories, sets the hostname and working
/// directory, then runs the program with exactly the planned environment. `detached`: in a new
/// session (long-running containers); otherwise in the caller's (exec, init containers).
pub fn command(plan: &ContainerPlan, detached: bool) -> Result<(Command, Option<fs::File>)> {
    let netns = match &plan.netns {
        Some(n) => Some(
            fs::File::open(Path::new("/run/netns").join(n))
                .context(|| format!("opening network namespace {n}"))?,
        ),
        None => None,
    };
    let netns_fd = netns.as_ref().map(|f| f.as_raw_fd());
    let mut mounts = Vec::new();
    for m in &plan.mounts {
        let source = match m.source.strip_prefix(&plan.pod_dir) {
            Ok(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
            Ok(rel) => rel.to_path_buf(),
            Err(_) => m.source.clone(),
        };
        mounts.push((cstr(&source)?, cstr(&m.target)?, m.read_only));
    }
    let pod_dir = cstr(&plan.pod_dir)?;
    let hostname = plan.hostname.clone();
    let workdir = cstr(&plan.workdir)?;
    let root = CString::new("/").expect("no NUL");
    let mut cmd = Command::new(&plan.argv[0]);
    cmd.args(&plan.argv[1..])
        .env_clear()
        .envs(plan.env.iter().cloned());
    // SAFETY: the closure only makes system calls on data prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let check = |r: libc::c_int| {
                if r < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(())
                }
            };
            if detached {
                check(libc::setsid())?;
            }
            if let Some(fd) = netns_fd {
                check(libc::setns(fd, libc::CLONE_NEWNET))?;
            }
            let flags = libc::CLONE_NEWNS
                | if hostname.is_some() {
                    libc::CLONE_NEWUTS
                } else {
                    0
                };
            check(libc::unshare(flags))?;
            check(libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::chdir(pod_dir.as_ptr()))?;
            for (src, dst, ro) in &mounts {
                check(libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))?;
                if *ro {
                    // Best effort: some kernels refuse read-only remounts of binds.
                    libc::mount(
                        std::ptr::null(),
                        dst.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                        std::ptr::null(),
                    );
                }
            }
            if let Some(h) = &hostname {
                check(libc::sethostname(h.as_ptr().cast(), h.len()))?;
            }
            check(libc::chdir(workdir.as_ptr()))?;
            Ok(())
        });
    }
    Ok((cmd, netns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_kubernetes() {
        let vars = BTreeMap::from([("POD_NAME".to_string(), "w-1".to_string())]);
        assert_eq!(expand("on $(POD_NAME):", &vars), "on w-1:");
        assert_eq!(expand("$$(POD_NAME)", &vars), "$(POD_NAME)");
        assert_eq!(expand("$(NOPE) $|", &vars), "$(NOPE) $|");
        assert_eq!(expand("$ENV{POD_NAME} $(", &vars), "$ENV{POD_NAME} $(");
        assert_eq!(
            expand("\"BEGIN{$|=1} s/^/Echo on $ENV{POD_NAME}: \\\\n/\"", &vars),
            "\"BEGIN{$|=1} s/^/Echo on $ENV{POD_NAME}: \\\\n/\""
        );
    }

    #[test]
    fn image_names() {
        assert_eq!(image_base("alpine/socat"), "socat");
        assert_eq!(image_base("docker.io/l7mp/l7mp-rs:latest"), "l7mp-rs");
        assert_eq!(image_base("reg:5000/x/perl@sha256:ab"), "perl");
    }

    #[test]
    fn ensure_targets_creates_and_records_host_dirs_only() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir(&src).unwrap();
        let podtmp = tmp.path().join("podtmp");
        fs::create_dir(&podtmp).unwrap();
        let mut state: State = serde_json::from_value(serde_json::json!({
            "cluster": "c", "bridge": "b", "network": "10.244.0.0", "prefix": 24,
            "node_ip": "10.244.0.1", "bin_dir": "/x", "images": {}, "created": [],
            "configmaps": {}, "services": {}, "workloads": {}, "pods": {}, "dnsmasq": null
        }))
        .unwrap();
        let mounts = vec![
            Mount {
                source: podtmp.clone(),
                target: tmp.path().join("outer"),
                read_only: false,
            },
            Mount {
                source: src.clone(),
                target: tmp.path().join("a/b"),
                read_only: true,
            },
            Mount {
                source: src.clone(),
                target: tmp.path().join("outer/inner"),
                read_only: true,
            },
        ];
        ensure_targets(&mut state, &mounts).unwrap();
        assert!(tmp.path().join("a/b").is_dir());
        assert!(
            podtmp.join("inner").is_dir(),
            "created inside the outer mount's source"
        );
        let recorded: Vec<_> = state.created.iter().map(|c| c.resource.clone()).collect();
        assert_eq!(
            recorded,
            [
                Resource::Dir {
                    path: tmp.path().join("outer")
                },
                Resource::Dir {
                    path: tmp.path().join("a")
                },
                Resource::Dir {
                    path: tmp.path().join("a/b")
                }
            ]
        );
    }
}
