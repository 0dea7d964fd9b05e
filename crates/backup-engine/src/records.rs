//! The `backups` table: what the UI, retention and the scheduler read about each backup.

use chrono::{DateTime, Utc};
use serde::Serialize;
use slipway_backup::{BackupKind, BackupLabels, BackupOutcome};
use sqlx::PgPool;

use crate::error::Result;

/// A backup as recorded in the metadata database.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct BackupRecord {
    /// The repository's id.
    pub id: String,
    /// Project label.
    pub project: Option<String>,
    /// Branch label.
    pub branch: Option<String>,
    /// Revision label.
    pub revision: Option<String>,
    /// `daily`, `manual`, `before-update`…
    pub kind: String,
    /// `running`, `complete`, `incomplete`, `failed`.
    pub state: String,
    /// The database backed up.
    pub source_database: String,
    /// Its Odoo series.
    pub odoo_version: Option<String>,
    /// Dump size in bytes.
    pub size_database: i64,
    /// Filestore size in bytes.
    pub size_filestore: i64,
    /// Logs size in bytes.
    pub size_logs: i64,
    /// Sessions size in bytes.
    pub size_sessions: i64,
    /// New bytes the backup added to the repository (after deduplication and compression).
    pub size_added: i64,
    /// Locations the backup should be in.
    pub locations_total: i32,
    /// Locations holding all of it.
    pub locations_done: Vec<String>,
    /// Why it failed or is incomplete.
    pub error: Option<String>,
    /// The last restore drill's result.
    pub verification: Option<serde_json::Value>,
    /// When it was last verified.
    pub verified_at: Option<DateTime<Utc>>,
    /// When it was taken.
    pub created_at: DateTime<Utc>,
    /// When it was finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl BackupRecord {
    /// Its kind as the retention plan knows it.
    pub fn backup_kind(&self) -> BackupKind {
        kind_from_str(&self.kind).unwrap_or(BackupKind::Manual)
    }
}

/// `daily`, `manual`, … as stored.
pub fn kind_str(kind: BackupKind) -> &'static str {
    match kind {
        BackupKind::Daily => "daily",
        BackupKind::Manual => "manual",
        BackupKind::BeforeUpdate => "before-update",
        BackupKind::BeforeRestore => "before-restore",
        BackupKind::BeforeImport => "before-import",
        BackupKind::BeforeUpgrade => "before-upgrade",
    }
}

/// The kind named `s`.
pub fn kind_from_str(s: &str) -> Option<BackupKind> {
    [
        BackupKind::Daily,
        BackupKind::Manual,
        BackupKind::BeforeUpdate,
        BackupKind::BeforeRestore,
        BackupKind::BeforeImport,
        BackupKind::BeforeUpgrade,
    ]
    .into_iter()
    .find(|k| kind_str(*k) == s)
}

const COLUMNS: &str = "id, project, branch, revision, kind, state, source_database, odoo_version, \
    size_database, size_filestore, size_logs, size_sessions, size_added, locations_total, \
    locations_done, error, verification, verified_at, created_at, finished_at";

/// Which backups to list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this project.
    pub project: Option<String>,
    /// Only this branch.
    pub branch: Option<String>,
    /// Only backups of this database.
    pub database: Option<String>,
}

pub(crate) async fn insert_running(
    pool: &PgPool,
    id: &str,
    labels: &BackupLabels,
    database: &str,
    locations: i32,
    created_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO backups (id, project, branch, revision, kind, source_database, \
         locations_total, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(&labels.project)
    .bind(&labels.branch)
    .bind(&labels.revision)
    .bind(kind_str(labels.kind))
    .bind(database)
    .bind(locations)
    .bind(created_at)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn record_outcome(pool: &PgPool, outcome: &BackupOutcome) -> Result<()> {
    let m = &outcome.manifest;
    let done: Vec<String> = outcome
        .locations
        .iter()
        .filter(|l| l.complete)
        .map(|l| l.location.clone())
        .collect();
    let errors: Vec<String> = outcome
        .locations
        .iter()
        .filter_map(|l| l.error.clone())
        .collect();
    let state = if outcome.complete() {
        "complete"
    } else {
        "incomplete"
    };
    sqlx::query(
        "UPDATE backups SET state = $2, odoo_version = $3, size_database = $4, \
         size_filestore = $5, size_logs = $6, size_sessions = $7, size_added = $8, \
         locations_done = $9, error = $10, finished_at = now() WHERE id = $1",
    )
    .bind(&m.id)
    .bind(state)
    .bind(&m.odoo.series)
    .bind(m.sizes.database as i64)
    .bind(m.sizes.filestore as i64)
    .bind(m.sizes.logs as i64)
    .bind(m.sizes.sessions as i64)
    .bind(m.sizes.added as i64)
    .bind(&done)
    .bind((!errors.is_empty()).then(|| errors.join("; ")))
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn record_failure(pool: &PgPool, id: &str, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE backups SET state = 'failed', error = $2, finished_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn record_locations(
    pool: &PgPool,
    id: &str,
    done: &[String],
    complete: bool,
) -> Result<()> {
    sqlx::query(
        "UPDATE backups SET locations_done = $2, \
         state = CASE WHEN $3 THEN 'complete' ELSE 'incomplete' END, \
         error = CASE WHEN $3 THEN NULL ELSE error END \
         WHERE id = $1 AND state IN ('complete', 'incomplete')",
    )
    .bind(id)
    .bind(done)
    .bind(complete)
    .execute(pool)
    .await?;
    Ok(())
}

/// Where a finished backup (or one cut short while it was being copied) now is, after its
/// copies were made again; `errors` says why a location still lacks it.
pub(crate) async fn record_copies(
    pool: &PgPool,
    id: &str,
    done: &[String],
    complete: bool,
    errors: &[String],
) -> Result<()> {
    sqlx::query(
        "UPDATE backups SET locations_done = $2, \
         state = CASE WHEN $3 THEN 'complete' ELSE 'incomplete' END, \
         error = $4, finished_at = coalesce(finished_at, now()) \
         WHERE id = $1 AND state IN ('running', 'complete', 'incomplete')",
    )
    .bind(id)
    .bind(done)
    .bind(complete)
    .bind((!errors.is_empty()).then(|| errors.join("; ")))
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn record_verification(
    pool: &PgPool,
    id: &str,
    result: &serde_json::Value,
) -> Result<()> {
    sqlx::query("UPDATE backups SET verification = $2, verified_at = now() WHERE id = $1")
        .bind(id)
        .bind(result)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn get(pool: &PgPool, id: &str) -> Result<Option<BackupRecord>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM backups WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

pub(crate) async fn list(pool: &PgPool, filter: &ListFilter) -> Result<Vec<BackupRecord>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM backups WHERE ($1::text IS NULL OR project = $1) \
         AND ($2::text IS NULL OR branch = $2) AND ($3::text IS NULL OR source_database = $3) \
         ORDER BY created_at, id"
    ))
    .bind(&filter.project)
    .bind(&filter.branch)
    .bind(&filter.database)
    .fetch_all(pool)
    .await?)
}

pub(crate) async fn delete(pool: &PgPool, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM backups WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}
