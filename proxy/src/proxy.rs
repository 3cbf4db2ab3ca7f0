//! Starting and stopping a whole config: clusters first, then every listener bound, and only
//! then served, so a failure leaves nothing half-running.
//!
//! Sessions run on [`Workers`]: one single-threaded runtime per core. A listener has a socket
//! per worker where the protocol allows (SO_REUSEPORT), so a session's socket events and its
//! task stay on one thread and no wakeup crosses cores, as with nginx's worker processes.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use l7mp_config::Config;
use l7mp_config::config::{ListenerConfig, ListenerSocket, UdpPeers};
use l7mp_config::model::UnixMode;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::listener;
use crate::offload::Offload;
use crate::routing::{Routing, RoutingHandle};
use crate::session::ListenerCtx;

/// Process-level options from the command line.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Address for listeners that name none (instead of the wildcard).
    pub bind_address: Option<IpAddr>,
    /// UDP kernel offload, when on (see [`crate::offload`]).
    pub offload: Option<Arc<Offload>>,
}

/// Why a config could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A cluster could not be set up (a Logger file that cannot be opened).
    #[error("{0}")]
    Cluster(io::Error),
    /// A listener could not bind its socket.
    #[error("listener \"{listener}\": cannot bind: {error}")]
    Bind {
        /// Which listener.
        listener: String,
        /// Why.
        error: io::Error,
    },
}

/// The runtimes sessions run on.
pub struct Workers {
    handles: Vec<Handle>,
    threads: Vec<std::thread::JoinHandle<()>>,
    stop: CancellationToken,
}

impl Workers {
    /// Starts `count` worker threads, each with its own single-threaded runtime.
    pub fn start(count: usize) -> io::Result<Workers> {
        let stop = CancellationToken::new();
        let mut handles = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for i in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("l7mp-worker-{i}"))
                .spawn(move || runtime.block_on(stop.cancelled()))?;
            threads.push(thread);
        }
        Ok(Workers {
            handles,
            threads,
            stop,
        })
    }

    /// Runs everything on the calling runtime (for tests and embedding).
    pub fn current() -> Workers {
        Workers {
            handles: vec![Handle::current()],
            threads: Vec::new(),
            stop: CancellationToken::new(),
        }
    }

    /// Stops the worker threads (their remaining tasks are dropped).
    pub fn stop(self) {
        self.stop.cancel();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// What a reload changed, for its one-line log and for tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Listeners whose socket and sessions were kept (settings updated in place).
    pub listeners_kept: usize,
    /// New listeners.
    pub listeners_added: usize,
    /// Listeners no longer in the config, now draining.
    pub listeners_removed: usize,
    /// Listeners whose socket changed (protocol, address, port or path): a new socket, the old
    /// one draining.
    pub listeners_restarted: usize,
    /// New clusters.
    pub clusters_added: usize,
    /// Clusters whose settings changed.
    pub clusters_changed: usize,
    /// Clusters no longer in the config.
    pub clusters_removed: usize,
    /// Sessions of removed and restarted listeners, left to drain.
    pub sessions_draining: u64,
}

impl std::fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "listeners: {} kept, {} added, {} removed, {} restarted; clusters: {} added, {} changed, \
             {} removed; {} sessions draining",
            self.listeners_kept,
            self.listeners_added,
            self.listeners_removed,
            self.listeners_restarted,
            self.clusters_added,
            self.clusters_changed,
            self.clusters_removed,
            self.sessions_draining
        )
    }
}

/// A listener and the tasks serving its sockets.
struct Running {
    ctx: Arc<ListenerCtx>,
    tasks: Vec<JoinHandle<()>>,
}

/// A running proxy.
pub struct Proxy {
    routing: Arc<RoutingHandle>,
    listeners: BTreeMap<String, Running>,
    options: Options,
    workers: Vec<Handle>,
    view: Arc<View>,
}

/// A read-only window on a running proxy for status pages, metrics and tests, usable while
/// the reload controller owns the [`Proxy`].
pub struct View {
    routing: Arc<RoutingHandle>,
    listeners: ArcSwap<BTreeMap<String, Arc<ListenerCtx>>>,
    offload: Option<Arc<Offload>>,
}

impl View {
    /// The listener called `name`, if it is in the config in force.
    pub fn listener(&self, name: &str) -> Option<Arc<ListenerCtx>> {
        self.listeners().get(name).cloned()
    }

