//! Listeners: bound sockets that turn what arrives into sessions, one file per protocol.
//!
//! Every listener is bound before any is served, so a port that is taken fails the start (or,
//! later, a reload) before anything changes. Each session gets the listener's current routing,
//! a slot under the listener's session limit, and the listener's stop signal.

mod claim;
pub mod sessions;
mod tcp;
mod udp;
mod unix;
mod websocket;

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use arc_swap::ArcSwap;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use l7mp_config::config::ListenerConfig;
use l7mp_config::model::{ListenerSpec, UdpMode, UnixMode};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::fds;
use crate::jsonsocket;
use crate::offload::Offload;
use crate::routing::RoutingHandle;
use crate::session::{self, Greeting, Source};
use crate::stage::Stage;
use crate::stats::ListenerStats;
use crate::throttle::{Scope, Throttle};
use sessions::{SessionInfo, SessionRegistry};

/// Milliseconds a JSONSocket client has to send its header when the listener sets no
/// `header_timeout`.
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 5000;

/// What a listener's sessions share.
pub struct ListenerCtx {
    /// The listener's name (fixed: a renamed listener is a different listener).
    pub name: String,
    /// Counters.
    pub stats: ListenerStats,
    /// The sessions running now.
    pub sessions: SessionRegistry,
    /// The routing in force.
    pub routing: Arc<RoutingHandle>,
    /// Fires when the listener stops taking new sessions (it is being removed or restarted).
    pub accepting: CancellationToken,
    /// Fires when the listener's sessions must end.
    pub cancel: CancellationToken,
    /// Rate limit for the warnings its sessions and accepts log.
    pub warnings: Throttle,
    /// Where one-hop UDP sessions hand their flows to the kernel, when offload is on.
    pub offload: Option<Arc<Offload>>,
    settings: ArcSwap<ListenerConfig>,
    slots: Arc<Semaphore>,
    max_sessions: AtomicU32,
}

impl ListenerCtx {
    /// A context for `config` under `routing`, offloading UDP sessions to `offload`.
    pub fn new(
        config: ListenerConfig,
        routing: Arc<RoutingHandle>,
        offload: Option<Arc<Offload>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            name: config.name.clone(),
            stats: ListenerStats::default(),
            sessions: SessionRegistry::default(),
            routing,
            accepting: CancellationToken::new(),
            cancel: CancellationToken::new(),
            warnings: Throttle::new(Scope::Listener, &config.name),
            offload,
            slots: Arc::new(Semaphore::new(config.max_sessions as usize)),
            max_sessions: AtomicU32::new(config.max_sessions),
            settings: ArcSwap::from_pointee(config),
        })
    }

    /// The settings in force; a session takes them once, when it starts.
    pub fn config(&self) -> Arc<ListenerConfig> {
        self.settings.load_full()
    }

    /// Changes the settings of a running listener (same socket): its rule list, timeouts and
    /// session limit apply to sessions that start from now on.
    pub fn update(&self, config: ListenerConfig) {
        let new_max = config.max_sessions;
        let old_max = self.max_sessions.swap(new_max, Ordering::Relaxed);
        self.settings.store(Arc::new(config));
        if new_max > old_max {
            self.slots.add_permits((new_max - old_max) as usize);
        } else if new_max < old_max {
            let excess = (old_max - new_max) as usize;
            let forgotten = self.slots.forget_permits(excess);
            if forgotten < excess {
                // Sessions hold the rest; retire their slots as they end.
                let slots = self.slots.clone();
                let rest = u32::try_from(excess - forgotten).unwrap_or(u32::MAX);
                tokio::spawn(async move {
                    if let Ok(p) = slots.acquire_many_owned(rest).await {
                        p.forget();
                    }
                });
            }
        }
    }

    /// A slot for one more session, or `None` (counted as refused) at the limit.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        let permit = self.slots.clone().try_acquire_owned().ok();
        if permit.is_none() {
            self.stats.sessions_refused.inc();
            tracing::debug!(listener = %self.name, "session limit reached, refused");
        }
        permit
    }

    /// A slot for a session on the connection `fd` (see [`ListenerCtx::admit`]); `None`,
    /// counted as refused, as well when the process holds all the descriptors sessions may
    /// use (see [`fds`]), so that the caller closes it at once.
    pub fn admit_connection(&self, fd: BorrowedFd<'_>) -> Option<OwnedSemaphorePermit> {
        if let Err(e) = fds::check(fd) {
            self.stats.sessions_refused.inc();
            if self.warnings.admit() {
                tracing::warn!(listener = %self.name, "connection refused: {e}");
            }
            return None;
        }
        self.admit()
    }

    /// Runs a session on its own task; `on_end` runs when it is over. On a JSONSocket
    /// listener the session first reads the client's header (see [`jsonsocket::server`]); a
    /// refused header is counted as a session error and logged.
    pub fn spawn_session(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        source: Stage,
        mut metadata: Value,
        name: String,
        on_end: impl FnOnce() + Send + 'static,
    ) {
        let header_timeout = match &self.config().spec {
            ListenerSpec::JsonSocket { header_timeout, .. } => Some(Duration::from_millis(
                header_timeout.unwrap_or(DEFAULT_HEADER_TIMEOUT_MS),
            )),
            _ => None,
        };
        let name = match header_timeout {
            Some(_) => format!("JSONSocket:{name}"),
            None => name,
        };
        let info = Arc::new(SessionInfo::new(name));
        let live = Live {
            id: self.sessions.insert(info.clone()),
            ctx: self.clone(),
            started: Instant::now(),
            _permit: permit,
        };
        self.stats.sessions_total.inc();
        self.stats.sessions_active.inc();
        tokio::spawn(async move {
            let source = match header_timeout {
                None => Some(Source::plain(source)),
                Some(timeout) => {
                    let accept =
                        accept_header(&live.ctx, source, &mut metadata, timeout, &info.name);
                    Box::pin(accept).await
                }
            };
            if let Some(source) = source {
                session::run(&live.ctx, source, metadata, info).await;
            }
            drop(live);
            on_end();
        });
    }
}

