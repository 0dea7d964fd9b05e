//! `slipway pg start | stop | status | psql`.

use std::os::unix::process::CommandExt;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use slipway_pg::StartOutcome;

use crate::config::GlobalOptions;
use crate::output::{human_bytes, print_fields, print_json};

#[derive(Debug, Subcommand)]
pub enum PgCommand {
    /// Start it (creating it on first use); does nothing when it already runs.
    Start,
    /// Stop it (fast shutdown: open sessions are disconnected).
    Stop,
    /// Show version, socket, port and data size.
    Status(StatusArgs),
    /// Open psql on a database of it (default: the metadata database `slipway`).
    Psql(PsqlArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct PsqlArgs {
    /// The database to open.
    #[arg(default_value = slipway_platform::METADATA_DB)]
    database: String,
    /// Further arguments for psql (after `--`), e.g. `-- -c 'SELECT 1'`.
    #[arg(last = true)]
    psql_args: Vec<String>,
}

pub async fn run(cmd: PgCommand, global: &GlobalOptions) -> Result<()> {
    let cluster = global.embedded_cluster()?;
    match cmd {
        PgCommand::Start => {
            let outcome = cluster.start().await.with_context(|| {
                format!(
                    "starting PostgreSQL in {}",
                    cluster.layout().pgdata.display()
                )
            })?;
            let status = cluster.status()?;
            let what = match outcome {
                StartOutcome::AlreadyRunning => "already running",
                StartOutcome::Started => "started",
                StartOutcome::Created => "created and started",
            };
            println!(
                "PostgreSQL {} {what}: 127.0.0.1:{} and socket {}",
                status.version,
                status.port.unwrap_or_default(),
                status.socket_dir.display()
            );
        }
        PgCommand::Stop => {
            if cluster.stop().await? {
                println!("PostgreSQL stopped");
            } else {
                println!("PostgreSQL was not running");
            }
        }
        PgCommand::Status(args) => {
            let status = cluster.status()?;
            if args.json {
                return print_json(&status);
            }
            print_fields(&[
                (
                    "state",
                    if status.running { "running" } else { "stopped" }.into(),
                ),
                ("version", status.version.clone()),
                ("data", status.pgdata.display().to_string()),
                ("data size", human_bytes(status.data_bytes)),
                ("socket", status.socket_dir.display().to_string()),
                ("port", status.port.map_or("-".into(), |p| p.to_string())),
                ("pid", status.pid.map_or("-".into(), |p| p.to_string())),
            ]);
        }
        PgCommand::Psql(args) => {
            let server = cluster.server()?;
            let psql = cluster.binaries()?.tool("psql");
            let (url, password) = slipway_pg::split_password(&server.url(&args.database));
            let error = std::process::Command::new(&psql)
                .arg(url)
                .envs(password.map(|p| ("PGPASSWORD", p)))
                .args(&args.psql_args)
                .exec();
            return Err(error).with_context(|| format!("running {}", psql.display()));
        }
    }
    Ok(())
}
