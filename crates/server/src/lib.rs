//! Slipway's HTTP server: one axum router per area, merged here.
//!
//! Today: `GET /healthz`. The REST API (`/api`), the upgrade platform (`/database/v1`), Git smart
//! HTTP (`/git`) and the web UI join as routers of their own.

mod health;

use std::future::Future;

use axum::Router;
use slipway_platform::Metadata;
use tokio::net::TcpListener;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The metadata database.
    pub metadata: Metadata,
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new().merge(health::router()).with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
