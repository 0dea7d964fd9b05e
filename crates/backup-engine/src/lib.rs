//! Backups of Odoo databases: create, list, verify (a restore drill), restore, download,
//! import, prune, the daily scheduler, and point-in-time recovery of the embedded cluster's
//! databases (`pitr.rs`: WAL archive, base backups, restore to a time).
//!
//! The engine works on an explicit [`BackupSource`] (a database, its filestore, logs and
//! sessions folders); branches resolve to a source above this module. Bytes live in a
//! [`Repository`] (deduplicated, replicated); the `backups` table records each backup's
//! labels, state, sizes and verification for the UI, retention and the scheduler.
//!
//! It knows nothing of projects, branches or builds: the platform resolves a branch to a
//! [`BackupSource`] and labels the backup; this crate takes it from there.
//!
//! Every operation that replaces a database ([`Backups::restore`], [`Backups::import`])
//! builds the new one under a temporary name and swaps it in by renames at the end, so a
//! failure at any step leaves the target as it was.
//!
//! ## Design notes
//!
//! The backup engine works over an explicit `BackupSource` (database, filestore, logs and sessions
//! folders; branches resolve to one above it): `create` (a `REPEATABLE READ` snapshot is exported,
//! row counts and modules read in it, `pg_dump -Fc -Z0 --snapshot` streamed into a `BackupWriter`,
//! then the folders; dropping the future cancels it and writes no manifest; the writer holds an advisory lock
//! meanwhile, and `recovery.rs` ends a backup whose writer died: completed when the primary holds
//! its manifest, failed otherwise, at `serve`'s start, in the `backup` commands and in prune),
//! `verify` (repository
//! check + heal, restore into `slipway_verify_<id>` through slipway_dump, compare base version,
//! modules, row counts, every file's SHA-1; result JSON recorded), `restore` and `import` (built
//! under temporary names, swapped in by `ALTER DATABASE ... RENAME` and folder renames, so a
//! failure leaves the target as it was; `swap.rs` journals each swap in `<data-dir>/swaps/` before
//! its first rename, the journal locked by the swapping process so that a `backup` command beside
//! `serve` never takes a live swap for a crashed one, and `serve` and the `backup` commands end a
//! swap a crash cut short before anything else: back while the restored database is not in, forward
//! once it is (`SLIPWAY_CRASH_AT` makes the tests' crash real); optional safety backup first;
//! import refuses non-dumps through `slipway_dump::inspect` and disables mail servers and crons;
//! connections, renames and drops are `slipway_dump::Target`'s, `sql.rs` only reads facts and
//! disables), `download` (a scratch restore, optionally neutralized, written by slipway_dump's
//! zip/sql.gz writers), `prune` (copies again to every location what one missed or a kill cut
//! short, `Repository::replicate`; `plan_retention` per source; then `Repository::gc`; `serve` runs
//! it after each daily backup, and admins on demand through `POST /api/backups/prune`), and the
//! scheduler (`schedule.rs`: pure `decide` of the due slot across DST, catching missed days up
//! once, and `retry_due`, a failed day tried again 15, 30, 60 minutes later until the next slot;
//! `scheduler.rs`: slots and retries claimed by conditional `UPDATE` and queued as `backup.daily`
//! jobs in one transaction, so restarts neither repeat nor forget a day). Production's schedule is
//! pointed (database, time, time zone from `serve --daily-backup-at/--daily-backup-tz`) at each
//! production build. Every new backup, made by `serve` or the CLI, also gets its restore drill:
//! `create` queues a `backup.verify` job (`Backups::verifying_new_backups`; a daily job drills
//! inline) and a worker in `serve` runs it; drills of one backup wait for each other on an advisory lock. Tables in
//! `crates/metadata/migrations/0004_backups.sql` and `0007`. `pitr.rs` is point-in-time recovery of
//! the embedded cluster (not with `--pg-url`): `ingest_wal` moves spooled WAL into the repository
//! (the spool file removed only once the primary holds it; `serve` runs it every 10 s),
//! `base_backup` (taken after each daily backup unless one is under 20 hours old; `pg_basebackup -X
//! none` waits for its WAL to be archived), `pitr_window`, and `restore_to_time(source, at,
//! options)`: a commit and a WAL switch first ("seal", so replay meets a commit after any past
//! target), plan, `before-restore` backup, base backup untarred into a `ScratchCluster` as the
//! server user, WAL staged, replay to `at` (retried once with the whole run if the target was not
//! reached), the one database `pg_dump`ed as its owner and restored under a temporary name, then
//! renamed in; the filestore is kept (WAL does not cover it). `prune` keeps as many days of
//! recovery window as daily backups.

mod create;
mod download;
mod error;
mod import;
mod pitr;
mod prune;
mod records;
mod recovery;
mod restore;
pub mod schedule;
mod scheduler;
mod sql;
mod swap;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use slipway_backup::retention::RetentionPolicy;
use slipway_backup::{BackupManifest, Repository};
use slipway_dump::Target;
use sqlx::PgPool;

