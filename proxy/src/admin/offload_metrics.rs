//! The UDP offload's part of `/metrics` (present only when offload runs):
//! `l7mp_offload_sessions_active`, `l7mp_offload_sessions_total`,
//! `l7mp_offload_sessions_refused_total{reason="full|unfit|error"}`,
//! `l7mp_offload_sessions_withdrawn_total`, `l7mp_offload_packets_total{direction}` and
//! `l7mp_offload_bytes_total{direction}` (what the kernel forwarded; `direction="upstream"`
//! is client to endpoint), and `l7mp_offload_fallbacks_total{reason}` (datagrams of offloaded
//! flows the kernel passed to user space, finding no way out for them).

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::family::{Family, counters, gauges};
use crate::offload::{Fallback, Offload};

/// Encodes the offload metrics of `offload`.
pub(super) fn encode(e: &mut DescriptorEncoder<'_>, offload: &Offload) -> fmt::Result {
    let s = &offload.stats;
    let mut active = Family::new(
        "l7mp_offload_sessions_active",
        "Sessions the kernel forwards now.",
    );
    active.add(Vec::new(), s.active.get());
    gauges(e, &active)?;
    let mut total = Family::new("l7mp_offload_sessions", "Sessions offloaded to the kernel.");
    total.add(Vec::new(), s.sessions.get());
    let mut refused = Family::new(
        "l7mp_offload_sessions_refused",
        "One-hop UDP sessions left in user space: the flow table was full, their addresses \
         cannot be offloaded (IPv6), or the kernel refused the entry.",
    );
    refused.add(vec![("reason", "full")], s.refused_full.get());
    refused.add(vec![("reason", "unfit")], s.refused_unfit.get());
    refused.add(vec![("reason", "error")], s.refused_error.get());
    let mut withdrawn = Family::new(
        "l7mp_offload_sessions_withdrawn",
        "Offloaded sessions a reload sent back to user space (their listener or cluster changed).",
    );
    withdrawn.add(Vec::new(), s.withdrawn.get());
    let mut packets = Family::new(
        "l7mp_offload_packets",
        "Datagrams the kernel forwarded for offloaded sessions.",
    );
    let mut bytes = Family::new(
        "l7mp_offload_bytes",
        "Payload bytes the kernel forwarded for offloaded sessions.",
    );
    for (direction, p, b) in [
        ("upstream", &s.upstream_packets, &s.upstream_bytes),
        ("downstream", &s.downstream_packets, &s.downstream_bytes),
    ] {
        packets.add(vec![("direction", direction)], p.get());
        bytes.add(vec![("direction", direction)], b.get());
    }
    let mut fallbacks = Family::new(
        "l7mp_offload_fallbacks",
        "Datagrams of offloaded flows the kernel passed to user space, which forwarded them: \
         a local destination arriving on another interface than loopback, forwarding disabled \
         on loopback, no route, bigger than the MTU.",
    );
    for reason in Fallback::ALL {
        fallbacks.add(vec![("reason", reason.label())], offload.fallbacks(reason));
    }
    for f in [&total, &refused, &withdrawn, &packets, &bytes, &fallbacks] {
        counters(e, f)?;
    }
    Ok(())
}
