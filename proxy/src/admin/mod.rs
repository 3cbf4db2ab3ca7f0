//! The read-only admin endpoint: health, readiness, metrics and status over plain HTTP/1.1.
//!
//! | path | answer |
//! | --- | --- |
//! | `/healthz` | 200 `ok` while the process serves |
//! | `/readyz` | 200 once a valid config serves (generation > 0), 503 before and while the process stops; a failed reload does not change it (the old config keeps serving) |
//! | `/metrics` | Prometheus text ([`metrics`]) |
//! | `/config` | JSON: generation, sha256, last error and text of the config in force |
//! | `/sessions` | JSON: the running sessions with their hops |
//!
//! One [`Admin`] serves two addresses ([`Scope`]): the local admin address gets every path,
//! the metrics address, which kubelet probes and Prometheus reach from outside the pod, only
//! health, readiness and metrics (the config's text and the sessions' peers stay local).
//!
//! Nothing here changes anything: methods other than GET and HEAD get 405, unknown paths 404.
//! The server is started before the first config is applied, so health is observable while
//! `--wait-for-config` waits. It is hand-written ([`http`]) rather than a web framework: one
//! request per connection, bounded in size and time, never a panic on what a client sends, and
//! idle clients cannot lock probes out ([`budget`]).

pub mod budget;
mod family;
pub mod http;
pub mod metrics;
mod offload_metrics;
pub mod process;
pub mod status;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};

use crate::proxy::View;
use crate::reload::ReloadStatus;
use budget::Budget;
use http::{Request, Response};

/// Connections served at once per address; a new one beyond it closes the oldest.
pub const MAX_CONNECTIONS: usize = 64;

/// Which paths an address serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every path: the local admin address (`--admin-address`).
    Admin,
    /// `/healthz`, `/readyz` and `/metrics` only: the address reachable from outside the pod
    /// (`--metrics-address`).
    Metrics,
}

impl Scope {
    /// `admin` or `metrics`, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Metrics => "metrics",
        }
    }

    fn serves(self, path: &str) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Metrics => matches!(path, "/healthz" | "/readyz" | "/metrics"),
        }
    }
}

/// What the admin endpoint reads.
pub struct Admin {
    status: Arc<ReloadStatus>,
    view: Arc<View>,
    registry: Registry,
    stopping: AtomicBool,
}

impl Admin {
    /// An endpoint reporting on `status` and `view`.
    pub fn new(status: Arc<ReloadStatus>, view: Arc<View>) -> Arc<Self> {
        Arc::new(Self {
            registry: metrics::registry(status.clone(), view.clone()),
            status,
            view,
            stopping: AtomicBool::new(false),
        })
    }

    /// Marks the process as stopping: `/readyz` answers 503 from now on, so that no new
    /// traffic is sent while the live sessions drain.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// The answer to `request` on an address of `scope`.
    pub fn respond(&self, request: &Request, scope: Scope) -> Response {
        if request.method != "GET" && request.method != "HEAD" {
            let mut r =
                Response::text(405, "method not allowed: the admin endpoint is read-only\n");
            r.headers.push("Allow: GET, HEAD".into());
            return r;
        }
        if !scope.serves(&request.path) {
            return Response::text(404, "not found\n");
        }
        match request.path.as_str() {
            "/healthz" => Response::text(200, "ok\n"),
            "/readyz" if self.stopping.load(Ordering::Relaxed) => {
                Response::text(503, "not ready: stopping, live sessions are draining\n")
            }
            "/readyz" if self.status.generation() > 0 => Response::text(200, "ready\n"),
            "/readyz" => Response::text(503, "not ready: no valid config applied yet\n"),
            "/metrics" => Response {
                content_type: metrics::CONTENT_TYPE,
                ..Response::text(200, metrics::render(&self.registry))
            },
            "/config" => Response::json(&status::config(&self.status)),
            "/sessions" => Response::json(&status::sessions(&self.view)),
            _ => Response::text(404, "not found\n"),
        }
    }

    /// Serves the paths of `scope` on `listener` until `shutdown` completes. Every connection
    /// is accepted at once; beyond [`MAX_CONNECTIONS`] the oldest is closed ([`budget`]).
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        scope: Scope,
        shutdown: impl Future<Output = ()>,
    ) {
        let budget = Budget::new(MAX_CONNECTIONS);
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = &mut shutdown => return,
            };
            match accepted {
                Ok((conn, peer)) => {
                    let admin = self.clone();
                    let slot = budget.admit();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = admin.connection(conn, peer, scope) => {}
                            () = slot.closed.cancelled() => {
                                tracing::debug!(%peer, "admin connection closed to make room");
                            }
                        }
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn connection(&self, mut conn: TcpStream, peer: SocketAddr, scope: Scope) {
        let (response, head_only) = match http::read_request(&mut conn).await {
            Ok(request) => (self.respond(&request, scope), request.method == "HEAD"),
            Err(bad) => match Response::for_bad_request(&bad) {
                Some(r) => (r, false),
                None => return,
            },
        };
        if let Err(e) = http::finish(&mut conn, &response, head_only).await {
            tracing::debug!(%peer, error = %e, "admin response not sent");
        }
    }
}
