//! `slipway db neutralize | clone`, and the database target shared with `slipway dump`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use indicatif::ProgressBar;
use slipway_dump::Target;

use super::progress::spinner;
use crate::config::{GlobalOptions, Postgres};
use crate::output::print_json;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Make a database harmless: no mails out, crons off, payment and other integrations in
    /// test mode, a banner. Idempotent; steps that do not apply are skipped and listed.
    Neutralize(NeutralizeArgs),
    /// The fastest faithful copy of a database and its filestore (hardlinked).
    Clone(CloneArgs),
}

#[derive(Debug, Args)]
pub struct NeutralizeArgs {
    /// The database.
    #[arg(long, short = 'd')]
    database: String,
    /// Print the SQL that would run, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct CloneArgs {
    /// The database to copy.
    source: String,
    /// The new database.
    destination: String,
    /// Parallel jobs when the source is busy and a dump/restore is needed.
    #[arg(long, short = 'j', default_value_t = 2)]
    jobs: u32,
    /// End sessions idle on the source (an application's connection pool, such as a running
    /// Odoo's, which reconnects) so that it is copied by template instead of dump/restore.
    #[arg(long)]
    close_idle_sessions: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The server, binaries and data directory of a command. Every database it makes gets a role
/// of its own, whose password derives from the data directory's `pg-roles.key`.
pub async fn target(global: &GlobalOptions) -> Result<(Target, Postgres)> {
    let pg = global.postgres().await?;
    let data_dir = global.absolute_data_dir()?;
    let target = Target::new(pg.server.clone(), global.binaries()?, &data_dir)?;
    Ok((target, pg))
}

pub async fn run(cmd: DbCommand, global: &GlobalOptions) -> Result<()> {
    match cmd {
        DbCommand::Neutralize(args) => neutralize(args, global).await,
        DbCommand::Clone(args) => clone(args, global).await,
    }
}

async fn neutralize(args: NeutralizeArgs, global: &GlobalOptions) -> Result<()> {
    let (target, pg) = target(global).await?;
    let neutralize = slipway_dump::neutralize_database(&target, &args.database, args.dry_run);
    let result = pg.finish_after(&ProgressBar::hidden(), neutralize).await;
    let outcome = result.with_context(|| format!("neutralizing database {}", args.database))?;
    if args.json {
        return print_json(&outcome);
    }
    if let Some(sql) = &outcome.sql {
        print!("{sql}");
        return Ok(());
    }
    println!(
        "neutralized {}: {} steps applied",
        outcome.database,
        outcome.steps.applied.len()
    );
    for step in &outcome.steps.applied {
        println!("  applied  {step}");
    }
    for step in &outcome.steps.skipped {
        println!("  skipped  {step}");
    }
    Ok(())
}

async fn clone(args: CloneArgs, global: &GlobalOptions) -> Result<()> {
    let (target, pg) = target(global).await?;
    let bar = spinner(
        &format!("cloning {} to {}", args.source, args.destination),
        args.json,
    );
    let idle = if args.close_idle_sessions {
        slipway_dump::IdleSessions::Close
    } else {
        slipway_dump::IdleSessions::Keep
    };
    let clone =
        slipway_dump::clone_database(&target, &args.source, &args.destination, args.jobs, idle);
    let result = pg.finish_after(&bar, clone).await;
    let report = result
        .with_context(|| format!("cloning database {} to {}", args.source, args.destination))?;
    if args.json {
        return print_json(&report);
    }
    let how = match report.path {
        slipway_dump::ClonePath::Template => {
            format!(
                "CREATE DATABASE ... TEMPLATE, source held {:.2}s",
                report.held.as_secs_f64()
            )
        }
        slipway_dump::ClonePath::DumpRestore => {
            "parallel dump/restore (the source was in use; not held)".to_string()
        }
    };
    println!(
        "cloned {} to {} in {:.1}s via {how}; {} filestore files hardlinked",
        report.source,
        report.target,
        report.elapsed.as_secs_f64(),
        report.filestore_files
    );
    Ok(())
}
