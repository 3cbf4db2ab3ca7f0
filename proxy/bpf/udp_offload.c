// SPDX-License-Identifier: MIT OR GPL-2.0-only
//
// UDP kernel offload for l7mp: a tc (TCX ingress) program that forwards the datagrams of
// established UDP sessions without waking the proxy. User space installs two entries per
// session in `flows`, keyed by the IPv4 5-tuple a datagram arrives with (protocol UDP
// implied):
//
//   client -> listener          rewritten to   upstream socket -> endpoint
//   endpoint -> upstream socket rewritten to   listener -> client
//
// Everything else passes untouched (TC_ACT_UNSPEC, so later programs on the hook still run):
// other protocols, IPv6, IP options, fragments, datagrams of unknown flows.
//
// Where a rewritten datagram goes:
// - to an address of this host (user space marks such entries FLOW_LOCAL): handed on to the
//   local stack, which only loopback can do (a local source arriving on another interface is
//   a martian); arriving on another interface it passes unmodified to the proxy instead;
// - elsewhere: out of the interface the routing table picks, as if the proxy had sent it
//   (bpf_fib_lookup from loopback, MAC addresses from the result, bpf_redirect to that
//   interface's egress), or, when the next hop's MAC address is not known yet,
//   bpf_redirect_neigh, which resolves it as the stack would.
// A datagram the program cannot send on (no route, forwarding disabled on loopback, too big
// for the way out) passes unmodified to the proxy's socket, which forwards it itself, and
// `fallbacks` counts it by reason: offload never loses traffic.
//
// Checksums: IP with bpf_l3_csum_replace; UDP with bpf_l4_csum_replace, addresses as part of
// the pseudo header (BPF_F_PSEUDO_HDR, which also keeps a CHECKSUM_PARTIAL skb right, as on
// loopback and veth, where the checksum field holds only the pseudo-header sum and the device
// that finally sends it, or the receiver's stack, completes it), ports as payload;
// BPF_F_MARK_MANGLED_0 keeps a zero (absent) UDP checksum absent. Redirecting changes no
// byte the checksums cover beyond those.

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef AF_INET
#define AF_INET 2
#endif

// The loopback interface's index, the same in every network namespace.
#define LOOPBACK_IFINDEX 1

// `flow_value.flags`: the rewritten destination is an address of this host.
#define FLOW_LOCAL 1

// Why a datagram of a flow went to user space: the index into `fallbacks`. Must match
// `offload::Fallback` in the proxy.
enum fallback {
	// A local destination, but the datagram arrived on another interface than loopback.
	FALLBACK_NOT_LOOPBACK,
	// bpf_fib_lookup: forwarding is disabled on loopback (net.ipv4.conf.lo.forwarding).
	FALLBACK_FORWARDING_DISABLED,
	// bpf_fib_lookup: no way out (no route, unreachable, blackhole, an encapsulating route).
	FALLBACK_NO_ROUTE,
	// bpf_fib_lookup: the datagram is bigger than the way out's MTU.
	FALLBACK_TOO_BIG,
	FALLBACK_REASONS,
};

// Addresses and ports in network byte order. Must match `offload::flow` in the proxy.
struct flow_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
};

struct flow_value {
	// What the datagram is rewritten to.
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	// FLOW_LOCAL or 0.
	__u32 flags;
	// Datagrams and UDP payload bytes forwarded, and when the latest was (bpf_ktime_get_ns).
	__u64 packets;
	__u64 bytes;
	__u64 last_seen_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	// Set by the loader (--offload-flows).
	__uint(max_entries, 1);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FALLBACK_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} fallbacks SEC(".maps");

#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_SRC_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define UDP_OFF (ETH_HLEN + sizeof(struct iphdr))
#define UDP_CSUM_OFF (UDP_OFF + offsetof(struct udphdr, check))
#define UDP_SPORT_OFF (UDP_OFF + offsetof(struct udphdr, source))

static __always_inline int fall_back(__u32 reason)
{
	__u64 *count = bpf_map_lookup_elem(&fallbacks, &reason);
	if (count)
		*count += 1;
	return TC_ACT_UNSPEC;
}

// Where a rewritten datagram goes.
enum way {
	// Up the local stack (loopback only).
	WAY_LOCAL,
	// Out of `fib.ifindex`, to `fib.dmac`.
	WAY_REDIRECT,
	// Out of `fib.ifindex`, to the next hop `fib.ipv4_dst` once its MAC address is resolved.
	WAY_REDIRECT_NEIGH,
};

