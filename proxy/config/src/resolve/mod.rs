//! Turns a parsed [`ConfigFile`] into a [`Config`]: names every inline object, checks every
//! reference, compiles predicates and pointers, applies defaults, and reports every problem it
//! finds (not just the first) with the file, line, object and field.
//!
//! Inline objects get names derived from their parent (`<listener>-rules`, `<rulelist>-rule-<i>`,
//! `<rule>-route`, `<route>-destination`, `<route>-ingress-<i>`, `<route>-egress-<i>`), never from
//! counters, so the same file always yields the same names.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use crate::config::{
    ClusterConfig, Config, DEFAULT_IDLE_TIMEOUT_SECS, DEFAULT_MAX_SESSIONS, EndpointConfig,
    Framing, LbPolicy, ListenerConfig, Match, RetryPolicy, RouteConfig, RuleConfig, RuleTarget,
};
use crate::diagnostic::{Diagnostic, Severity, closest};
use crate::model::{
    Action, Bind, Cluster, ClusterSpec, ConfigFile, HeaderCopy, HeaderEntry, Listener,
    ListenerSpec, Ref, Route, Rule, UdpMode,
};
use crate::pointer::JsonPointer;
use crate::predicate::Predicate;
use crate::yaml::Document;

/// The object kinds that share a name space each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Listener,
    Cluster,
    RuleList,
    Rule,
    Route,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Listener => "listener",
            Kind::Cluster => "cluster",
            Kind::RuleList => "rulelist",
            Kind::Rule => "rule",
            Kind::Route => "route",
        })
    }
}

/// A reference, checked once every object is known.
struct PendingRef {
    kind: Kind,
    name: String,
    from: String,
    field: String,
}

/// Checks `raw` (parsed from `doc` of `file`) and returns the config, or every error found.
/// Warnings come back either way.
pub fn resolve(file: &str, doc: &Document, raw: &ConfigFile) -> (Option<Config>, Vec<Diagnostic>) {
    let mut r = Resolver {
        file,
        doc,
        diags: Vec::new(),
        config: Config {
            log_level: raw.admin.log_level.clone(),
            ..Config::default()
        },
        defined: BTreeMap::new(),
        refs: Vec::new(),
    };
    r.walk(raw);
    r.check_refs();
    r.check_listener_clashes();
    if !r.diags.iter().any(Diagnostic::is_error) {
        r.check_routing();
    }
    let ok = !r.diags.iter().any(Diagnostic::is_error);
    (ok.then_some(r.config), r.diags)
}

struct Resolver<'a> {
    file: &'a str,
    doc: &'a Document,
    diags: Vec<Diagnostic>,
    config: Config,
    /// Where each named object was defined, to report duplicates and drive lookups.
    defined: BTreeMap<(Kind, String), String>,
    refs: Vec<PendingRef>,
}