pub use download::{DownloadFormat, DownloadOptions};
pub use import::ImportOutcome;
pub use pitr::{run_wal_ingest, IngestReport, PitrOutcome, PitrWindow};
pub use prune::PruneReport;
pub use records::{BackupRecord, BackupState, ListFilter};
pub use restore::{RestoreOptions, RestoreOutcome};
pub use scheduler::{parse_time_zone, run_scheduler, Schedule, SchedulerOptions};
pub use slipway_backup::pitr::Interval;
pub use slipway_backup::store::GcOptions;
pub use slipway_backup::{BackupKind, BackupLabels};
pub use verify::Verification;

pub use error::{backup_error_kind, dump_error_kind, Error, Result};

/// What to back up: a database and its files. (A branch's build resolves to one.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSource {
    /// The database.
    pub database: String,
    /// Its filestore folder (`<data>/filestore/<db>`).
    pub filestore: PathBuf,
    /// The build's logs folder.
    pub logs_dir: Option<PathBuf>,
    /// Odoo's HTTP sessions folder.
    pub sessions_dir: Option<PathBuf>,
}

/// Where a long operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Dumping the database into the repository.
    Database,
    /// Storing the filestore.
    Filestore,
    /// Storing logs.
    Logs,
    /// Storing sessions.
    Sessions,
    /// Copying to the other locations.
    Replicating,
    /// Reading a backup out of the repository.
    Reading,
    /// Restoring into PostgreSQL.
    Restoring,
    /// Comparing the restored database with the manifest.
    Checking,
}

/// Called with the phase and the bytes done in it.
pub type ProgressFn = Arc<dyn Fn(Phase, u64) + Send + Sync>;

/// The backup service: the metadata database, the PostgreSQL the databases live on, and the
/// repository.
#[derive(Clone)]
pub struct Backups {
    pool: PgPool,
    target: Target,
    repo: Arc<Repository>,
    scratch: PathBuf,
    policy: RetentionPolicy,
    wal_spool: Option<PathBuf>,
    /// Queue a restore drill (`backup.verify`) after each new backup that is not a daily one
    /// (a daily job runs its own drill).
    verify_new: bool,
}

impl std::fmt::Debug for Backups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backups")
            .field("repository", &self.repo.store().root())
            .finish()
    }
}

impl Backups {
    /// The service over the metadata pool, the databases' server and a repository. Scratch
    /// files (a dump being restored) go to `<target.data_dir>/backups/scratch`.
    pub fn new(pool: PgPool, target: Target, repo: Repository) -> Backups {
        let scratch = target.data_dir.join("backups").join("scratch");
        Backups {
            pool,
            target,
            repo: Arc::new(repo),
            scratch,
            policy: RetentionPolicy::default(),
            wal_spool: None,
            verify_new: false,
        }
    }

    /// The same with another retention policy (also the manual backups' daily limit).
    pub fn with_policy(mut self, policy: RetentionPolicy) -> Backups {
        self.policy = policy;
        self
    }

    /// Every new backup gets its restore drill: a `backup.verify` job is queued after each one
    /// (daily backups run theirs in their own job), for [`Backups::run_verify_job`].
    pub fn verifying_new_backups(mut self) -> Backups {
        self.verify_new = true;
        self
    }

    /// The repository.
    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// The metadata database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The databases' server and owner role.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Backups recorded, oldest first.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<BackupRecord>> {
        records::list(&self.pool, filter).await
    }

    /// One backup's record.
    pub async fn get(&self, id: &str) -> Result<BackupRecord> {
        records::get(&self.pool, id).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "no backup {id:?}; `slipway backup list` shows the backups there are"
            ))
        })
    }

    /// The manifest of backup `id` (read off the executor) and a reporter feeding `progress`
    /// when there is one: how every operation on a stored backup starts.
    async fn open_backup(
        &self,
        id: &str,
        progress: Option<ProgressFn>,
    ) -> Result<(BackupManifest, impl Fn(Phase, u64) + Send + Sync)> {
        let (repo, owned) = (self.repo.clone(), id.to_string());
        let manifest = blocking(move || Ok(repo.load(&owned)?)).await?;
        let report = move |phase: Phase, n: u64| {
            if let Some(p) = &progress {
                p(phase, n)
            }
        };
        Ok((manifest, report))
    }

    /// A scratch file path for backup `id` (`<scratch>/<id>.<suffix>`), its folder created.
    fn scratch_file(&self, id: &str, suffix: &str) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.scratch).map_err(|source| Error::Io {
            context: format!("creating {}", self.scratch.display()),
            source,
        })?;
        Ok(self.scratch.join(format!("{id}.{suffix}")))
    }
}

/// A PostgreSQL-safe lowercase name part made of a backup id (`20260102t030405z_ab12cd34`).
fn db_suffix(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Runs blocking repository work off the async executor.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Failed(format!("a backup task panicked: {e}")))?
}
