//! `slipway backup list | create | download | restore | import | verify | prune`.
//!
//! Backups are of an explicit source (`--database`, `--filestore`) or of a branch's running
//! database (`--of PROJECT/BRANCH`); [`resolve_source`] is the one place that turns arguments
//! into a source. The repository is `--backup-dir` (default `<data-dir>/backups/primary`)
//! replicated to every `--replica` (default `<data-dir>/backups/replica-1` and `replica-2`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::ProgressBar;
use slipway_api::backups::ImportAnswer;
use slipway_backup::retention::RetentionPolicy;
use slipway_backup::store::GcOptions;
use slipway_backup::{open_location, Location, Repository};
use slipway_dump::{Mode, Target};
use slipway_platform::backups::{
    BackupKind, BackupLabels, BackupRecord, BackupSource, BackupState, Backups, DownloadFormat,
    DownloadOptions, ListFilter, Phase, ProgressFn, RestoreOptions,
};
use slipway_platform::branch_backups::branch_source;

use super::progress::spinner;
use crate::client::{segment, Client, ClientOptions};
use crate::config::{GlobalOptions, Postgres};
use crate::output::{human_bytes, print_json};

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Backups recorded, oldest first.
    List(ListArgs),
    /// Back up a database, its filestore, logs and sessions (deduplicated, replicated).
    Create(CreateArgs),
    /// Write a backup as an Odoo zip (with or without filestore) or .sql.gz, exact or neutralized.
    Download(DownloadArgs),
    /// Restore a backup into a database and filestore (replaced only once fully restored).
    Restore(RestoreArgs),
    /// Import a dump made elsewhere (Odoo zip, pg_dump, .sql, .sql.gz) into a project's branch
    /// (`--into`, through the server) or a database (`-d`).
    Import(ImportArgs),
    /// Restore a backup into a scratch database and compare it with what was backed up; heals
    /// damaged or missing copies from a sound one.
    Verify(VerifyArgs),
    /// Apply the retention policy (7 daily, 4 weekly, 3 monthly…) and collect unused chunks.
    Prune(PruneArgs),
    /// The times a database can be restored to (`restore --at`): from the oldest base backup
    /// of the cluster to the last archived WAL.
    PitrWindow(PitrWindowArgs),
    /// Take a base backup of the whole cluster now (one is taken with each daily backup):
    /// point-in-time recovery starts from base backups.
    BaseBackup(PitrWindowArgs),
}

/// Where the repository is.
#[derive(Debug, Args)]
pub struct RepoArgs {
    /// The primary copy of the backup repository (a local folder).
    #[arg(long, env = "SLIPWAY_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,
    /// A further copy: a folder or s3://bucket/prefix?endpoint=URL&region=R (repeatable;
    /// default: <data-dir>/backups/replica-1 and replica-2).
    #[arg(long = "replica")]
    replicas: Vec<String>,
    /// Keep only the primary copy.
    #[arg(long, conflicts_with = "replicas")]
    no_replicas: bool,
}

/// What to back up.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The database.
    #[arg(
        long,
        short = 'd',
        required_unless_present = "of",
        conflicts_with = "of"
    )]
    database: Option<String>,
    /// The running database of a project's branch (`PROJECT/BRANCH`): its build's database,
    /// filestore, logs and sessions, labelled with the project, branch and revision.
    #[arg(long, value_name = "PROJECT/BRANCH")]
    of: Option<String>,
    /// Its filestore (default: <data-dir>/filestore/<database>).
    #[arg(long)]
    filestore: Option<PathBuf>,
    /// The build's logs folder.
    #[arg(long)]
    logs: Option<PathBuf>,
    /// Odoo's sessions folder.
    #[arg(long)]
    sessions: Option<PathBuf>,
}

