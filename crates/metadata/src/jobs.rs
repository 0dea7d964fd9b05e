//! The job queue, in the metadata database.
//!
//! Workers claim jobs with `FOR UPDATE SKIP LOCKED`, so any number of workers, in one process or
//! on several machines, share the queue without double work. A running job sends heartbeats;
//! one whose worker died (no heartbeat for a while) is put back in the queue by
//! [`JobQueue::requeue_abandoned`], so a crash leaves the job resumable, never half-owned.
//! A worker of [`run_worker`] also holds a [`Liveness`] lock, which PostgreSQL drops with the
//! worker's process: its jobs go back to the queue as soon as it is gone (the next start of
//! `serve` resumes them at once), not a heartbeat timeout later.
//!
//! Idle workers wait on [`JOBS_CHANNEL`], which a trigger notifies whenever a job is queued
//! (migration 0006), so a push starts building at once instead of at the next poll; they still
//! look every [`IDLE_POLL`] for jobs whose `run_after` came due, or when notifications are lost.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::PgPool;

use crate::error::Result;

/// What a job does, stored as its name in `jobs.kind` (and sent as the payload of
/// [`JOBS_CHANNEL`]). Every kind the product queues is here, in the crate that owns the table,
/// so a worker names the jobs it takes by value, never by a string that could be misspelt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Build a branch's commit and start its server (`build.run`, slipway-platform).
    BuildRun,
    /// Process an upgrade request (`upgrade.process`, slipway-upgrade).
    UpgradeProcess,
    /// Take the daily backup of one production branch (`backup.daily`,
    /// slipway-backup-engine).
    BackupDaily,
    /// Restore a backup into a scratch database to prove it restores (`backup.verify`,
    /// slipway-backup-engine).
    BackupVerify,
    /// Take a branch's upgrade through its phases (`branch.upgrade`, slipway-platform).
    BranchUpgrade,
}

impl JobKind {
    /// Every kind, in declaration order.
    pub const ALL: [JobKind; 5] = [
        JobKind::BuildRun,
        JobKind::UpgradeProcess,
        JobKind::BackupDaily,
        JobKind::BackupVerify,
        JobKind::BranchUpgrade,
    ];

    /// The name stored in `jobs.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::BuildRun => "build.run",
            JobKind::UpgradeProcess => "upgrade.process",
            JobKind::BackupDaily => "backup.daily",
            JobKind::BackupVerify => "backup.verify",
            JobKind::BranchUpgrade => "branch.upgrade",
        }
    }

    /// The kind named `name`, if this version knows it.
    pub fn parse(name: &str) -> Option<JobKind> {
        crate::text_column::by_name(&Self::ALL, Self::as_str, name)
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::text_column!(JobKind, "job kind");

/// Queues a job of `kind` through `executor`: inside a transaction, the job is queued only if
/// what it is for (a claimed slot, a recorded build) commits with it. Returns its id.
pub async fn enqueue_with<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    kind: JobKind,
    payload: &Value,
) -> Result<i64> {
    let (id,): (i64,) =
        sqlx::query_as("INSERT INTO jobs (kind, payload) VALUES ($1, $2) RETURNING id")
            .bind(kind)
            .bind(payload)
            .fetch_one(executor)
            .await?;
    Ok(id)
}

/// A job as a worker sees it once claimed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Job {
    /// The job's id.
    pub id: i64,
    /// What to do.
    pub kind: JobKind,
    /// The job's parameters.
    pub payload: Value,
    /// How many times a worker took it (1 on the first run).
    pub attempts: i32,
}

/// The queue.
#[derive(Debug, Clone)]
pub struct JobQueue {
    pool: PgPool,
}

impl JobQueue {
    /// The queue in the metadata database behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// A connection listening on [`JOBS_CHANNEL`]: each notification's payload is the kind
    /// of a job just queued.
    pub async fn listener(&self) -> Result<PgListener> {
        // Its own connection, outside the shared pool: a listener holds it for good, and
        // one per worker would starve the pool's other users.
        let own = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with((*self.pool.connect_options()).clone());
        let mut listener = PgListener::connect_with(&own).await?;
        listener.listen(JOBS_CHANNEL).await?;
        Ok(listener)
    }

    /// Adds a job; returns its id.
    pub async fn enqueue(&self, kind: JobKind, payload: &Value) -> Result<i64> {
        enqueue_with(&self.pool, kind, payload).await
    }

