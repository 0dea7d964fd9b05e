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
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::json;
use slipway_upgrade::rules::{
    check_state, validate_create, Action, CreateParams, Failure, RequestState,
};
use slipway_upgrade::{UpgradeRecord, UpgradeService};

use crate::AppState;
use params::ApiParams;
use view::{RequestView, UrlBase};

use slipway_upgrade::PROCESS_JOB;

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
        .route("/database/v1/process", any(process))
        .route("/database/v1/skip_test", any(skip_test))
        .route("/database/v1/cancel", any(cancel))
        .route("/database/v1/status", any(status))
        .route(
            "/database/{region}/{id}/{key}/status",
            get(downloads::status_page),
        )
        .route(
            "/database/{region}/{id}/{key}/{kind}/{what}",
            get(downloads::download),
        )
}

/// A failed call: its failures, with 400.
pub(crate) fn failed(failures: Vec<Failure>) -> Response {
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

/// A successful call: no failures, and the request as `status` shows it.
pub(crate) async fn answer(
    service: &UpgradeService,
    headers: &HeaderMap,
    record: &UpgradeRecord,
    key: &str,
) -> Response {
    let rate = estimate_rate(service, record).await;
    let base = base_url(headers);
    let urls = UrlBase {
        base: &base,
        region: &service.region,
    };
    let view = RequestView::new(record, key, &urls, rate);
    Json(json!({"failures": [], "request": view})).into_response()
}

/// Seconds per byte of past runs, for `estimated_time`; only looked up while the estimate
/// still means something (not yet finished), since `status` is the API's hot path.
pub(crate) async fn estimate_rate(service: &UpgradeService, record: &UpgradeRecord) -> Option<f64> {
    let unfinished = [
        RequestState::Draft,
        RequestState::Pending,
        RequestState::Progress,
    ];
    if !unfinished.contains(&record.state()) || record.upload_size.is_none() {
        return None;
    }
    service.store.seconds_per_byte().await.unwrap_or(None)
}

/// `http://<Host>`: URLs point back to the address the client used.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// The request named by `request` and `key`, or the one failure that hides which was wrong.
pub(crate) async fn authenticate(
    service: &UpgradeService,
    params: &ApiParams,
) -> Result<(UpgradeRecord, String), Response> {
    let Some((id, key)) = params.credentials() else {
        return Err(failed(vec![Failure::bad_key()]));
    };
    match service.store.authenticate(id, &key).await {
        Ok(Some(record)) => Ok((record, key)),
        Ok(None) => Err(failed(vec![Failure::bad_key()])),
        Err(e) => Err(internal(e)),
    }
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
    };
    let contract = create.contract.clone().unwrap_or_default();
    let exists = match service.store.contract_exists(&contract).await {
        Ok(exists) => exists,
        Err(e) => return internal(e),
    };
    let targets = slipway_upgrade::offered_targets(service.scripts_dir.as_deref());
    let new = match validate_create(&create, &targets, |_| exists) {
        Ok(new) => new,
        Err(failures) => return failed(failures),
    };
    match service.store.create(&new).await {
        Ok((record, key)) => {
            tracing::info!(request = record.id, target = %record.target, "upgrade request created");
            answer(service, &headers, &record, &key).await
        }
        Err(e) => internal(e),
    }
}

async fn process(State(state): State<AppState>, headers: HeaderMap, params: ApiParams) -> Response {
    let service = &state.upgrade;
    let (record, key) = match authenticate(service, &params).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Err(failure) = check_state(record.state(), Action::Process) {
        return failed(vec![failure]);
    }
    if record.upload_size.is_none() {
        return failed(vec![Failure::new(
            "UPLOAD:MISSING",
            "No dump was uploaded: send it with upload or request_sftp_access first",
        )]);
    }
    let moved = service
        .store
        .transition(record.id, &[RequestState::Draft], RequestState::Pending)
        .await;
    match moved {
        Ok(true) => {}
        Ok(false) => {
            return failed(vec![Failure::new(
                "STATE:INVALID",
                "The request changed state meanwhile; ask its status",
            )])
        }
        Err(e) => return internal(e),
    }
    // The answer shows the request as `process` left it (queued). Read before the job is
    // queued: an idle worker is woken at once and may already have moved it on.
    let queued = match service.store.get(record.id).await {
        Ok(Some(queued)) => queued,
        Ok(None) => return failed(vec![Failure::bad_key()]),
        Err(e) => return internal(e),
    };
    if let Err(e) = service
        .queue
        .enqueue(PROCESS_JOB, &json!({"request": record.id}))
        .await
    {
        // Not queued: back to draft, so the client can simply call process again.
        let _ = service
            .store
            .transition(record.id, &[RequestState::Pending], RequestState::Draft)
            .await;
        return internal(e);
    }
    tracing::info!(request = record.id, "upgrade request queued");
    answer(service, &headers, &queued, &key).await
}

async fn skip_test(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: ApiParams,
) -> Response {
    let service = &state.upgrade;
    let (record, key) = match authenticate(service, &params).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Err(failure) = check_state(record.state(), Action::SkipTest) {
        return failed(vec![failure]);
    }
    if let Err(e) = service.store.set_skip_test(record.id).await {
        return internal(e);
    }
    refreshed(service, &headers, record.id, &key).await
}

async fn cancel(State(state): State<AppState>, headers: HeaderMap, params: ApiParams) -> Response {
    let service = &state.upgrade;
    let (record, key) = match authenticate(service, &params).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Err(failure) = check_state(record.state(), Action::Cancel) {
        return failed(vec![failure]);
    }
    let allowed = Action::Cancel.allowed_in();
    match service
        .store
        .transition(record.id, allowed, RequestState::Cancelled)
        .await
    {
        Ok(true) => refreshed(service, &headers, record.id, &key).await,
        Ok(false) => failed(vec![Failure::new(
            "STATE:INVALID",
            "The request changed state meanwhile; ask its status",
        )]),
        Err(e) => internal(e),
    }
}

async fn status(State(state): State<AppState>, headers: HeaderMap, params: ApiParams) -> Response {
    let service = &state.upgrade;
    match authenticate(service, &params).await {
        Ok((record, key)) => answer(service, &headers, &record, &key).await,
        Err(response) => response,
    }
}

/// Answers with the request as it is now in the database.
pub(crate) async fn refreshed(
    service: &UpgradeService,
    headers: &HeaderMap,
    id: i64,
    key: &str,
) -> Response {
    match service.store.get(id).await {
        Ok(Some(record)) => answer(service, headers, &record, key).await,
        Ok(None) => failed(vec![Failure::bad_key()]),
        Err(e) => internal(e),
    }
}
