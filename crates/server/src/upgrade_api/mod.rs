//! `/database/v1/*`: Odoo's documented database upgrade API, and the request URLs
//! `/database/<region>/<id>/<key>/...` it hands out.
//!
//! Every answer is `{"failures": [...], "request": {...}}`. Failures are reported with HTTP 400
//! (so that clients such as `odoo-upgrade` stop), an unexpected error with 500. Reasons used
//! beyond the two documented ones (`TARGET:INVALID`, `CONTRACT:NOT_FOUND`):
//! `<PARAM>:MISSING`, `EMAIL:INVALID`, `AIM:INVALID`, `FILENAME:INVALID`, `KEY:INVALID` (unknown
//! request or wrong key, indistinguishable), `STATE:INVALID` (the call is not allowed in the
//! request's state; `value` is the state, `expected` the states that allow it),
//! `UPLOAD:MISSING` (process without a dump), `UPLOAD:TOO_LARGE`, `UPLOAD:FAILED`,
//! `SSH_KEYS:MISSING`, `SSH_KEYS:INVALID`, `SFTP:UNAVAILABLE`, `MODULES:INVALID`,
//! `INTERNAL:ERROR`.
//!
//! Beyond the documented calls: `cancel` (draft or pending -> cancelled) and `upload_modules`
//! (the request's custom modules as a zip, whose upgrade scripts run after the standard ones).

mod downloads;
mod params;
mod upload;
mod view;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, MethodRouter};
use axum::{Json, Router};
use serde_json::json;
use slipway_upgrade::rules::{CreateParams, Failure};
use slipway_upgrade::{CallError, CallResult, RequestStatus, UpgradeService};

use crate::AppState;
use params::{ApiParams, Caller};
use view::{RequestView, UrlBase};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/database/v1/create", any(create))
        .route(
            "/database/v1/upload",
            post(upload::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/database/v1/upload_modules",
            post(upload::upload_modules).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/database/v1/request_sftp_access", any(upload::sftp_access))
        .route("/database/v1/process", on(Call::Process))
        .route("/database/v1/skip_test", on(Call::SkipTest))
        .route("/database/v1/cancel", on(Call::Cancel))
        .route("/database/v1/status", on(Call::Status))
        .route(
            "/database/{region}/{id}/{key}/status",
            get(downloads::status_page),
        )
        .route(
            "/database/{region}/{id}/{key}/{kind}/{what}",
            get(downloads::download),
        )
}

/// A failed call: its failures, with 400 (no server path shown).
pub(crate) fn failed(mut failures: Vec<Failure>) -> Response {
    for failure in &mut failures {
        failure.message = crate::api::without_server_paths(&failure.message);
    }
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"failures": failures, "request": null})),
    )
        .into_response()
}

/// An unexpected error: logged with its cause, answered without it.
pub(crate) fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!("upgrade API: {error}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"failures": [Failure::new("INTERNAL:ERROR", "Internal error; the server log says more")], "request": null})),
    )
        .into_response()
}

/// A call that did not do what it asked: its failures (400), or an internal error (500).
pub(crate) fn refused(error: CallError) -> Response {
    match error {
        CallError::Refused(failures) => failed(failures),
        CallError::Internal(e) => internal(e),
    }
}

/// The answer to a call on a request: no failures and the request as `status` shows it, or
/// why the call failed.
pub(crate) fn reply(
    service: &UpgradeService,
    headers: &HeaderMap,
    key: &str,
    outcome: CallResult<RequestStatus>,
) -> Response {
    match outcome {
        Ok(status) => {
            let base = base_url(headers);
            let urls = UrlBase {
                base: &base,
                region: &service.region,
            };
            let view = RequestView::new(&status, key, &urls);
            Json(json!({"failures": [], "request": view})).into_response()
        }
        Err(error) => refused(error),
    }
}

/// `http://<Host>`: URLs point back to the address the client used.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// The answer to a call without a valid `request` and `key` pair: the one failure that hides
/// which was wrong.
pub(crate) fn bad_key() -> Response {
    failed(vec![Failure::bad_key()])
}

async fn create(State(state): State<AppState>, headers: HeaderMap, params: ApiParams) -> Response {
    let service = &state.upgrade;
    let create = CreateParams {
        contract: params.get("contract"),
        email: params.get("email"),
        target: params.get("target"),
        aim: params.get("aim"),
        filename: params.get("filename"),
        timezone: params.get("timezone"),
        custom_modules: params.get("custom_modules"),
    };
    match service.create(&create).await {
        Ok((status, key)) => reply(service, &headers, &key, Ok(status)),
        Err(error) => refused(error),
    }
}

/// The calls on a request that only move it, or read it.
#[derive(Debug, Clone, Copy)]
enum Call {
    Process,
    SkipTest,
    Cancel,
    Status,
}

/// The route of `call`.
fn on(call: Call) -> MethodRouter<AppState> {
    any(move |state, headers, who| on_request(state, headers, who, call))
}

/// `process`, `skip_test`, `cancel` and `status`: `call` on the request the parameters name.
async fn on_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Caller(who): Caller,
    call: Call,
) -> Response {
    let service = &state.upgrade;
    let outcome = match call {
        Call::Process => service.process(&who).await,
        Call::SkipTest => service.skip_test(&who).await,
        Call::Cancel => service.cancel(&who).await,
        Call::Status => service.status(&who).await,
    };
    reply(service, &headers, &who.key, outcome)
}