/// Labels of a new backup.
#[derive(Debug, Clone, Args)]
pub struct LabelArgs {
    /// Project label.
    #[arg(long)]
    project: Option<String>,
    /// Branch label.
    #[arg(long)]
    branch: Option<String>,
    /// Revision label.
    #[arg(long)]
    revision: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this project.
    #[arg(long)]
    project: Option<String>,
    /// Only this branch.
    #[arg(long)]
    branch: Option<String>,
    /// Only backups of this database.
    #[arg(long, short = 'd')]
    database: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    repo: RepoArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KindArg {
    Daily,
    Manual,
    BeforeUpdate,
    BeforeRestore,
    BeforeImport,
    BeforeUpgrade,
}

impl From<KindArg> for BackupKind {
    fn from(k: KindArg) -> BackupKind {
        match k {
            KindArg::Daily => BackupKind::Daily,
            KindArg::Manual => BackupKind::Manual,
            KindArg::BeforeUpdate => BackupKind::BeforeUpdate,
            KindArg::BeforeRestore => BackupKind::BeforeRestore,
            KindArg::BeforeImport => BackupKind::BeforeImport,
            KindArg::BeforeUpgrade => BackupKind::BeforeUpgrade,
        }
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    labels: LabelArgs,
    /// Why the backup is taken.
    #[arg(long, value_enum, default_value = "manual")]
    kind: KindArg,
    /// Run the restore drill right after (else it is queued, and `serve` runs it).
    #[arg(long)]
    verify: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    repo: RepoArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Zip,
    SqlGz,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The backup id.
    id: String,
    /// The file to write.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Odoo zip or .sql.gz.
    #[arg(long, value_enum, default_value = "zip")]
    format: FormatArg,
    /// Leave the filestore out of the zip.
    #[arg(long)]
    no_filestore: bool,
    /// A neutralized copy (no mails, crons, payments…) instead of the exact database.
    #[arg(long)]
    neutralize: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup id (or `--at` for point-in-time recovery).
    #[arg(required_unless_present = "at", conflicts_with = "at")]
    id: Option<String>,
    /// Point-in-time recovery: the database as it was at this time (UTC unless an offset is
    /// given: `2026-11-21T10:42:00Z`, `2026-11-21 10:42`); the filestore is kept as it is.
    #[arg(long, value_parser = parse_at)]
    at: Option<DateTime<Utc>>,
    /// With --at: the database to take as it was then (default: --database itself).
    #[arg(long, requires = "at")]
    from: Option<String>,
    /// The database to create or replace.
    #[arg(long, short = 'd')]
    database: String,
    /// Its filestore folder (default: <data-dir>/filestore/<database>).
    #[arg(long)]
    filestore: Option<PathBuf>,
    /// A copy (new uuid and secret, e.g. for staging) rather than the same database.
    #[arg(long, conflicts_with = "at")]
    copy: bool,
    /// Neutralize the restored database.
    #[arg(long, conflicts_with = "at")]
    neutralize: bool,
    /// Back up the database being replaced first (kind before-restore).
    #[arg(long)]
    safety_backup: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The dump.
    file: PathBuf,
    /// A project's branch (`PROJECT/BRANCH`) whose database the dump replaces, through the
    /// server's API: the branch switches to the dump's Odoo series when it differs, a
    /// production branch is backed up first, other branches get a neutralized copy.
    #[arg(long, value_name = "PROJECT/BRANCH", conflicts_with_all = ["database", "filestore", "safety_backup"])]
    into: Option<String>,
    /// A database to create or replace directly (no server, no branch).
    #[arg(long, short = 'd', required_unless_present = "into")]
    database: Option<String>,
    /// Its filestore folder (default: <data-dir>/filestore/<database>).
    #[arg(long)]
    filestore: Option<PathBuf>,
    /// Neutralize the imported database (with --into: the default except in production).
    #[arg(long)]
    neutralize: bool,
    /// With --into: do not neutralize a staging or development branch's copy.
    #[arg(long, requires = "into", conflicts_with = "neutralize")]
    no_neutralize: bool,
    /// Back up the database being replaced first (kind before-import).
    #[arg(long)]
    safety_backup: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The backup id.
    id: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Days with a daily backup to keep one of.
    #[arg(long, default_value_t = 7)]
    keep_daily: u32,
    /// ISO weeks to keep one daily backup of.
    #[arg(long, default_value_t = 4)]
    keep_weekly: u32,
    /// Months to keep one daily backup of.
    #[arg(long, default_value_t = 3)]
    keep_monthly: u32,
    /// Days manual and safety backups are kept.
    #[arg(long, default_value_t = 7)]
    manual_days: u32,
    /// The time zone whose calendar days, weeks and months count.
    #[arg(long, default_value = "UTC")]
    timezone: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct PitrWindowArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    repo: RepoArgs,
}

/// Reads a time given on the command line: RFC 3339, or a date and time taken as UTC.
pub fn parse_at(text: &str) -> std::result::Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text.trim(), format) {
            return Ok(t.and_utc());
        }
    }
    Err(format!(
        "{text:?} is not a time; write 2026-11-21T10:42:00Z or 2026-11-21 10:42 (UTC)"
    ))
}

