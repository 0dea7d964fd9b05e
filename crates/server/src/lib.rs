//! Slipway's HTTP server: one axum router per area, merged here.
//!
//! - `GET /healthz`
//! - `/database/v1/*` and `/database/<region>/<id>/<key>/...`: Odoo's upgrade API
//!   ([`upgrade_api`]), with its SFTP endpoint ([`sftp`]).
//! - `/api/builds/{id}/mails...`: the mail catcher's messages ([`mails`], mounted by the
//!   `/api` router behind its authentication), fed by its SMTP server (`slipway_mail::smtp`).
//!
//! - `/api/*`: the REST API ([`api`]-module docs list the routes).
//! - `/git/<project>.git`: Git smart HTTP (`slipway_git::http`, behind token auth and the push hook
//!   in `builds_http`); `<build>.<domain>`: the reverse proxy to build servers (`slipway_proxy`),
//!   each on an origin of its own (`/builds/<build>/...` only redirects there).
//!
//! - `/` and `/ui/*`: the web UI ([`ui`]), static assets embedded in the binary.
//!
//! ## Design notes
//!
//! axum. One router per area merged in `router()`, with `serve()` shutting down gracefully and
//! cutting slow clients (a request head not sent within `--http-header-timeout`, a request body
//! idle for `--http-body-idle`: answered 408, the connection closed, whatever the route; idle
//! time only, so slow but steady uploads go through): `GET
//! /healthz` (`{"status":"ok","postgres":"15.18"}`, 503 when PostgreSQL is unreachable), and
//! `upgrade_api/`: Odoo's `/database/v1/*` with parameters from the query string or a form
//! (`params.rs`), the documented `request` dict field for field (`view.rs`), `upload` streamed to a
//! new file then renamed over the old dump (`upload.rs`), and the request URLs
//! `/database/<region>/<id>/<key>/...` served with `Range` (`downloads.rs`). Every failure reason
//! is listed in the module's docs.
//!
//! `api/` is the REST API (`/api/*`, JSON, one error shape; routes listed in `api/mod.rs`): users,
//! runtimes, projects and members, branches (settings, stage moves, history, rebuild, merge, fork),
//! builds (stop, keep, logs with `Range` or followed as Server-Sent Events ending by themselves,
//! files for the editor, shell, monitor), backups (list, create, verify, download, restore; import
//! (`POST .../branches/{b}/import`: the raw body streamed by `files::receive_body`, shared with the
//! upgrade API's upload, into `<data-dir>/backups/uploads`, capped at `--max-upload`); `GET|POST
//! .../branches/{b}/pitr`: the point-in-time recovery window, and production restored as it was at
//! `{"at": ...}`, server stopped and restarted around it as for a restore). `auth.rs` takes a
//! bearer token, or the web UI's session cookie (`slipway_session`: HttpOnly, SameSite=Strict, a
//! random id whose SHA-256 is stored in `ui_sessions`) whose POST/PUT/PATCH/DELETE must echo the
//! session's CSRF token in `X-Slipway-CSRF`; `Access::require(action, stage)` applies
//! `projects::allowed` to the stage of the branch or build concerned, so every right is enforced by
//! the API, whatever the UI shows. `builds_http.rs` joins Git and the proxy to the platform:
//! `/git/<project>.git` with HTTP basic auth (any user, a token as password) and the push hook (the
//! branches read before and after `git-receive-pack`, whose report is read whole first, since git
//! updates refs while streaming it; all under the project's `lock_refs`), the build proxy by host
//! (`<build>.<domain>`, a middleware ahead of every router; `/builds/<build>/` is a 307 there, so a
//! build never runs on the UI's origin), and one-time Connect links that log the browser into a
//! build as its administrator.
//!
//! `ui/` is the web UI: `index.html`, one stylesheet and one ES module per page or tab
//! (`project.js`: branches by stage, drag to move or merge; `builds.js`; `branch.js` with
//! `history`, `logs` (EventSource on `?follow=1`, pause/resume), `mails`, `editor`, `monitor`,
//! `backups` (verify, restore, download, import, point-in-time recovery), `settings`), embedded
//! with `include_str!` and served under `/` and `/ui/` with a strict CSP (no inline script or
//! style); plain DOM, `fetch` and `EventSource`, no framework nor build step. Tabs whose API is
//! missing say "not available". `shell.rs` is the Shell tab's WebSocket: util-linux `script` gives
//! `bash` a PTY in the build's folder, with libpq's `PG*` variables from the build's `odoo.conf`,
//! its virtualenv and Odoo on `PATH` and `ODOO_RC` set; same-origin checked, closed after `serve
//! --shell-idle` seconds without input (15 minutes); it runs as Slipway's user, like the build's
//! Odoo. `monitor.rs` samples the build server's `/proc/<pid>` (CPU seconds, RSS) for the Monitor
//! charts, with the HTTP requests the proxy counted for the build (`ProxyClient::requests_to`).
//! xterm.js (npm, `crates/server/ui-vendor/`, locked) is copied into the binary by `build.rs`;
//! without it a release build fails, saying to run `dev/setup`, and a debug build warns and gets a
//! Shell tab that says so. It is tested in Chromium by `crates/cli/tests/ui.rs` +
//! `tests/ui/run.mjs` (playwright-core from npm, locked).
//!
//! `sftp/` is the SFTP endpoint of `request_sftp_access`: an SSH server (russh + russh-sftp, inside
//! the binary: no system sshd or chroot) started on the first call, with a persistent ed25519 host
//! key at `<data-dir>/sftp/host_ed25519_key` (0600). User `user_<id>` logs in only with one of the
//! public keys stored for request `<id>`: no password, no shell, only the `sftp` subsystem.
//! `view.rs` holds the pure rules: the user's world is one file at `/`; in `draft` the dump,
//! written (`put`, resumed with `put -a` from the size `stat` reports) straight to
//! `upgrade/<id>/original/`; in `done`/`delivered` `upgraded_<filename>`, read-only; every other
//! path, and any `..`, is a permission error. The request's state is re-read on every open; a
//! written file's size and SHA-256 are recorded (in `draft` only) when it is closed or the
//! connection drops.
//!
//! `build_ssh/` is SSH into builds (`serve --ssh-listen`, port 2222 by default): the SFTP
//! endpoint's config, accept loop and host key, with the build's name as the user, a key
//! registered by someone with the Shell right on its stage, and every session channel run by
//! `Platform::shell_command` (a PTY shell, a command, or OpenSSH's `sftp-server`).
//!
//! `mails.rs` serves `/api/builds/{id}/mails[/{seq}[.eml|/html]]` from the `MailStore`, the HTML
//! view under `Content-Security-Policy: default-src 'none'; img-src data:; style-src
//! 'unsafe-inline'`; it has no authentication of its own and is mounted by the `/api` router behind
//! its own.

