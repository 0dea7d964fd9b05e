//! Taking a backup: `pg_dump -Fc -Z0` streamed into the repository in the snapshot the row
//! counts were read in, then the filestore, logs and sessions, then replication.
//!
//! Why `-Fc` with compression 0: table data is COPY text either way (so an unchanged row
//! chunks the same from one day to the next, and zstd compresses the chunks), but a custom
//! archive restores in parallel (`pg_restore -j`) and table by table, and pg_dump writes its
//! table of contents first without data offsets when writing to a pipe, so nothing at the end
//! of the stream changes with the data. Plain SQL would dedup as well but restores on one core.

use std::io::Read;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::Utc;
use slipway_backup::manifest::OdooInfo;
use slipway_backup::retention::manual_slots_left;
use slipway_backup::{new_backup_id, BackupKind, BackupLabels, BackupOutcome, Part};

use super::records::{self, BackupRecord};
use super::recovery::WriterLock;
use super::sql::{self, DatabaseFacts};
use super::swap::crash_point;
use super::{blocking, BackupSource, Backups, Phase, ProgressFn};
use crate::error::{Error, Result};

impl Backups {
    /// Backs up `source` with these labels. The row is `running` meanwhile, then `complete`
    /// (every location), `incomplete` (the primary holds it, a replica failed: see `error`) or
    /// `failed`. Dropping the future cancels the backup: no manifest is written, and the
    /// chunks written so far are garbage for the next collection.
    pub async fn create(
        &self,
        source: &BackupSource,
        labels: BackupLabels,
        progress: Option<ProgressFn>,
    ) -> Result<BackupRecord> {
        if labels.kind == BackupKind::Manual {
            self.check_manual_slot(&labels, &source.database).await?;
        }
        let drill_after = self.verify_new && labels.kind != BackupKind::Daily;
        let owner = match sql::database_owner(&self.target, &source.database).await {
            Err(Error::NotFound(m)) => {
                return Err(Error::NotFound(format!("{m}; nothing to back up")))
            }
            owner => owner?,
        };
        if source.filestore.exists() && !source.filestore.is_dir() {
            return Err(Error::Invalid(format!(
                "filestore {} is not a folder",
                source.filestore.display()
            )));
        }
        let url = self.target.url_as(&source.database, &owner);
        let pool = self.target.connect_as(&source.database, &owner).await?;
        let mut conn = pool.acquire().await?;
        // one snapshot for the row counts and the dump
        sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *conn)
            .await?;
        let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *conn)
            .await?;
        sql::check_readable(&mut conn, &source.database).await?;
        let facts = sql::facts(&mut conn).await?;

        let created_at = Utc::now();
        let id = new_backup_id(created_at);
        tracing::info!(backup = %id, database = %source.database, "backup started");
        let locations = self.repo.locations().len() as i32;
        // held until the backup is recorded: while it is, no one takes the row for one a
        // crash left behind (`recovery.rs`)
        let writer = WriterLock::hold(&self.pool, &id).await?;
        records::insert_running(
            &self.pool,
            &id,
            &labels,
            &source.database,
            locations,
            created_at,
        )
        .await?;
        let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
        let (dumped_tx, dumped) = tokio::sync::oneshot::channel();
        let job = Job {
            repo: self.repo.clone(),
            id: id.clone(),
            labels,
            created_at,
            source: source.clone(),
            facts,
            pg_dump: self.target.binaries.tool("pg_dump"),
            url,
            snapshot,
            progress,
            cancelled: cancel.0.clone(),
            dumped: std::sync::Mutex::new(Some(dumped_tx)),
        };
        let task = blocking(move || job.run());
        tokio::pin!(task);
        // the snapshot is needed until pg_dump is done; then end the transaction at once (a
        // long one would hold back vacuum on production while files are stored)
        let result = tokio::select! {
            result = &mut task => Some(result),
            _ = dumped => None,
        };
        let _ = sqlx::query("COMMIT").execute(&mut *conn).await;
        drop(conn);
        pool.close().await;
        let result = match result {
            Some(result) => result,
            None => task.await,
        };
        let recorded = match &result {
            Ok(outcome) => {
                for l in outcome.locations.iter().filter(|l| !l.complete) {
                    tracing::warn!(backup = %id, location = %l.location, error = ?l.error, "backup not complete in a location");
                }
                records::record_outcome(&self.pool, outcome).await
            }
            Err(e) => records::record_failure(&self.pool, &id, &e.to_string()).await,
        };
        writer.release().await;
        recorded?;
        result?;
        if drill_after {
            if let Err(e) = self.queue_verification(&id).await {
                tracing::warn!(backup = %id, "queueing its restore drill: {e}");
            }
        }
        self.get(&id).await
    }

    async fn check_manual_slot(&self, labels: &BackupLabels, database: &str) -> Result<()> {
        let infos = self.retention_infos(labels, database).await?;
        if manual_slots_left(&infos, Utc::now(), &self.policy) == 0 {
            return Err(Error::Conflict(format!(
                "the limit of {} manual backups a day is reached for this branch; \
                 delete one, or wait until tomorrow",
                self.policy.manual_per_day
            )));
        }
        Ok(())
    }
}

