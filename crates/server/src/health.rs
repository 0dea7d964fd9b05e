//! `GET /healthz`: is the server up, and can it reach its PostgreSQL?

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    postgres: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `{"status":"ok","postgres":"15.18"}`, or 503 with the reason when PostgreSQL is unreachable,
/// so a load balancer takes the node out.
async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    match state.metadata.server_version().await {
        Ok(version) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                postgres: Some(version),
                error: None,
            }),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "error",
                postgres: None,
                error: Some(e.to_string()),
            }),
        ),
    }
}