    /// Every listener of the config in force, by name.
    pub fn listeners(&self) -> BTreeMap<String, Arc<ListenerCtx>> {
        BTreeMap::clone(&self.listeners.load())
    }

    /// UDP kernel offload, when on.
    pub fn offload(&self) -> Option<&Arc<Offload>> {
        self.offload.as_ref()
    }

    /// The routing in force.
    pub fn routing(&self) -> Arc<Routing> {
        self.routing.load()
    }

    fn publish(&self, listeners: &BTreeMap<String, Running>) {
        let map = listeners
            .iter()
            .map(|(k, r)| (k.clone(), r.ctx.clone()))
            .collect();
        self.listeners.store(Arc::new(map));
    }
}

impl Proxy {
    /// Starts every cluster and listener of `config` on `workers`.
    pub async fn start(
        config: Config,
        options: &Options,
        workers: &Workers,
    ) -> Result<Proxy, StartError> {
        let routing = Routing::build(Config::default(), None)
            .await
            .map_err(StartError::Cluster)?;
        let routing = Arc::new(RoutingHandle::new(routing));
        let mut proxy = Proxy {
            view: Arc::new(View {
                routing: routing.clone(),
                listeners: ArcSwap::default(),
                offload: options.offload.clone(),
            }),
            routing,
            listeners: BTreeMap::new(),
            options: options.clone(),
            workers: workers.handles.clone(),
        };
        proxy.apply(config, Duration::ZERO).await?;
        Ok(proxy)
    }

    /// Replaces the running config with `config`, touching only what changed: new objects are
    /// built and every new socket bound before anything old stops, so a failure (a port in
    /// use) leaves the running config exactly as it was. Listeners whose socket is unchanged
    /// keep it and their sessions; removed or re-bound ones stop taking sessions at once and
    /// their sessions get `drain` to finish before they are closed.
    pub async fn apply(
        &mut self,
        config: Config,
        drain: Duration,
    ) -> Result<ReloadSummary, StartError> {
        let old_routing = self.routing.load();
        let routing = Routing::build(config.clone(), Some(&old_routing))
            .await
            .map_err(StartError::Cluster)?;
        let mut summary = cluster_changes(old_routing.config(), &config);
        let mut kept = Vec::new();
        let mut bound = Vec::new();
        for l in &config.listeners {
            match self.listeners.get(&l.name) {
                Some(r) if same_socket(&r.ctx.config(), l) => {
                    kept.push(l.clone());
                    continue;
                }
                Some(_) => summary.listeners_restarted += 1,
                None => summary.listeners_added += 1,
            }
            let sockets = listener::bind(l, self.options.bind_address, self.workers.len())
                .map_err(|error| StartError::Bind {
                    listener: l.name.clone(),
                    error,
                })?;
            bound.push((l.clone(), sockets));
        }
        // Nothing can fail from here on. Offloaded flows of listeners and clusters that change
        // go back to user space before the change applies, so no datagram takes an old path
        // in the kernel.
        self.withdraw_changed(old_routing.config(), &config);
        self.routing.store(routing);
        summary.listeners_kept = kept.len();
        for l in kept {
            if let Some(r) = self.listeners.get(&l.name) {
                r.ctx.update(l);
            }
        }
        let wanted: BTreeSet<&str> = config.listeners.iter().map(|l| l.name.as_str()).collect();
        let restarted: BTreeSet<&str> = bound.iter().map(|(l, _)| l.name.as_str()).collect();
        let retire: Vec<String> = self
            .listeners
            .keys()
            .filter(|n| !wanted.contains(n.as_str()) || restarted.contains(n.as_str()))
            .cloned()
            .collect();
        summary.listeners_removed = retire.len() - summary.listeners_restarted;
        for name in retire {
            if let Some(r) = self.listeners.remove(&name) {
                summary.sessions_draining += r.ctx.stats.sessions_active.get();
                tokio::spawn(retire_listener(r, drain));
            }
        }
        for (l, sockets) in bound {
            let running = self.serve(l, sockets);
            self.listeners.insert(running.ctx.name.clone(), running);
        }
        self.view.publish(&self.listeners);
        Ok(summary)
    }