/// Sets the flag when the future holding it is dropped (the caller gave up).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct Job {
    repo: Arc<slipway_backup::Repository>,
    id: String,
    labels: BackupLabels,
    created_at: chrono::DateTime<Utc>,
    source: BackupSource,
    facts: DatabaseFacts,
    pg_dump: std::path::PathBuf,
    url: String,
    snapshot: String,
    progress: Option<ProgressFn>,
    cancelled: Arc<AtomicBool>,
    dumped: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Job {
    fn report(&self, phase: Phase, bytes: u64) {
        if let Some(p) = &self.progress {
            p(phase, bytes);
        }
    }

    fn check_cancelled(&self) -> Result<()> {
        if self.cancelled.load(Ordering::SeqCst) {
            return Err(Error::Failed(
                "backup cancelled; nothing was recorded".into(),
            ));
        }
        Ok(())
    }

    fn run(self) -> Result<BackupOutcome> {
        let mut writer =
            self.repo
                .begin_backup_as(self.id.clone(), self.labels.clone(), self.created_at)?;
        {
            let m = writer.manifest_mut();
            m.postgresql = self.facts.postgresql.clone();
            m.row_counts = self.facts.row_counts.clone();
            m.odoo = OdooInfo {
                series: self.facts.series(),
                base_version: self.facts.base_version.clone(),
                modules: self.facts.modules.clone(),
            };
        }
        self.dump_database(&mut writer)?;
        crash_point("backup:database-dumped");
        if let Some(tx) = self.dumped.lock().ok().and_then(|mut d| d.take()) {
            let _ = tx.send(());
        }
        for (part, phase, dir) in [
            (
                Part::Filestore,
                Phase::Filestore,
                Some(&self.source.filestore),
            ),
            (Part::Logs, Phase::Logs, self.source.logs_dir.as_ref()),
            (
                Part::Sessions,
                Phase::Sessions,
                self.source.sessions_dir.as_ref(),
            ),
        ] {
            self.check_cancelled()?;
            if let Some(dir) = dir {
                writer.put_tree(part, dir, &mut |n| self.report(phase, n))?;
            }
        }
        self.check_cancelled()?;
        self.report(Phase::Replicating, 0);
        let in_primary = writer.finish_in_primary()?;
        crash_point("backup:manifest-in-primary");
        Ok(in_primary.replicate())
    }

    fn dump_database(&self, writer: &mut slipway_backup::BackupWriter<'_>) -> Result<()> {
        let mut pg_dump = Command::new(&self.pg_dump);
        pg_dump
            .args(["--format=custom", "--compress=0", "--no-owner"])
            .arg(format!("--snapshot={}", self.snapshot));
        let (url, password) = slipway_pg::split_password(&self.url);
        pg_dump.arg(url).envs(password.map(|p| ("PGPASSWORD", p)));
        let run = slipway_pg::stream_stdout(&mut pg_dump, |stdout| {
            let reader = Cancellable {
                inner: stdout,
                cancelled: &self.cancelled,
            };
            writer.put_database(&self.source.database, "pg-custom", reader, &mut |n| {
                self.report(Phase::Database, n)
            })
        })
        .map_err(Error::io(format!("running {}", self.pg_dump.display())))?;
        self.check_cancelled()?;
        run.read?;
        if !run.status.success() {
            return Err(Error::Failed(format!(
                "pg_dump of {:?} failed ({}): {}",
                self.source.database,
                run.status,
                run.stderr.trim()
            )));
        }
        Ok(())
    }
}

/// A reader that fails once the backup is cancelled.
struct Cancellable<'a, R> {
    inner: R,
    cancelled: &'a AtomicBool,
}

impl<R: Read> Read for Cancellable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancelled.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("backup cancelled"));
        }
        self.inner.read(buf)
    }
}
