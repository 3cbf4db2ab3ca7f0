//! The words for problems that both the proxy's own checks ([`crate::resolve`]) and the
//! compiler (`l7mpc`) report, so that a person meets the same sentence and the same advice
//! from either tool. Each tool puts its own context (the object, a workload) around them.

/// A datagram stream reaching a byte-stream hop: `role` is `ingress`, `destination` or
/// `egress`, `route` names the route (`route "r"`, or how the compiler knows it).
pub fn framing_loss(role: &str, hop: &str, route: &str) -> String {
    format!(
        "datagrams lose their boundaries at the {role} hop \"{hop}\" of {route}: it is a byte \
         stream"
    )
}

/// What to do about [`framing_loss`].
pub const FRAMING_LOSS_HINT: &str =
    "use UDP, WebSocket or a seqpacket Unix socket for that hop if message boundaries matter";

/// A listener binding the socket that the listener `first` already has.
pub fn listener_clash(first: &str) -> String {
    format!("listener \"{first}\" already uses this port or socket path")
}

/// What to do about [`listener_clash`].
pub const LISTENER_CLASH_HINT: &str =
    "give one of them another port (UDP and TCP count apart) or socket path";

/// What to do about a malformed JSON pointer (the message is the pointer's parse error).
pub const POINTER_HINT: &str = "write a JSON pointer such as `/IP/src_addr`: `/` between keys, \
                                `~1` for a `/` and `~0` for a `~` inside a key";