    /// Withdraws the offloaded flows of every listener and cluster that `new` changes or
    /// drops relative to `old`.
    fn withdraw_changed(&self, old: &Config, new: &Config) {
        let Some(offload) = &self.options.offload else {
            return;
        };
        let listener_changed = |name: &str| {
            let now = new.listeners.iter().find(|l| l.name == name);
            self.listeners
                .get(name)
                .is_none_or(|r| now.is_none_or(|l| *r.ctx.config() != *l))
        };
        let cluster_changed = |name: &str| old.clusters.get(name) != new.clusters.get(name);
        let withdrawn = offload
            .withdraw(|listener, cluster| listener_changed(listener) || cluster_changed(cluster));
        if withdrawn > 0 {
            tracing::info!(
                flows = withdrawn,
                "reload: offloaded sessions of changed listeners or clusters back in user space"
            );
        }
    }

    fn serve(&self, config: ListenerConfig, sockets: Vec<listener::Bound>) -> Running {
        tracing::info!(
            listener = %config.name,
            protocol = config.spec.protocol(),
            address = %config.identity(),
            "listening"
        );
        let ctx = ListenerCtx::new(config, self.routing.clone(), self.options.offload.clone());
        let tasks = sockets
            .into_iter()
            .zip(self.workers.iter().cycle())
            .map(|(socket, worker)| worker.spawn(socket.serve(ctx.clone())))
            .collect();
        Running { ctx, tasks }
    }

    /// The running listener called `name`, for its counters.
    pub fn listener(&self, name: &str) -> Option<&Arc<ListenerCtx>> {
        self.listeners.get(name).map(|r| &r.ctx)
    }

    /// The proxy's read-only view.
    pub fn view(&self) -> Arc<View> {
        self.view.clone()
    }

    /// The running cluster called `name`, for its counters.
    pub fn cluster(&self, name: &str) -> Option<Arc<Cluster>> {
        self.routing.load().cluster(name).cloned()
    }

    /// Stops every listener taking sessions at once (their sockets close, so new connections
    /// are refused) and gives the live sessions `timeout` to end by themselves before the rest
    /// are closed: the process's graceful stop, with the drain a reload gives a removed
    /// listener.
    pub async fn drain(self, timeout: Duration) {
        let retiring = self
            .listeners
            .into_values()
            .map(|r| retire_listener(r, timeout));
        futures_util::future::join_all(retiring).await;
    }

    /// Stops every listener and ends every session.
    pub async fn stop(self) {
        self.drain(Duration::ZERO).await;
    }
}

/// Whether `new` can keep the socket that serves `old`: same protocol, mode and address.
fn same_socket(old: &ListenerConfig, new: &ListenerConfig) -> bool {
    old.identity() == new.identity()
        && std::mem::discriminant(&old.spec) == std::mem::discriminant(&new.spec)
        && socket_mode(&old.socket) == socket_mode(&new.socket)
}

/// What else, beyond the address, a listener's socket is made with: a singleton's peer (its
/// socket is connected to it) and a Unix socket's type. A server's `connect` filter is read
/// per new peer, so a reload changes it in place.
fn socket_mode(socket: &ListenerSocket) -> (Option<SocketAddr>, Option<UnixMode>) {
    match socket {
        ListenerSocket::Udp {
            peers: UdpPeers::Singleton(peer),
            ..
        } => (Some(*peer), None),
        ListenerSocket::Unix { mode, .. } => (None, Some(*mode)),
        ListenerSocket::Udp { .. }
        | ListenerSocket::Tcp { .. }
        | ListenerSocket::WebSocket { .. } => (None, None),
    }
}

fn cluster_changes(old: &Config, new: &Config) -> ReloadSummary {
    let mut s = ReloadSummary::default();
    for (name, c) in &new.clusters {
        match old.clusters.get(name) {
            None => s.clusters_added += 1,
            Some(o) if o != c => s.clusters_changed += 1,
            Some(_) => {}
        }
    }
    s.clusters_removed = old
        .clusters
        .keys()
        .filter(|n| !new.clusters.contains_key(*n))
        .count();
    s
}

/// Stops a listener taking sessions, gives its sessions `drain` to end by themselves, then
/// ends the rest and waits for its tasks.
async fn retire_listener(r: Running, drain: Duration) {
    r.ctx.accepting.cancel();
    let deadline = tokio::time::Instant::now() + drain;
    while r.ctx.stats.sessions_active.get() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = r.ctx.stats.sessions_active.get();
    if left > 0 {
        tracing::info!(listener = %r.ctx.name, sessions = left, "closing sessions left after the drain");
    }
    r.ctx.cancel.cancel();
    for t in r.tasks {
        let _ = t.await;
    }
}
