//! The read-only admin endpoint: health, readiness, metrics and status over plain HTTP/1.1.
//!
//! | path | answer |
//! | --- | --- |
//! | `/healthz` | 200 `ok` while the process serves |
//! | `/readyz` | 200 once a valid config serves (generation > 0), 503 before; a failed reload later does not change it (the old config keeps serving) |
//! | `/metrics` | Prometheus text ([`metrics`]) |
//! | `/config` | JSON: generation, sha256, last error and text of the config in force |
//! | `/sessions` | JSON: the running sessions with their hops |
//!
//! Nothing here changes anything: methods other than GET and HEAD get 405, unknown paths 404.
//! The server is started before the first config is applied, so health is observable while
//! `--wait-for-config` waits. It is hand-written ([`http`]) rather than a web framework: one
//! request per connection, bounded in size and time, never a panic on what a client sends.

pub mod http;
pub mod metrics;
pub mod status;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::proxy::View;
use crate::reload::ReloadStatus;
use http::{Request, Response};

/// Connections served at once; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 64;

/// What the admin endpoint reads.
pub struct Admin {
    status: Arc<ReloadStatus>,
    view: Arc<View>,
    registry: Registry,
}

impl Admin {
    /// An endpoint reporting on `status` and `view`.
    pub fn new(status: Arc<ReloadStatus>, view: Arc<View>) -> Arc<Self> {
        Arc::new(Self {
            registry: metrics::registry(status.clone(), view.clone()),
            status,
            view,
        })
    }

    /// The answer to `request`.
    pub fn respond(&self, request: &Request) -> Response {
        if request.method != "GET" && request.method != "HEAD" {
            let mut r =
                Response::text(405, "method not allowed: the admin endpoint is read-only\n");
            r.headers.push("Allow: GET, HEAD".into());
            return r;
        }
        match request.path.as_str() {
            "/healthz" => Response::text(200, "ok\n"),
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

    /// Serves connections from `listener` until `shutdown` completes.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p,
                () = &mut shutdown => return,
            };
            let Ok(permit) = permit else { return };
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = &mut shutdown => return,
            };
            match accepted {
                Ok((conn, peer)) => {
                    let admin = self.clone();
                    tokio::spawn(async move {
                        admin.connection(conn, peer).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn connection(&self, mut conn: TcpStream, peer: SocketAddr) {
        let (response, head_only) = match http::read_request(&mut conn).await {
            Ok(request) => (self.respond(&request), request.method == "HEAD"),
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