    /// Takes the oldest ready job of one of `kinds` for `worker`, if any.
    pub async fn claim(&self, worker: &str, kinds: &[JobKind]) -> Result<Option<Job>> {
        let kinds: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
        let job = sqlx::query_as(
            "UPDATE jobs SET state = 'running', worker = $1, heartbeat_at = now(), \
                    attempts = attempts + 1 \
             WHERE id = (SELECT id FROM jobs \
                         WHERE state = 'queued' AND run_after <= now() AND kind = ANY($2) \
                         ORDER BY run_after, id FOR UPDATE SKIP LOCKED LIMIT 1) \
             RETURNING id, kind, payload, attempts",
        )
        .bind(worker)
        .bind(&kinds)
        .fetch_optional(&self.pool)
        .await?;
        Ok(job)
    }

    /// Tells the queue the job's worker is alive.
    pub async fn heartbeat(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE jobs SET heartbeat_at = now() WHERE id = $1 AND state = 'running'")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Gives a running job back to the queue (its worker is shutting down).
    pub async fn release(&self, id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', worker = NULL WHERE id = $1 AND state = 'running'",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks the job done.
    pub async fn complete(&self, id: i64) -> Result<()> {
        self.finish(id, "done", None).await
    }

    /// Marks the job failed, with the reason.
    pub async fn fail(&self, id: i64, error: &str) -> Result<()> {
        self.finish(id, "failed", Some(error)).await
    }

    async fn finish(&self, id: i64, state: &str, error: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE jobs SET state = $2, error = $3, finished_at = now() WHERE id = $1")
            .bind(id)
            .bind(state)
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Puts back in the queue the running jobs whose worker has been silent for `silence`
    /// (it crashed, or the machine did), or whose worker held a [`Liveness`] lock that is
    /// gone (its process died). Returns how many were requeued.
    pub async fn requeue_abandoned(&self, silence: Duration) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', worker = NULL \
             WHERE state = 'running' AND (heartbeat_at < now() - make_interval(secs => $1) \
                OR (worker ~ '~pg[0-9]+$' AND NOT EXISTS (\
                    SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted \
                    AND l.classid = ($2::int4)::oid AND l.objsubid = 2 \
                    AND l.objid = substring(worker from '~pg([0-9]+)$')::bigint::oid \
                    AND l.database = (SELECT oid FROM pg_database \
                                      WHERE datname = current_database()))))",
        )
        .bind(silence.as_secs_f64())
        .bind(LIVENESS_LOCK)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Proves worker `name` alive for as long as the returned lock is held; claim its jobs as
    /// [`Liveness::worker`].
    pub async fn hold_liveness(&self, name: &str) -> Result<Liveness> {
        let mut conn = self.pool.acquire().await?.detach();
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await?;
        sqlx::query("SELECT pg_advisory_lock($1, $2)")
            .bind(LIVENESS_LOCK)
            .bind(pid)
            .execute(&mut conn)
            .await?;
        Ok(Liveness {
            conn,
            worker: format!("{name}~pg{pid}"),
        })
    }

    /// A job's state (`queued`, `running`, `done`, `failed`), if it exists.
    pub async fn state(&self, id: i64) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT state FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(s,)| s))
    }
}

/// The first key of the advisory locks of [`Liveness`] (the second is the session's pid).
const LIVENESS_LOCK: i32 = 7162;

/// A worker's proof of life: a session-level advisory lock keyed by the PostgreSQL session
/// (its backend pid) of a connection of its own. The session ends with the worker's process,
/// so a crash frees the lock at once; [`JobQueue::requeue_abandoned`] then takes back the
/// jobs claimed as [`worker`](Liveness::worker) without waiting for their heartbeat to age.
/// (A backend pid is unique among live sessions, so no two live workers share a name.)
#[derive(Debug)]
pub struct Liveness {
    conn: sqlx::PgConnection,
    worker: String,
}

impl Liveness {
    /// The worker's name as its jobs record it: `<name>~pg<backend pid>`.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Whether the lock's session still answers (a lost connection lost the lock with it).
    pub async fn holds(&mut self) -> bool {
        sqlx::query("SELECT 1")
            .execute(&mut self.conn)
            .await
            .is_ok()
    }

    /// Ends the proof of life (its jobs are then anyone's once requeued).
    pub async fn release(self) {
        use sqlx::Connection;
        let _ = self.conn.close().await;
    }
}