pub async fn run(cmd: BackupCommand, global: &GlobalOptions, client: &ClientOptions) -> Result<()> {
    match cmd {
        BackupCommand::List(args) => list(args, global).await,
        BackupCommand::Create(args) => create(args, global).await,
        BackupCommand::Download(args) => download(args, global).await,
        BackupCommand::Restore(args) => restore(args, global).await,
        BackupCommand::Import(args) if args.into.is_some() => {
            import_into(args, &Client::new(client, global)?).await
        }
        BackupCommand::Import(args) => import(args, global).await,
        BackupCommand::Verify(args) => verify(args, global).await,
        BackupCommand::Prune(args) => prune(args, global).await,
        BackupCommand::PitrWindow(args) => pitr_window(args, global).await,
        BackupCommand::BaseBackup(args) => base_backup(args, global).await,
    }
}

/// The backup service of these arguments, and the PostgreSQL to stop at the end.
async fn service(
    args: &RepoArgs,
    global: &GlobalOptions,
    policy: RetentionPolicy,
    queue_drills: bool,
) -> Result<(Backups, Postgres)> {
    let data_dir = global.absolute_data_dir()?;
    let repo = open_repository(
        args.backup_dir.clone(),
        &args.replicas,
        args.no_replicas,
        &data_dir,
    )?;
    let (metadata, pg) = global.metadata().await?;
    let target = Target::new(pg.server.clone(), global.binaries()?, &data_dir)?;
    let mut backups = Backups::new(metadata.pool().clone(), target, repo).with_policy(policy);
    if queue_drills {
        // the same `backup.verify` job as the API's backups: `serve`'s worker drills it
        backups = backups.verifying_new_backups();
    }
    if global.pg_url.is_none() {
        let spool = global.embedded_cluster()?.layout().wal_spool.clone();
        backups = backups.with_wal_spool(spool);
    }
    for line in backups
        .finish_interrupted_swaps()
        .await
        .context("ending restores a crash cut short")?
    {
        eprintln!("{line}");
    }
    for line in backups
        .finish_interrupted_backups()
        .await
        .context("ending backups a crash cut short")?
    {
        eprintln!("{line}");
    }
    Ok((backups, pg))
}

/// One piece of work on the backup service of a command's repository: [`Session::run`] opens
/// the service, shows a progress bar while the work runs, then clears the bar and stops the
/// PostgreSQL the service started, whatever the work returned.
struct Session<'a> {
    repo: &'a RepoArgs,
    global: &'a GlobalOptions,
    policy: RetentionPolicy,
    /// What the bar says (none: no bar).
    message: Option<String>,
    /// `--json`: no bar either.
    quiet: bool,
    /// Whether each backup the work takes gets its restore drill queued (off when the
    /// command drills it itself, `--verify`).
    queue_drills: bool,
}

impl<'a> Session<'a> {
    /// The service of `repo`, with the default retention policy and no bar.
    fn new(repo: &'a RepoArgs, global: &'a GlobalOptions) -> Self {
        Session {
            repo,
            global,
            policy: RetentionPolicy::default(),
            message: None,
            quiet: true,
            queue_drills: true,
        }
    }

