//! An upgrade's `upgrade.log`, in its folder `<data-dir>/branch-upgrades/<id>/`: Slipway's
//! own lines (`slipway.log`: backup, export, import...), then the upgrade platform's log of
//! the request (`request.log`, as last fetched). Test and production upgrades write it alike.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::UPGRADE_LOG;
use crate::builds::pipeline::BuildEnv;

/// Slipway's own lines of an upgrade's log.
const SLIPWAY_LINES: &str = "slipway.log";

/// The upgrade platform's log of the request.
pub(super) const REQUEST_LOG: &str = "request.log";

/// The folder of branch upgrade `id`: its exported and upgraded dumps, its log.
pub(crate) fn upgrade_dir(env: &BuildEnv, id: i64) -> PathBuf {
    slipway_metadata::DataDir::new(&env.target.data_dir)
        .root()
        .join("branch-upgrades")
        .join(id.to_string())
}

/// Where the request's log is fetched to.
pub(crate) fn request_log(dir: &Path) -> PathBuf {
    dir.join(REQUEST_LOG)
}

/// Appends Slipway's own `line` to the log in `dir`.
pub(crate) async fn append(dir: &Path, line: &str) {
    use tokio::io::AsyncWriteExt;
    let _ = tokio::fs::create_dir_all(dir).await;
    let stamped = format!("{} {line}\n", Utc::now().format("%Y-%m-%d %H:%M:%S"));
    if let Ok(mut file) = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(SLIPWAY_LINES))
        .await
    {
        let _ = file.write_all(stamped.as_bytes()).await;
    }
    compose(dir).await;
}

/// Once the request ended, its log becomes part of the upgrade's own lines, so what
/// Slipway does next follows it in `upgrade.log`.
pub(crate) async fn keep_request_log(dir: &Path) {
    let request = tokio::fs::read_to_string(dir.join(REQUEST_LOG))
        .await
        .unwrap_or_default();
    let mut own = tokio::fs::read_to_string(dir.join(SLIPWAY_LINES))
        .await
        .unwrap_or_default();
    own.push_str("--- the upgrade platform's log ---\n");
    own.push_str(&request);
    own.push_str("--- end of the upgrade platform's log ---\n");
    if tokio::fs::write(dir.join(SLIPWAY_LINES), own).await.is_ok() {
        let _ = tokio::fs::remove_file(dir.join(REQUEST_LOG)).await;
    }
    compose(dir).await;
}

/// Appends a whole file (a build's log of its own) to Slipway's lines, between markers.
pub(crate) async fn include(dir: &Path, title: &str, file: &Path) {
    let Ok(text) = tokio::fs::read_to_string(file).await else {
        return;
    };
    let mut own = tokio::fs::read_to_string(dir.join(SLIPWAY_LINES))
        .await
        .unwrap_or_default();
    own.push_str(&format!("--- {title} ---\n"));
    own.push_str(&text);
    if !text.ends_with('\n') {
        own.push('\n');
    }
    own.push_str(&format!("--- end of {title} ---\n"));
    let _ = tokio::fs::write(dir.join(SLIPWAY_LINES), own).await;
    compose(dir).await;
}

/// Writes `upgrade.log`: Slipway's own lines, then the upgrade platform's log of the
/// request as last fetched.
pub(crate) async fn compose(dir: &Path) {
    let own = tokio::fs::read_to_string(dir.join(SLIPWAY_LINES))
        .await
        .unwrap_or_default();
    let request = tokio::fs::read_to_string(dir.join(REQUEST_LOG))
        .await
        .unwrap_or_default();
    let mut log = own;
    if !request.is_empty() {
        log.push_str("--- the upgrade platform's log ---\n");
        log.push_str(&request);
    }
    let _ = tokio::fs::write(dir.join(UPGRADE_LOG), log).await;
}