/// Reads a JSONSocket client's header into `metadata` (see [`jsonsocket::server::accept`]);
/// `None`, counted as a session error and logged, when the header is refused, and `None` as
/// well when the listener stops first.
async fn accept_header(
    ctx: &ListenerCtx,
    source: Stage,
    metadata: &mut Value,
    timeout: Duration,
    session: &str,
) -> Option<Source> {
    let accepted = tokio::select! {
        r = jsonsocket::server::accept(source, metadata, timeout) => r,
        () = ctx.cancel.cancelled() => return None,
    };
    match accepted {
        Ok(a) => Some(Source {
            stage: a.stage,
            pending: a.pending,
            greeting: Greeting::JsonSocket,
        }),
        Err(e) => {
            ctx.stats.session_errors.inc();
            tracing::info!(session, listener = %ctx.name, "JSONSocket: {e}");
            None
        }
    }
}

/// A running session's place in its listener: counted as active, listed in the registry and
/// holding a slot under the session limit until dropped, however the session's task ends.
struct Live {
    ctx: Arc<ListenerCtx>,
    id: u64,
    started: Instant,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.ctx.sessions.remove(self.id, self.ctx.config().track);
        self.ctx.stats.sessions_active.dec();
        self.ctx
            .stats
            .session_duration
            .observe(self.started.elapsed());
    }
}

/// A bound listener socket, ready to serve on one worker. Sockets are bound as plain OS
/// sockets and registered with the async runtime only by `serve`, on the worker that drives
/// them. An IP socket holds its claim on the port for as long as it is open.
pub struct Bound {
    socket: Open,
    claim: Option<claim::Claim>,
}

/// The open socket of a [`Bound`], by protocol.
enum Open {
    /// UDP, one session per peer.
    UdpServer(udp::Server),
    /// UDP, one session with a fixed peer.
    UdpSingleton(udp::Singleton),
    /// TCP.
    Tcp(std::net::TcpListener),
    /// WebSocket over TCP.
    WebSocket(std::net::TcpListener),
    /// Unix stream socket.
    Unix(unix::StreamListener),
    /// Unix seqpacket socket.
    Seqpacket(unix::SeqpacketListener),
}

impl Bound {
    fn ip(socket: Open, claim: claim::Claim) -> Self {
        Self {
            socket,
            claim: Some(claim),
        }
    }

    fn unix(socket: Open) -> Self {
        Self {
            socket,
            claim: None,
        }
    }
}

/// Binds the sockets of `config`: one per worker for UDP server mode, TCP and WebSocket (the
/// kernel spreads peers over them with SO_REUSEPORT, and always sends one UDP peer to the same
/// socket), a single one otherwise. `default_ip` replaces the wildcard address for listeners
/// that name no address of their own (`--bind-address`). A port or socket that another
/// process holds is an error; one that this process's listeners hold is shared (see
/// the `claim` module).
pub fn bind(
    config: &ListenerConfig,
    default_ip: Option<IpAddr>,
    workers: usize,
) -> io::Result<Vec<Bound>> {
    bind_spec(&config.spec, default_ip, workers)
}

