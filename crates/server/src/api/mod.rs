//! `/api`: Slipway's REST API (JSON, bearer tokens). Everything the CLI and the web UI do
//! goes through it.
//!
//! Callers authenticate with `Authorization: Bearer <token>`, or with the web UI's session
//! cookie (`POST /api/session`); a cookie session's POST/PUT/PATCH/DELETE requests must carry
//! `X-Slipway-CSRF: <the session's csrf>`, else 403. Every project route applies Odoo.sh's
//! rights ([`slipway_platform::projects::allowed`]) to the stage of the branch or build.
//!
//! Errors have one shape ([`slipway_api::ErrorBody`]): `{"error": {"code": "not_found",
//! "message": "..."}}` with the matching HTTP status (400 invalid, 401 unauthenticated, 403
//! forbidden, 404 not found, 409 conflict, 500 internal). Handlers take their bodies through
//! [`ApiJson`], so a body that is not the JSON a route takes gets that shape too.
//!
//! - `POST /api/session` (`{"token"}` or `{"login", "password"}` -> cookie, `{"user",
//!   "csrf"}`), `GET /api/session`, `DELETE /api/session` (sign out); `PUT
//!   /api/users/{login}/password` (`{"password"}`: admins, or the user themselves)
//! - `GET /api/me`; `GET|POST /api/me/tokens`, `DELETE /api/me/tokens/{id}` (the caller's API
//!   tokens: label, expiry, last use; revoking is immediate); `GET|POST /api/me/keys`,
//!   `DELETE /api/me/keys/{id}` (the caller's SSH public keys); `GET|POST /api/users` (Slipway
//!   admins)
//! - `GET|POST /api/runtimes` (Odoo source trees per series; POST for admins)
//! - `GET|POST /api/upgrade/engines`, `DELETE /api/upgrade/engines/{series}` (upgrade engines,
//!   ready or why not; admins only)
//! - `GET|POST /api/projects`, `GET /api/projects/{p}`; `GET
//!   /api/projects/{p}/production/admin-password` (`{"login", "password"}` of production's
//!   Odoo administrator, which is never `admin`: project admins only, each time in History)
//! - `GET|POST|DELETE /api/projects/{p}/branches/{b}/upgrade` (the Upgrade tab: state, start
//!   `{"target"}` (on production: armed, run by the next push), cancel, disarm or close
//!   upgrade mode; project admins)
//! - `GET|PUT /api/projects/{p}/members` (`[{"login", "role"}]`; PUT replaces, admins only)
//! - `GET /api/projects/{p}/branches`, `GET|PATCH /api/projects/{p}/branches/{b}`,
//!   `GET .../history`, `POST .../rebuild`, `POST .../merge` (`{"into": "<branch>"}`),
//!   `POST .../fork` (`{"name": "<new branch>"}`: a development branch at its head, built),
//!   `GET|POST .../domains` (`{"address", "domains"}`; POST `{"host"}`, admins: a custom
//!   domain routed to the branch), `DELETE .../domains/{host}`
//! - `GET /api/projects/{p}/builds`, `GET /api/builds/{id}`, `POST /api/builds/{id}/stop`,
//!   `POST /api/builds/{id}/keep`, `GET /api/builds/{id}/logs`,
//!   `GET /api/builds/{id}/logs/{name}` (`Range`; `?follow=1`: Server-Sent Events, ending by
//!   themselves after 5 minutes)
//! - `GET /api/builds/{id}/files?path=<folder>` (the build's checkout), `GET
//!   /api/builds/{id}/files/content?path=<file>`, `POST /api/builds/{id}/files`
//!   (`{"path", "content", "message"}`: commits to the branch and builds it; `{"sha",
//!   "build"}`; 409 when the branch moved; never on production)
//! - `GET /api/builds/{id}/shell`: a WebSocket to a terminal in the build's folder, `psql`
//!   on its database (`shell.rs`); `GET /api/builds/{id}/monitor`: `{"pid", "cpu_seconds",
//!   "rss_bytes", "at_ms"}` of its server (`monitor.rs`)
//! - `GET|POST /api/projects/{p}/branches/{b}/backups` (list; a manual backup),
//!   `POST /api/backups/{id}/verify`, `GET /api/backups/{id}/download?format=zip|sql-gz
//!   &filestore=&neutralized=`, `POST /api/backups/{id}/restore` (`{"branch": ...}`),
//!   `POST /api/projects/{p}/branches/{b}/import?neutralize=` (the dump as the raw body;
//!   400 when it is not an Odoo dump, 413 beyond the upload limit),
//!   `GET /api/builds/{id}/dump?format=&filestore=&neutralized=` (the build's database now)
//! - `GET /api/projects/{p}/branches/{b}/pitr` (the point-in-time recovery window),
//!   `POST` the same (`{"at": "2026-11-21T10:42:00Z"}`): production as it was then
//! - `GET /api/builds/{id}/mails`, `.../mails/{seq}`, `.../mails/{seq}.eml`,
//!   `.../mails/{seq}/html`: the mails a development or staging build sent, caught
//!   ([`crate::mails`], behind the same authentication and build access check)