mod api;
pub mod build_ssh;
mod builds_http;
mod files;
mod health;
pub mod mails;
pub mod sftp;
mod ui;
pub mod upgrade_api;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use slipway_mail::MailStore;
use slipway_platform::{DataDir, JobQueue, Metadata, Platform};
use slipway_upgrade::{UpgradeFiles, UpgradeStore};
use tokio::net::TcpListener;

pub use slipway_upgrade::UpgradeService;

/// The server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Slipway's data directory; [`Self::layout`] says where each thing goes under it.
    pub data_dir: PathBuf,
    /// Standard upgrade scripts for the upgrade platform (`DIR/<target>/<module>/<version>/`).
    pub upgrade_scripts: Option<PathBuf>,
    /// The region part of upgrade request URLs.
    pub region: String,
    /// The largest dump the upgrade API accepts.
    pub max_upload_bytes: u64,
    /// Where the SFTP server listens once a request asks for SFTP access.
    pub sftp_listen: SocketAddr,
    /// The domain builds are served under (`<build>.<domain>`).
    pub domain: String,
    /// How long `?follow=1` streams a log before ending by itself.
    pub log_follow_for: Duration,
    /// A Shell nobody typed in for this long is closed.
    pub shell_idle: Duration,
    /// Where the mail catcher's SMTP server listens.
    pub smtp_listen: SocketAddr,
    /// An SMTP connection silent for this long is closed (it holds one of the catcher's places).
    pub smtp_idle: Duration,
    /// How failed password sign-ins are delayed and locked out.
    pub sign_in: slipway_platform::throttle::ThrottlePolicy,
    /// How long a client has to send a request's head ([`HEADER_READ_TIMEOUT`] by default).
    pub header_read_timeout: Duration,
    /// How long a request body may stall ([`BODY_IDLE_TIMEOUT`] by default).
    pub body_idle_timeout: Duration,
}

impl ServerConfig {
    /// Where everything lives under [`Self::data_dir`].
    pub fn layout(&self) -> DataDir {
        DataDir::new(&self.data_dir)
    }

