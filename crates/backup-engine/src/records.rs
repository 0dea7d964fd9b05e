//! The `backups` table: what the UI, retention and the scheduler read about each backup.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use slipway_backup::{BackupKind, BackupLabels, BackupOutcome};
use sqlx::PgPool;

use crate::error::{Error, Result};

/// Where a backup is in its life, as the `backups.state` column holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupState {
    /// Being taken (or cut short while it was: prune finishes or fails it).
    Running,
    /// In every location.
    Complete,
    /// Whole in the primary, missing from a location (prune copies it again).
    Incomplete,
    /// Not taken; `error` says why.
    Failed,
}

impl BackupState {
    /// The name stored in the `backups` table (and shown by the UI and the CLI).
    pub fn as_str(self) -> &'static str {
        match self {
            BackupState::Running => "running",
            BackupState::Complete => "complete",
            BackupState::Incomplete => "incomplete",
            BackupState::Failed => "failed",
        }
    }

    /// True while retention counts the backup (a failed one holds nothing to keep).
    pub fn is_kept(self) -> bool {
        self != BackupState::Failed
    }
}

impl std::fmt::Display for BackupState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<&str> for BackupState {
    type Error = Error;

    fn try_from(name: &str) -> Result<Self> {
        [
            BackupState::Running,
            BackupState::Complete,
            BackupState::Incomplete,
            BackupState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
        .ok_or_else(|| unknown_value("state", name))
    }
}

/// The kind stored as `name`.
fn parse_kind(name: &str) -> Result<BackupKind> {
    BackupKind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == name)
        .ok_or_else(|| unknown_value("kind", name))
}

/// A column holding a value this version of Slipway does not know (written by a newer one, or
/// by hand): the row is refused rather than read as something it is not.
fn unknown_value(column: &str, value: &str) -> Error {
    Error::Failed(format!(
        "the backups table holds a {column} {value:?} this version of Slipway does not know; \
         upgrade Slipway or correct the row"
    ))
}

/// A backup as recorded in the metadata database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupRecord {
    /// The repository's id.
    pub id: String,
    /// Project label.
    pub project: Option<String>,
    /// Branch label.
    pub branch: Option<String>,
    /// Revision label.
    pub revision: Option<String>,
    /// Why it was taken (`daily`, `manual`, `before-update`…).
    pub kind: BackupKind,
    /// Where it is in its life (`running`, `complete`, `incomplete`, `failed`).
    pub state: BackupState,
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

/// A row of the `backups` table as PostgreSQL gives it; [`BackupRecord`] once its text
/// columns are read as the enums they are.
#[derive(sqlx::FromRow)]
struct BackupRow {
    id: String,
    project: Option<String>,
    branch: Option<String>,
    revision: Option<String>,
    kind: String,
    state: String,
    source_database: String,
    odoo_version: Option<String>,
    size_database: i64,
    size_filestore: i64,
    size_logs: i64,
    size_sessions: i64,
    size_added: i64,
    locations_total: i32,
    locations_done: Vec<String>,
    error: Option<String>,
    verification: Option<serde_json::Value>,
    verified_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<BackupRow> for BackupRecord {
    type Error = Error;

    fn try_from(row: BackupRow) -> Result<Self> {
        Ok(BackupRecord {
            kind: parse_kind(&row.kind)?,
            state: BackupState::try_from(row.state.as_str())?,
            id: row.id,
            project: row.project,
            branch: row.branch,
            revision: row.revision,
            source_database: row.source_database,
            odoo_version: row.odoo_version,
            size_database: row.size_database,
            size_filestore: row.size_filestore,
            size_logs: row.size_logs,
            size_sessions: row.size_sessions,
            size_added: row.size_added,
            locations_total: row.locations_total,
            locations_done: row.locations_done,
            error: row.error,
            verification: row.verification,
            verified_at: row.verified_at,
            created_at: row.created_at,
            finished_at: row.finished_at,
        })
    }
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
    .bind(labels.kind.as_str())
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
        BackupState::Complete
    } else {
        BackupState::Incomplete
    };
    sqlx::query(
        "UPDATE backups SET state = $2, odoo_version = $3, size_database = $4, \
         size_filestore = $5, size_logs = $6, size_sessions = $7, size_added = $8, \
         locations_done = $9, error = $10, finished_at = now() WHERE id = $1",
    )
    .bind(&m.id)
    .bind(state.as_str())
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
        "UPDATE backups SET state = 'failed', error = $2, finished_at = now() \
         WHERE id = $1 AND state = 'running'",
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
    let row: Option<BackupRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM backups WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?;
    row.map(BackupRecord::try_from).transpose()
}

pub(crate) async fn list(pool: &PgPool, filter: &ListFilter) -> Result<Vec<BackupRecord>> {
    let rows: Vec<BackupRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM backups WHERE ($1::text IS NULL OR project = $1) \
         AND ($2::text IS NULL OR branch = $2) AND ($3::text IS NULL OR source_database = $3) \
         ORDER BY created_at, id"
    ))
    .bind(&filter.project)
    .bind(&filter.branch)
    .bind(&filter.database)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(BackupRecord::try_from).collect()
}

pub(crate) async fn delete(pool: &PgPool, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM backups WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_states_read_back_as_they_serialize() {
        for kind in BackupKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
            assert_eq!(parse_kind(kind.as_str()).unwrap(), kind);
        }
        for name in ["running", "complete", "incomplete", "failed"] {
            let state = BackupState::try_from(name).unwrap();
            assert_eq!(serde_json::to_value(state).unwrap(), name);
        }
    }

    #[test]
    fn an_unknown_value_is_refused_by_name() {
        let err = parse_kind("hourly").unwrap_err().to_string();
        assert!(err.contains("kind \"hourly\""), "{err}");
        let err = BackupState::try_from("archived").unwrap_err().to_string();
        assert!(err.contains("state \"archived\""), "{err}");
    }
}
