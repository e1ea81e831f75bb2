//! `/metrics`, `/livez` and `/readyz`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::context::Context;

/// What `/readyz` and `/metrics` report. A replica is ready once it has
/// reached the API server, leader or not: readiness is not leadership (a
/// standby that waits for the Lease is healthy, and a rolling update of two
/// replicas must be able to complete).
#[derive(Default)]
pub struct Readiness {
    api_server_reached: AtomicBool,
    controller: OnceLock<Arc<Context>>,
}

impl Readiness {
    /// The API server answered this replica.
    pub fn api_server_reached(&self) {
        self.api_server_reached.store(true, Ordering::Relaxed);
    }

    /// This replica leads and its controller runs.
    pub fn controller_runs(&self, ctx: Arc<Context>) {
        let _ = self.controller.set(ctx);
    }

    fn ready(&self) -> bool {
        self.api_server_reached.load(Ordering::Relaxed) || self.controller.get().is_some()
    }
}

async fn metrics(State(ready): State<Arc<Readiness>>) -> (StatusCode, String) {
    match ready.controller.get() {
        Some(ctx) => (StatusCode::OK, ctx.metrics.encode()),
        None => (StatusCode::OK, String::new()),
    }
}

async fn readyz(State(ready): State<Arc<Readiness>>) -> StatusCode {
    if ready.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    ready: Arc<Readiness>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(ready);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
