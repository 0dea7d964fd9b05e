//! The SFTP endpoint of `request_sftp_access`: each request's user sees and writes only its
//! one shared file.
//!
//! An SSH server (russh) started on the first `request_sftp_access` and kept for the life of
//! the process. User `user_<id>` logs in with one of the public keys stored for request `<id>`
//! (nothing else: no passwords, no shell, no forwarding) and gets the `sftp` subsystem only,
//! whose view ([`view`]) is one file at `/`: the dump to upload while the request is `draft`,
//! `upgraded_<filename>` to download once it is `done` or `delivered`.

pub(crate) mod keys;
mod session;
pub(crate) mod ssh;
mod view;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::OnceCell;

pub use keys::{parse_authorized_keys, KeysError, LineProblem};
use slipway_upgrade::UpgradeService;

/// Where clients reach the SFTP server.
#[derive(Debug, Clone)]
pub struct SftpEndpoint {
    /// Host name to tell clients.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// Why the SFTP server could not start.
#[derive(Debug, thiserror::Error)]
pub enum SftpError {
    /// The host key could not be read or created.
    #[error("SSH host key {path}: {source}; fix its permissions or remove it to create a new one")]
    HostKey {
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The listening address is taken or not ours.
    #[error("cannot listen for SFTP on {address}: {source}; choose another --sftp-listen")]
    Listen {
        /// The configured address.
        address: SocketAddr,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The blocking task that reads the host key did not finish.
    #[error("reading the SSH host key was interrupted: {0}")]
    Interrupted(#[from] tokio::task::JoinError),
}

/// The SFTP server, started on first use.
#[derive(Debug, Clone)]
pub struct SftpServer {
    listen: SocketAddr,
    host_key: PathBuf,
    started: Arc<OnceCell<SftpEndpoint>>,
}

impl SftpServer {
    /// A server that will listen on `listen` once needed, with its host key in `dir`
    /// (`<data-dir>/sftp`).
    pub fn new(listen: SocketAddr, dir: PathBuf) -> Self {
        Self {
            listen,
            host_key: dir.join("host_ed25519_key"),
            started: Arc::new(OnceCell::new()),
        }
    }

    /// Starts the server if it is not running; returns where clients reach it. Concurrent
    /// callers share one start; a failed start is retried by the next caller.
    pub async fn ensure_running(
        &self,
        service: &UpgradeService,
    ) -> Result<SftpEndpoint, SftpError> {
        self.started
            .get_or_try_init(|| self.start(service.clone()))
            .await
            .cloned()
    }

    async fn start(&self, service: UpgradeService) -> Result<SftpEndpoint, SftpError> {
        let path = self.host_key.clone();
        let key =
            tokio::task::spawn_blocking(move || keys::load_or_create_host_key(&path)).await??;
        let listener =
            TcpListener::bind(self.listen)
                .await
                .map_err(|source| SftpError::Listen {
                    address: self.listen,
                    source,
                })?;
        let bound = listener.local_addr().map_err(|source| SftpError::Listen {
            address: self.listen,
            source,
        })?;
        tokio::spawn(ssh::accept(listener, ssh::config(key), move |peer| {
            ssh::SshSession::new(service.clone(), peer)
        }));
        tracing::info!(address = %bound, "SFTP server listening");
        Ok(SftpEndpoint {
            host: host_of(bound),
            port: bound.port(),
        })
    }
}

/// The address to tell clients when the request did not say how it reached us.
fn host_of(bound: SocketAddr) -> String {
    if bound.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        bound.ip().to_string()
    }
}