    /// Deletes what imports left in [`DataDir::backup_uploads`] when the server stopped
    /// mid-way (a crash or kill skips the handler's own cleanup). Call it before serving:
    /// no import is under way then. Returns how many files went.
    pub fn remove_interrupted_imports(&self) -> std::io::Result<usize> {
        let entries = match std::fs::read_dir(self.layout().backup_uploads()) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The metadata database.
    pub metadata: Metadata,
    /// The upgrade platform.
    pub upgrade: UpgradeService,
    /// The upgrade API's SFTP endpoint, started by the first `request_sftp_access`.
    pub sftp: sftp::SftpServer,
    /// Projects, branches, builds.
    pub platform: Platform,
    /// The domain builds are served under.
    pub domain: String,
    /// How long a followed log streams.
    pub log_follow_for: Duration,
    /// A Shell nobody typed in for this long is closed.
    pub shell_idle: Duration,
    /// The HTTP client of the build proxy.
    pub proxy: slipway_proxy::ProxyClient,
    /// One-time "Connect" tickets.
    pub connect_tickets: builds_http::ConnectTickets,
    /// Running builds' addresses, remembered a second by the proxy.
    build_routes: builds_http::BuildRoutes,
    /// The mail catcher's messages (`<data-dir>/mails`).
    pub mails: MailStore,
    /// Where imported dumps are received ([`DataDir::backup_uploads`]).
    pub import_uploads: PathBuf,
    /// The port of the SSH server into builds ([`build_ssh`]), when it runs.
    pub ssh_port: Option<u16>,
    /// Failed password sign-ins, per login and per address.
    pub sign_in_throttle: Arc<slipway_platform::throttle::SignInThrottle>,
    /// Password checks running at once: Argon2 is made to be slow, and a flood of sign-ins
    /// must not take every core from the rest of the server.
    pub password_checks: Arc<tokio::sync::Semaphore>,
    /// How long a client has to send a request's head ([`HEADER_READ_TIMEOUT`]).
    pub header_read_timeout: Duration,
    /// How long a request body may go without a byte before the request is answered 408
    /// and its connection closed ([`BODY_IDLE_TIMEOUT`]): idle time, never the total, so
    /// a slow but steady upload of any size goes through.
    pub body_idle_timeout: Duration,
}

impl AppState {
    /// The state of a server with `config`, on the metadata database `metadata`.
    pub fn new(metadata: Metadata, config: &ServerConfig, platform: Platform) -> Self {
        api::keep_paths_private(&config.data_dir);
        let pool = metadata.pool().clone();
        let upgrade = UpgradeService {
            store: UpgradeStore::new(pool.clone()),
            queue: JobQueue::new(pool),
            files: UpgradeFiles::new(config.layout().upgrade()),
            engines: std::sync::Arc::new(platform.clone()),
            region: config.region.clone(),
            max_upload_bytes: config.max_upload_bytes,
        };
        let sftp = sftp::SftpServer::new(config.sftp_listen, config.layout().sftp());
        // The builds' store when they have one, so that every clone shares one writer lock.
        let mails = (platform.env().mails.clone())
            .unwrap_or_else(|| MailStore::new(config.layout().mails()));
        Self {
            metadata,
            upgrade,
            sftp,
            platform,
            domain: config.domain.clone(),
            log_follow_for: config.log_follow_for,
            shell_idle: config.shell_idle,
            proxy: slipway_proxy::ProxyClient::new(),
            connect_tickets: builds_http::ConnectTickets::default(),
            build_routes: builds_http::BuildRoutes::default(),
            mails,
            import_uploads: config.layout().backup_uploads(),
            ssh_port: None,
            sign_in_throttle: Arc::new(slipway_platform::throttle::SignInThrottle::new(
                config.sign_in,
            )),
            password_checks: Arc::new(tokio::sync::Semaphore::new(2)),
            header_read_timeout: config.header_read_timeout,
            body_idle_timeout: config.body_idle_timeout,
        }
    }

    /// Where a build is reached, for a client whose request came with `headers`:
    /// `http://<build>.<domain>[:port]`, on the port that request reached Slipway on
    /// ([`slipway_proxy::build_origin`]).
    pub fn build_origin(&self, build: &str, headers: &axum::http::HeaderMap) -> String {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok());
        slipway_proxy::build_origin(self.proxy.scheme(), build, &self.domain, host)
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(upgrade_api::router())
        .merge(api::router(state.clone()))
        .merge(ui::router())
        .merge(builds_http::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            builds_http::route_build_hosts,
        ))
        .layer(axum::middleware::from_fn(refuse_nul_bytes))
        .with_state(state)
}

/// Middleware: a request whose path or query decodes to a NUL byte (`%00`) is refused with a
/// 400 naming it, before any handler: no name Slipway keeps can hold one, and PostgreSQL
/// refuses NUL in text, which would otherwise surface as a 500.
async fn refuse_nul_bytes(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let uri = request.uri();
    let holds_nul = |part: &str| part.contains("%00");
    if holds_nul(uri.path()) || uri.query().is_some_and(holds_nul) {
        return api::ApiError::invalid(
            "the request's address holds a NUL byte (%00), which no name or value can contain: remove it",
        )
        .into_response();
    }
    next.run(request).await
}