    /// Without queueing restore drills: the work runs its own.
    fn drilling_itself(self, itself: bool) -> Self {
        Session {
            queue_drills: !itself,
            ..self
        }
    }

    /// With another retention policy.
    fn policy(self, policy: RetentionPolicy) -> Self {
        Session { policy, ..self }
    }

    /// With a progress bar saying `message`, unless `quiet`.
    fn showing(self, message: String, quiet: bool) -> Self {
        Session {
            message: Some(message),
            quiet,
            ..self
        }
    }

    /// Runs `work` on the service with a callback feeding the bar.
    async fn run<T, E: Into<anyhow::Error>>(
        self,
        work: impl AsyncFnOnce(&Backups, ProgressFn) -> std::result::Result<T, E>,
    ) -> Result<T> {
        let (backups, pg) = service(self.repo, self.global, self.policy, self.queue_drills).await?;
        let message = self.message.unwrap_or_default();
        let (bar, progress) = progress_bar(&message, self.quiet || message.is_empty());
        let done = pg.finish_after(&bar, work(&backups, progress)).await;
        done.map_err(Into::into)
    }
}

/// The backup repository: `primary` (default `<data-dir>/backups/primary`) and its replicas
/// (folders or `s3://` URLs; default `<data-dir>/backups/replica-1` and `replica-2`: three
/// copies).
pub fn open_repository(
    primary: Option<PathBuf>,
    replicas: &[String],
    no_replicas: bool,
    data_dir: &std::path::Path,
) -> Result<Repository> {
    let layout = slipway_platform::DataDir::new(data_dir);
    let primary = primary.unwrap_or_else(|| layout.backup_primary());
    let specs: Vec<String> = if no_replicas {
        Vec::new()
    } else if replicas.is_empty() {
        [1, 2]
            .map(|n| layout.backup_replica(n).display().to_string())
            .into_iter()
            .collect()
    } else {
        replicas.to_vec()
    };
    let mut locations: Vec<Arc<dyn Location>> = Vec::new();
    for spec in &specs {
        locations.push(open_location(spec).with_context(|| format!("backup location {spec}"))?);
    }
    Repository::open(&primary, locations)
        .with_context(|| format!("opening the backup repository {}", primary.display()))
}

/// Turns the source arguments into a backup source, and the labels a branch gives it: the
/// one place where `--of PROJECT/BRANCH` becomes the database of that branch's build.
async fn resolve_source(
    args: &SourceArgs,
    backups: &Backups,
    labels: &LabelArgs,
) -> Result<(BackupSource, LabelArgs)> {
    let target = backups.target();
    let Some(of) = &args.of else {
        let database = args.database.clone().unwrap_or_default();
        let source = BackupSource {
            filestore: args
                .filestore
                .clone()
                .unwrap_or_else(|| target.filestore(&database)),
            database,
            logs_dir: args.logs.clone(),
            sessions_dir: args.sessions.clone(),
        };
        return Ok((source, labels.clone()));
    };
    let (project, branch) = of
        .split_once('/')
        .with_context(|| format!("--of {of:?}: write PROJECT/BRANCH"))?;
    let resolved = branch_source(backups.pool(), target, project, branch)
        .await
        .with_context(|| format!("finding the database of {of}"))?;
    let found = resolved.labels;
    let labels = LabelArgs {
        project: labels.project.clone().or(found.project),
        branch: labels.branch.clone().or(found.branch),
        revision: labels.revision.clone().or(found.revision),
    };
    Ok((resolved.source, labels))
}

/// A progress bar fed by the backup phases.
fn progress_bar(message: &str, quiet: bool) -> (ProgressBar, ProgressFn) {
    let bar = spinner(message, quiet);
    let feed = bar.clone();
    let base = message.to_string();
    let callback: ProgressFn = Arc::new(move |phase: Phase, bytes: u64| {
        let name = serde_json::to_value(phase)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        feed.set_message(format!("{base}: {name}"));
        feed.set_position(bytes);
    });
    (bar, callback)
}