/// The channel PostgreSQL notifies when a job is queued; the payload is its kind.
pub const JOBS_CHANNEL: &str = "slipway_jobs";

/// How often an idle worker looks for work without being notified: delayed jobs coming due,
/// and a lost listening connection.
pub const IDLE_POLL: Duration = Duration::from_millis(500);

/// How long a running job may stay silent before another worker takes it back.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(60);

/// Takes jobs of `kind` and runs `handle` on each, with heartbeats, until `shutdown` turns
/// true. A job cut short by the shutdown goes back to the queue at once, so the next start
/// resumes it; a job whose worker died is taken again once its heartbeat is older than
/// [`HEARTBEAT_TIMEOUT`]. `handle` returns the failure to record, if any, as its `Display`
/// writes it.
pub async fn run_worker<F, Fut, E>(
    queue: JobQueue,
    kind: JobKind,
    name: String,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    handle: F,
) where
    F: Fn(Job) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), E>>,
    E: std::fmt::Display,
{
    let mut listener = match queue.listener().await {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(worker = %name, "not listening for queued jobs, polling: {e}");
            None
        }
    };
    let mut liveness: Option<Liveness> = None;
    while !*shutdown.borrow() {
        if let Err(e) = queue.requeue_abandoned(HEARTBEAT_TIMEOUT).await {
            tracing::warn!(worker = %name, "requeueing abandoned jobs: {e}");
        }
        liveness = queue.renew_liveness(&name, liveness).await;
        let worker = liveness.as_ref().map_or(name.as_str(), Liveness::worker);
        let job = match queue.claim(worker, &[kind]).await {
            Ok(job) => job,
            Err(e) => {
                tracing::warn!(worker = %name, "claiming a job: {e}");
                None
            }
        };
        let Some(job) = job else {
            tokio::select! {
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = notified(&mut listener) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        let id = job.id;
        let beat = async {
            loop {
                tokio::time::sleep(HEARTBEAT_TIMEOUT / 4).await;
                let _ = queue.heartbeat(id).await;
            }
        };
        tokio::select! {
            outcome = handle(job) => {
                let recorded = match outcome {
                    Ok(()) => queue.complete(id).await,
                    Err(e) => {
                        tracing::error!(job = id, "job failed: {e}");
                        queue.fail(id, &e.to_string()).await
                    }
                };
                if let Err(e) = recorded {
                    tracing::warn!(job = id, "recording the job's outcome: {e}");
                }
            }
            _ = beat => unreachable!("the heartbeat loop never ends"),
            _ = shutdown.changed() => {
                tracing::info!(job = id, "shutting down: job goes back to the queue");
                if let Err(e) = queue.release(id).await {
                    tracing::warn!(job = id, "releasing job: {e}");
                }
            }
        }
    }
    if let Some(liveness) = liveness {
        liveness.release().await;
    }
}

impl JobQueue {
    /// Worker `name`'s [`Liveness`] before it claims a job: `held` while its session lives,
    /// else taken again; `None` (the heartbeat alone then tells others the worker lives) when
    /// it cannot be had.
    pub async fn renew_liveness(&self, name: &str, held: Option<Liveness>) -> Option<Liveness> {
        if let Some(mut held) = held {
            if held.holds().await {
                return Some(held);
            }
        }
        match self.hold_liveness(name).await {
            Ok(liveness) => Some(liveness),
            Err(e) => {
                tracing::warn!(worker = %name, "no liveness lock, heartbeats only: {e}");
                None
            }
        }
    }
}

/// Waits for a notification on `listener`; without one, forever (the caller's poll and
/// shutdown still run). A broken listener is dropped, and the worker goes on polling.
async fn notified(listener: &mut Option<PgListener>) {
    let Some(active) = listener.as_mut() else {
        return std::future::pending().await;
    };
    if let Err(e) = active.recv().await {
        tracing::warn!("job notifications lost, polling from now on: {e}");
        *listener = None;
    }
}

#[cfg(test)]
mod tests {
    use super::JobKind;

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in JobKind::ALL {
            assert_eq!(JobKind::parse(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }

    #[test]
    fn the_stored_names_are_the_ones_already_in_the_queue() {
        let names: Vec<&str> = JobKind::ALL.iter().map(|kind| kind.as_str()).collect();
        assert_eq!(
            names,
            [
                "build.run",
                "upgrade.process",
                "backup.daily",
                "backup.verify",
                "branch.upgrade"
            ]
        );
        assert_eq!(JobKind::parse("build"), None);
    }
}
