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
// other protocols, IPv6, IP options, fragments, datagrams of unknown flows. A rewritten
// datagram is handed on to the local stack (user space installs only flows whose addresses
// are all local). A datagram of a flow that arrives on another interface than loopback passes
// unmodified to the proxy's socket, which forwards it itself, and `fallbacks` counts it:
// offload never loses traffic.
//
// Checksums: IP with bpf_l3_csum_replace; UDP with bpf_l4_csum_replace, addresses as part of
// the pseudo header (BPF_F_PSEUDO_HDR, which also keeps a CHECKSUM_PARTIAL skb right, as on
// loopback and veth, where the checksum field holds only the pseudo-header sum), ports as
// payload; BPF_F_MARK_MANGLED_0 keeps a zero (absent) UDP checksum absent.

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
	__u32 reserved;
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
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} fallbacks SEC(".maps");

#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_SRC_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define UDP_OFF (ETH_HLEN + sizeof(struct iphdr))
#define UDP_CSUM_OFF (UDP_OFF + offsetof(struct udphdr, check))
#define UDP_SPORT_OFF (UDP_OFF + offsetof(struct udphdr, source))

static __always_inline int fall_back(void)
{
	__u32 zero = 0;
	__u64 *count = bpf_map_lookup_elem(&fallbacks, &zero);
	if (count)
		*count += 1;
	return TC_ACT_UNSPEC;
}

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

	// Only datagrams that stay on this host, as loopback carries them, are offloaded: a local
	// source arriving on another interface would be dropped as a martian, and forwarding to
	// another interface is left to the proxy.
	if (skb->ingress_ifindex != LOOPBACK_IFINDEX)
		return fall_back();

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

	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
