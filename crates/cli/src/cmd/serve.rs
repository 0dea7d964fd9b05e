//! `slipway serve`: the server, on the embedded PostgreSQL unless `--pg-url` says otherwise.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use slipway_platform::upgrade::{run_worker, Processor};
use slipway_platform::Metadata;
use slipway_server::smtp::SmtpCatcher;
use slipway_server::{AppState, ServerConfig};

use crate::config::GlobalOptions;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to serve HTTP on.
    #[arg(long, env = "SLIPWAY_LISTEN", default_value = "127.0.0.1:8400")]
    listen: SocketAddr,

    /// Standard upgrade scripts of the upgrade platform: `DIR/<target series>/<module>/<version>/`;
    /// its series folders are the targets offered.
    #[arg(long, env = "SLIPWAY_UPGRADE_SCRIPTS")]
    upgrade_scripts: Option<PathBuf>,

    /// The region part of upgrade request URLs (`/database/<region>/<id>/<key>/...`).
    #[arg(long, env = "SLIPWAY_REGION", default_value = "local")]
    region: String,

    /// The largest dump the upgrade API accepts, in bytes.
    #[arg(long, env = "SLIPWAY_MAX_UPLOAD", default_value_t = 100 * 1024 * 1024 * 1024)]
    max_upload: u64,

    /// Where the upgrade platform's SFTP server listens (started on first use).
    #[arg(long, env = "SLIPWAY_SFTP_LISTEN", default_value = "127.0.0.1:2200")]
    sftp_listen: SocketAddr,

    /// Where the mail catcher's SMTP server listens: development and staging builds send
    /// their mail there, and it never leaves the machine.
    #[arg(long, env = "SLIPWAY_SMTP_LISTEN", default_value = "127.0.0.1:2525")]
    smtp_listen: SocketAddr,

    /// How many upgrade requests are processed at once.
    #[arg(long, env = "SLIPWAY_WORKERS", default_value_t = 1)]
    workers: usize,
}

pub async fn run(args: ServeArgs, global: &GlobalOptions) -> Result<()> {
    let began = Instant::now();
    // Bind first: a taken port must fail before anything is started or created.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; choose another address with --listen",
                args.listen
            )
        })?;
    if let Some(dir) = &args.upgrade_scripts {
        anyhow::ensure!(
            dir.is_dir(),
            "--upgrade-scripts {} is not a directory",
            dir.display()
        );
    }
    let config = ServerConfig {
        data_dir: global.absolute_data_dir()?,
        upgrade_scripts: args.upgrade_scripts.clone(),
        region: args.region.clone(),
        max_upload_bytes: args.max_upload,
        sftp_listen: args.sftp_listen,
        smtp_listen: args.smtp_listen,
    };
    let smtp = bind_smtp(&config).await?;
    let postgres = global.postgres().await?;
    let served = serve_with(
        listener,
        smtp,
        &args,
        &config,
        global,
        &postgres.server,
        began,
    )
    .await;
    tracing::info!("stopping");
    postgres.stop_if_started().await;
    served
}

/// Binds the mail catcher's SMTP server, creating the SMTP secret on first start.
async fn bind_smtp(config: &ServerConfig) -> Result<SmtpCatcher> {
    let secret_path = config.smtp_secret_path();
    let secret = slipway_mail::load_or_create_secret(&secret_path)
        .with_context(|| format!("reading the SMTP secret {}", secret_path.display()))?;
    let store = slipway_mail::MailStore::new(config.mails_dir());
    let credentials = slipway_mail::BuildCredentials::new(secret);
    Ok(SmtpCatcher::bind(config.smtp_listen, store, credentials).await?)
}

async fn serve_with(
    listener: tokio::net::TcpListener,
    smtp: SmtpCatcher,
    args: &ServeArgs,
    config: &ServerConfig,
    global: &GlobalOptions,
    server: &slipway_pg::Server,
    began: Instant,
) -> Result<()> {
    let metadata = Metadata::open(server)
        .await
        .context("opening the metadata database")?;
    let state = AppState::new(metadata, config);
    let (stop_workers, workers) =
        start_workers(&state, server, global.binaries()?, config, args.workers);
    let addr = listener.local_addr()?;
    let smtp_addr = smtp.local_addr()?;
    tracing::info!(
        %addr,
        %smtp_addr,
        ready_ms = began.elapsed().as_millis() as u64,
        "Slipway listening on http://{addr}, catching mail on smtp://{smtp_addr}"
    );
    // The HTTP server owns the stop signal; the SMTP server stops when it is sent or dropped
    // (HTTP ended for any reason).
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let smtp = tokio::spawn(smtp.run(async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    }));
    let http_shutdown = async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    };
    let served = slipway_server::serve(listener, state, http_shutdown)
        .await
        .context("serving HTTP");
    let _ = smtp.await;
    served?;
    let _ = stop_workers.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Starts the upgrade workers; they stop when the returned sender says `true`.
fn start_workers(
    state: &AppState,
    server: &slipway_pg::Server,
    binaries: slipway_pg::Binaries,
    config: &ServerConfig,
    count: usize,
) -> (
    tokio::sync::watch::Sender<bool>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let target = slipway_dump::Target {
        server: server.clone(),
        binaries,
        data_dir: config.data_dir.clone(),
        owner: "odoo".into(),
        owner_password: None,
    };
    let processor = Processor {
        store: state.upgrade.store.clone(),
        files: state.upgrade.files.clone(),
        scripts_dir: config.upgrade_scripts.clone(),
        target,
        python: "python3".into(),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = (0..count)
        .map(|n| {
            let name = format!("{}-{n}", std::process::id());
            tokio::spawn(run_worker(
                state.upgrade.queue.clone(),
                processor.clone(),
                name,
                stopped.clone(),
            ))
        })
        .collect();
    (stop, workers)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::error!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested");
}
