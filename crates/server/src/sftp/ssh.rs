//! The SSH layer: public-key login as `user_<id>`, then the `sftp` subsystem and nothing else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::{PrivateKey, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Config, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::net::TcpListener;

use super::keys::is_authorized;
use super::session::SftpSession;
use slipway_upgrade::UpgradeService;

/// The server's SSH settings: public keys only, host key `key`. The builds' SSH server uses
/// them too.
pub(crate) fn config(key: PrivateKey) -> Arc<Config> {
    Arc::new(Config {
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        auth_rejection_time: Duration::from_millis(500),
        // OpenSSH first probes with "none" to learn the methods: no need to slow that down.
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        inactivity_timeout: Some(Duration::from_secs(3600)),
        keepalive_interval: Some(Duration::from_secs(60)),
        nodelay: true,
        ..Config::default()
    })
}

/// Accepts connections on `listener` for as long as the process runs, each served by the
/// handler `handler(peer)` makes. The builds' SSH server uses it too.
pub(crate) async fn accept<H, F>(listener: TcpListener, config: Arc<Config>, handler: F)
where
    H: russh::server::Handler<Error = russh::Error> + Send + 'static,
    F: Fn(SocketAddr) -> H,
{
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                let handler = handler(peer);
                let config = config.clone();
                tokio::spawn(async move {
                    match russh::server::run_stream(config, socket, handler).await {
                        Ok(session) => {
                            if let Err(e) = session.await {
                                tracing::debug!(%peer, "SSH connection ended: {e}");
                            }
                        }
                        Err(e) => tracing::debug!(%peer, "SSH handshake failed: {e}"),
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!("SSH server cannot accept connections: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One SSH connection.
pub(super) struct SshSession {
    service: UpgradeService,
    peer: SocketAddr,
    /// The request the user logged in for, once authenticated.
    request: Option<i64>,
    channels: HashMap<ChannelId, Channel<Msg>>,
}

impl SshSession {
    pub(super) fn new(service: UpgradeService, peer: SocketAddr) -> Self {
        Self {
            service,
            peer,
            request: None,
            channels: HashMap::new(),
        }
    }

    /// Whether `key` may log in as `user`: `user_<id>` of an existing request whose stored
    /// keys include it.
    async fn authorized(&self, user: &str, key: &PublicKey) -> Option<i64> {
        let id: i64 = user.strip_prefix("user_")?.parse().ok()?;
        let record = match self.service.request(id).await {
            Ok(record) => record?,
            Err(e) => {
                tracing::error!(request = id, "SFTP login: reading the request: {e}");
                return None;
            }
        };
        is_authorized(record.ssh_keys.as_deref()?, key).then_some(id)
    }
}

impl russh::server::Handler for SshSession {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        key: &PublicKey,
    ) -> Result<Auth, Self::Error> {
        Ok(match self.authorized(user, key).await {
            Some(_) => Auth::Accept,
            None => Auth::reject(),
        })
    }

    async fn auth_publickey(&mut self, user: &str, key: &PublicKey) -> Result<Auth, Self::Error> {
        let Some(id) = self.authorized(user, key).await else {
            tracing::info!(peer = %self.peer, user, "SFTP login refused");
            return Ok(Auth::reject());
        };
        tracing::info!(request = id, peer = %self.peer, "SFTP login");
        self.request = Some(id);
        Ok(Auth::Accept)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (Some(id), "sftp") = (self.request, name) else {
            return session.channel_failure(channel);
        };
        let Some(opened) = self.channels.remove(&channel) else {
            return session.channel_failure(channel);
        };
        session.channel_success(channel)?;
        let sftp = SftpSession::new(self.service.clone(), id);
        russh_sftp::server::run(opened.into_stream(), sftp).await;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.close(channel)
    }
}
