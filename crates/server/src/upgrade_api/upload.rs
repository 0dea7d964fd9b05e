//! Getting the dump in: `upload` (raw body, streamed to disk) and `request_sftp_access`.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use slipway_upgrade::rules::{Action, Failure};
use slipway_upgrade::{Credentials, ReceivedFile, UpgradeRecord, UpgradeService};

use super::params::ApiParams;
use super::{bad_key, failed, refused, reply};
use crate::sftp::parse_authorized_keys;
use crate::AppState;

/// `POST /database/v1/upload?key=..&request=..` with the dump as the raw body.
///
/// The body goes to a new file in `incoming/` while its SHA-256 is computed; only a complete
/// upload replaces the previous dump, by rename, so a broken connection never leaves a torn
/// file behind.
pub(crate) async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    receive_upload(&state, &headers, request, Upload::Dump).await
}

/// `POST /database/v1/upload_modules?key=..&request=..` (a Slipway extension): the request's
/// custom modules as a zip (module folders at its top level, as in an addons path), raw body.
/// Their upgrade scripts run after the standard ones; the zip is served back at
/// `.../modules/archive`.
pub(crate) async fn upload_modules(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    receive_upload(&state, &headers, request, Upload::Modules).await
}

/// What an upload brings.
#[derive(Debug, Clone, Copy)]
enum Upload {
    Dump,
    Modules,
}

async fn receive_upload(
    state: &AppState,
    headers: &HeaderMap,
    request: Request,
    upload: Upload,
) -> Response {
    let service = &state.upgrade;
    let (record, who, received) = match receive_for_draft(service, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let outcome = match upload {
        Upload::Dump => service.install_upload(&record, &received).await,
        Upload::Modules => service.install_modules(&record, &received).await,
    };
    reply(service, headers, &who.key, outcome)
}

/// The part every upload shares: the request named in the query string, in `draft`, and its
/// body received into `incoming/`.
async fn receive_for_draft(
    service: &UpgradeService,
    request: Request,
) -> Result<(UpgradeRecord, Credentials, ReceivedFile), Response> {
    let params = ApiParams::from_query(request.uri().query());
    let who = params.credentials().ok_or_else(bad_key)?;
    let record = service
        .authorize(&who, Action::Upload)
        .await
        .map_err(refused)?;
    let incoming = service.files.incoming_dir(record.id);
    let received = receive(request.into_body(), &incoming, service.max_upload_bytes)
        .await
        .map_err(|f| failed(vec![f]))?;
    Ok((record, who, received))
}

/// Streams `body` into a new file of `dir`, never holding more than one chunk in memory.
async fn receive(body: Body, dir: &std::path::Path, limit: u64) -> Result<ReceivedFile, Failure> {
    let upload_failed = |e: &dyn std::fmt::Display| {
        Failure::new(
            "UPLOAD:FAILED",
            format!("The upload could not be stored: {e}"),
        )
    };
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| upload_failed(&e))?;
    let path = dir.join(format!("upload-{:016x}", rand::random::<u64>()));
    let result = write_body(body, &path, limit).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&path).await;
    }
    let (size, sha256) = result?;
    if size == 0 {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(Failure::new(
            "UPLOAD:FAILED",
            "The body was empty: send the dump as the raw POST body (curl --data-binary @FILE)",
        ));
    }
    Ok(ReceivedFile { path, size, sha256 })
}

/// Streams the body to `path` ([`crate::files::receive_body`]), as the upgrade API reports it.
async fn write_body(
    body: Body,
    path: &std::path::Path,
    limit: u64,
) -> Result<(u64, String), Failure> {
    use crate::files::BodyError;
    crate::files::receive_body(body, path, limit)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge { size, limit } => Failure {
                value: Some(size.to_string()),
                ..Failure::new(
                    "UPLOAD:TOO_LARGE",
                    format!("The dump is larger than this server accepts ({limit} bytes)"),
                )
            },
            BodyError::Interrupted(e) => {
                Failure::new("UPLOAD:FAILED", format!("The upload was interrupted: {e}"))
            }
            BodyError::Store(e) => Failure::new(
                "UPLOAD:FAILED",
                format!("The upload could not be stored: {e}"),
            ),
        })
}

/// `request_sftp_access`: registers the request's SSH keys and answers how to connect.
pub(crate) async fn sftp_access(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let service = &state.upgrade;
    let (params, ssh_keys) = match read_sftp_params(request, &state).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(who) = params.credentials() else {
        return bad_key();
    };
    let record = match service
        .grant_sftp_access(&who, checked_keys(ssh_keys))
        .await
    {
        Ok(record) => record,
        Err(error) => return refused(error),
    };
    let endpoint = match state.sftp.ensure_running(service).await {
        Ok(endpoint) => endpoint,
        Err(e) => {
            tracing::error!("SFTP server: {e}");
            return failed(vec![Failure::new(
                "SFTP:UNAVAILABLE",
                format!("The SFTP server could not start: {e}"),
            )]);
        }
    };
    let user = format!("user_{}", record.id);
    let hostname = host_name(&headers).unwrap_or(endpoint.host.clone());
    Json(json!({
        "failures": [],
        "request": {
            "hostname": hostname,
            "sftp_port": endpoint.port,
            "sftp_user": user,
            "shared_file": record.filename,
            "request_id": record.id,
            "sample_command": format!("sftp -P {} {user}@{hostname}", endpoint.port),
        }
    }))
    .into_response()
}

/// The `ssh_keys` sent, if they are an authorized_keys file SFTP logins can use.
fn checked_keys(ssh_keys: Option<String>) -> Result<String, Failure> {
    let Some(ssh_keys) = ssh_keys else {
        return Err(Failure::new(
            "SSH_KEYS:MISSING",
            "Send your public keys as the \"ssh_keys\" file (curl -F ssh_keys=@authorized_keys)",
        ));
    };
    match parse_authorized_keys(&ssh_keys) {
        Ok(_) => Ok(ssh_keys),
        Err(e) => Err(Failure::new("SSH_KEYS:INVALID", e.to_string())),
    }
}

/// The host part of the `Host` header: the name the client reached us by.
fn host_name(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(axum::http::header::HOST)?.to_str().ok()?;
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    Some(name.trim_matches(['[', ']']).to_string())
}

/// Parameters from the query string and either a multipart form (the documented
/// `-F ssh_keys=@file`) or a urlencoded one.
async fn read_sftp_params(
    request: Request,
    state: &AppState,
) -> Result<(ApiParams, Option<String>), Response> {
    let is_multipart = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        let params = ApiParams::from_request(request, state)
            .await
            .unwrap_or_default();
        let keys = params.get("ssh_keys");
        return Ok((params, keys));
    }
    let mut params = ApiParams::from_query(request.uri().query());
    let mut keys = None;
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|e| failed(vec![Failure::new("SSH_KEYS:INVALID", e.body_text())]))?;
    while let Ok(Some(field)) = multipart.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        let text = field
            .text()
            .await
            .map_err(|e| failed(vec![Failure::new("SSH_KEYS:INVALID", e.body_text())]))?;
        if name == "ssh_keys" {
            keys = Some(text);
        } else {
            params.0.insert(name, text);
        }
    }
    Ok((params, keys))
}
