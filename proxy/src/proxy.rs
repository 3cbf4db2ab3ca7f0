//! Starting and stopping a whole config: clusters first, then every listener bound, and only
//! then served, so a failure leaves nothing half-running.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use l7mp_config::Config;
use tokio::task::JoinHandle;

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

/// A running proxy.
pub struct Proxy {
    listeners: Vec<(Arc<ListenerCtx>, JoinHandle<()>)>,
}

impl Proxy {
    /// Starts every cluster and listener of `config`.
    pub async fn start(config: Config, options: &Options) -> Result<Proxy, StartError> {
        let listeners = config.listeners.clone();
        let routing = Arc::new(RoutingHandle::new(
            Routing::build(config).await.map_err(StartError::Cluster)?,
        ));
        let mut bound = Vec::with_capacity(listeners.len());
        for l in listeners {
            let socket =
                listener::bind(&l, options.bind_address).map_err(|error| StartError::Bind {
                    listener: l.name.clone(),
                    error,
                })?;
            bound.push((ListenerCtx::new(l, routing.clone()), socket));
        }
        let listeners = bound
            .into_iter()
            .map(|(ctx, socket)| {
                tracing::info!(listener = %ctx.config.name, spec = ?ctx.config.spec, "listening");
                let task = tokio::spawn(socket.serve(ctx.clone()));
                (ctx, task)
            })
            .collect();
        Ok(Proxy { listeners })
    }

    /// The running listener called `name`, for its counters.
    pub fn listener(&self, name: &str) -> Option<&Arc<ListenerCtx>> {
        self.listeners
            .iter()
            .map(|(ctx, _)| ctx)
            .find(|ctx| ctx.config.name == name)
    }

    /// Stops every listener and ends every session.
    pub async fn stop(self) {
        for (ctx, _) in &self.listeners {
            ctx.cancel.cancel();
        }
        for (_, task) in self.listeners {
            let _ = task.await;
        }
    }
}
