//! Starting and stopping a whole config: clusters first, then every listener bound, and only
//! then served, so a failure leaves nothing half-running.
//!
//! Sessions run on [`Workers`]: one single-threaded runtime per core. A listener has a socket
//! per worker where the protocol allows (SO_REUSEPORT), so a session's socket events and its
//! task stay on one thread and no wakeup crosses cores, as with nginx's worker processes.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use l7mp_config::Config;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::listener::{self, ListenerCtx};
use crate::routing::{Routing, RoutingHandle};

/// Process-level options from the command line.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Address for listeners that name none (instead of the wildcard).
    pub bind_address: Option<IpAddr>,
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

/// A running proxy.
pub struct Proxy {
    listeners: Vec<(Arc<ListenerCtx>, Vec<JoinHandle<()>>)>,
    routing: Arc<RoutingHandle>,
}

impl Proxy {
    /// Starts every cluster and listener of `config` on `workers`.
    pub async fn start(
        config: Config,
        options: &Options,
        workers: &Workers,
    ) -> Result<Proxy, StartError> {
        let listeners = config.listeners.clone();
        let routing = Arc::new(RoutingHandle::new(
            Routing::build(config).await.map_err(StartError::Cluster)?,
        ));
        let count = workers.handles.len();
        let mut bound = Vec::with_capacity(listeners.len());
        for l in listeners {
            let sockets = listener::bind(&l, options.bind_address, count).map_err(|error| {
                StartError::Bind {
                    listener: l.name.clone(),
                    error,
                }
            })?;
            bound.push((ListenerCtx::new(l, routing.clone()), sockets));
        }
        let listeners = bound
            .into_iter()
            .map(|(ctx, sockets)| {
                tracing::info!(listener = %ctx.config.name, spec = ?ctx.config.spec, "listening");
                let tasks = sockets
                    .into_iter()
                    .zip(workers.handles.iter().cycle())
                    .map(|(socket, worker)| worker.spawn(socket.serve(ctx.clone())))
                    .collect();
                (ctx, tasks)
            })
            .collect();
        Ok(Proxy { listeners, routing })
    }

    /// The running listener called `name`, for its counters.
    pub fn listener(&self, name: &str) -> Option<&Arc<ListenerCtx>> {
        self.listeners
            .iter()
            .map(|(ctx, _)| ctx)
            .find(|ctx| ctx.config.name == name)
    }

    /// The running cluster called `name`, for its counters.
    pub fn cluster(&self, name: &str) -> Option<Arc<Cluster>> {
        self.routing.load().cluster(name).cloned()
    }

    /// Stops every listener and ends every session.
    pub async fn stop(self) {
        for (ctx, _) in &self.listeners {
            ctx.cancel.cancel();
        }
        for (_, tasks) in self.listeners {
            for task in tasks {
                let _ = task.await;
            }
        }
    }
}
