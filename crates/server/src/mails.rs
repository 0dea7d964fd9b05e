//! The mails a build sent, over HTTP: `GET /api/builds/{id}/mails` and below.
//!
//! - `/api/builds/{id}/mails`: the summaries, newest first (JSON array; empty for a build
//!   that sent nothing).
//! - `/api/builds/{id}/mails/{seq}`: one message: its summary fields, `headers`, `text`
//!   (JSON).
//! - `/api/builds/{id}/mails/{seq}.eml`: the message exactly as received
//!   (`message/rfc822`, as a download).
//! - `/api/builds/{id}/mails/{seq}/html`: the safe HTML view ([`slipway_mail::safe_html`])
//!   under a `Content-Security-Policy` that forbids script and any remote fetch.
//!
//! Errors are `{"error": {"code": "...", "message": "..."}}`: `not_found` (404) for an
//! unknown message or a malformed id, `internal` (500) when the store cannot be read.
//! No authentication here: the caller mounts this router behind the API's bearer-token and
//! per-build access check, which also answers 404 for a build that does not exist.

use axum::extract::{FromRef, Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use slipway_mail::{MailError, MailStore, CONTENT_SECURITY_POLICY};

use crate::api::ApiError;

/// The mail routes, for any state that holds a [`MailStore`].
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    MailStore: FromRef<S>,
{
    Router::new()
        .route("/api/builds/{id}/mails", get(list))
        .route("/api/builds/{id}/mails/{mail}", get(mail_or_raw))
        .route("/api/builds/{id}/mails/{mail}/html", get(html))
}

impl FromRef<crate::AppState> for MailStore {
    fn from_ref(state: &crate::AppState) -> Self {
        state.mails.clone()
    }
}

async fn list(
    State(store): State<MailStore>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let build_id = parse_id(&id)?;
    let mails = blocking(move || store.list(build_id)).await?;
    Ok(Json(mails).into_response())
}

/// `{seq}` (JSON) or `{seq}.eml` (raw): one path segment, told apart here.
async fn mail_or_raw(
    State(store): State<MailStore>,
    Path((id, mail)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let build_id = parse_id(&id)?;
    if let Some(seq) = mail.strip_suffix(".eml") {
        let seq = parse_seq(build_id, seq)?;
        let raw = blocking(move || store.raw(build_id, seq)).await?;
        let disposition = format!("attachment; filename=\"build-{build_id}-mail-{seq}.eml\"");
        return Ok((
            [
                (header::CONTENT_TYPE, "message/rfc822".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            ],
            raw,
        )
            .into_response());
    }
    let seq = parse_seq(build_id, &mail)?;
    let parsed = blocking(move || store.get(build_id, seq)).await?;
    Ok(Json(parsed).into_response())
}

async fn html(
    State(store): State<MailStore>,
    Path((id, seq)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let build_id = parse_id(&id)?;
    let seq = parse_seq(build_id, &seq)?;
    let html = blocking(move || {
        store
            .get(build_id, seq)
            .map(|m| slipway_mail::safe_html(&m))
    })
    .await?;
    let mut response = html.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "private, no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    Ok(response)
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no build {id:?}")))
}

fn parse_seq(build_id: i64, seq: &str) -> Result<u64, ApiError> {
    seq.parse()
        .map_err(|_| ApiError::not_found(format!("build {build_id} has no mail {seq:?}")))
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, MailError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ApiError::internal(format!(
            "reading mails was interrupted: {e}"
        ))),
    }
}

impl From<MailError> for ApiError {
    fn from(error: MailError) -> Self {
        match error {
            MailError::NotFound { .. } => Self::not_found(error.to_string()),
            other => Self::internal(other),
        }
    }
}
