//! `/api`: Slipway's REST API (JSON, bearer tokens). Everything the CLI and the web UI do
//! goes through it.
//!
//! Errors have one shape: `{"error": {"code": "not_found", "message": "..."}}` with the
//! matching HTTP status (400 invalid, 401 unauthenticated, 403 forbidden, 404 not found,
//! 409 conflict, 500 internal).
//!
//! - `GET /api/me`; `GET|POST /api/users` (Slipway admins)
//! - `GET|POST /api/runtimes` (Odoo source trees per series; POST for admins)
//! - `GET|POST /api/projects`, `GET /api/projects/{p}`
//! - `GET /api/projects/{p}/branches`, `GET|PATCH /api/projects/{p}/branches/{b}`,
//!   `GET .../history`, `POST .../rebuild`, `POST .../merge` (`{"into": "<branch>"}`)
//! - `GET /api/projects/{p}/builds`, `GET /api/builds/{id}`, `POST /api/builds/{id}/stop`,
//!   `POST /api/builds/{id}/keep`, `GET /api/builds/{id}/logs`,
//!   `GET /api/builds/{id}/logs/{name}` (`Range`; `?follow=1`: Server-Sent Events, ending by
//!   themselves after 5 minutes)
//! - `GET|POST /api/projects/{p}/branches/{b}/backups` (list; a manual backup),
//!   `POST /api/backups/{id}/verify`, `GET /api/backups/{id}/download?format=zip|sql-gz
//!   &filestore=&neutralized=`, `POST /api/backups/{id}/restore` (`{"branch": ...}`),
//!   `POST /api/projects/{p}/branches/{b}/import?neutralize=` (the dump as the raw body;
//!   400 when it is not an Odoo dump, 413 beyond the upload limit)
//! - `GET /api/builds/{id}/mails`, `.../mails/{seq}`, `.../mails/{seq}.eml`,
//!   `.../mails/{seq}/html`: the mails a development or staging build sent, caught
//!   ([`crate::mails`], behind the same authentication and build access check)

mod auth;
mod backups;
mod builds;
mod projects;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use slipway_platform::{ErrorKind, PlatformError};

use crate::AppState;
pub(crate) use auth::{authenticate_token, token_from as token_from_parts, ApiUser};
pub(crate) use builds::build_for;

/// An API error: a status, a stable code and a sentence for the user.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> Self {
        match e.kind() {
            ErrorKind::Invalid => Self::invalid(e.to_string()),
            ErrorKind::Conflict => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            ErrorKind::NotFound => Self::not_found(e.to_string()),
            ErrorKind::Internal => {
                tracing::error!("internal error: {e}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the server log says more",
                )
            }
        }
    }
}

/// What handlers return.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/me", get(projects::me))
        .route(
            "/api/users",
            get(projects::list_users).post(projects::create_user),
        )
        .route(
            "/api/runtimes",
            get(projects::list_runtimes).post(projects::add_runtime),
        )
        .route(
            "/api/projects",
            get(projects::list_projects).post(projects::create_project),
        )
        .route(
            "/api/projects/{project}",
            get(projects::get_project).patch(projects::update_project),
        )
        .route(
            "/api/projects/{project}/branches",
            get(projects::list_branches),
        )
        .route(
            "/api/projects/{project}/branches/{branch}",
            get(projects::get_branch).patch(projects::update_branch),
        )
        .route(
            "/api/projects/{project}/branches/{branch}/history",
            get(projects::branch_history),
        )
        .route(
            "/api/projects/{project}/branches/{branch}/rebuild",
            post(projects::rebuild_branch),
        )
        .route(
            "/api/projects/{project}/branches/{branch}/merge",
            post(projects::merge_branch),
        )
        .route(
            "/api/projects/{project}/branches/{branch}/backups",
            get(backups::list).post(backups::create),
        )
        .route(
            "/api/projects/{project}/branches/{branch}/import",
            post(backups::import),
        )
        .route("/api/backups/{id}/verify", post(backups::verify))
        .route("/api/backups/{id}/download", get(backups::download))
        .route("/api/backups/{id}/restore", post(backups::restore))
        .route("/api/projects/{project}/builds", get(builds::list_builds))
        .route("/api/builds/{id}", get(builds::get_build))
        .route("/api/builds/{id}/stop", post(builds::stop_build))
        .route("/api/builds/{id}/keep", post(builds::keep_build))
        .route("/api/builds/{id}/logs", get(builds::list_logs))
        .route("/api/builds/{id}/logs/{name}", get(builds::log))
        .merge(
            crate::mails::router().route_layer(axum::middleware::from_fn_with_state(
                state,
                builds::require_build_reader,
            )),
        )
}
