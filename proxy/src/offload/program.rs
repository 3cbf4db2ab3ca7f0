//! The offload program: the object built from `bpf/udp_offload.c` (embedded at build time),
//! loaded with aya and attached at the TCX ingress hook of each offload interface.
//!
//! Nothing is pinned: the program, its links and its maps live exactly as long as the
//! process holds their descriptors. A stop detaches them (dropping [`Loaded`]) and so does the
//! kernel when the process dies any other way (SIGKILL included), so a killed proxy leaves
//! nothing behind for the next start to clean up. TCX (kernel 6.6 and later) is what makes
//! that so: a tc filter attached over netlink would stay after its owner died.

use std::io;

use aya::maps::{HashMap, MapData, PerCpuArray};
use aya::programs::LinkOrder;
use aya::programs::tc::{SchedClassifier, TcAttachOptions, TcAttachType};
use aya::util::KernelVersion;
use aya::{Ebpf, EbpfLoader};

use super::flow::{FlowKey, FlowValue};

/// The compiled program; empty when the build had no clang (see `build.rs`).
const OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/udp_offload.o"));
/// Why [`OBJECT`] is empty.
const MISSING: &str = env!("L7MP_OFFLOAD_MISSING");
/// The program's function in the object.
const PROGRAM: &str = "l7mp_offload";

/// Capabilities (bits of `CapEff`): loading needs CAP_BPF (or CAP_SYS_ADMIN), attaching to an
/// interface CAP_NET_ADMIN (or CAP_SYS_ADMIN).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// The loaded and attached program and its maps.
pub(super) struct Loaded {
    /// Owns the program and its links: dropping it detaches from every interface.
    _ebpf: Ebpf,
    pub(super) flows: HashMap<MapData, FlowKey, FlowValue>,
    pub(super) fallbacks: PerCpuArray<MapData, u64>,
}

/// Loads the program with a flow table of `flows` entries and attaches it to `interfaces`.
/// The error says why offload cannot run here, in words for the log.
pub(super) fn load(interfaces: &[String], flows: u32) -> Result<Loaded, String> {
    if OBJECT.is_empty() {
        return Err(format!("this l7mp was built without it: {MISSING}"));
    }
    if interfaces.is_empty() {
        return Err("--offload-interfaces names no interface".into());
    }
    for name in interfaces {
        if let Err(e) = ifindex(name) {
            return Err(format!(
                "--offload-interfaces: interface \"{name}\": {e}; name interfaces that exist \
                 in the proxy's network namespace (see `ip link`)"
            ));
        }
    }
    let kernel =
        KernelVersion::current().map_err(|e| format!("cannot tell the kernel version: {e}"))?;
    if kernel < KernelVersion::new(6, 6, 0) {
        return Err(format!(
            "the kernel ({kernel}) has no TCX hook; it needs Linux 6.6 or later"
        ));
    }
    let caps = effective_capabilities()
        .map_err(|e| format!("cannot read the process's capabilities: {e}"))?;
    let has = |cap: u32| caps & (1 << cap) != 0;
    let allowed = has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_NET_ADMIN));
    if !allowed {
        return Err(
            "the process lacks the capabilities: it needs CAP_BPF and CAP_NET_ADMIN (or \
             CAP_SYS_ADMIN); give the container or unit those, or use --offload=off"
                .into(),
        );
    }
    let mut ebpf = EbpfLoader::new()
        .map_max_entries("flows", flows)
        .load(OBJECT)
        .map_err(|e| format!("the kernel refused the offload maps or object: {e}"))?;
    let program: &mut SchedClassifier = ebpf
        .program_mut(PROGRAM)
        .ok_or_else(|| format!("the object has no program {PROGRAM}"))?
        .try_into()
        .map_err(|e| format!("{PROGRAM}: {e}"))?;
    program
        .load()
        .map_err(|e| format!("the kernel refused the offload program: {e}"))?;
    for name in interfaces {
        program
            .attach_with_options(
                name,
                TcAttachType::Ingress,
                TcAttachOptions::TcxOrder(LinkOrder::default()),
            )
            .map_err(|e| format!("cannot attach to the ingress of \"{name}\": {e}"))?;
    }
    let mut map = |name: &str| {
        ebpf.take_map(name)
            .ok_or_else(|| format!("the object has no map {name}"))
    };
    let flows = HashMap::try_from(map("flows")?).map_err(|e| format!("flows: {e}"))?;
    let fallbacks =
        PerCpuArray::try_from(map("fallbacks")?).map_err(|e| format!("fallbacks: {e}"))?;
    Ok(Loaded {
        _ebpf: ebpf,
        flows,
        fallbacks,
    })
}

/// The index of the interface called `name`.
fn ifindex(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "contains a NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        i => Ok(i),
    }
}

/// The effective capability set of this process (`CapEff` in /proc/self/status).
fn effective_capabilities() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or_else(|| io::Error::other("no CapEff line"))
}
