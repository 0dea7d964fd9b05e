//! The mail catcher's SMTP server: where development and staging builds send their mail.
//!
//! Their `odoo.conf` points here with the build's login ([`crate::BuildCredentials`]);
//! every accepted message is stored in that build's mailbox ([`crate::MailStore`]) and
//! goes nowhere else. One tokio task per connection; the conversation itself is the pure
//! [`session`] state machine. Enough ESMTP for Python's `smtplib` (Odoo) and other clients:
//! `EHLO`/`HELO`, `AUTH PLAIN` and `AUTH LOGIN` (required before `MAIL FROM`: 530 otherwise,
//! so an unknown client cannot fill the disk), `MAIL FROM` (with `SIZE=`), `RCPT TO` (at most
//! [`MAX_RECIPIENTS`], 452 beyond), `DATA` (dot-unstuffed, at most
//! [`DEFAULT_MAX_MESSAGE_BYTES`] by default, 552 beyond), `RSET`, `NOOP`, `QUIT`; 502 for the
//! rest. No `STARTTLS`: the server listens on loopback by default, next to the builds.
//! A connection idle for [`IDLE_TIMEOUT`] is closed with 421.

mod session;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::{BuildCredentials, MailStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::Instrument;

use session::{Limits, Session, Step};

/// The largest message accepted unless configured otherwise: 25 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;
/// Recipients per message.
pub const MAX_RECIPIENTS: usize = 100;
/// How long a connection may stay silent.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more are told to come back later (421).
pub const MAX_CONNECTIONS: usize = 200;
/// How long connections may take to finish once shutdown is asked.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the SMTP server could not start.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// The listening address is taken or not ours.
    #[error("cannot listen for SMTP on {address}: {source}; choose another --smtp-listen")]
    Listen {
        /// The configured address.
        address: SocketAddr,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// The SMTP server of the mail catcher, bound and ready to [`run`](Self::run).
#[derive(Debug)]
pub struct SmtpCatcher {
    listener: TcpListener,
    context: Arc<Context>,
}

#[derive(Debug)]
struct Context {
    store: MailStore,
    credentials: BuildCredentials,
    limits: Limits,
    idle_timeout: Duration,
}

impl SmtpCatcher {
    /// Listens on `addr` (port 0 picks a free one), storing into `store` the mail of builds
    /// that log in with `credentials`.
    pub async fn bind(
        addr: SocketAddr,
        store: MailStore,
        credentials: BuildCredentials,
    ) -> Result<Self, SmtpError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SmtpError::Listen {
                address: addr,
                source,
            })?;
        let limits = Limits {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_recipients: MAX_RECIPIENTS,
        };
        Ok(Self {
            listener,
            context: Arc::new(Context {
                store,
                credentials,
                limits,
                idle_timeout: IDLE_TIMEOUT,
            }),
        })
    }

    /// The same server accepting messages of at most `bytes` bytes.
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
        if let Some(context) = Arc::get_mut(&mut self.context) {
            context.limits.max_message_bytes = bytes;
        }
        self
    }

    /// The same server closing connections idle for `timeout` (default [`IDLE_TIMEOUT`]).
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        if let Some(context) = Arc::get_mut(&mut self.context) {
            context.idle_timeout = timeout;
        }
        self
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting and gives open connections a
    /// few seconds to finish before closing them.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) if connections.len() < MAX_CONNECTIONS => {
                        let context = self.context.clone();
                        let span = tracing::info_span!("smtp", %peer);
                        connections.spawn(connection(stream, context).instrument(span));
                    }
                    Ok((mut stream, peer)) => {
                        tracing::warn!(%peer, "too many SMTP connections, refusing one");
                        tokio::spawn(async move {
                            let _ = stream.write_all(b"421 4.3.2 Too busy, try again later\r\n").await;
                        });
                    }
                    Err(e) => {
                        tracing::warn!("accepting an SMTP connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(self.listener);
        let finished = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, finished)
            .await
            .is_err()
        {
            tracing::info!(open = connections.len(), "closing SMTP connections");
        }
    }
}

/// One client, from greeting to close.
async fn connection(mut stream: TcpStream, context: Arc<Context>) {
    if let Err(e) = converse(&mut stream, &context).await {
        tracing::debug!("SMTP connection ended: {e}");
    }
}

async fn converse(stream: &mut TcpStream, context: &Context) -> std::io::Result<()> {
    let mut out = Vec::new();
    let mut session = Session::new(context.limits, context.credentials.clone(), &mut out);
    let mut buf = vec![0; 64 * 1024];
    loop {
        match session.advance(&mut out) {
            Step::NeedInput => {
                stream.write_all(&out).await?;
                out.clear();
                let read = tokio::time::timeout(context.idle_timeout, stream.read(&mut buf)).await;
                match read {
                    Ok(Ok(0)) => return Ok(()),
                    Ok(Ok(n)) => session.push(&buf[..n]),
                    Ok(Err(e)) => return Err(e),
                    Err(_) => {
                        stream
                            .write_all(b"421 4.4.2 Idle too long, closing\r\n")
                            .await?;
                        return Ok(());
                    }
                }
            }
            Step::Deliver(delivery) => {
                let store = context.store.clone();
                let size = delivery.raw.len();
                let stored = tokio::task::spawn_blocking(move || {
                    store.store(
                        delivery.build_id,
                        &delivery.from,
                        &delivery.to,
                        &delivery.raw,
                    )
                })
                .await;
                let seq = match stored {
                    Ok(Ok(summary)) => {
                        tracing::info!(
                            build_id = summary.build_id,
                            seq = summary.seq,
                            size,
                            "mail caught"
                        );
                        Ok(summary.seq)
                    }
                    Ok(Err(e)) => {
                        tracing::error!(build_id = ?session.build_id(), "storing a caught mail failed: {e}");
                        Err(())
                    }
                    Err(e) => {
                        tracing::error!("storing a caught mail was interrupted: {e}");
                        Err(())
                    }
                };
                session.delivered(seq, &mut out);
            }
            Step::Close => {
                stream.write_all(&out).await?;
                return stream.shutdown().await;
            }
        }
    }
}
