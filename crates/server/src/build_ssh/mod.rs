//! SSH into a build: `ssh -p 2222 <build>@host` with a key registered in Slipway.
//!
//! The same russh server set-up as the upgrade API's SFTP endpoint ([`crate::sftp`]: its
//! settings, accept loop and host key file `<data-dir>/sftp/host_ed25519_key`, so the machine
//! shows one SSH identity on both ports), with other users: the login is a build's name, and
//! a key is accepted when its owner may open a shell in that build (the Shell tab's right,
//! [`slipway_platform::Platform::ssh_login`]) and the build is running. A refused key, an
//! unknown build and a missing right look the same to the client: authentication fails.
//!
//! Once in, every session channel runs what [`slipway_platform::Platform::shell_command`]
//! says: `pty-req` + `shell` a terminal of the requested size, `exec` the command (so `scp -O`
//! works), `subsystem sftp` OpenSSH's `sftp-server` (so `scp` and `sftp` work), all in the
//! build's shell environment with the shell's own rights. Window changes are ignored (the PTY
//! keeps the size asked for at first). Exit status and EOF are forwarded; a session without
//! input for `--shell-idle` is closed. Each session's start and end go to the branch's History.

mod session;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::sftp::{keys, ssh, SftpError};
use crate::AppState;

/// OpenSSH's SFTP server (Debian's `openssh-sftp-server`).
pub const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

/// Why the builds' SSH server could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildSshError {
    /// The host key could not be read or created.
    #[error(transparent)]
    HostKey(#[from] SftpError),
    /// The listening address is taken or not ours.
    #[error("cannot listen for SSH on {address}: {source}; choose another --ssh-listen, or --ssh-listen off")]
    Listen {
        /// The configured address.
        address: SocketAddr,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// The builds' SSH server, bound and not yet serving.
#[derive(Debug)]
pub struct BuildSsh {
    listener: TcpListener,
    host_key: russh::keys::PrivateKey,
}

impl BuildSsh {
    /// Binds `address` and reads (or creates) the host key in `sftp_dir` (`<data-dir>/sftp`).
    pub async fn bind(address: SocketAddr, sftp_dir: &Path) -> Result<Self, BuildSshError> {
        let path = sftp_dir.join("host_ed25519_key");
        let host_key = tokio::task::spawn_blocking(move || keys::load_or_create_host_key(&path))
            .await
            .map_err(SftpError::from)??;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| BuildSshError::Listen { address, source })?;
        Ok(Self { listener, host_key })
    }

    /// The port clients reach it on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves SSH sessions into `state`'s builds for as long as the process runs.
    pub async fn run(self, state: AppState) {
        let idle: Duration = state.shell_idle;
        let platform = state.platform.clone();
        ssh::accept(self.listener, ssh::config(self.host_key), move |peer| {
            session::BuildSession::new(platform.clone(), peer, idle)
        })
        .await
    }
}
