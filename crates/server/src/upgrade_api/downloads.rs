//! The URLs `status` hands out: `/database/<region>/<id>/<key>/...`. Files are streamed with
//! `Range` support, so a broken download of a large dump resumes.

use std::path::PathBuf;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::view::{status_page as render_status, RequestView, UrlBase};
use crate::AppState;
use slipway_upgrade::UpgradeService;

/// The path of a request URL.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct RequestPath {
    region: String,
    id: i64,
    key: String,
}

/// The path of a download URL.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct DownloadPath {
    region: String,
    id: i64,
    key: String,
    kind: String,
    what: String,
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "No such request, or wrong key\n").into_response()
}

async fn find(
    service: &UpgradeService,
    region: &str,
    id: i64,
    key: &str,
) -> Option<slipway_upgrade::UpgradeRecord> {
    if region != service.region {
        return None;
    }
    service.store.authenticate(id, key).await.ok().flatten()
}

/// `.../status`: the request for a person.
pub(crate) async fn status_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<RequestPath>,
) -> Response {
    let service = &state.upgrade;
    let Some(record) = find(service, &p.region, p.id, &p.key).await else {
        return not_found();
    };
    let base = super::base_url(&headers);
    let urls = UrlBase {
        base: &base,
        region: &service.region,
    };
    let rate = super::estimate_rate(service, &record).await;
    Html(render_status(&RequestView::new(
        &record, &p.key, &urls, rate,
    )))
    .into_response()
}

/// `.../original/sql`, `.../original/archive`, `.../upgraded/sql`, `.../upgraded/archive`,
/// `.../upgraded/notes`, `.../modules/archive`.
pub(crate) async fn download(
    State(state): State<AppState>,
    Path(p): Path<DownloadPath>,
    request: Request,
) -> Response {
    let service = &state.upgrade;
    let Some(record) = find(service, &p.region, p.id, &p.key).await else {
        return not_found();
    };
    let files = &service.files;
    let (path, content_type, download_name): (PathBuf, &str, Option<String>) =
        match (p.kind.as_str(), p.what.as_str()) {
            ("original", "sql") => (
                files.original_sql(record.id),
                "application/sql",
                Some(format!("{}.sql", stem(&record.filename))),
            ),
            ("original", "archive") => (
                files.original(record.id, &record.filename),
                "application/octet-stream",
                Some(record.filename.clone()),
            ),
            ("upgraded", "sql") if record.state().has_result() => (
                files.upgraded_sql(record.id),
                "application/sql",
                Some(format!("upgraded_{}.sql", stem(&record.filename))),
            ),
            ("upgraded", "archive") if record.state().has_result() => (
                files.upgraded(record.id, &record.filename),
                "application/octet-stream",
                Some(slipway_upgrade::upgraded_name(&record.filename)),
            ),
            ("upgraded", "notes") => (files.notes(record.id), "text/html; charset=utf-8", None),
            ("modules", "archive") => (
                files.modules(record.id),
                "application/zip",
                Some(format!("modules_{}.zip", record.id)),
            ),
            ("upgraded", _) => {
                return (
                    StatusCode::NOT_FOUND,
                    format!(
                        "The upgraded database is not ready: the request is {}\n",
                        record.state
                    ),
                )
                    .into_response()
            }
            _ => return not_found(),
        };
    if !path.is_file() {
        return (
            StatusCode::NOT_FOUND,
            format!(
                "Not available for this request (state {}): {}/{}\n",
                record.state, p.kind, p.what
            ),
        )
            .into_response();
    }
    crate::files::serve_file(path, content_type, download_name, request).await
}

/// `db.dump` -> `db`, `db.sql.gz` -> `db`.
fn stem(filename: &str) -> &str {
    let mut stem = filename;
    for ext in [".gz", ".sql", ".dump", ".zip", ".tar", ".backup"] {
        stem = stem.strip_suffix(ext).unwrap_or(stem);
    }
    stem
}
