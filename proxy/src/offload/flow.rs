//! The entries of the kernel's flow table: what a datagram arrives with (the key) and what
//! it is rewritten to (the value, with the counters the program keeps). The layouts match
//! `struct flow_key` and `struct flow_value` in `bpf/udp_offload.c`; addresses and ports are
//! in network byte order, as in the packet.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

/// `FlowValue::flags`: the rewritten destination is an address of this host, so the program
/// hands the datagram to the local stack (from loopback only) instead of routing it out of an
/// interface. `FLOW_LOCAL` in the program.
const FLOW_LOCAL: u32 = 1;

/// A datagram's addresses as it arrives (UDP over IPv4).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    saddr: u32,
    daddr: u32,
    sport: u16,
    dport: u16,
}

/// What a datagram of a flow is rewritten to, and what the program counted for it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FlowValue {
    saddr: u32,
    daddr: u32,
    sport: u16,
    dport: u16,
    /// [`FLOW_LOCAL`] or 0.
    flags: u32,
    /// Datagrams forwarded.
    pub packets: u64,
    /// UDP payload bytes forwarded.
    pub bytes: u64,
    /// `bpf_ktime_get_ns` (CLOCK_MONOTONIC) of the latest datagram, 0 before the first.
    pub last_seen_ns: u64,
}

// SAFETY: plain `repr(C)` structs of integers without padding holes the kernel could leak or
// need (12 and 40 bytes), as `aya::Pod` requires.
unsafe impl aya::Pod for FlowKey {}
// SAFETY: as above.
unsafe impl aya::Pod for FlowValue {}

impl FlowKey {
    fn new(from: SocketAddrV4, to: SocketAddrV4) -> Self {
        Self {
            saddr: u32::from(*from.ip()).to_be(),
            daddr: u32::from(*to.ip()).to_be(),
            sport: from.port().to_be(),
            dport: to.port().to_be(),
        }
    }
}

impl FlowValue {
    /// Rewritten to `from` → `to`; whether `to` is an address of this host is looked up.
    fn new(from: SocketAddrV4, to: SocketAddrV4) -> io::Result<Self> {
        let key = FlowKey::new(from, to);
        Ok(Self {
            saddr: key.saddr,
            daddr: key.daddr,
            sport: key.sport,
            dport: key.dport,
            flags: if is_local(*to.ip())? { FLOW_LOCAL } else { 0 },
            ..Self::default()
        })
    }
}

/// The four addresses of a UDP session whose route is one UDP hop, as the kernel sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// The client (the listener's peer).
    pub client: SocketAddr,
    /// The listener's address as the client's datagrams reach it, which is also where the
    /// replies leave from (a wildcard-bound listener: see [`Flow::new`]).
    pub listener: SocketAddr,
    /// The session's upstream socket (bound and connected).
    pub upstream: SocketAddr,
    /// The endpoint the upstream socket is connected to.
    pub endpoint: SocketAddr,
}

/// Why a flow cannot be offloaded (the session stays in user space).
#[derive(Debug, thiserror::Error)]
pub enum Unfit {
    /// IPv6, or a mix of families: the program handles IPv4 only.
    #[error("not IPv4 (the offload program handles IPv4 only)")]
    NotIpv4,
    /// An address could not be worked out.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl Flow {
    /// The flow of a session with `client` on a listener socket bound to `listener`, whose
    /// upstream socket is bound to `upstream` and connected to `endpoint`. A listener bound
    /// to the wildcard address answers from the source address the kernel picks for the
    /// client, which is also the address the client's datagrams must be sent to for the
    /// program to recognise them (others keep going through user space).
    pub fn new(
        client: SocketAddr,
        listener: SocketAddr,
        upstream: SocketAddr,
        endpoint: SocketAddr,
    ) -> Result<Self, Unfit> {
        let listener = if listener.ip().is_unspecified() {
            let probe = UdpSocket::bind(SocketAddr::new(listener.ip(), 0))?;
            probe.connect(client)?;
            SocketAddr::new(probe.local_addr()?.ip(), listener.port())
        } else {
            listener
        };
        Ok(Self {
            client,
            listener,
            upstream,
            endpoint,
        })
    }

