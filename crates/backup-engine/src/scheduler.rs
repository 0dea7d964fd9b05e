//! The daily backup scheduler: schedules in the metadata database, the decision of
//! [`schedule::decide`](super::schedule::decide), and the job queue, so that a restart neither
//! repeats a day nor forgets one.
//!
//! Each tick, every enabled schedule whose slot is due is *claimed* (a conditional `UPDATE` of
//! its `last_slot`, so two schedulers never both win) and a `backup.daily` job is queued in
//! the same transaction. Workers take the jobs with heartbeats; a job whose worker died is
//! taken again, so a backup claimed just before a crash still runs after the restart.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::json;
use slipway_backup::store::GcOptions;
use slipway_backup::{BackupKind, BackupLabels};
use tokio::sync::watch;

use super::schedule::{decide, retry_due, DailySchedule, Decision};
use super::{BackupSource, Backups};
use crate::error::{Error, Result};
use slipway_metadata::{enqueue_with, Job, JobKind, JobQueue};

/// A job whose heartbeat is older than this is taken for abandoned and queued again.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(300);

/// A daily backup schedule.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Schedule {
    /// Its id.
    pub id: i64,
    /// Project label of its backups.
    pub project: Option<String>,
    /// Branch label of its backups.
    pub branch: Option<String>,
    /// What to back up (JSON of a [`BackupSource`]).
    pub source: serde_json::Value,
    /// Local time of day.
    pub time_of_day: NaiveTime,
    /// IANA time zone of that time.
    pub timezone: String,
    /// Whether it runs.
    pub enabled: bool,
    /// The last slot queued.
    pub last_slot: Option<DateTime<Utc>>,
    /// The last backup it made.
    pub last_backup: Option<String>,
    /// Why its last run failed.
    pub last_error: Option<String>,
    /// How many times the last slot's backup failed (0 once one succeeds).
    pub failures: i32,
    /// When it last failed, until a retry is queued.
    pub failed_at: Option<DateTime<Utc>>,
    /// When it was created (slots before it are not due).
    pub created_at: DateTime<Utc>,
}

impl Schedule {
    fn daily(&self) -> Result<DailySchedule> {
        Ok(DailySchedule {
            time: self.time_of_day,
            tz: parse_time_zone(&self.timezone)?,
        })
    }
}

/// An IANA time zone by name, or an error saying what to give.
pub fn parse_time_zone(name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        Error::Invalid(format!(
            "unknown time zone {name:?}; use an IANA name such as Europe/Brussels or UTC"
        ))
    })
}

/// How the scheduler loop runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// This worker's name in the job queue.
    pub worker: String,
    /// How often due schedules are looked for.
    pub tick: Duration,
    /// Run the restore drill after each daily backup.
    pub verify: bool,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            worker: format!("backups-{}", std::process::id()),
            tick: Duration::from_secs(30),
            verify: true,
        }
    }
}

const SCHEDULE_COLUMNS: &str = "id, project, branch, source, time_of_day, timezone, enabled, \
    last_slot, last_backup, last_error, failures, failed_at, created_at";

