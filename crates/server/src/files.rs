//! Serving files from disk with `Range` support (a broken download resumes), shared by the
//! upgrade request URLs and the build logs.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// Serves `path` as `content_type`, as an attachment named `download_name` when given.
pub(crate) async fn serve_file(
    path: PathBuf,
    content_type: &str,
    download_name: Option<String>,
    request: Request,
) -> Response {
    let mime = content_type
        .parse()
        .unwrap_or(mime::APPLICATION_OCTET_STREAM);
    let served = ServeFile::new_with_mime(&path, &mime)
        .oneshot(request)
        .await;
    let mut response = match served {
        Ok(response) => response.map(Body::new),
        Err(e) => {
            tracing::error!("serving {}: {e}", path.display());
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file\n").into_response();
        }
    };
    if let Some(name) = download_name {
        let disposition = format!("attachment; filename=\"{}\"", name.replace('"', ""));
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, value);
        }
    }
    response
}
