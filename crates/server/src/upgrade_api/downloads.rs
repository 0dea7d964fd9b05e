//! The URLs `status` hands out: `/database/<region>/<id>/<key>/...`. Files are streamed with
//! `Range` support, so a broken download of a large dump resumes.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::view::{status_page as render_status, RequestView, UrlBase};
use crate::AppState;
use slipway_upgrade::{RequestFile, UpgradeRecord, UpgradeService};

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

async fn find(service: &UpgradeService, region: &str, id: i64, key: &str) -> Option<UpgradeRecord> {
    match service.request_at_url(region, id, key).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(request = id, "upgrade request URL: {e}");
            None
        }
    }
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
    let status = service.status_of(record).await;
    Html(render_status(&RequestView::new(&status, &p.key, &urls))).into_response()
}

/// `.../original/sql`, `.../original/archive`, `.../upgraded/sql`, `.../upgraded/archive`,
/// `.../upgraded/notes`, `.../upgraded/log`, `.../modules/archive`.
pub(crate) async fn download(
    State(state): State<AppState>,
    Path(p): Path<DownloadPath>,
    request: Request,
) -> Response {
    let service = &state.upgrade;
    let Some(record) = find(service, &p.region, p.id, &p.key).await else {
        return not_found();
    };
    let file =
        RequestFile::from_url(&p.kind, &p.what).filter(|file| file.is_available_in(record.state));
    let Some(file) = file else {
        if p.kind != "upgraded" {
            return not_found();
        }
        let why = format!(
            "The upgraded database is not ready: the request is {}\n",
            record.state.as_str()
        );
        return (StatusCode::NOT_FOUND, why).into_response();
    };
    let path = file.path(&service.files, &record);
    if !path.is_file() {
        return (
            StatusCode::NOT_FOUND,
            format!(
                "Not available for this request (state {}): {}/{}\n",
                record.state.as_str(),
                p.kind,
                p.what
            ),
        )
            .into_response();
    }
    let download_name = file.download_name(&record);
    crate::files::serve_file(path, media_type(file), download_name, request).await
}

/// The `Content-Type` a file is served with.
fn media_type(file: RequestFile) -> &'static str {
    match file {
        RequestFile::OriginalSql | RequestFile::UpgradedSql => "application/sql",
        RequestFile::OriginalDump | RequestFile::UpgradedDump => "application/octet-stream",
        RequestFile::Notes => "text/html; charset=utf-8",
        RequestFile::Log => "text/plain; charset=utf-8",
        RequestFile::Modules => "application/zip",
    }
}
