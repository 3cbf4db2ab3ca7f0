//! The pod network: a bridge with the node IP on the host side, and per pod a network namespace
//! joined to it by a veth pair (`eth0` inside, with the pod's IP and a default route via the
//! bridge). Everything goes through `ip` (iproute2).

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{Result, anyhow};

/// Runs `ip ARGS`, failing with its stderr.
pub fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| anyhow!("running `ip`: {e} (install iproute2)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(anyhow!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether a link of that name exists in the host namespace.
pub fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
        || Command::new("ip")
            .args(["link", "show", "dev", name])
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Whether a named network namespace exists.
pub fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

/// Parses `A.B.C.D/N` into (network address, prefix), N in 16..=29.
pub fn parse_subnet(text: &str) -> Result<(Ipv4Addr, u8)> {
    let (addr, prefix) = text
        .split_once('/')
        .ok_or_else(|| anyhow!("subnet {text:?}: expected A.B.C.D/N"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| anyhow!("subnet {text:?}: bad address"))?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| anyhow!("subnet {text:?}: bad prefix"))?;
    if !(16..=29).contains(&prefix) {
        return Err(anyhow!(
            "subnet {text:?}: the prefix must be between 16 and 29"
        ));
    }
    let mask = u32::MAX << (32 - prefix);
    Ok((Ipv4Addr::from(u32::from(addr) & mask), prefix))
}

/// The `n`th host address of the network (1 = the node IP).
pub fn host_addr(network: Ipv4Addr, prefix: u8, n: u32) -> Option<Ipv4Addr> {
    let size = 1u32 << (32 - prefix);
    (n >= 1 && n < size - 1).then(|| Ipv4Addr::from(u32::from(network) + n))
}

/// Creates the bridge with `addr/prefix` and brings it up. Its MAC address is set explicitly:
/// otherwise a bridge takes the lowest MAC of its ports, so a pod joining later could change it
/// and every pod's ARP entry for the node IP would point nowhere for seconds.
pub fn create_bridge(name: &str, addr: Ipv4Addr, prefix: u8) -> Result<()> {
    ip(&["link", "add", name, "type", "bridge"])?;
    let h = fnv32a(name.as_bytes()).to_be_bytes();
    let mac = format!("02:6c:{:02x}:{:02x}:{:02x}:{:02x}", h[0], h[1], h[2], h[3]);
    ip(&["link", "set", "dev", name, "address", &mac])?;
    ip(&["addr", "add", &format!("{addr}/{prefix}"), "dev", name])?;
    ip(&["link", "set", name, "up"])
}

/// Creates a named network namespace with loopback up.
pub fn create_netns(name: &str) -> Result<()> {
    ip(&["netns", "add", name])?;
    ip(&["-n", name, "link", "set", "lo", "up"])
}

/// Creates the veth pair: `host_end` on the bridge, `eth0` in the namespace with `addr/prefix`
/// (and the MAC address [`pod_mac`] gives it) and a default route via `gateway`.
pub fn create_pod_link(
    netns: &str,
    host_end: &str,
    bridge: &str,
    addr: Ipv4Addr,
    prefix: u8,
    gateway: Ipv4Addr,
) -> Result<()> {
    ip(&[
        "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", netns,
    ])?;
    ip(&["link", "set", host_end, "master", bridge, "up"])?;
    ip(&[
        "-n",
        netns,
        "link",
        "set",
        "dev",
        "eth0",
        "address",
        &pod_mac(addr),
    ])?;
    ip(&[
        "-n",
        netns,
        "addr",
        "add",
        &format!("{addr}/{prefix}"),
        "dev",
        "eth0",
    ])?;
    ip(&["-n", netns, "link", "set", "eth0", "up"])?;
    ip(&[
        "-n",
        netns,
        "route",
        "add",
        "default",
        "via",
        &gateway.to_string(),
    ])
}

/// The MAC address of the pod holding `addr`: `0a:58` and the address's four bytes, as
/// OVN-Kubernetes and other CNI plugins make it. An address handed out again (the pod network
/// wraps around) then comes with its MAC address, so the neighbour entries that the node and
/// the pods hold for it stay right; a random one would send their traffic nowhere until the
/// entries expired.
pub fn pod_mac(addr: Ipv4Addr) -> String {
    let [a, b, c, d] = addr.octets();
    format!("0a:58:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// Makes the node forget its neighbour (ARP) entry for `addr` on `bridge`, as a deleted pod's
/// address has no one behind it. Without this the node keeps sending to the gone pod's MAC
/// address, and its senders learn nothing, until the entry expires (up to about a minute);
/// with it the next datagram resolves again, fails within seconds, and its sender gets "host
/// unreachable". No entry is not an error.
pub fn forget_neighbour(bridge: &str, addr: Ipv4Addr) -> Result<()> {
    ip(&["neigh", "flush", "to", &addr.to_string(), "dev", bridge])
}

/// Deletes a link if it exists.
pub fn delete_link(name: &str) -> Result<()> {
    if !link_exists(name) {
        return Ok(());
    }
    ip(&["link", "del", "dev", name])
}

/// Deletes a network namespace if it exists.
pub fn delete_netns(name: &str) -> Result<()> {
    if !netns_exists(name) {
        return Ok(());
    }
    ip(&["netns", "del", name])
}

/// A host-unique veth name (at most 15 bytes) for a pod of a cluster.
pub fn veth_name(cluster_dir: &str, pod: &str) -> String {
    format!(
        "l7v{:08x}",
        fnv32a(format!("{cluster_dir}\0{pod}").as_bytes())
    )
}

/// FNV-1a, 32 bit (what Kubernetes hashes pod templates with).
pub fn fnv32a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let (n, p) = parse_subnet("10.244.3.77/24").unwrap();
        assert_eq!((n, p), (Ipv4Addr::new(10, 244, 3, 0), 24));
        assert_eq!(host_addr(n, p, 1), Some(Ipv4Addr::new(10, 244, 3, 1)));
        assert_eq!(host_addr(n, p, 254), Some(Ipv4Addr::new(10, 244, 3, 254)));
        assert_eq!(host_addr(n, p, 255), None);
        assert!(parse_subnet("10.0.0.0/8").is_err());
        assert!(parse_subnet("10.0.0.0").is_err());
    }

    #[test]
    fn pod_macs_follow_the_address() {
        assert_eq!(pod_mac(Ipv4Addr::new(10, 244, 0, 17)), "0a:58:0a:f4:00:11");
    }

    #[test]
    fn veth_names_fit() {
        let a = veth_name("/run/l7mp-localcluster/a", "worker-6bfdf5584c-97dgn");
        assert!(a.len() <= 15);
        assert_ne!(
            a,
            veth_name("/run/l7mp-localcluster/b", "worker-6bfdf5584c-97dgn")
        );
    }
}
