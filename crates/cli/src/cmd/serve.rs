//! `slipway serve`: the server, on the embedded PostgreSQL unless `--pg-url` says otherwise.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use slipway_platform::upgrade::{run_worker, Processor};
use slipway_platform::Metadata;
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
    let postgres = global.postgres().await?;
    let served = serve_with(listener, &args, global, &postgres.server, began).await;
    tracing::info!("stopping");
    postgres.stop_if_started().await;
    served
}

async fn serve_with(
    listener: tokio::net::TcpListener,
    args: &ServeArgs,
    global: &GlobalOptions,
    server: &slipway_pg::Server,
    began: Instant,
) -> Result<()> {
    let metadata = Metadata::open(server)
        .await
        .context("opening the metadata database")?;
    let config = ServerConfig {
        data_dir: global.absolute_data_dir()?,
        upgrade_scripts: args.upgrade_scripts.clone(),
        region: args.region.clone(),
        max_upload_bytes: args.max_upload,
        sftp_listen: args.sftp_listen,
    };
    let state = AppState::new(metadata, &config);
    let (stop_workers, workers) =
        start_workers(&state, server, global.binaries()?, &config, args.workers);
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        ready_ms = began.elapsed().as_millis() as u64,
        "Slipway listening on http://{addr}"
    );
    slipway_server::serve(listener, state, shutdown_signal())
        .await
        .context("serving HTTP")?;
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
