//! `slipway dump inspect | restore | create`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use slipway_dump::{CreateOptions, InspectOptions, Mode, OutputFormat, RestoreOptions, ZipLimits};

use super::db::target;
use super::progress::{bytes_callback, spinner};
use crate::config::GlobalOptions;
use crate::output::{human_bytes, print_fields, print_json};

#[derive(Debug, Subcommand)]
pub enum DumpCommand {
    /// Tell what a dump holds (format, versions, modules, uuid, filestore) without restoring it.
    Inspect(InspectArgs),
    /// Restore a dump into a new database and filestore, safely (never as a superuser).
    Restore(RestoreArgs),
    /// Write a dump of a database: Odoo's zip (with filestore) or a pg_dump format.
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The dump: .zip, .dump, a pg_dump directory, .tar, .sql or .sql.gz.
    file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    zip: ZipArgs,
}

/// Zip safety limits.
#[derive(Debug, Args)]
pub struct ZipArgs {
    /// Refuse zip members expanding more than this many times their compressed size.
    #[arg(long, default_value_t = ZipLimits::default().max_ratio)]
    zip_max_ratio: u64,
    /// Refuse zips whose members add up to more than this many bytes.
    #[arg(long, default_value_t = ZipLimits::default().max_total)]
    zip_max_total: u64,
}

impl ZipArgs {
    fn limits(&self) -> ZipLimits {
        ZipLimits {
            max_ratio: self.zip_max_ratio,
            max_total: self.zip_max_total,
            ..ZipLimits::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The dump to restore.
    file: PathBuf,
    /// Name of the database to create.
    #[arg(long, short = 'd')]
    database: String,
    /// A copy (default, as Odoo): new database uuid, secret, creation date and base URL.
    #[arg(long, conflicts_with = "move_")]
    copy: bool,
    /// A move: keep the database's identity (it replaces the original).
    #[arg(long = "move", id = "move_")]
    move_: bool,
    /// Neutralize the restored database (no mails, crons, payments...).
    #[arg(long)]
    neutralize: bool,
    /// Parallel jobs for pg_restore (custom and directory dumps).
    #[arg(long, short = 'j', default_value_t = 2)]
    jobs: u32,
    /// Replace an existing database and filestore of that name.
    #[arg(long)]
    force: bool,
    /// Print JSON instead of a summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    zip: ZipArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Zip,
    Custom,
    Directory,
    Sql,
    SqlGz,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The database to dump.
    #[arg(long, short = 'd')]
    database: String,
    /// Output format; `zip` is Odoo's backup (dump.sql, manifest.json, filestore/).
    #[arg(long, value_enum, default_value = "zip")]
    format: FormatArg,
    /// Leave the filestore out of a zip.
    #[arg(long)]
    no_filestore: bool,
    /// Dump a neutralized copy (the database itself is not touched).
    #[arg(long)]
    neutralized: bool,
    /// Where to write (a directory for `--format directory`).
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Parallel jobs (directory format, and the neutralized copy).
    #[arg(long, short = 'j', default_value_t = 2)]
    jobs: u32,
    /// Print JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

pub async fn run(cmd: DumpCommand, global: &GlobalOptions) -> Result<()> {
    match cmd {
        DumpCommand::Inspect(args) => inspect(args, global).await,
        DumpCommand::Restore(args) => restore(args, global).await,
        DumpCommand::Create(args) => create(args, global).await,
    }
}

async fn inspect(args: InspectArgs, global: &GlobalOptions) -> Result<()> {
    let options = InspectOptions {
        pg_restore: global.binaries()?.tool("pg_restore"),
        zip_limits: args.zip.limits(),
    };
    let file = args.file.clone();
    let i = tokio::task::spawn_blocking(move || slipway_dump::inspect(&file, &options))
        .await?
        .with_context(|| format!("inspecting {}", args.file.display()))?;
    if args.json {
        return print_json(&i);
    }
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    print_fields(&[
        ("format", i.format.as_str().into()),
        ("compressions", i.compressions.join(", ")),
        ("size", human_bytes(i.size)),
        ("postgresql", or_dash(&i.postgresql)),
        ("pg_dump", or_dash(&i.pg_dump_version)),
        ("database", or_dash(&i.db_name)),
        ("odoo", or_dash(&i.odoo_version)),
        ("base", or_dash(&i.base_version)),
        ("modules", format!("{} installed", i.modules.len())),
        ("uuid", or_dash(&i.database_uuid)),
        (
            "filestore",
            i.filestore.map_or("-".into(), |f| {
                format!("{} files, {}", f.files, human_bytes(f.bytes))
            }),
        ),
    ]);
    Ok(())
}

async fn restore(args: RestoreArgs, global: &GlobalOptions) -> Result<()> {
    let (target, pg) = target(global).await?;
    let mut opts = RestoreOptions::new(&args.database);
    opts.mode = if args.move_ { Mode::Move } else { Mode::Copy };
    opts.neutralize = args.neutralize;
    opts.jobs = args.jobs;
    opts.force = args.force;
    opts.zip_limits = args.zip.limits();
    let bar = spinner(
        &format!("restoring {} into {}", args.file.display(), args.database),
        args.json,
    );
    opts.progress = Some(bytes_callback(&bar));
    let result = pg
        .finish_after(&bar, slipway_dump::restore(&target, &args.file, &opts))
        .await;
    let report = result.with_context(|| {
        format!(
            "restoring {} into database {}",
            args.file.display(),
            args.database
        )
    })?;
    if args.json {
        return print_json(&report);
    }
    println!(
        "restored {} ({}) into database {} as a {:?} in {:.1}s; filestore: {} files",
        args.file.display(),
        report.format.as_str(),
        report.database,
        report.mode,
        report.elapsed.as_secs_f64(),
        report.filestore_files
    );
    if let Some(n) = &report.neutralized {
        println!(
            "neutralized: {} steps applied, {} skipped",
            n.applied.len(),
            n.skipped.len()
        );
    }
    Ok(())
}

async fn create(args: CreateArgs, global: &GlobalOptions) -> Result<()> {
    let (target, pg) = target(global).await?;
    let format = match args.format {
        FormatArg::Zip => OutputFormat::Zip,
        FormatArg::Custom => OutputFormat::Custom,
        FormatArg::Directory => OutputFormat::Directory,
        FormatArg::Sql => OutputFormat::Sql,
        FormatArg::SqlGz => OutputFormat::SqlGz,
    };
    let output = std::path::absolute(&args.output).unwrap_or(args.output.clone());
    let opts = CreateOptions {
        database: args.database.clone(),
        format,
        filestore: !args.no_filestore,
        neutralized: args.neutralized,
        output,
        jobs: args.jobs,
    };
    let bar = spinner(
        &format!("dumping {} to {}", args.database, args.output.display()),
        args.json,
    );
    let result = pg
        .finish_after(&bar, slipway_dump::create(&target, &opts))
        .await;
    let report = result.with_context(|| format!("dumping database {}", args.database))?;
    if args.json {
        return print_json(&report);
    }
    println!(
        "wrote {} ({}, {}, {} filestore files{}) in {:.1}s",
        report.output.display(),
        args.format
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default(),
        human_bytes(report.bytes),
        report.filestore_files,
        if report.neutralized {
            ", neutralized"
        } else {
            ""
        },
        report.elapsed.as_secs_f64()
    );
    Ok(())
}