async fn list(args: ListArgs, global: &GlobalOptions) -> Result<()> {
    let filter = ListFilter {
        project: args.project,
        branch: args.branch,
        database: args.database,
    };
    let records = Session::new(&args.repo, global)
        .run(async |backups, _| backups.list(&filter).await)
        .await
        .context("listing backups")?;
    if args.json {
        return print_json(&records);
    }
    if records.is_empty() {
        println!("no backups");
        return Ok(());
    }
    println!(
        "{:<26} {:<15} {:<11} {:<20} {:>10} {:>10} {:<8} {:<10}",
        "ID", "KIND", "STATE", "DATABASE", "SIZE", "ADDED", "COPIES", "VERIFIED"
    );
    for r in &records {
        println!(
            "{:<26} {:<15} {:<11} {:<20} {:>10} {:>10} {:<8} {:<10}",
            r.id,
            r.kind,
            r.state,
            r.source_database,
            human_bytes(total(r)),
            human_bytes(r.size_added.max(0) as u64),
            format!("{}/{}", r.locations_done.len(), r.locations_total),
            verified(r)
        );
    }
    Ok(())
}

fn total(r: &BackupRecord) -> u64 {
    (r.size_database + r.size_filestore + r.size_logs + r.size_sessions).max(0) as u64
}

fn verified(r: &BackupRecord) -> &'static str {
    match r.verification.as_ref().and_then(|v| v["ok"].as_bool()) {
        Some(true) => "ok",
        Some(false) => "FAILED",
        None => "-",
    }
}

/// Backs up the source of `args` (and verifies the backup with `--verify`): the backup's
/// record as it is at the end, and the drill's result.
async fn take_backup(
    args: &CreateArgs,
    backups: &Backups,
    progress: ProgressFn,
) -> Result<(
    BackupRecord,
    Option<slipway_platform::backups::Verification>,
)> {
    let (source, labels) = resolve_source(&args.source, backups, &args.labels).await?;
    let labels = BackupLabels {
        project: labels.project,
        branch: labels.branch,
        revision: labels.revision,
        kind: args.kind.into(),
    };
    let taken = async {
        let record = backups.create(&source, labels, Some(progress)).await?;
        let verification = if args.verify {
            Some(backups.verify(&record.id, None).await?)
        } else {
            None
        };
        let record = backups.get(&record.id).await?;
        Ok::<_, slipway_platform::backups::Error>((record, verification))
    };
    taken
        .await
        .with_context(|| format!("backing up database {}", source.database))
}

async fn create(args: CreateArgs, global: &GlobalOptions) -> Result<()> {
    let of = args.source.of.as_deref();
    let message = format!(
        "backing up {}",
        of.or(args.source.database.as_deref()).unwrap_or_default()
    );
    let (record, verification) = Session::new(&args.repo, global)
        .drilling_itself(args.verify)
        .showing(message, args.json)
        .run(async |backups, progress| take_backup(&args, backups, progress).await)
        .await?;
    if args.json {
        return print_json(&serde_json::json!({"backup": record, "verification": verification}));
    }
    println!(
        "backup {} of {}: {} ({} restorable, {} new in the repository), {}/{} copies",
        record.id,
        record.source_database,
        record.state,
        human_bytes(total(&record)),
        human_bytes(record.size_added.max(0) as u64),
        record.locations_done.len(),
        record.locations_total
    );
    if let Some(error) = &record.error {
        println!("  not complete: {error}");
    }
    if let Some(v) = &verification {
        print_verification(v);
    }
    if record.state != BackupState::Complete {
        anyhow::bail!(
            "backup {} is not complete in every location; fix the location and run `slipway backup verify {}`",
            record.id,
            record.id
        );
    }
    if verification.is_some_and(|v| !v.ok) {
        anyhow::bail!("backup {} failed verification", record.id);
    }
    Ok(())
}

