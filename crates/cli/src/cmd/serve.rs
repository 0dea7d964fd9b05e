//! `slipway serve`: the server, on the embedded PostgreSQL unless `--pg-url` says otherwise.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use slipway_platform::Metadata;
use slipway_server::AppState;

use crate::config::GlobalOptions;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to serve HTTP on.
    #[arg(long, env = "SLIPWAY_LISTEN", default_value = "127.0.0.1:8400")]
    listen: SocketAddr,
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
    let postgres = global.postgres().await?;
    let served = serve_with(listener, &postgres.server, began).await;
    if let Some(cluster) = postgres.started {
        tracing::info!("stopping the embedded PostgreSQL");
        cluster
            .stop()
            .await
            .context("stopping the embedded PostgreSQL")?;
    }
    served
}

async fn serve_with(
    listener: tokio::net::TcpListener,
    server: &slipway_pg::Server,
    began: Instant,
) -> Result<()> {
    let metadata = Metadata::open(server)
        .await
        .context("opening the metadata database")?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        ready_ms = began.elapsed().as_millis() as u64,
        "Slipway listening on http://{addr}"
    );
    slipway_server::serve(listener, AppState { metadata }, shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("shut down cleanly");
    Ok(())
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