impl Resolver<'_> {
    fn walk(&mut self, raw: &ConfigFile) {
        for (i, c) in raw.clusters.iter().enumerate() {
            let at = format!("/clusters/{i}");
            if let Some(name) = self.top_level_name(Kind::Cluster, c.name.as_deref(), &at) {
                self.add_cluster(name, c, &at);
            }
        }
        for (i, rule) in raw.rules.iter().enumerate() {
            let at = format!("/rules/{i}");
            if let Some(name) = self.top_level_name(Kind::Rule, rule.name.as_deref(), &at) {
                self.add_rule(name, rule, &at);
            }
        }
        for (i, route) in raw.routes.iter().enumerate() {
            let at = format!("/routes/{i}");
            if let Some(name) = self.top_level_name(Kind::Route, route.name.as_deref(), &at) {
                self.add_route(name, route, &at);
            }
        }
        for (i, list) in raw.rulelists.iter().enumerate() {
            let at = format!("/rulelists/{i}");
            self.add_rulelist(list.name.clone(), &list.rules, &at, &format!("{at}/rules"));
        }
        for (i, l) in raw.listeners.iter().enumerate() {
            self.add_listener(l, &format!("/listeners/{i}"));
        }
    }

    fn top_level_name(&mut self, kind: Kind, name: Option<&str>, at: &str) -> Option<String> {
        if name.is_none() {
            self.error(
                "",
                at,
                format!("a top-level {kind} needs a `name`"),
                "add `name: <unique name>`; only objects written inline may leave it out",
            );
        }
        name.map(str::to_string)
    }

    /// Records a definition; false (with an error) when the name is taken or malformed.
    fn define(&mut self, kind: Kind, name: &str, at: &str) -> bool {
        let object = format!("{kind} \"{name}\"");
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            self.error(
                &object,
                &format!("{at}/name"),
                "a name must be non-empty and contain no whitespace".into(),
                "use letters, digits, `-`, `_`, `.` or `/`",
            );
            return false;
        }
        if let Some(first) = self.defined.get(&(kind, name.to_string())) {
            let line = self.doc.locate(first).line;
            self.error(
                &object,
                at,
                format!("{kind} \"{name}\" is defined twice"),
                &format!("the first definition is on line {line}; rename or remove one of them"),
            );
            return false;
        }
        self.defined
            .insert((kind, name.to_string()), at.to_string());
        true
    }

    fn reference(&mut self, kind: Kind, name: &str, from: &str, field: &str) {
        self.refs.push(PendingRef {
            kind,
            name: name.to_string(),
            from: from.to_string(),
            field: field.to_string(),
        });
    }

    fn add_listener(&mut self, l: &Listener, at: &str) {
        if !self.define(Kind::Listener, &l.name, at) {
            return;
        }
        let object = format!("listener \"{}\"", l.name);
        self.check_listener_spec(&object, &l.spec, &format!("{at}/spec"));
        let rulelist = match &l.rules {
            Ref::Name(name) => {
                self.reference(Kind::RuleList, name, &object, &format!("{at}/rules"));
                name.clone()
            }
            Ref::Inline(items) => {
                let name = format!("{}-rules", l.name);
                let items_at = format!("{at}/rules");
                self.add_rulelist(name.clone(), items, &items_at, &items_at);
                name
            }
        };
        let options = l.options.clone().unwrap_or_default();
        let idle = options.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT_SECS);
        self.config.listeners.push(ListenerConfig {
            name: l.name.clone(),
            spec: l.spec.clone(),
            rulelist,
            idle_timeout: (idle > 0).then(|| Duration::from_secs(idle)),
            max_sessions: options.max_sessions.unwrap_or(DEFAULT_MAX_SESSIONS),
        });
    }

    fn check_listener_spec(&mut self, object: &str, spec: &ListenerSpec, at: &str) {
        match spec {
            ListenerSpec::Udp {
                port,
                address,
                connect,
                options,
            } => {
                self.check_port(object, *port, &format!("{at}/port"));
                self.check_ip(object, address.as_deref(), &format!("{at}/address"));
                let connect = connect.clone().unwrap_or_default();
                self.check_ip(
                    object,
                    connect.address.as_deref(),
                    &format!("{at}/connect/address"),
                );
                let singleton = options.as_ref().and_then(|o| o.mode) == Some(UdpMode::Singleton);
                if singleton && (connect.address.is_none() || connect.port.is_none()) {
                    self.error(
                        object,
                        &format!("{at}/options/mode"),
                        "singleton mode needs the peer's address and port".into(),
                        "set both `connect.address` and `connect.port`, or use `mode: server`",
                    );
                }
            }
            ListenerSpec::Tcp { port, address } => {
                self.check_port(object, *port, &format!("{at}/port"));
                self.check_ip(object, address.as_deref(), &format!("{at}/address"));
            }
            ListenerSpec::WebSocket {
                port,
                address,
                path,
            } => {
                self.check_port(object, *port, &format!("{at}/port"));
                self.check_ip(object, address.as_deref(), &format!("{at}/address"));
                self.check_http_path(object, path.as_deref(), &format!("{at}/path"));
            }
            ListenerSpec::UnixDomainSocket { filename, .. } => {
                if filename.is_empty() {
                    self.error(
                        object,
                        &format!("{at}/filename"),
                        "the socket path is empty".into(),
                        "give the path of the socket file, such as /tmp/app.sock",
                    );
                }
            }
            ListenerSpec::JsonSocket {
                transport,
                header_timeout,
            } => {
                let transport_at = format!("{at}/transport");
                if matches!(**transport, ListenerSpec::JsonSocket { .. }) {
                    self.error(
                        object,
                        &format!("{transport_at}/protocol"),
                        "JSONSocket cannot run over JSONSocket".into(),
                        "use UDP, TCP, WebSocket or UnixDomainSocket as the transport",
                    );
                } else {
                    self.check_listener_spec(object, transport, &transport_at);
                }
                if *header_timeout == Some(0) {
                    self.error(
                        object,
                        &format!("{at}/header_timeout"),
                        "a header timeout of 0 ms refuses every client".into(),
                        "give the milliseconds a client may take to send its header, \
                         such as 5000, or leave it out",
                    );
                }
            }
        }
    }

    fn add_rulelist(&mut self, name: String, items: &[Ref<Rule>], def_at: &str, items_at: &str) {
        if !self.define(Kind::RuleList, &name, def_at) {
            return;
        }
        let object = format!("rulelist \"{name}\"");
        let mut rules = Vec::with_capacity(items.len());
        for (j, item) in items.iter().enumerate() {
            let at = format!("{items_at}/{j}");
            match item {
                Ref::Name(rule) => {
                    self.reference(Kind::Rule, rule, &object, &at);
                    rules.push(rule.clone());
                }
                Ref::Inline(rule) => {
                    let rule_name = rule.name.clone().unwrap_or(format!("{name}-rule-{j}"));
                    self.add_rule(rule_name.clone(), rule, &at);
                    rules.push(rule_name);
                }
            }
        }
        self.config.rulelists.insert(name, rules);
    }

    fn add_rule(&mut self, name: String, rule: &Rule, at: &str) {
        if !self.define(Kind::Rule, &name, at) {
            return;
        }
        let object = format!("rule \"{name}\"");
        let matcher = self.compile_match(&object, rule.matcher.as_ref(), &format!("{at}/match"));
        let rewrite = self.compile_rewrites(&object, &rule.action, at);
        let Some(target) = self.rule_target(&name, &object, &rule.action, at) else {
            return;
        };
        self.config.rules.insert(
            name.clone(),
            RuleConfig {
                name,
                matcher,
                rewrite,
                target,
            },
        );
    }

    fn compile_match(&mut self, object: &str, source: Option<&Value>, at: &str) -> Option<Match> {
        let source = source.filter(|v| !v.is_string() && !v.is_null())?;
        match Predicate::compile(source) {
            Ok(predicate) => Some(Match {
                source: source.clone(),
                predicate,
            }),
            Err(e) => {
                self.error(
                    object,
                    &format!("{at}{}", e.path),
                    e.message,
                    "see draft-snell-json-test for the predicate syntax",
                );
                None
            }
        }
    }

    fn compile_rewrites(
        &mut self,
        object: &str,
        action: &Action,
        at: &str,
    ) -> Vec<(JsonPointer, Value)> {
        let mut out = Vec::with_capacity(action.rewrite.len());
        for (k, rw) in action.rewrite.iter().enumerate() {
            let field = format!("{at}/action/rewrite/{k}/path");
            if let Some(p) = self.pointer(object, &rw.path, &field) {
                out.push((p, rw.value.clone()));
            }
        }
        out
    }

    fn rule_target(
        &mut self,
        name: &str,
        object: &str,
        action: &Action,
        at: &str,
    ) -> Option<RuleTarget> {
        let field = format!("{at}/action");
        match (&action.route, &action.apply) {
            (Some(_), Some(_)) => {
                self.error(
                    object,
                    &field,
                    "the action has both `route` and `apply`".into(),
                    "keep one: `route` routes the session, `apply` continues in another rule list",
                );
                None
            }
            (None, None) => {
                self.error(
                    object,
                    &field,
                    "the action has neither `route` nor `apply`".into(),
                    "add `route:` with a destination, or `apply: <rulelist>`",
                );
                None
            }
            (None, Some(list)) => {
                self.reference(Kind::RuleList, list, object, &format!("{field}/apply"));
                Some(RuleTarget::Apply(list.clone()))
            }
            (Some(Ref::Name(route)), None) => {
                self.reference(Kind::Route, route, object, &format!("{field}/route"));
                Some(RuleTarget::Route(route.clone()))
            }
            (Some(Ref::Inline(route)), None) => {
                let route_name = route.name.clone().unwrap_or(format!("{name}-route"));
                self.add_route(route_name.clone(), route, &format!("{field}/route"));
                Some(RuleTarget::Route(route_name))
            }
        }
    }

    fn add_route(&mut self, name: String, route: &Route, at: &str) {
        if !self.define(Kind::Route, &name, at) {
            return;
        }
        let object = format!("route \"{name}\"");
        let destination = self.cluster_ref(
            &object,
            &route.destination,
            format!("{name}-destination"),
            &format!("{at}/destination"),
        );
        let mut hops = |dir: &str, list: &[Ref<Cluster>]| -> Vec<String> {
            list.iter()
                .enumerate()
                .map(|(j, c)| {
                    let fallback = format!("{name}-{dir}-{j}");
                    self.cluster_ref(&object, c, fallback, &format!("{at}/{dir}/{j}"))
                })
                .collect()
        };
        let ingress = hops("ingress", &route.ingress);
        let egress = hops("egress", &route.egress);
        let raw = route.retry.clone().unwrap_or_default();
        let defaults = RetryPolicy::default();
        let retry = RetryPolicy {
            retry_on: raw.retry_on.unwrap_or(defaults.retry_on),
            num_retries: raw.num_retries.unwrap_or(defaults.num_retries),
            timeout: raw.timeout.map_or(defaults.timeout, Duration::from_millis),
        };
        if retry.timeout.is_zero() {
            self.error(
                &object,
                &format!("{at}/retry/timeout"),
                "a connect timeout of 0 ms fails every connect".into(),
                "give the milliseconds a connect may take, such as 2000",
            );
        }
        self.config.routes.insert(
            name.clone(),
            RouteConfig {
                name,
                destination,
                ingress,
                egress,
                retry,
            },
        );
    }

    fn cluster_ref(
        &mut self,
        object: &str,
        c: &Ref<Cluster>,
        fallback: String,
        at: &str,
    ) -> String {
        match c {
            Ref::Name(name) => {
                self.reference(Kind::Cluster, name, object, at);
                name.clone()
            }
            Ref::Inline(cluster) => {
                let name = cluster.name.clone().unwrap_or(fallback);
                self.add_cluster(name.clone(), cluster, at);
                name
            }
        }
    }

    fn add_cluster(&mut self, name: String, c: &Cluster, at: &str) {
        if !self.define(Kind::Cluster, &name, at) {
            return;
        }
        let object = format!("cluster \"{name}\"");
        self.check_cluster_spec(&object, &c.spec, &format!("{at}/spec"));
        let remote = Framing::of_cluster(&c.spec) != Framing::Transparent;
        if !remote && !c.endpoints.is_empty() {
            self.error(
                &object,
                &format!("{at}/endpoints"),
                "an in-proxy cluster has no endpoints".into(),
                "remove `endpoints`, or use a remote protocol such as UDP",
            );
        }
        let endpoints = self.endpoints(&name, &object, c, at);
        let (policy, key) = self.load_balancer(&object, c, at);
        self.config.clusters.insert(
            name.clone(),
            ClusterConfig {
                name,
                spec: c.spec.clone(),
                endpoints,
                policy,
                key,
            },
        );
    }

    fn check_cluster_spec(&mut self, object: &str, spec: &ClusterSpec, at: &str) {
        let bind = |b: &Option<Bind>| b.as_ref().and_then(|b| b.address.clone());
        match spec {
            ClusterSpec::Udp { port, bind: b } | ClusterSpec::Tcp { port, bind: b } => {
                self.check_port(object, *port, &format!("{at}/port"));
                self.check_ip(object, bind(b).as_deref(), &format!("{at}/bind/address"));
            }
            ClusterSpec::WebSocket {
                port,
                path,
                bind: b,
            } => {
                self.check_port(object, *port, &format!("{at}/port"));
                self.check_http_path(object, path.as_deref(), &format!("{at}/path"));
                self.check_ip(object, bind(b).as_deref(), &format!("{at}/bind/address"));
            }
            ClusterSpec::JsonSocket { transport, header } => {
                let transport_at = format!("{at}/transport");
                if Framing::of_cluster(transport) == Framing::Transparent
                    || matches!(**transport, ClusterSpec::JsonSocket { .. })
                {
                    self.error(
                        object,
                        &format!("{transport_at}/protocol"),
                        "JSONSocket runs over a remote protocol only".into(),
                        "use UDP, TCP, WebSocket or UnixDomainSocket as the transport",
                    );
                } else {
                    self.check_cluster_spec(object, transport, &transport_at);
                }
                for (i, entry) in header.iter().enumerate() {
                    self.check_header_entry(object, entry, &format!("{at}/header/{i}"));
                }
            }
            ClusterSpec::Sync { query } => {
                self.pointer(object, query, &format!("{at}/query"));
            }
            ClusterSpec::UnixDomainSocket { .. }
            | ClusterSpec::Echo {}
            | ClusterSpec::Discard {}
            | ClusterSpec::Logger { .. }
            | ClusterSpec::JsonEncap {}
            | ClusterSpec::JsonDecap {}
            | ClusterSpec::Metric { .. }
            | ClusterSpec::Stdio {} => {}
        }
    }

    fn check_header_entry(&mut self, object: &str, entry: &HeaderEntry, at: &str) {
        match (&entry.path, &entry.set) {
            (Some(HeaderCopy::From(from)), None) => {
                self.pointer(object, from, &format!("{at}/path"));
            }
            (Some(HeaderCopy::FromTo { from, to }), None) => {
                self.pointer(object, from, &format!("{at}/path/from"));
                self.pointer(object, to, &format!("{at}/path/to"));
            }
            (None, Some(set)) => {
                self.pointer(object, &set.key, &format!("{at}/set/key"));
            }
            _ => self.error(
                object,
                at,
                "a header entry needs exactly one of `path` and `set`".into(),
                "write `path: /metadata/pointer` to copy a value, or \
                 `set: {key: /field, value: ...}` to set a constant",
            ),
        }
    }

    fn endpoints(
        &mut self,
        cluster: &str,
        object: &str,
        c: &Cluster,
        at: &str,
    ) -> Vec<EndpointConfig> {
        let mut out = Vec::with_capacity(c.endpoints.len());
        for (k, e) in c.endpoints.iter().enumerate() {
            if e.spec.address.trim().is_empty() {
                self.error(
                    object,
                    &format!("{at}/endpoints/{k}/spec/address"),
                    "the endpoint address is empty".into(),
                    "give an IP address, a DNS name or (for UnixDomainSocket) a socket path",
                );
                continue;
            }
            out.push(EndpointConfig {
                name: e.name.clone().unwrap_or(format!("{cluster}-endpoint-{k}")),
                address: e.spec.address.clone(),
                weight: e.weight.unwrap_or(1),
            });
        }
        out
    }

    fn load_balancer(
        &mut self,
        object: &str,
        c: &Cluster,
        at: &str,
    ) -> (LbPolicy, Option<JsonPointer>) {
        let Some(lb) = &c.loadbalancer else {
            return (LbPolicy::Trivial, None);
        };
        let policy = LbPolicy::parse(&lb.policy).unwrap_or_else(|| {
            self.error(
                object,
                &format!("{at}/loadbalancer/policy"),
                format!("unknown load-balancing policy `{}`", lb.policy),
                "use Trivial, ConsistentHash (or HashRing) or RoundRobin",
            );
            LbPolicy::Trivial
        });
        let key_at = format!("{at}/loadbalancer/key");
        let key = lb
            .key
            .as_deref()
            .and_then(|k| self.pointer(object, k, &key_at));
        (policy, key)
    }

    fn pointer(&mut self, object: &str, text: &str, at: &str) -> Option<JsonPointer> {
        match JsonPointer::parse(text) {
            Ok(p) => Some(p),
            Err(e) => {
                self.error(
                    object,
                    at,
                    e.to_string(),
                    "a JSON pointer looks like /IP/src_addr",
                );
                None
            }
        }
    }

    fn check_port(&mut self, object: &str, port: u16, at: &str) {
        if port == 0 {
            self.error(
                object,
                at,
                "port 0 is not a port that peers can reach".into(),
                "pick a port between 1 and 65535",
            );
        }
    }

    fn check_ip(&mut self, object: &str, address: Option<&str>, at: &str) {
        if let Some(a) = address.filter(|a| a.parse::<IpAddr>().is_err()) {
            self.error(
                object,
                at,
                format!("`{a}` is not an IP address"),
                "write an IPv4 or IPv6 address such as 127.0.0.1",
            );
        }
    }

    fn check_http_path(&mut self, object: &str, path: Option<&str>, at: &str) {
        if let Some(p) = path.filter(|p| !p.starts_with('/')) {
            self.error(
                object,
                at,
                format!("the path `{p}` does not start with `/`"),
                &format!("write `/{p}`"),
            );
        }
    }

    fn check_refs(&mut self) {
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

    fn check_listener_clashes(&mut self) {
        let mut seen = BTreeMap::new();
        let listeners = self.config.listeners.clone();
        for (i, l) in listeners.iter().enumerate() {
            if let Some(first) = seen.insert(l.identity(), l.name.clone()) {
                self.error(
                    &format!("listener \"{}\"", l.name),
                    &format!("/listeners/{i}/spec"),
                    format!("listener \"{first}\" already uses this port or socket path"),
                    "give each listener its own port (UDP and TCP count apart) or path",
                );
            }
        }
    }

    /// Finds `apply` cycles (which would never finish) and warns where datagrams cross a
    /// byte-stream hop and lose their boundaries.
    fn check_routing(&mut self) {
        let listeners = self.config.listeners.clone();
        for (i, l) in listeners.iter().enumerate() {
            let mut routes = BTreeSet::new();
            let mut stack = Vec::new();
            self.collect_routes(&l.rulelist, &mut stack, &mut routes);
            for route in routes {
                self.check_framing(l, &route, i);
            }
        }
    }

    fn collect_routes(&mut self, list: &str, stack: &mut Vec<String>, out: &mut BTreeSet<String>) {
        if stack.iter().any(|s| s == list) {
            stack.push(list.to_string());
            let cycle = stack.join(" -> ");
            let at = self.defined[&(Kind::RuleList, list.to_string())].clone();
            self.error(
                &format!("rulelist \"{list}\""),
                &at,
                format!("`apply` never ends: {cycle}"),
                "break the cycle so that some rule list routes instead of applying",
            );
            stack.pop();
            return;
        }
        stack.push(list.to_string());
        let rules = self.config.rulelists.get(list).cloned().unwrap_or_default();
        for rule in rules {
            match self.config.rules.get(&rule).map(|r| r.target.clone()) {
                Some(RuleTarget::Route(route)) => {
                    out.insert(route);
                }
                Some(RuleTarget::Apply(next)) => self.collect_routes(&next, stack, out),
                None => {}
            }
        }
        stack.pop();
    }

    fn check_framing(&mut self, listener: &ListenerConfig, route: &str, index: usize) {
        let Some(r) = self.config.routes.get(route).cloned() else {
            return;
        };
        let hops = r
            .ingress
            .iter()
            .chain(std::iter::once(&r.destination))
            .chain(&r.egress);
        let mut current = Framing::of_listener(&listener.spec);
        for hop in hops {
            let Some(framing) = self
                .config
                .clusters
                .get(hop)
                .map(|c| Framing::of_cluster(&c.spec))
            else {
                continue;
            };
            if current == Framing::Datagram && framing == Framing::Stream {
                self.diags.push(self.diagnostic(
                    Severity::Warning,
                    &format!("listener \"{}\"", listener.name),
                    &format!("/listeners/{index}"),
                    format!(
                        "datagrams lose their boundaries at hop \"{hop}\" of route \"{route}\": \
                         it is a byte stream"
                    ),
                    "use a message-preserving protocol for that hop (UDP, WebSocket, or \
                     UnixDomainSocket with `mode: seqpacket`) if the boundaries matter",
                ));
            }
            if framing != Framing::Transparent {
                current = framing;
            }
        }
    }

    fn error(&mut self, object: &str, at: &str, message: String, hint: &str) {
        let d = self.diagnostic(Severity::Error, object, at, message, hint);
        self.diags.push(d);
    }

    fn diagnostic(
        &self,
        severity: Severity,
        object: &str,
        at: &str,
        message: String,
        hint: &str,
    ) -> Diagnostic {
        Diagnostic {
            severity,
            file: self.file.to_string(),
            location: self.doc.locate(at),
            object: object.to_string(),
            field: at.to_string(),
            message,
            hint: Some(hint.to_string()),
        }
    }
}