fn print_verification(v: &slipway_platform::backups::Verification) {
    println!(
        "verification of {}: {} in {:.1}s; base {:?} -> {:?}; {}/{} modules; {}/{} files; {} chunks",
        v.backup,
        if v.ok { "ok" } else { "FAILED" },
        v.seconds,
        v.base_version.0.as_deref().unwrap_or("-"),
        v.base_version.1.as_deref().unwrap_or("-"),
        v.modules_restored,
        v.modules_expected,
        v.files_ok,
        v.files_expected,
        v.chunks
    );
    for l in &v.locations {
        if l.healed > 0 || l.manifest_healed {
            println!(
                "  healed {}: {} chunks rewritten{}",
                l.location,
                l.healed,
                if l.manifest_healed {
                    ", manifest rewritten"
                } else {
                    ""
                }
            );
        }
    }
    for p in &v.problems {
        println!("  problem: {p}");
    }
}

async fn verify(args: VerifyArgs, global: &GlobalOptions) -> Result<()> {
    let v = Session::new(&args.repo, global)
        .showing(format!("verifying {}", args.id), args.json)
        .run(async |backups, progress| backups.verify(&args.id, Some(progress)).await)
        .await
        .with_context(|| format!("verifying backup {}", args.id))?;
    if args.json {
        print_json(&v)?;
    } else {
        print_verification(&v);
    }
    if !v.ok {
        anyhow::bail!("backup {} failed verification", args.id);
    }
    Ok(())
}

async fn restore(args: RestoreArgs, global: &GlobalOptions) -> Result<()> {
    if let Some(at) = args.at {
        return restore_to_time(args, at, global).await;
    }
    let id = args.id.clone().unwrap_or_default();
    let restore = async |backups: &Backups, progress| {
        let mut options = restore_options(&args, backups);
        options.mode = if args.copy { Mode::Copy } else { Mode::Move };
        options.neutralize = args.neutralize;
        backups.restore(&id, &options, Some(progress)).await
    };
    let outcome = Session::new(&args.repo, global)
        .showing(format!("restoring {id}"), args.json)
        .run(restore)
        .await
        .with_context(|| {
            format!(
                "restoring backup {} into {} (the database was left as it was)",
                id, args.database
            )
        })?;
    if args.json {
        return print_json(&outcome);
    }
    println!(
        "restored {} into {} ({} filestore files in {}) in {:.1}s{}{}",
        id,
        outcome.database,
        outcome.filestore_files,
        outcome.filestore.display(),
        outcome.seconds,
        if outcome.replaced {
            ", replacing the previous database"
        } else {
            ""
        },
        outcome
            .safety_backup
            .as_ref()
            .map(|b| format!("; safety backup {b}"))
            .unwrap_or_default()
    );
    Ok(())
}