SEC("classifier")
int l7mp_offload(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(udp + 1) > end)
		return TC_ACT_UNSPEC;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return TC_ACT_UNSPEC;
	// Fragments (more-fragments flag or an offset) are left to the stack to reassemble.
	if (ip->frag_off & bpf_htons(0x3fff))
		return TC_ACT_UNSPEC;

	struct flow_key key = {
		.saddr = ip->saddr,
		.daddr = ip->daddr,
		.sport = udp->source,
		.dport = udp->dest,
	};
	struct flow_value *flow = bpf_map_lookup_elem(&flows, &key);
	if (!flow)
		return TC_ACT_UNSPEC;
	// Copied: the entry may be removed under us (the memory stays valid, its contents not).
	__u32 saddr = flow->saddr, daddr = flow->daddr;
	__u16 sport = flow->sport, dport = flow->dport;
	__u16 payload = bpf_ntohs(udp->len);

	struct bpf_fib_lookup fib = {};
	enum way way = WAY_LOCAL;
	if (flow->flags & FLOW_LOCAL) {
		// Only loopback delivers a datagram with a local source to the local stack.
		if (skb->ingress_ifindex != LOOPBACK_IFINDEX)
			return fall_back(FALLBACK_NOT_LOOPBACK);
	} else {
		// The route the proxy's own datagram would take: looked up as coming from loopback.
		fib.family = AF_INET;
		fib.l4_protocol = IPPROTO_UDP;
		fib.sport = sport;
		fib.dport = dport;
		fib.tot_len = bpf_ntohs(ip->tot_len);
		fib.tos = ip->tos;
		fib.ipv4_src = saddr;
		fib.ipv4_dst = daddr;
		fib.ifindex = LOOPBACK_IFINDEX;
		switch (bpf_fib_lookup(skb, &fib, sizeof(fib), 0)) {
		case BPF_FIB_LKUP_RET_SUCCESS:
			way = WAY_REDIRECT;
			break;
		case BPF_FIB_LKUP_RET_NO_NEIGH:
			way = WAY_REDIRECT_NEIGH;
			break;
		case BPF_FIB_LKUP_RET_FWD_DISABLED:
			return fall_back(FALLBACK_FORWARDING_DISABLED);
		case BPF_FIB_LKUP_RET_FRAG_NEEDED:
			return fall_back(FALLBACK_TOO_BIG);
		default:
			return fall_back(FALLBACK_NO_ROUTE);
		}
	}

	__sync_fetch_and_add(&flow->packets, 1);
	__sync_fetch_and_add(&flow->bytes, payload >= sizeof(struct udphdr) ? payload - sizeof(struct udphdr) : 0);
	flow->last_seen_ns = bpf_ktime_get_ns();

	__u32 old_saddr = key.saddr, old_daddr = key.daddr;
	__u16 old_sport = key.sport, old_dport = key.dport;
	__u64 l4 = BPF_F_MARK_MANGLED_0;
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_saddr, saddr, l4 | BPF_F_PSEUDO_HDR | 4);
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_daddr, daddr, l4 | BPF_F_PSEUDO_HDR | 4);
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_sport, sport, l4 | 2);
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_dport, dport, l4 | 2);
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_saddr, saddr, 4);
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_daddr, daddr, 4);
	__u32 addrs[2] = {saddr, daddr};
	__u16 ports[2] = {sport, dport};
	bpf_skb_store_bytes(skb, IP_SRC_OFF, addrs, sizeof(addrs), 0);
	bpf_skb_store_bytes(skb, UDP_SPORT_OFF, ports, sizeof(ports), 0);

	switch (way) {
	case WAY_LOCAL:
		return TC_ACT_OK;
	case WAY_REDIRECT:
		bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), fib.dmac, ETH_ALEN, 0);
		bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_source), fib.smac, ETH_ALEN, 0);
		return bpf_redirect(fib.ifindex, 0);
	case WAY_REDIRECT_NEIGH: {
		// After a lookup that found no neighbour, `ipv4_dst` holds the next hop. Zeroed
		// whole: without CAP_PERFMON the verifier refuses to pass uninitialised stack bytes
		// (the IPv6 part of the union) to a helper.
		struct bpf_redir_neigh nh;
		__builtin_memset(&nh, 0, sizeof(nh));
		nh.nh_family = AF_INET;
		nh.ipv4_nh = fib.ipv4_dst;
		return bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0);
	}
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