    /// The two table entries: client → listener rewritten to upstream → endpoint, and
    /// endpoint → upstream rewritten to listener → client. A local destination (client or
    /// endpoint) is marked so: the program delivers to it from loopback and routes to any
    /// other out of the interface the routing table picks.
    pub(super) fn entries(&self) -> Result<[(FlowKey, FlowValue); 2], Unfit> {
        let [client, listener, upstream, endpoint] =
            [self.client, self.listener, self.upstream, self.endpoint].map(v4);
        let (Some(client), Some(listener), Some(upstream), Some(endpoint)) =
            (client, listener, upstream, endpoint)
        else {
            return Err(Unfit::NotIpv4);
        };
        Ok([
            (
                FlowKey::new(client, listener),
                FlowValue::new(upstream, endpoint)?,
            ),
            (
                FlowKey::new(endpoint, upstream),
                FlowValue::new(listener, client)?,
            ),
        ])
    }
}

/// An IPv4 socket address (IPv4-mapped IPv6 ones too), else `None`.
fn v4(a: SocketAddr) -> Option<SocketAddrV4> {
    match a.ip().to_canonical() {
        IpAddr::V4(ip) if !ip.is_unspecified() => Some(SocketAddrV4::new(ip, a.port())),
        _ => None,
    }
}

/// Whether `ip` is an address of this host (in this network namespace): only a local address
/// can be bound.
fn is_local(ip: Ipv4Addr) -> io::Result<bool> {
    match UdpSocket::bind(SocketAddrV4::new(ip, 0)) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn entries_rewrite_both_directions_in_network_order() {
        let flow = Flow::new(
            addr("127.0.0.1:5000"),
            addr("127.0.0.1:9000"),
            addr("127.0.0.1:40000"),
            addr("127.0.0.1:7"),
        )
        .unwrap();
        let [(k1, v1), (k2, v2)] = flow.entries().unwrap();
        assert_eq!(k1.sport, 5000u16.to_be());
        assert_eq!(k1.dport, 9000u16.to_be());
        assert_eq!((v1.sport, v1.dport), (40000u16.to_be(), 7u16.to_be()));
        assert_eq!((k2.sport, k2.dport), (7u16.to_be(), 40000u16.to_be()));
        assert_eq!((v2.sport, v2.dport), (9000u16.to_be(), 5000u16.to_be()));
        assert_eq!(k1.saddr, u32::from(Ipv4Addr::LOCALHOST).to_be());
        assert_eq!((v1.flags, v2.flags), (FLOW_LOCAL, FLOW_LOCAL));
    }

    #[test]
    fn a_wildcard_listener_answers_from_the_address_routing_picks() {
        let flow = Flow::new(
            addr("127.0.0.1:5000"),
            addr("0.0.0.0:9000"),
            addr("127.0.0.1:40000"),
            addr("127.0.0.1:7"),
        )
        .unwrap();
        assert_eq!(flow.listener, addr("127.0.0.1:9000"));
    }

    #[test]
    fn ipv6_is_not_offloaded() {
        let flow = Flow::new(
            addr("[::1]:5000"),
            addr("[::1]:9000"),
            addr("[::1]:40000"),
            addr("[::1]:7"),
        )
        .unwrap();
        assert!(matches!(flow.entries(), Err(Unfit::NotIpv4)));
    }

    #[test]
    fn a_client_on_another_host_is_routed_to_and_a_local_endpoint_delivered_to() {
        // TEST-NET-3: assigned to nobody.
        let flow = Flow::new(
            addr("203.0.113.9:5000"),
            addr("127.0.0.1:9000"),
            addr("127.0.0.1:40000"),
            addr("127.0.0.1:7"),
        )
        .unwrap();
        let [(_, upstream), (_, downstream)] = flow.entries().unwrap();
        assert_eq!(upstream.flags, FLOW_LOCAL);
        assert_eq!(downstream.flags, 0);
    }
}
