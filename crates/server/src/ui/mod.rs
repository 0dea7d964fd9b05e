//! The web UI: a page (`/`) and its scripts and styles under `/ui/`, embedded in the binary
//! with `include_str!`, so `slipway serve` needs nothing beside it. Plain DOM, `fetch` and
//! `EventSource`, one ES module per page or tab; everything it shows comes from `/api`.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;

/// The embedded assets: (name under `/ui/`, content type, text).
const ASSETS: &[(&str, &str, &str)] = &[
    ("style.css", "text/css", include_str!("assets/style.css")),
    ("app.js", JS, include_str!("assets/app.js")),
    ("api.js", JS, include_str!("assets/api.js")),
    ("signin.js", JS, include_str!("assets/signin.js")),
    ("projects.js", JS, include_str!("assets/projects.js")),
    ("project.js", JS, include_str!("assets/project.js")),
    ("builds.js", JS, include_str!("assets/builds.js")),
    ("branch.js", JS, include_str!("assets/branch.js")),
    ("history.js", JS, include_str!("assets/history.js")),
    ("logs.js", JS, include_str!("assets/logs.js")),
    ("mails.js", JS, include_str!("assets/mails.js")),
    ("settings.js", JS, include_str!("assets/settings.js")),
    ("backups.js", JS, include_str!("assets/backups.js")),
    ("editor.js", JS, include_str!("assets/editor.js")),
    ("shell.js", JS, include_str!("assets/shell.js")),
    ("profile.js", JS, include_str!("assets/profile.js")),
    ("monitor.js", JS, include_str!("assets/monitor.js")),
    ("upgrade.js", JS, include_str!("assets/upgrade.js")),
    // xterm.js, from npm (`ui-vendor/`), copied by build.rs.
    (
        "xterm.mjs",
        JS,
        include_str!(concat!(env!("OUT_DIR"), "/xterm.mjs")),
    ),
    (
        "xterm.css",
        "text/css",
        include_str!(concat!(env!("OUT_DIR"), "/xterm.css")),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";

const INDEX: &str = include_str!("assets/index.html");

/// The page's security policy: nothing but our own scripts, no framing; inline styles are
/// allowed because the terminal (xterm.js) sizes itself with a `<style>` element.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
    script-src 'self'; connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{name}", get(asset))
}

async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, text)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *text,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}
