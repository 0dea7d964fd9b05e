//! `slipway serve`: the server, on the embedded PostgreSQL unless `--pg-url` says otherwise.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use slipway_platform::builds::pipeline::BuildEnv;
use slipway_platform::people::NewUser;
use slipway_platform::upgrade::{run_worker, Processor};
use slipway_platform::{Metadata, Platform};
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

    /// How many builds run their pipeline at once.
    #[arg(long, env = "SLIPWAY_BUILD_WORKERS", default_value_t = 2)]
    build_workers: usize,

    /// The domain builds are served under: `<build>.<domain>` (`*.localhost` reaches this
    /// machine in browsers without any DNS set-up).
    #[arg(long, env = "SLIPWAY_DOMAIN", default_value = "localhost")]
    domain: String,

    /// The Python that creates build virtualenvs.
    #[arg(long, env = "SLIPWAY_PYTHON", default_value = "python3")]
    python: String,

    /// How long a build server gets to answer its health check, in seconds.
    #[arg(long, env = "SLIPWAY_HEALTH_TIMEOUT", default_value_t = 180)]
    health_timeout: u64,

    /// How often the scheduler's chores run (development database lifetime, running
    /// limits, template trimming), in seconds.
    #[arg(long, env = "SLIPWAY_CHORES_EVERY", default_value_t = 60)]
    chores_every: u64,

    /// The SMTP relay production builds really send mail through (`host:port`); without it
    /// production uses the mail servers configured in its database.
    #[arg(long, env = "SLIPWAY_SMTP_RELAY")]
    smtp_relay: Option<String>,

    /// User of the production SMTP relay.
    #[arg(long, env = "SLIPWAY_SMTP_RELAY_USER")]
    smtp_relay_user: Option<String>,

    /// Password of the production SMTP relay.
    #[arg(long, env = "SLIPWAY_SMTP_RELAY_PASSWORD", hide_env_values = true)]
    smtp_relay_password: Option<String>,

    /// Use SSL with the production SMTP relay.
    #[arg(long, env = "SLIPWAY_SMTP_RELAY_SSL")]
    smtp_relay_ssl: bool,

    /// How long `logs?follow=1` streams before ending by itself, in seconds.
    #[arg(long, env = "SLIPWAY_LOG_FOLLOW", default_value_t = 300)]
    log_follow: u64,
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
        domain: args.domain.clone(),
        log_follow_for: Duration::from_secs(args.log_follow),
    };
    let target = build_target(server, global.binaries()?, &config);
    let platform = Platform::new(
        metadata.pool().clone(),
        build_env(args, &config, target.clone())?,
    );
    bootstrap_first_user(&platform, &config.data_dir).await?;
    let state = AppState::new(metadata, &config, platform.clone());
    let (stop_workers, mut workers) = start_workers(&state, target, &config, args.workers);
    for n in 0..args.build_workers {
        let platform = platform.clone();
        let stopped = stop_workers.subscribe();
        let name = format!("{}-build-{n}", std::process::id());
        workers.push(tokio::spawn(async move {
            platform.run_build_worker(name, stopped).await
        }));
    }
    {
        let platform = platform.clone();
        let stopped = stop_workers.subscribe();
        let every = Duration::from_secs(args.chores_every.max(1));
        workers.push(tokio::spawn(async move {
            platform.run_scheduler(every, stopped).await
        }));
    }
    {
        let platform = platform.clone();
        tokio::spawn(async move {
            if let Err(e) = platform.resume_running_builds().await {
                tracing::warn!("resuming running builds: {e}");
            }
        });
    }
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
    platform.shutdown().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Where databases of builds and upgrade requests live, owned by the `odoo` role.
fn build_target(
    server: &slipway_pg::Server,
    binaries: slipway_pg::Binaries,
    config: &ServerConfig,
) -> slipway_dump::Target {
    slipway_dump::Target {
        server: server.clone(),
        binaries,
        data_dir: config.data_dir.clone(),
        owner: "odoo".into(),
        owner_password: None,
    }
}

fn build_env(
    args: &ServeArgs,
    config: &ServerConfig,
    target: slipway_dump::Target,
) -> Result<BuildEnv> {
    let mut env = BuildEnv::under(&config.data_dir, target);
    env.venvs =
        slipway_runner::venv::Venvs::new(config.data_dir.join("venvs"), args.python.clone());
    env.production_smtp = production_smtp(args)?;
    env.slipway_bin = std::env::current_exe().ok();
    env.health_timeout = Duration::from_secs(args.health_timeout);
    Ok(env)
}

fn production_smtp(args: &ServeArgs) -> Result<Option<slipway_runner::odoo::SmtpSettings>> {
    let Some(relay) = &args.smtp_relay else {
        return Ok(None);
    };
    let (host, port) = relay
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .with_context(|| format!("--smtp-relay {relay:?} should be host:port"))?;
    Ok(Some(slipway_runner::odoo::SmtpSettings {
        host,
        port,
        user: args.smtp_relay_user.clone(),
        password: args.smtp_relay_password.clone(),
        ssl: args.smtp_relay_ssl,
    }))
}

/// The first start creates the first administrator and prints their token once; it is
/// also saved (mode 0600) in the data directory, where the CLI on this machine finds it.
async fn bootstrap_first_user(platform: &Platform, data_dir: &std::path::Path) -> Result<()> {
    if platform.people.count().await? > 0 {
        return Ok(());
    }
    let (user, token) = platform
        .people
        .create(&NewUser {
            login: "admin".into(),
            name: "Administrator".into(),
            email: None,
            is_admin: true,
        })
        .await
        .context("creating the first user")?;
    let path = data_dir.join(crate::client::TOKEN_FILE);
    write_private(&path, &token)
        .with_context(|| format!("saving the token to {}", path.display()))?;
    println!(
        "First user: {} (administrator). API token, shown once: {token}\nIt is saved in {} for the CLI on this machine.",
        user.login,
        path.display()
    );
    Ok(())
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

/// Starts the upgrade workers; they stop when the returned sender says `true`.
fn start_workers(
    state: &AppState,
    target: slipway_dump::Target,
    config: &ServerConfig,
    count: usize,
) -> (
    tokio::sync::watch::Sender<bool>,
    Vec<tokio::task::JoinHandle<()>>,
) {
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
