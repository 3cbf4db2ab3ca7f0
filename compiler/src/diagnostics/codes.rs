//! The stable diagnostic codes. Codes are never renumbered or reused: CI configurations and
//! people's memories refer to them. `compiler/CODES.md` lists them and a test keeps it in sync.

use super::Severity;

/// Declares [`Code`] from one table row per code, so the number, name, severity and description
/// of a code sit on one line.
macro_rules! codes {
    ($($variant:ident = $number:literal, $severity:ident, $description:literal;)*) => {
        /// A diagnostic's stable identity: `L7MPC` and four digits, the first two naming the stage.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $(#[doc = $description] $variant,)*
        }

        impl Code {
            /// Every code, in numeric order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code's number.
            pub fn number(self) -> u16 {
                match self { $(Code::$variant => $number,)* }
            }

            /// How serious a diagnostic with this code is.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity,)* }
            }

            /// One line saying what the code means.
            pub fn description(self) -> &'static str {
                match self { $(Code::$variant => $description,)* }
            }
        }
    };
}

codes! {
    YamlSyntax = 101, Error, "The file is not well-formed YAML.";
    NotAnObject = 102, Error, "A document (or an item of a List) is not a mapping.";
    MissingApiVersion = 103, Error, "A document has no string `apiVersion`.";
    MissingKind = 104, Error, "A document has no string `kind`.";
    MissingName = 105, Error, "A document has no string `metadata.name`.";
    InvalidList = 106, Error, "A `v1 List` has no `items` list.";
    Yaml11Boolean = 107, Warning, "An unquoted `yes`, `no`, `on`, `off`, `y` or `n`: a string in YAML 1.2, a boolean to Kubernetes (YAML 1.1).";
    UnknownKind = 108, Error, "An `l7mp.io` document of a kind that does not exist (the l7mp.io kinds are VirtualService, Target and Rule).";
    UnknownApiVersion = 109, Error, "An `l7mp.io` document of a version the compiler does not read (only `l7mp.io/v1`).";
    NotUtf8 = 110, Error, "A file is not UTF-8 text.";
    InputTooLarge = 111, Error, "The input is larger than the 16 MiB `l7mpc` reads in one run.";
    UnknownTag = 112, Error, "A YAML tag other than the standard `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map` and `!!seq`, whose meaning is up to each reader.";
    UnknownField = 201, Error, "A field the resource's schema does not define (Kubernetes would silently drop it).";
    WrongType = 202, Error, "A value has the wrong type.";
    OutOfRange = 203, Error, "A number is outside its allowed range, such as a port above 65535.";
    MissingField = 204, Error, "A required field is missing.";
    UnknownProtocol = 205, Error, "A listener or cluster spec names a protocol that does not exist.";
    ProtocolCount = 206, Error, "A listener or cluster spec must name exactly one protocol.";
    InvalidValue = 207, Error, "A value is not one of the allowed values.";
    InvalidCombination = 208, Error, "Fields that exclude each other are both set, or none of the alternatives is.";
    UnresolvedReference = 301, Error, "A reference names no object of the kind it needs.";
    WrongKindReference = 302, Error, "A reference names an object of the wrong kind.";
    MalformedReference = 303, Error, "A reference is neither `NAME`, `NAMESPACE/NAME` nor `/apis/l7mp.io/v1/namespaces/NS/PLURAL/NAME`.";
    DuplicateObject = 304, Error, "Two objects have the same kind, namespace and name.";
    DuplicateRoute = 305, Error, "Two rules of one namespace define a route of the same `name`.";
    SelectorMatchesNothing = 401, Warning, "A selector matches no pod template and no pod.";
    UnknownService = 402, Error, "A `matchService` selector names no Service.";
    InvalidSelector = 403, Error, "A selector requirement is malformed (values missing, extra or not integers).";
    NoProxyContainer = 501, Error, "A workload selected by an l7mp object has no proxy container.";
    UnknownProxyContainer = 502, Error, "The `l7mp.io/proxy-container` annotation names no container.";
    NoConfigPath = 503, Error, "The proxy container has no `--config`/`-c` argument.";
    NoConfigMapVolume = 504, Error, "No ConfigMap volume is mounted over the proxy's config path.";
    SubPathMount = 505, Warning, "The config ConfigMap is mounted with `subPath`, which never receives updates.";
    InvalidPodSpec = 506, Error, "A workload has no pod spec, or one Kubernetes would reject, so l7mpc cannot tell whether it runs a proxy.";
    EndpointSelectorNotExpressible = 601, Error, "An endpoint selector cannot be written as a Service selector (only labels and single-value `In`).";
    Unsupported = 602, Error, "The input uses a protocol or feature the proxy does not implement: HTTP listeners (by design: it has no write API), a Service port by name or of another protocol than TCP/UDP.";
    InternalError = 603, Error, "The compiler produced a config the proxy rejects: a compiler bug.";
    ConfigMapConflict = 604, Error, "Two workloads mount the same ConfigMap but need different configs.";
    ConfigMapTooLarge = 605, Error, "A compiled ConfigMap exceeds Kubernetes' 1 MiB limit.";
    PodWithoutIp = 606, Warning, "A pod of the `--pods` snapshot matches an endpoint selector but has no `status.podIP`.";
    InvalidPointer = 607, Error, "A JSON pointer (a Sync `query`, a JSONSocket `header` path or key) is malformed.";
    RulePositionOutOfRange = 608, Error, "A Rule's `position` is past the end of its rule list.";
    ServicePort = 609, Error, "A reference to a Kubernetes Service does not pick exactly one of its ports.";
    ForwardingLoop = 701, Error, "Traffic can return to a listener it came from: a forwarding loop.";
    ListenerClash = 702, Error, "Two listeners on one workload use the same port and transport, or the same socket path.";
    NoListenerAtEndpoint = 703, Error, "A cluster's endpoint runs a proxy with no listener and no containerPort of the cluster's protocol and port.";
    UnusedTarget = 704, Warning, "A Target is used by no route.";
    FramingLoss = 705, Warning, "A datagram stream crosses a byte-stream hop and loses its message boundaries.";
    TrivialOverMany = 706, Warning, "`Trivial` load balancing over more than one pod sends every session to the first.";
    SidecarConflict = 801, Error, "`inject`: the pod already has a proxy container, or a container or volume of the sidecar's name, that differs from what inject writes.";
    AmbiguousAppContainer = 802, Error, "`inject`: app containers mount different volumes over a Unix socket's directory and no `l7mp.io/app-container` annotation picks one (or it names no container).";
    SocketNotPlaced = 803, Warning, "`inject`: a Unix socket the mesh places on a workload is on no app volume, so the sidecar cannot share it (or no mesh was given to tell).";
    MetricsAnnotationKept = 804, Warning, "`inject`: the pod's own `prometheus.io/*` annotation is kept, so Prometheus does not scrape the proxy's metrics.";
    NotInjectable = 805, Error, "`inject`: an object runs pods but is not a Deployment, DaemonSet, StatefulSet or Pod, or its pod spec is not valid.";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "L7MPC{:04}", self.number())
    }
}

/// The Markdown table of all codes that `compiler/CODES.md` must contain.
pub fn codes_markdown() -> String {
    let mut out = String::from(
        "# l7mpc diagnostic codes\n\n\
         Generated from `compiler/src/diagnostics/codes.rs`; `cargo test -p l7mpc` checks it \
         (`L7MPC_ACCEPT=1` rewrites it).\n\n\
         | code | severity | meaning |\n|---|---|---|\n",
    );
    for code in Code::ALL {
        out.push_str(&format!(
            "| {code} | {} | {} |\n",
            code.severity(),
            code.description()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_unique_and_sorted() {
        let numbers: Vec<u16> = Code::ALL.iter().map(|c| c.number()).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    }

    #[test]
    fn codes_md_is_in_sync() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/CODES.md");
        let expected = codes_markdown();
        if std::env::var_os("L7MPC_ACCEPT").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            actual, expected,
            "compiler/CODES.md is stale: run `L7MPC_ACCEPT=1 cargo test -p l7mpc`"
        );
    }
}