impl Backups {
    /// Adds a daily schedule of `source` at `time` (local time in `timezone`).
    pub async fn add_schedule(
        &self,
        project: Option<&str>,
        branch: Option<&str>,
        source: &BackupSource,
        time: NaiveTime,
        timezone: &str,
    ) -> Result<Schedule> {
        parse_time_zone(timezone)?;
        let source = serde_json::to_value(source)
            .map_err(|e| Error::Failed(format!("backup source: {e}")))?;
        Ok(sqlx::query_as(&format!(
            "INSERT INTO backup_schedules (project, branch, source, time_of_day, timezone) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {SCHEDULE_COLUMNS}"
        ))
        .bind(project)
        .bind(branch)
        .bind(source)
        .bind(time)
        .bind(timezone)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Points the daily schedule of (`project`, `branch`) at `source`, at `time` in `timezone`,
    /// and enables it, or adds one when there is none: production's database can change (a
    /// branch promoted again gets a new one) and its backups must follow, as they follow
    /// a changed time of day.
    pub async fn point_schedule(
        &self,
        project: &str,
        branch: &str,
        source: &BackupSource,
        time: NaiveTime,
        timezone: &str,
    ) -> Result<Schedule> {
        parse_time_zone(timezone)?;
        let json = serde_json::to_value(source)
            .map_err(|e| Error::Failed(format!("backup source: {e}")))?;
        let updated: Option<Schedule> = sqlx::query_as(&format!(
            "UPDATE backup_schedules SET source = $3, enabled = true, time_of_day = $4, \
             timezone = $5 WHERE project = $1 AND branch = $2 RETURNING {SCHEDULE_COLUMNS}"
        ))
        .bind(project)
        .bind(branch)
        .bind(json)
        .bind(time)
        .bind(timezone)
        .fetch_optional(&self.pool)
        .await?;
        match updated {
            Some(schedule) => Ok(schedule),
            None => {
                self.add_schedule(Some(project), Some(branch), source, time, timezone)
                    .await
            }
        }
    }

    /// Disables the schedules of a branch that is no longer production (kept, with their
    /// last run, for the record); returns how many.
    pub async fn disable_schedules(&self, project: &str, branch: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE backup_schedules SET enabled = false \
             WHERE project = $1 AND branch = $2 AND enabled",
        )
        .bind(project)
        .bind(branch)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Every schedule.
    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {SCHEDULE_COLUMNS} FROM backup_schedules ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Claims every due slot and queues its job; returns the (schedule, slot) pairs queued.
    pub async fn queue_due(&self, now: DateTime<Utc>) -> Result<Vec<(i64, DateTime<Utc>)>> {
        let mut queued = Vec::new();
        for s in self.schedules().await? {
            if !s.enabled {
                continue;
            }
            let daily = match s.daily() {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(schedule = s.id, "{e}");
                    continue;
                }
            };
            let Decision::Run { slot, missed } = decide(&daily, s.last_slot, s.created_at, now)
            else {
                if self.queue_retry(&s, &daily, now).await? {
                    queued.extend(s.last_slot.map(|slot| (s.id, slot)));
                }
                continue;
            };
            let mut tx = self.pool.begin().await?;
            let claimed = sqlx::query(
                "UPDATE backup_schedules SET last_slot = $2, failures = 0, failed_at = NULL \
                 WHERE id = $1 AND last_slot IS NOT DISTINCT FROM $3",
            )
            .bind(s.id)
            .bind(slot)
            .bind(s.last_slot)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed != 1 {
                continue; // another scheduler took it
            }
            enqueue_with(
                &mut *tx,
                JobKind::BackupDaily,
                &json!({"schedule": s.id, "slot": slot, "missed": missed}),
            )
            .await?;
            tx.commit().await?;
            tracing::info!(schedule = s.id, %slot, missed, "daily backup queued");
            queued.push((s.id, slot));
        }
        Ok(queued)
    }

    /// Queues the last slot's backup again when it failed and [`retry_due`] says it is time;
    /// returns whether it did. Clearing `failed_at` claims the retry, so that two schedulers
    /// never both queue it.
    async fn queue_retry(
        &self,
        s: &Schedule,
        daily: &DailySchedule,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let (Some(slot), Some(failed_at)) = (s.last_slot, s.failed_at) else {
            return Ok(false);
        };
        let failures = u32::try_from(s.failures).unwrap_or(0);
        if !retry_due(daily, slot, failures, failed_at, now) {
            return Ok(false);
        }
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(
            "UPDATE backup_schedules SET failed_at = NULL \
             WHERE id = $1 AND last_slot = $2 AND failed_at = $3",
        )
        .bind(s.id)
        .bind(slot)
        .bind(failed_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed != 1 {
            return Ok(false);
        }
        enqueue_with(
            &mut *tx,
            JobKind::BackupDaily,
            &json!({"schedule": s.id, "slot": slot, "missed": 0, "retry": failures}),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(schedule = s.id, %slot, failures, "failed daily backup queued again");
        Ok(true)
    }

    /// Runs one `backup.daily` job: the backup, then (when asked) its restore drill.
    pub async fn run_daily_job(&self, job: &Job, verify: bool) -> Result<String> {
        let id = job.payload["schedule"]
            .as_i64()
            .ok_or_else(|| Error::Failed("backup.daily job without a schedule id".into()))?;
        let s: Schedule = sqlx::query_as(&format!(
            "SELECT {SCHEDULE_COLUMNS} FROM backup_schedules WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("schedule {id} no longer exists")))?;
        let source: BackupSource = serde_json::from_value(s.source.clone())
            .map_err(|e| Error::Failed(format!("schedule {id}: bad source: {e}")))?;
        let labels = BackupLabels {
            project: s.project.clone(),
            branch: s.branch.clone(),
            revision: None,
            kind: BackupKind::Daily,
        };
        let result = self.create(&source, labels, None).await;
        let (backup, error) = match &result {
            Ok(r) => (Some(r.id.clone()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        // A failure counts against the slot only while it is still the last one queued: a
        // retry is for that day, never for an older one.
        sqlx::query(
            "UPDATE backup_schedules SET last_backup = coalesce($2, last_backup), \
             last_error = $3, \
             failures = CASE WHEN $3 IS NULL THEN 0 \
                 WHEN last_slot = $4 THEN failures + 1 ELSE failures END, \
             failed_at = CASE WHEN $3 IS NULL THEN NULL \
                 WHEN last_slot = $4 THEN now() ELSE failed_at END \
             WHERE id = $1",
        )
        .bind(id)
        .bind(&backup)
        .bind(&error)
        .bind(job_slot(job))
        .execute(&self.pool)
        .await?;
        let record = result?;
        if self.wal_spool.is_some() {
            // point-in-time recovery starts from the cluster's base backup of the day
            if let Err(e) = self.base_backup_if_due().await {
                tracing::warn!("base backup of the cluster (point-in-time recovery): {e}");
            }
        }
        if verify {
            let v = self.verify(&record.id, None).await?;
            if !v.ok {
                tracing::warn!(backup = %record.id, problems = ?v.problems, "backup verification failed");
            }
        }
        // Retention runs with the daily backup, so `serve` keeps 7/4/3 without anyone
        // running `backup prune`: older backups, copies to complete, WAL, unused chunks.
        match self.prune(Utc::now(), &GcOptions::default()).await {
            Ok(report) => tracing::info!(
                deleted = report.deleted.len(),
                kept = report.kept,
                completed = report.completed.len(),
                still_incomplete = report.still_incomplete.len(),
                "retention applied"
            ),
            Err(e) => tracing::warn!("applying the retention policy: {e}"),
        }
        Ok(record.id)
    }
}

/// The slot a `backup.daily` job was queued for.
fn job_slot(job: &Job) -> Option<DateTime<Utc>> {
    serde_json::from_value(job.payload["slot"].clone()).ok()
}

/// Queues due daily backups and runs them until `shutdown` turns true. A job cut short by the
/// shutdown goes back to the queue; one whose worker died is taken again as soon as its
/// liveness lock is gone (else after its heartbeat times out).
pub async fn run_scheduler(
    backups: Backups,
    options: SchedulerOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let queue = JobQueue::new(backups.pool.clone());
    let mut liveness = None;
    while !*shutdown.borrow() {
        if let Err(e) = queue.requeue_abandoned(HEARTBEAT_TIMEOUT).await {
            tracing::warn!("requeueing abandoned backup jobs: {e}");
        }
        if let Err(e) = backups.queue_due(Utc::now()).await {
            tracing::warn!("looking for due backups: {e}");
        }
        liveness = queue.renew_liveness(&options.worker, liveness).await;
        let worker = liveness
            .as_ref()
            .map_or(options.worker.as_str(), |l| l.worker());
        let job = match queue.claim(worker, &[JobKind::BackupDaily]).await {
            Ok(job) => job,
            Err(e) => {
                tracing::warn!("claiming a backup job: {e}");
                None
            }
        };
        let Some(job) = job else {
            tokio::select! {
                _ = tokio::time::sleep(options.tick) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        let beat = async {
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                let _ = queue.heartbeat(job.id).await;
            }
        };
        tokio::select! {
            result = backups.run_daily_job(&job, options.verify) => match result {
                Ok(backup) => {
                    tracing::info!(job = job.id, %backup, "daily backup done");
                    let _ = queue.complete(job.id).await;
                }
                Err(e) => {
                    tracing::warn!(job = job.id, "daily backup failed: {e}");
                    let _ = queue.fail(job.id, &e.to_string()).await;
                }
            },
            _ = beat => {}
            _ = shutdown.changed() => {
                let _ = queue.release(job.id).await;
            }
        }
    }
    if let Some(liveness) = liveness {
        liveness.release().await;
    }
}