/// Binds the sockets of `spec`; a JSONSocket listener binds its transport's, exactly as that
/// listener would (its sessions read the header first, see [`ListenerCtx::spawn_session`]).
fn bind_spec(
    spec: &ListenerSpec,
    default_ip: Option<IpAddr>,
    workers: usize,
) -> io::Result<Vec<Bound>> {
    let ip = |address: &Option<String>| -> io::Result<IpAddr> {
        match address {
            Some(a) => a
                .parse()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e)),
            None => Ok(default_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))),
        }
    };
    let workers = workers.max(1);
    match spec {
        ListenerSpec::Udp {
            port,
            address,
            connect,
            options,
        } => {
            let local = SocketAddr::new(ip(address)?, *port);
            match UdpMode::of(connect.as_ref(), options.as_ref()) {
                UdpMode::Singleton => {
                    let connect = connect.clone().unwrap_or_default();
                    let (s, claim) = udp::Singleton::bind(local, &connect)?;
                    Ok(vec![Bound::ip(Open::UdpSingleton(s), claim)])
                }
                UdpMode::Server => Ok(udp::Server::bind(local, workers)?
                    .into_iter()
                    .map(|(s, claim)| Bound::ip(Open::UdpServer(s), claim))
                    .collect()),
            }
        }
        ListenerSpec::Tcp { port, address } => {
            let local = SocketAddr::new(ip(address)?, *port);
            Ok(tcp::bind(local, workers)?
                .into_iter()
                .map(|(l, claim)| Bound::ip(Open::Tcp(l), claim))
                .collect())
        }
        ListenerSpec::WebSocket { port, address, .. } => {
            let local = SocketAddr::new(ip(address)?, *port);
            Ok(tcp::bind(local, workers)?
                .into_iter()
                .map(|(l, claim)| Bound::ip(Open::WebSocket(l), claim))
                .collect())
        }
        ListenerSpec::UnixDomainSocket { filename, mode } => {
            Ok(vec![Bound::unix(match mode.unwrap_or_default() {
                UnixMode::Stream => Open::Unix(unix::StreamListener::bind(filename)?),
                UnixMode::Seqpacket => Open::Seqpacket(unix::SeqpacketListener::bind(filename)?),
            })])
        }
        ListenerSpec::JsonSocket { transport, .. } => match **transport {
            ListenerSpec::JsonSocket { .. } => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "JSONSocket cannot run over JSONSocket",
            )),
            ref t => bind_spec(t, default_ip, workers),
        },
    }
}

impl Bound {
    /// Serves sessions on the current worker until `ctx.cancel` fires; the port stays claimed
    /// until then.
    pub async fn serve(self, ctx: Arc<ListenerCtx>) {
        let Bound { socket, claim } = self;
        let result = match socket {
            Open::UdpServer(s) => s.serve(ctx.clone()).await,
            Open::UdpSingleton(s) => s.serve(ctx.clone()).await,
            Open::Tcp(l) => tcp::serve(l, ctx.clone()).await,
            Open::WebSocket(l) => websocket::serve(l, ctx.clone()).await,
            Open::Unix(l) => l.serve(ctx.clone()).await,
            Open::Seqpacket(l) => l.serve(ctx.clone()).await,
        };
        drop(claim);
        if let Err(e) = result {
            tracing::error!(listener = %ctx.name, error = %e, "listener stopped");
        }
    }
}

/// The spec of the socket a listener serves: a JSONSocket listener's transport, else the spec
/// itself. Transport listeners read their options (UDP `connect`, WebSocket `path`) from it.
pub fn transport(spec: &ListenerSpec) -> &ListenerSpec {
    match spec {
        ListenerSpec::JsonSocket { transport, .. } => transport,
        other => other,
    }
}

/// Session metadata for an IP peer: `/IP/src_addr`, `/IP/dst_addr` and the transport's ports
/// under `/<transport>/src_port` and `/dst_port`. IPv4-mapped IPv6 addresses are shown as IPv4.
pub fn ip_metadata(transport: &str, peer: SocketAddr, local: SocketAddr) -> Value {
    let plain = |ip: IpAddr| ip.to_canonical().to_string();
    serde_json::json!({
        "IP": {"src_addr": plain(peer.ip()), "dst_addr": plain(local.ip())},
        transport: {"src_port": peer.port(), "dst_port": local.port()},
    })
}

/// Runs an accept loop until the listener stops taking sessions: `poll_accept` yields the next
/// connection and `start` turns it, with its sequence number, into a session. Transient accept
/// errors (out of file descriptors, a connection reset before accept) are logged and retried
/// after a pause instead of spinning.
pub async fn accept_loop<C>(
    ctx: &ListenerCtx,
    mut poll_accept: impl FnMut(&mut Context<'_>) -> Poll<io::Result<C>>,
    mut start: impl FnMut(C, u64),
) -> io::Result<()> {
    let mut id = 0u64;
    let stop = ctx.accepting.cancelled();
    tokio::pin!(stop);
    loop {
        let next = tokio::select! {
            r = poll_fn(&mut poll_accept) => r,
            () = &mut stop => return Ok(()),
        };
        match next {
            Ok(conn) => {
                start(conn, id);
                id += 1;
            }
            Err(e) => {
                if ctx.warnings.admit() {
                    tracing::warn!(listener = %ctx.name, error = %e, "accept failed");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