mod auth;
mod backups;
mod builds;
mod domains;
mod editor;
mod engines;
mod json;
mod keys;
mod members;
mod monitor;
mod projects;
mod session;
pub(crate) mod shell;
mod tokens;
mod upgrades;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use slipway_platform::{ErrorKind, PlatformError};

use crate::AppState;
pub(crate) use auth::{authenticate_token, token_from as token_from_parts, ApiUser};
pub(crate) use builds::build_for;
pub(crate) use json::ApiJson;

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

    /// A fault on the server's side: `cause` goes to the log, the answer only says so.
    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log says more",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = without_server_paths(&self.message);
        if message != self.message {
            tracing::info!(status = %self.status, "answered without its server paths: {}", self.message);
        }
        let body = slipway_api::ErrorBody::new(self.code, message);
        (self.status, Json(body)).into_response()
    }
}

/// The folders whose paths no answer shows (the data directories of the servers of this
/// process): they say nothing a client can act on, and tell an attacker the layout.
static PRIVATE_ROOTS: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Answers never show paths under `root` (see [`hide_server_paths`]).
pub(crate) fn keep_paths_private(root: &std::path::Path) {
    let root = root.display().to_string();
    let root = root.trim_end_matches('/').to_string();
    if root.is_empty() {
        return;
    }
    if let Ok(mut roots) = PRIVATE_ROOTS.write() {
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
}

fn private_roots() -> Vec<String> {
    PRIVATE_ROOTS.read().map(|r| r.clone()).unwrap_or_default()
}

/// `message` as an answer may show it: [`hide_server_paths`] under this process's data
/// directories (for answers written outside [`ApiError`], such as the upgrade API's).
pub(crate) fn without_server_paths(message: &str) -> String {
    hide_server_paths(message, &private_roots())
}

/// `message` with every path under one of `roots` shortened to its last component (the name
/// of the file or database folder, which is what the sentence is about): `"/var/lib/slipway/
/// imports/import-1f: not a database dump"` answers `"import-1f: not a database dump"`.
pub(crate) fn hide_server_paths(message: &str, roots: &[String]) -> String {
    let mut out = message.to_string();
    for root in roots {
        let mut from = 0;
        while let Some(found) = out[from..].find(root.as_str()) {
            let start = from + found;
            let rest = &out[start + root.len()..];
            // the root itself or a path below it, not a longer name that starts alike
            if !(rest.is_empty() || rest.starts_with('/') || ends_path(rest)) {
                from = start + root.len();
                continue;
            }
            let end = start + root.len() + rest.find(ends_path_at).unwrap_or(rest.len());
            let path = &out[start..end];
            let last = path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|name| !name.is_empty() && path.len() > root.len())
                .unwrap_or("the server's data folder")
                .to_string();
            out.replace_range(start..end, &last);
            from = start + last.len();
        }
    }
    out
}

/// Whether `rest` starts with what ends a path in a sentence.
fn ends_path(rest: &str) -> bool {
    rest.chars().next().is_some_and(ends_path_at)
}

fn ends_path_at(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ')' | ',' | ';' | ':')
}

impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> Self {
        if let PlatformError::ConflictCode { code, message } = e {
            return Self::new(StatusCode::CONFLICT, code, message);
        }
        match e.kind() {
            ErrorKind::Invalid => Self::invalid(e.to_string()),
            ErrorKind::Conflict => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            ErrorKind::NotFound => Self::not_found(e.to_string()),
            ErrorKind::Internal => Self::internal(e),
        }
    }
}

impl From<slipway_platform::backups::Error> for ApiError {
    fn from(e: slipway_platform::backups::Error) -> Self {
        PlatformError::from(e).into()
    }
}

/// What handlers return.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// A handler's answer: its `slipway_api` type, written as JSON with the keys of every object
/// sorted. `/api` has always answered so (its answers were built as `serde_json::Value`, whose
/// objects keep their keys sorted), and a client comparing answers byte for byte sees no
/// change now that they are typed.
pub(crate) struct Answer<T>(pub(crate) T);

impl<T: Serialize> IntoResponse for Answer<T> {
    fn into_response(self) -> Response {
        match serde_json::to_value(&self.0) {
            Ok(sorted) => Json(sorted).into_response(),
            Err(e) => ApiError::internal(format!("writing an answer as JSON: {e}")).into_response(),
        }
    }
}

pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/api/session",
            get(session::current)
                .post(session::sign_in)
                .delete(session::sign_out),
        )
        .route("/api/me", get(projects::me))
        .route("/api/me/tokens", get(tokens::list).post(tokens::create))
        .route("/api/me/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/api/me/keys", get(keys::list).post(keys::add))
        .route("/api/me/keys/{id}", axum::routing::delete(keys::remove))
        .route(
            "/api/users/{login}/password",
            axum::routing::put(session::set_password),
        )
        .route(
            "/api/projects/{project}/members",
            get(members::list).put(members::replace),
        )
        .route(
            "/api/users",
            get(projects::list_users).post(projects::create_user),
        )
        .route(
            "/api/upgrade/engines",
            get(engines::list).post(engines::add),
        )
        .route(
            "/api/upgrade/engines/{series}",
            axum::routing::delete(engines::remove),
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
            "/api/projects/{project}/production/admin-password",
            get(projects::production_admin_password),
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
            "/api/projects/{project}/branches/{branch}/fork",
            post(projects::fork_branch),
        )
        .route(
            "/api/projects/{project}/branches/{branch}/backups",
            get(backups::list).post(backups::create),
        )
        .route(
            "/api/projects/{project}/branches/{branch}/domains",
            get(domains::list).post(domains::add),
        )
        .route(
            "/api/projects/{project}/branches/{branch}/domains/{host}",
            axum::routing::delete(domains::remove),
        )
        .route(
            "/api/projects/{project}/branches/{branch}/upgrade",
            get(upgrades::status)
                .post(upgrades::start)
                .delete(upgrades::cancel),
        )
        .route(
            "/api/projects/{project}/branches/{branch}/import",
            post(backups::import),
        )
        .route(
            "/api/projects/{project}/branches/{branch}/pitr",
            get(backups::pitr_window).post(backups::restore_to_time),
        )
        .route("/api/backups/prune", post(backups::prune))
        .route("/api/backups/{id}/verify", post(backups::verify))
        .route("/api/backups/{id}/download", get(backups::download))
        .route("/api/builds/{id}/dump", get(backups::build_dump))
        .route("/api/backups/{id}/restore", post(backups::restore))
        .route("/api/projects/{project}/builds", get(builds::list_builds))
        .route("/api/builds/{id}", get(builds::get_build))
        .route("/api/builds/{id}/stop", post(builds::stop_build))
        .route("/api/builds/{id}/keep", post(builds::keep_build))
        .route("/api/builds/{id}/logs", get(builds::list_logs))
        .route("/api/builds/{id}/logs/{name}", get(builds::log))
        .route(
            "/api/builds/{id}/files",
            get(editor::list).post(editor::commit),
        )
        .route("/api/builds/{id}/files/content", get(editor::content))
        .route("/api/builds/{id}/shell", get(shell::shell))
        .route("/api/builds/{id}/monitor", get(monitor::monitor))
        .merge(
            crate::mails::router().route_layer(axum::middleware::from_fn_with_state(
                state,
                builds::require_build_reader,
            )),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Unsorted {
        zeta: u8,
        alpha: Inner,
    }

    #[derive(Serialize)]
    struct Inner {
        y: u8,
        b: u8,
    }

    #[tokio::test]
    async fn answers_keep_their_keys_sorted_as_the_api_always_wrote_them() {
        let answer = Answer(Unsorted {
            zeta: 1,
            alpha: Inner { y: 2, b: 3 },
        });
        let body = axum::body::to_bytes(answer.into_response().into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"alpha":{"b":3,"y":2},"zeta":1}"#);
    }

    fn roots() -> Vec<String> {
        vec!["/var/lib/slipway".to_string()]
    }

    #[test]
    fn paths_under_the_data_folder_are_shortened_to_what_they_name() {
        let hidden = |m: &str| hide_server_paths(m, &roots());
        assert_eq!(
            hidden("/var/lib/slipway/backups/uploads/import-1f: not a database dump: looks like a PNG image"),
            "import-1f: not a database dump: looks like a PNG image"
        );
        assert_eq!(
            hidden("filestore /var/lib/slipway/filestore/acme-main-3 already exists; pass --force"),
            "filestore acme-main-3 already exists; pass --force"
        );
        assert_eq!(
            hidden("copying \"/var/lib/slipway/a/b/\" and /var/lib/slipway/c, twice"),
            "copying \"b\" and c, twice"
        );
        assert_eq!(
            hidden("no space left in /var/lib/slipway"),
            "no space left in the server's data folder"
        );
    }

    #[test]
    fn other_paths_and_look_alikes_are_left_as_they_are() {
        let hidden = |m: &str| hide_server_paths(m, &roots());
        for kept in [
            "the Odoo source /opt/odoo/17.0 has no odoo-bin",
            "/var/lib/slipway-old/x is not ours",
            "GET /web/health did not answer",
        ] {
            assert_eq!(hidden(kept), kept);
        }
    }
}
