//! Files in and out of HTTP: serving from disk with `Range` support (a broken download
//! resumes), shared by the upgrade request URLs and the build logs, and receiving a request
//! body into a file (upgrade uploads, backup imports).

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

/// Why a request body could not be received into a file.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The body is larger than allowed; reading stopped there.
    TooLarge {
        /// Bytes received when it stopped.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The connection broke.
    Interrupted(String),
    /// The file could not be written.
    Store(String),
}

/// Streams `body` to a new file `path`, at most `limit` bytes, and returns its size and
/// SHA-256 (hex). Two blocking threads share the work, one writing and one hashing each chunk
/// (a chunk is shared, not copied), so a large upload goes at the speed of the slower of the
/// two rather than their sum; tokio's file API would also hop to the blocking pool once per
/// small network chunk. Memory stays at a bounded number of network chunks. On error the
/// caller removes `path`.
pub(crate) async fn receive_body(
    body: Body,
    path: &std::path::Path,
    limit: u64,
) -> Result<(u64, String), BodyError> {
    use futures_util::StreamExt;
    let (to_writer, writer_rx) = std::sync::mpsc::sync_channel::<bytes::Bytes>(64);
    let (to_hasher, hasher_rx) = std::sync::mpsc::sync_channel::<bytes::Bytes>(64);
    let file_path = path.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || write_chunks(&file_path, writer_rx));
    let hasher = tokio::task::spawn_blocking(move || hash_chunks(hasher_rx));
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    let mut failure = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                failure = Some(BodyError::Interrupted(e.to_string()));
                break;
            }
        };
        size += chunk.len() as u64;
        if size > limit {
            failure = Some(BodyError::TooLarge { size, limit });
            break;
        }
        // A send fails only when the writer stopped on an I/O error, reported below.
        if to_hasher.send(chunk.clone()).is_err() || to_writer.send(chunk).is_err() {
            break;
        }
    }
    drop((to_writer, to_hasher));
    let written = writer.await.map_err(|e| BodyError::Store(e.to_string()))?;
    let sha256 = hasher.await.map_err(|e| BodyError::Store(e.to_string()))?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    written.map_err(|e| BodyError::Store(e.to_string()))?;
    Ok((size, sha256))
}

/// Writes chunks until the channel closes, then flushes them to disk.
fn write_chunks(
    path: &std::path::Path,
    chunks: std::sync::mpsc::Receiver<bytes::Bytes>,
) -> std::io::Result<()> {
    use std::io::Write;
    let file = std::fs::File::create(path)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    for chunk in chunks {
        out.write_all(&chunk)?;
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// The SHA-256, in hex, of the chunks received until the channel closes.
fn hash_chunks(chunks: std::sync::mpsc::Receiver<bytes::Bytes>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for chunk in chunks {
        hasher.update(&chunk);
    }
    hex(&hasher.finalize())
}

/// Lowercase hexadecimal of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
