//! Slipway's HTTP server: one axum router per area, merged here.
//!
//! - `GET /healthz`
//! - `/database/v1/*` and `/database/<region>/<id>/<key>/...`: Odoo's upgrade API
//!   ([`upgrade_api`]), with its SFTP endpoint ([`sftp`]).
//! - `/api/builds/{id}/mails...`: the mail catcher's messages ([`mails`], not merged here:
//!   the `/api` router mounts it behind its authentication), fed by its SMTP server
//!   ([`smtp`]).
//!
//! The REST API (`/api`), Git smart HTTP (`/git`) and the web UI join as routers of their own.

mod health;
pub mod mails;
pub mod sftp;
pub mod smtp;
pub mod upgrade_api;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use slipway_mail::MailStore;
use slipway_platform::upgrade::{UpgradeFiles, UpgradeStore};
use slipway_platform::{JobQueue, Metadata};
use tokio::net::TcpListener;

pub use upgrade_api::UpgradeService;

/// The server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Slipway's data directory (request files go to `<data-dir>/upgrade`, the SFTP host key
    /// to `<data-dir>/sftp`).
    pub data_dir: PathBuf,
    /// Standard upgrade scripts for the upgrade platform (`DIR/<target>/<module>/<version>/`).
    pub upgrade_scripts: Option<PathBuf>,
    /// The region part of upgrade request URLs.
    pub region: String,
    /// The largest dump the upgrade API accepts.
    pub max_upload_bytes: u64,
    /// Where the SFTP server listens once a request asks for SFTP access.
    pub sftp_listen: SocketAddr,
    /// Where the mail catcher's SMTP server listens.
    pub smtp_listen: SocketAddr,
}

impl ServerConfig {
    /// Where caught mails are stored: `<data-dir>/mails`.
    pub fn mails_dir(&self) -> PathBuf {
        self.data_dir.join("mails")
    }

    /// The secret the builds' SMTP passwords derive from: `<data-dir>/smtp/secret`.
    pub fn smtp_secret_path(&self) -> PathBuf {
        self.data_dir.join("smtp").join("secret")
    }
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The metadata database.
    pub metadata: Metadata,
    /// The upgrade platform.
    pub upgrade: UpgradeService,
    /// The mail catcher's messages (`<data-dir>/mails`).
    pub mails: MailStore,
}

impl AppState {
    /// The state of a server with `config`, on the metadata database `metadata`.
    pub fn new(metadata: Metadata, config: &ServerConfig) -> Self {
        let pool = metadata.pool().clone();
        let upgrade = UpgradeService {
            store: UpgradeStore::new(pool.clone()),
            queue: JobQueue::new(pool),
            files: UpgradeFiles::new(config.data_dir.join("upgrade")),
            scripts_dir: config.upgrade_scripts.clone(),
            region: config.region.clone(),
            max_upload_bytes: config.max_upload_bytes,
            sftp: sftp::SftpServer::new(config.sftp_listen, config.data_dir.join("sftp")),
        };
        let mails = MailStore::new(config.mails_dir());
        Self {
            metadata,
            upgrade,
            mails,
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(upgrade_api::router())
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
