//! `/metrics`, `/livez` and `/readyz`.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::context::Context;

/// Set once the controller runs; `/readyz` answers 200 from then on.
pub type Readiness = Arc<OnceLock<Arc<Context>>>;

async fn metrics(State(ready): State<Readiness>) -> (StatusCode, String) {
    match ready.get() {
        Some(ctx) => (StatusCode::OK, ctx.metrics.encode()),
        None => (StatusCode::OK, String::new()),
    }
}

async fn readyz(State(ready): State<Readiness>) -> StatusCode {
    if ready.get().is_some() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    ready: Readiness,
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
