//! Field checks shared by every object kind (JSON pointers, ports, IP addresses, HTTP paths)
//! and the final check that every reference names a defined object.

use std::net::IpAddr;

use super::Resolver;
use crate::diagnostic::{Severity, closest};
use crate::pointer::JsonPointer;
use crate::wording;

impl Resolver<'_> {
    pub(super) fn pointer(&mut self, object: &str, text: &str, at: &str) -> Option<JsonPointer> {
        match JsonPointer::parse(text) {
            Ok(p) => Some(p),
            Err(e) => {
                self.error(object, at, e.to_string(), wording::POINTER_HINT);
                None
            }
        }
    }

    /// A path in a field where the original accepted paths without the leading `/` (and with
    /// trailing ones): read as the pointer it meant, with a warning naming that pointer.
    pub(super) fn lenient_pointer(
        &mut self,
        object: &str,
        text: &str,
        at: &str,
    ) -> Option<JsonPointer> {
        let meant = crate::pointer::lenient(text);
        if meant != text {
            let d = self.diagnostic(
                Severity::Warning,
                object,
                at,
                format!("the path `{text}` is read as the JSON pointer `{meant}`"),
                &format!(
                    "write `{meant}`; only rewrites, load-balancer keys, Sync queries and \
                     JSONSocket headers accept the original's lenient paths, `match` does not"
                ),
            );
            self.diags.push(d);
        }
        self.pointer(object, &meant, at)
    }

    /// [`Self::lenient_pointer`] for a path the proxy reads again from the spec: the spec
    /// keeps the pointer it meant.
    pub(super) fn normalise_path(&mut self, object: &str, text: &mut String, at: &str) {
        if let Some(p) = self.lenient_pointer(object, text, at) {
            *text = p.as_str().to_owned();
        }
    }

    pub(super) fn check_port(&mut self, object: &str, port: u16, at: &str) {
        if port == 0 {
            self.error(
                object,
                at,
                "port 0 is not a port that peers can reach".into(),
                "pick a port between 1 and 65535",
            );
        }
    }

    /// The IP address in `address`, parsed once here so that nothing downstream parses it
    /// again; `None` when absent, or when it does not parse (reported, and the config is
    /// refused).
    pub(super) fn ip(&mut self, object: &str, address: Option<&str>, at: &str) -> Option<IpAddr> {
        let a = address?;
        match a.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.error(
                    object,
                    at,
                    format!("`{a}` is not an IP address"),
                    "write an IPv4 or IPv6 address such as 127.0.0.1",
                );
                None
            }
        }
    }

    pub(super) fn check_http_path(&mut self, object: &str, path: Option<&str>, at: &str) {
        if let Some(p) = path.filter(|p| !p.starts_with('/')) {
            self.error(
                object,
                at,
                format!("the path `{p}` does not start with `/`"),
                &format!("write `/{p}`"),
            );
        }
    }

    pub(super) fn check_refs(&mut self) {
        let refs = std::mem::take(&mut self.refs);
        for r in refs {
            if self.defined.contains_key(&(r.kind, r.name.clone())) {
                continue;
            }
            let names = self
                .defined
                .keys()
                .filter(|(k, _)| *k == r.kind)
                .map(|(_, n)| n.as_str());
            let hint = match closest(&r.name, names) {
                Some(c) => format!("did you mean \"{c}\"?"),
                None => format!("define a {} named \"{}\" or fix the name", r.kind, r.name),
            };
            self.error(
                &r.from,
                &r.field,
                format!("there is no {} named \"{}\"", r.kind, r.name),
                &hint,
            );
        }
    }
}