async fn restore_to_time(
    args: RestoreArgs,
    at: DateTime<Utc>,
    global: &GlobalOptions,
) -> Result<()> {
    let from = args.from.clone().unwrap_or_else(|| args.database.clone());
    let message = format!(
        "recovering {from} as it was at {}",
        at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let restore = async |backups: &Backups, _| {
        let options = restore_options(&args, backups);
        backups.restore_to_time(&from, at, &options).await
    };
    let outcome = Session::new(&args.repo, global)
        .showing(message, args.json)
        .run(restore)
        .await
        .with_context(|| {
            format!(
                "restoring {from} as it was at {at} into {} (the database was left as it was)",
                args.database
            )
        })?;
    if args.json {
        return print_json(&outcome);
    }
    println!(
        "restored {from} as it was at {} into {} in {:.1}s (base backup {}, {} WAL files){}{}; \
         filestore {} kept as it is",
        outcome.at.format("%Y-%m-%d %H:%M:%S UTC"),
        outcome.database,
        outcome.seconds,
        outcome.base_backup,
        outcome.wal_files,
        if outcome.replaced {
            ", replacing the previous database"
        } else {
            ""
        },
        outcome
            .safety_backup
            .as_ref()
            .map(|b| format!("; safety backup {b}"))
            .unwrap_or_default(),
        outcome.filestore.display()
    );
    Ok(())
}

/// Restoring into `--database` and its filestore, after a `before-restore` backup with
/// `--safety-backup`.
fn restore_options(args: &RestoreArgs, backups: &Backups) -> RestoreOptions {
    let filestore = args
        .filestore
        .clone()
        .unwrap_or_else(|| backups.target().filestore(&args.database));
    let mut options = RestoreOptions::new(&args.database, filestore);
    options.safety_backup = args
        .safety_backup
        .then(|| BackupLabels::of_kind(BackupKind::BeforeRestore));
    options
}

async fn pitr_window(args: PitrWindowArgs, global: &GlobalOptions) -> Result<()> {
    let window = Session::new(&args.repo, global)
        .run(async |backups, _| backups.pitr_window().await)
        .await
        .context("reading the point-in-time recovery window")?;
    if args.json {
        return print_json(&window);
    }
    if !window.archiving {
        println!("WAL archiving is off in the running PostgreSQL; restart it (`slipway pg stop`) to turn it on");
    }
    if window.windows.is_empty() {
        println!(
            "no point-in-time recovery yet ({} base backups, {} WAL files): it starts with the \
             first base backup (taken with each daily backup, or `slipway backup base-backup`)",
            window.base_backups, window.wal_files
        );
    }
    for w in &window.windows {
        println!("restorable from {w} (UTC)");
    }
    Ok(())
}

async fn base_backup(args: PitrWindowArgs, global: &GlobalOptions) -> Result<()> {
    let m = Session::new(&args.repo, global)
        .showing("base backup of the cluster".into(), args.json)
        .run(async |backups, _| backups.base_backup().await)
        .await
        .context("taking a base backup of the cluster")?;
    if args.json {
        return print_json(&m);
    }
    println!(
        "base backup {}: {} ({} new in the repository); restorable from {}",
        m.id,
        human_bytes(m.tar.size),
        human_bytes(m.added),
        m.consistent_at.format("%Y-%m-%dT%H:%M:%SZ")
    );
    Ok(())
}

async fn import(args: ImportArgs, global: &GlobalOptions) -> Result<()> {
    let database = args.database.clone().unwrap_or_default();
    let import = async |backups: &Backups, _| {
        let filestore = args
            .filestore
            .clone()
            .unwrap_or_else(|| backups.target().filestore(&database));
        let mut options = RestoreOptions::new(&database, filestore);
        options.mode = Mode::Copy;
        options.neutralize = args.neutralize;
        options.safety_backup = args
            .safety_backup
            .then(|| BackupLabels::of_kind(BackupKind::BeforeImport));
        backups.import(&args.file, &options).await
    };
    let outcome = Session::new(&args.repo, global)
        .showing(format!("importing {}", args.file.display()), args.json)
        .run(import)
        .await
        .with_context(|| format!("importing {} into {database}", args.file.display()))?;
    if args.json {
        return print_json(&outcome);
    }
    println!(
        "imported {} ({}, Odoo {}, {} modules) into {}: {} filestore files; {}",
        args.file.display(),
        outcome.format,
        outcome.odoo_version.as_deref().unwrap_or("?"),
        outcome.modules,
        outcome.restore.database,
        outcome.restore.filestore_files,
        outcome.disabled.join(", ")
    );
    Ok(())
}

/// `import --into PROJECT/BRANCH`: the dump is streamed to the server's import route.
async fn import_into(args: ImportArgs, client: &Client) -> Result<()> {
    let into = args.into.as_deref().unwrap_or_default();
    let (project, branch) = into
        .split_once('/')
        .with_context(|| format!("--into {into:?}: write PROJECT/BRANCH"))?;
    let mut path = format!(
        "/api/projects/{}/branches/{}/import",
        segment(project),
        segment(branch)
    );
    if args.neutralize {
        path.push_str("?neutralize=true");
    } else if args.no_neutralize {
        path.push_str("?neutralize=false");
    }
    let bar = spinner(
        &format!("importing {} into {into}", args.file.display()),
        args.json,
    );
    let result = client.post_file_as::<ImportAnswer>(&path, &args.file).await;
    bar.finish_and_clear();
    let answer =
        result.with_context(|| format!("importing {} into {into}", args.file.display()))?;
    if args.json {
        return print_json(&answer);
    }
    let outcome = &answer.imported;
    println!(
        "imported {} ({}, Odoo {}, {} modules) into {into} (database {}): {} filestore files",
        args.file.display(),
        outcome.format,
        outcome.odoo_version.as_deref().unwrap_or("?"),
        outcome.modules,
        outcome.restore.database,
        outcome.restore.filestore_files,
    );
    println!("  {}", outcome.disabled.join(", "));
    if let Some(backup) = &outcome.restore.safety_backup {
        println!("  safety backup {backup}");
    }
    if let Some(switch) = &answer.series_switched {
        println!(
            "  the branch now runs Odoo {} (was {})",
            switch.to, switch.from
        );
    }
    if let Some(error) = answer.server_error {
        anyhow::bail!("{error}");
    }
    Ok(())
}

async fn download(args: DownloadArgs, global: &GlobalOptions) -> Result<()> {
    let options = DownloadOptions {
        format: match args.format {
            FormatArg::Zip => DownloadFormat::Zip,
            FormatArg::SqlGz => DownloadFormat::SqlGz,
        },
        filestore: !args.no_filestore,
        neutralized: args.neutralize,
        output: args.output.clone(),
    };
    let report = Session::new(&args.repo, global)
        .showing(format!("downloading {}", args.id), args.json)
        .run(async |backups, progress| backups.download(&args.id, &options, Some(progress)).await)
        .await
        .with_context(|| format!("downloading backup {}", args.id))?;
    if args.json {
        return print_json(&report);
    }
    println!(
        "wrote {} ({}, {} filestore files{})",
        report.output.display(),
        human_bytes(report.bytes),
        report.filestore_files,
        if report.neutralized {
            ", neutralized"
        } else {
            ""
        }
    );
    Ok(())
}

async fn prune(args: PruneArgs, global: &GlobalOptions) -> Result<()> {
    let tz = slipway_platform::backups::parse_time_zone(&args.timezone)?;
    let policy = RetentionPolicy {
        daily: args.keep_daily,
        weekly: args.keep_weekly,
        monthly: args.keep_monthly,
        manual_keep_days: args.manual_days,
        tz,
        ..RetentionPolicy::default()
    };
    let report = Session::new(&args.repo, global)
        .policy(policy)
        .run(async |backups, _| backups.prune(Utc::now(), &GcOptions::default()).await)
        .await
        .context("pruning backups")?;
    if args.json {
        return print_json(&report);
    }
    println!(
        "kept {} backups, deleted {}; freed {} ({} chunks) in the primary",
        report.kept,
        report.deleted.len(),
        human_bytes(report.gc.primary_freed),
        report.gc.primary_deleted
    );
    for id in &report.deleted {
        println!("  deleted {id}");
    }
    for id in &report.completed {
        println!("  copied again to every location: {id}");
    }
    for problem in &report.still_incomplete {
        println!("  STILL MISSING FROM A LOCATION: {problem}");
    }
    if !report.base_backups_deleted.is_empty() || report.wal_deleted > 0 {
        println!(
            "point-in-time recovery: {} base backups and {} WAL files older than the window deleted",
            report.base_backups_deleted.len(),
            report.wal_deleted
        );
    }
    for r in &report.gc.replicas {
        match &r.error {
            Some(e) => println!("  replica {}: not swept: {e}", r.location),
            None => println!("  replica {}: {} chunks deleted", r.location, r.deleted),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_utc_unless_an_offset_is_given() {
        let z: DateTime<Utc> = "2026-11-21T10:42:00Z".parse().unwrap();
        for text in [
            "2026-11-21T10:42:00Z",
            "2026-11-21T11:42:00+01:00",
            "2026-11-21T10:42:00",
            "2026-11-21T10:42",
            "2026-11-21 10:42",
            " 2026-11-21 10:42:00 ",
        ] {
            assert_eq!(parse_at(text), Ok(z), "{text}");
        }
        for bad in ["yesterday", "2026-11-21", "10:42", "2026-13-01 10:00"] {
            let err = parse_at(bad).unwrap_err();
            assert!(err.contains("is not a time"), "{err}");
        }
    }
}