/// Serves `router(state)` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish. Handlers can read the client's address (`ConnectInfo<SocketAddr>`), which Git's
/// `REMOTE_ADDR` and the proxy's `X-Forwarded-For` use.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_read_timeout = state.header_read_timeout;
    let body_idle_timeout = state.body_idle_timeout;
    let app = router(state);
    let mut http = hyper::server::conn::http1::Builder::new();
    // A client that never finishes its request head (slowloris) holds a connection and a
    // task: it gets HEADER_READ_TIMEOUT, then the connection is closed.
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    // Every connection holds a receiver: at shutdown each is told to finish its request, and
    // `closed` resolves once the last one has.
    let (stop, stopping) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("cannot accept an HTTP connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                // What `ConnectInfo<SocketAddr>` reads (Git's REMOTE_ADDR, X-Forwarded-For, sign-in limits).
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let stalled = Arc::new(AtomicBool::new(false));
                let request = request.map(|body| idle_timed(body, body_idle_timeout, &stalled));
                let answer = tower::ServiceExt::oneshot(app.clone(), request);
                async move {
                    let response = answer.await;
                    if stalled.load(Ordering::Relaxed) {
                        return Ok(body_stalled(body_idle_timeout));
                    }
                    response
                }
            },
        );
        let connection = http
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .with_upgrades();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, "HTTP connection ended: {e}");
            }
        });
    }
    drop(listener);
    drop(stopping);
    let _ = stop.send(());
    stop.closed().await;
    Ok(())
}

/// How long a client has to send a request's head (its line and headers).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a request body may go without a byte: a minute, far beyond the pauses of a slow
/// but live upload, and short enough that stalled clients do not pile up.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A request body as the handlers read it, failing once no byte came for `idle`
/// (tower-http's [`TimeoutBody`](tower_http::timeout::TimeoutBody): the wait restarts with each
/// chunk and only runs while a handler waits for one); `stalled` turns true when it did.
fn idle_timed(
    body: hyper::body::Incoming,
    idle: Duration,
    stalled: &Arc<AtomicBool>,
) -> axum::body::Body {
    use http_body_util::BodyExt;
    let stalled = stalled.clone();
    let timed = tower_http::timeout::TimeoutBody::new(idle, body).map_err(move |e| {
        if e.is::<tower_http::timeout::TimeoutError>() {
            stalled.store(true, Ordering::Relaxed);
        }
        e
    });
    axum::body::Body::new(timed)
}

/// The answer to a request whose body stalled, whatever its handler made of the cut body.
fn body_stalled(idle: Duration) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::REQUEST_TIMEOUT,
        [
            (axum::http::header::CONNECTION, "close"),
            (
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            ),
        ],
        format!(
            "the request body stalled: nothing came for {} s, so the request was dropped; send it again\n",
            idle.as_secs_f64()
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(data_dir: &std::path::Path) -> ServerConfig {
        ServerConfig {
            data_dir: data_dir.to_owned(),
            upgrade_scripts: None,
            region: "local".into(),
            max_upload_bytes: 1024,
            sftp_listen: "127.0.0.1:0".parse().unwrap(),
            domain: "localhost".into(),
            log_follow_for: Duration::from_secs(1),
            shell_idle: Duration::from_secs(900),
            smtp_listen: "127.0.0.1:0".parse().unwrap(),
            sign_in: Default::default(),
            smtp_idle: slipway_mail::smtp::IDLE_TIMEOUT,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_idle_timeout: BODY_IDLE_TIMEOUT,
        }
    }

    #[test]
    fn imports_cut_short_by_a_crash_are_removed_at_start_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        assert_eq!(config.remove_interrupted_imports().unwrap(), 0);

        let uploads = config.layout().backup_uploads();
        std::fs::create_dir_all(&uploads).unwrap();
        std::fs::write(uploads.join("import-00000000000000aa"), b"half a dump").unwrap();
        std::fs::write(uploads.join("import-00000000000000bb"), b"another").unwrap();
        let repository = dir.path().join("backups").join("repository");
        std::fs::create_dir_all(&repository).unwrap();
        std::fs::write(repository.join("chunk"), b"kept").unwrap();

        assert_eq!(config.remove_interrupted_imports().unwrap(), 2);
        assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), 0);
        assert_eq!(std::fs::read(repository.join("chunk")).unwrap(), b"kept");
    }
}
