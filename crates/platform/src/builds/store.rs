//! Builds in the metadata database.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::{PlatformError, Result};
use crate::stages::Stage;
use crate::text_column::{by_name, text_column};
use slipway_metadata::JobKind;
pub use slipway_runner::odoo::TestCounts;

/// Where a build is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildState {
    /// Queued.
    Pending,
    /// Checkout, virtualenv, database, install, tests.
    Building,
    /// Its server is up.
    Running,
    /// Its server was stopped; the database is still there.
    Stopped,
    /// Over: failed, killed, or its database dropped.
    Done,
}

impl BuildState {
    /// The state's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildState::Pending => "pending",
            BuildState::Building => "building",
            BuildState::Running => "running",
            BuildState::Stopped => "stopped",
            BuildState::Done => "done",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<BuildState> {
        use BuildState::*;
        by_name(
            &[Pending, Building, Running, Stopped, Done],
            Self::as_str,
            s,
        )
    }
}

text_column!(BuildState, "build state");

impl std::fmt::Display for BuildState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// How a build went, apart from where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildResult {
    /// Clean logs, tests passed.
    Success,
    /// WARNING lines in the logs, no ERROR, tests passed.
    Warning,
    /// Something failed; the message and the logs say what.
    Failed,
    /// Stopped before it finished (superseded, killed, branch deleted).
    Killed,
}

impl BuildResult {
    /// The result's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildResult::Success => "success",
            BuildResult::Warning => "warning",
            BuildResult::Failed => "failed",
            BuildResult::Killed => "killed",
        }
    }

    /// The result named `s`.
    pub fn parse(s: &str) -> Option<BuildResult> {
        use BuildResult::*;
        by_name(&[Success, Warning, Failed, Killed], Self::as_str, s)
    }
}

text_column!(BuildResult, "build result");

/// How a pipeline found the build it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Pending: its first run.
    Fresh,
    /// Building already: a run of it was cut short (the Slipway running it stopped or died).
    Interrupted {
        /// The step it was at.
        step: Option<String>,
        /// The database it had.
        database: Option<String>,
    },
}

/// A build as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Build {
    /// Id.
    pub id: i64,
    /// `<project>-<branch>-<id>`: its host name label and database name.
    pub name: String,
    /// Project name.
    pub project: String,
    /// Branch id.
    pub branch_id: i64,
    /// Branch name.
    pub branch: String,
    /// Commit built.
    pub revision: String,
    /// The branch's stage when the build was made.
    pub stage: Stage,
    /// What made it: `push`, `rebuild`...
    pub trigger: String,
    /// Where it is in its life.
    pub state: BuildState,
    /// How it went (none while unfinished).
    pub result: Option<BuildResult>,
    /// The step under way (checkout, virtualenv, database, install, tests, server).
    pub step: Option<String>,
    /// Why it failed, or a summary.
    pub message: Option<String>,
    /// Its database.
    pub database: Option<String>,
    /// Port of its Odoo server while running.
    pub http_port: Option<i32>,
    /// Pid of its Odoo server while running.
    pub pid: Option<i32>,
    /// Virtualenv used.
    pub venv_key: Option<String>,
    /// Template cache key of its module set.
    pub template_key: Option<String>,
    /// Whether its database came from the template cache.
    pub template_hit: bool,
    /// Kept running beyond the development limit.
    pub keep: bool,
    /// Enqueued at.
    pub created_at: DateTime<Utc>,
    /// Started at.
    pub started_at: Option<DateTime<Utc>>,
    /// Running since.
    pub ready_at: Option<DateTime<Utc>>,
    /// Finished at.
    pub finished_at: Option<DateTime<Utc>>,
    /// When its database was dropped.
    pub db_dropped_at: Option<DateTime<Utc>>,
    /// Odoo's count of its tests (`4 failed, 1 error(s) of 12 tests`), when it ran tests.
    #[sqlx(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestCounts>,
    /// The log that failed (`install.log`, `update.log`, `odoo.log`), when a log did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_log: Option<String>,
    // `tests` as stored, one column each.
    #[serde(skip)]
    pub(crate) tests_failed: Option<i32>,
    #[serde(skip)]
    pub(crate) tests_errors: Option<i32>,
    #[serde(skip)]
    pub(crate) tests_run: Option<i32>,
}

impl Build {
    /// Whether its server ever came up (it reached `running`, whatever it is now): only
    /// then has it an address worth giving anyone.
    pub fn has_served(&self) -> bool {
        self.ready_at.is_some()
    }
}

const BUILD_SELECT: &str = "SELECT k.id, '' AS name, p.name AS project, k.branch_id, \
    b.name AS branch, k.revision, k.stage, k.trigger, k.state, k.result, k.step, k.message, \
    k.database, k.http_port, k.pid, k.venv_key, k.template_key, k.template_hit, k.keep, \
    k.created_at, k.started_at, k.ready_at, k.finished_at, k.db_dropped_at, \
    k.failed_log, k.tests_failed, k.tests_errors, k.tests_run \
    FROM builds k JOIN branches b ON b.id = k.branch_id JOIN projects p ON p.id = b.project_id";

fn named(mut build: Build) -> Build {
    build.name = super::naming::build_name(&build.project, &build.branch, build.id);
    let count = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok());
    build.tests = match (
        count(build.tests_failed),
        count(build.tests_errors),
        count(build.tests_run),
    ) {
        (Some(failed), Some(errors), Some(run)) => Some(TestCounts {
            failed,
            errors,
            run,
        }),
        _ => None,
    };
    build
}

/// Builds in the metadata database.
#[derive(Debug, Clone)]
pub struct BuildStore {
    pool: PgPool,
}

impl BuildStore {
    /// The store behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Enqueues a build of `revision` on the branch and its pipeline job; older builds of the
    /// branch still pending are superseded (done, killed), and so are those still building
    /// unless the branch is production (an update under way is never cut short). Returns the
    /// build's id.
    pub async fn enqueue(
        &self,
        branch_id: i64,
        stage: Stage,
        revision: &str,
        trigger: &str,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO builds (branch_id, revision, stage, trigger) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(branch_id)
        .bind(revision)
        .bind(stage)
        .bind(trigger)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE builds SET state = 'done', result = 'killed', finished_at = now(), \
             message = 'superseded by build #' || $2 \
             WHERE branch_id = $1 AND id < $2 \
             AND (state = 'pending' OR (state = 'building' AND $3 <> 'production'))",
        )
        .bind(branch_id)
        .bind(id)
        .bind(stage)
        .execute(&mut *tx)
        .await?;
        enqueue_job(&mut tx, id).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// One build, or NotFound.
    pub async fn get(&self, id: i64) -> Result<Build> {
        sqlx::query_as(&format!("{BUILD_SELECT} WHERE k.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(named)
            .ok_or_else(|| PlatformError::NotFound(format!("no build #{id}")))
    }

    /// The build named `name` (`<project>-<branch>-<id>`), if there is one.
    pub async fn by_name(&self, name: &str) -> Result<Option<Build>> {
        let Some(id) = name
            .rsplit_once('-')
            .and_then(|(_, id)| id.parse::<i64>().ok())
        else {
            return Ok(None);
        };
        match self.get(id).await {
            Ok(build) if build.name == name => Ok(Some(build)),
            Ok(_) | Err(PlatformError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A branch's builds, newest first.
    pub async fn of_branch(&self, branch_id: i64, limit: i64) -> Result<Vec<Build>> {
        let rows: Vec<Build> = sqlx::query_as(&format!(
            "{BUILD_SELECT} WHERE k.branch_id = $1 ORDER BY k.id DESC LIMIT $2"
        ))
        .bind(branch_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(named).collect())
    }

    /// The newest build of each of the project's branches (one query for the branch list).
    pub async fn last_of_each_branch(&self, project_id: i64) -> Result<Vec<Build>> {
        let rows: Vec<Build> = sqlx::query_as(&format!(
            "{BUILD_SELECT} WHERE k.id IN (SELECT max(id) FROM builds WHERE branch_id IN \
             (SELECT id FROM branches WHERE project_id = $1) GROUP BY branch_id)"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(named).collect())
    }

    /// The build serving each of the project's branches that has one: its newest running
    /// build (production's, whatever attempt failed after it).
    pub async fn serving_of_each_branch(&self, project_id: i64) -> Result<Vec<Build>> {
        let rows: Vec<Build> = sqlx::query_as(&format!(
            "{BUILD_SELECT} WHERE k.id IN (SELECT max(id) FROM builds WHERE state = 'running' \
             AND branch_id IN (SELECT id FROM branches WHERE project_id = $1) GROUP BY branch_id)"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(named).collect())
    }

    /// A project's builds, newest first.
    pub async fn of_project(&self, project_id: i64, limit: i64) -> Result<Vec<Build>> {
        let rows: Vec<Build> = sqlx::query_as(&format!(
            "{BUILD_SELECT} WHERE b.project_id = $1 ORDER BY k.id DESC LIMIT $2"
        ))
        .bind(project_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(named).collect())
    }

    /// Builds in `state`, oldest first.
    pub async fn in_state(&self, state: BuildState) -> Result<Vec<Build>> {
        let rows: Vec<Build> =
            sqlx::query_as(&format!("{BUILD_SELECT} WHERE k.state = $1 ORDER BY k.id"))
                .bind(state)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(named).collect())
    }

    /// Takes a pending build for its pipeline (pending → building); `false` when it is no
    /// longer pending (superseded or killed meanwhile). A build found `building` (its worker
    /// died and the job came back) is taken again.
    pub async fn begin(&self, id: i64, database: &str) -> Result<bool> {
        Ok(self.take(id, database).await?.is_some())
    }

    /// [`begin`](Self::begin), saying whether the build is new to its pipeline or a run of it
    /// was cut short; `None` when it is no longer wanted.
    pub async fn take(&self, id: i64, database: &str) -> Result<Option<Taken>> {
        let row: Option<(BuildState, Option<String>, Option<String>)> = sqlx::query_as(
            "UPDATE builds k SET state = 'building', step = 'queued', started_at = now(), \
             database = $2 FROM builds old \
             WHERE k.id = $1 AND old.id = k.id AND k.state IN ('pending', 'building') \
             RETURNING old.state, old.step, old.database",
        )
        .bind(id)
        .bind(database)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(state, step, database)| match state {
            BuildState::Building => Taken::Interrupted { step, database },
            _ => Taken::Fresh,
        }))
    }

    /// Whether the build should go on (still building: not killed or superseded meanwhile).
    pub async fn still_building(&self, id: i64) -> Result<bool> {
        let row: Option<(BuildState,)> = sqlx::query_as("SELECT state FROM builds WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(matches!(row, Some((BuildState::Building,))))
    }

    /// Records the step under way.
    pub async fn set_step(&self, id: i64, step: &str) -> Result<()> {
        sqlx::query("UPDATE builds SET step = $2 WHERE id = $1")
            .bind(id)
            .bind(step)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records Odoo's count of the build's tests.
    pub async fn set_tests(&self, id: i64, tests: TestCounts) -> Result<()> {
        let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        sqlx::query(
            "UPDATE builds SET tests_failed = $2, tests_errors = $3, tests_run = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(count(tests.failed))
        .bind(count(tests.errors))
        .bind(count(tests.run))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records which of the build's logs says why it failed.
    pub async fn set_failed_log(&self, id: i64, log: &str) -> Result<()> {
        sqlx::query("UPDATE builds SET failed_log = $2 WHERE id = $1")
            .bind(id)
            .bind(log)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records what the build is made of (virtualenv, template cache key and hit).
    pub async fn set_parts(&self, id: i64, venv: &str, template: &str, hit: bool) -> Result<()> {
        sqlx::query(
            "UPDATE builds SET venv_key = $2, template_key = $3, template_hit = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(venv)
        .bind(template)
        .bind(hit)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The build's server is up: running, with its result. Returns false when the build
    /// was killed meanwhile (a development or staging build; a production build's server
    /// is production's, whatever came in between).
    pub async fn set_running(
        &self,
        id: i64,
        port: u16,
        pid: u32,
        result: BuildResult,
        message: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE builds SET state = 'running', step = NULL, http_port = $2, pid = $3, \
             result = $4, message = $5, ready_at = coalesce(ready_at, now()), \
             finished_at = coalesce(finished_at, now()) \
             WHERE id = $1 AND (state = 'building' OR stage = 'production')",
        )
        .bind(id)
        .bind(i32::from(port))
        .bind(pid as i32)
        .bind(result)
        .bind(message)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The build ended without a server (failed, killed): done, with the reason. Returns
    /// false when it had ended already: a kill recorded first is never overwritten by the
    /// failure the kill itself caused.
    pub async fn finish(&self, id: i64, result: BuildResult, message: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE builds SET state = 'done', step = NULL, result = $2, message = $3, \
             http_port = NULL, pid = NULL, finished_at = now() WHERE id = $1 AND state <> 'done'",
        )
        .bind(id)
        .bind(result)
        .bind(message)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Kills a build that has not finished (pending or building): done, killed. Returns
    /// whether it was unfinished.
    pub async fn kill_unfinished(&self, id: i64, message: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE builds SET state = 'done', step = NULL, result = 'killed', message = $2, \
             finished_at = now() WHERE id = $1 AND state IN ('pending', 'building')",
        )
        .bind(id)
        .bind(message)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The build's server was stopped; the database stays until its lifetime ends.
    pub async fn set_stopped(&self, id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE builds SET state = 'stopped', http_port = NULL, pid = NULL \
             WHERE id = $1 AND state = 'running'",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The build's database was dropped: done.
    pub async fn set_dropped(&self, id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE builds SET state = 'done', step = NULL, http_port = NULL, pid = NULL, \
             db_dropped_at = now(), result = coalesce(result, 'killed') WHERE id = $1",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The server of a running build was started again (after a restart of Slipway).
    pub async fn set_server(&self, id: i64, port: u16, pid: u32) -> Result<()> {
        sqlx::query("UPDATE builds SET http_port = $2, pid = $3 WHERE id = $1")
            .bind(id)
            .bind(i32::from(port))
            .bind(pid as i32)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Keeps (or stops keeping) a build running beyond the development limit.
    pub async fn set_keep(&self, id: i64, keep: bool) -> Result<()> {
        sqlx::query("UPDATE builds SET keep = $2 WHERE id = $1")
            .bind(id)
            .bind(keep)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Holds the branch's pipeline lock until the returned transaction ends (commit, or
    /// drop: a dead worker's lock goes with its connection).
    pub async fn lock_branch(&self, branch_id: i64) -> Result<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(7161, $1::int)")
            .bind(branch_id as i32)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// [`lock_branch`](Self::lock_branch) when no one holds it, else `None` (a pipeline, a
    /// restore is at work on the branch).
    pub async fn try_lock_branch(
        &self,
        branch_id: i64,
    ) -> Result<Option<Transaction<'static, Postgres>>> {
        let mut tx = self.pool.begin().await?;
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(7161, $1::int)")
            .bind(branch_id as i32)
            .fetch_one(&mut *tx)
            .await?;
        Ok(free.then_some(tx))
    }

    /// Points the build at `database` (production and staging updates work on a database
    /// an earlier build made).
    pub async fn set_database(&self, id: i64, database: &str) -> Result<()> {
        sqlx::query("UPDATE builds SET database = $2 WHERE id = $1")
            .bind(id)
            .bind(database)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest build of the branch made in `stage`, other than `except`, that still holds
    /// a live database (running or stopped).
    pub async fn live_of_branch(
        &self,
        branch_id: i64,
        stage: Stage,
        except: Option<i64>,
    ) -> Result<Option<Build>> {
        let row: Option<Build> = sqlx::query_as(&format!(
            "{BUILD_SELECT} WHERE k.branch_id = $1 AND k.stage = $2 AND k.id <> coalesce($3, 0) \
             AND k.state IN ('running', 'stopped') ORDER BY k.id DESC LIMIT 1"
        ))
        .bind(branch_id)
        .bind(stage)
        .bind(except)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(named))
    }

    /// The build of the branch that serves now: its newest running one (after a failed
    /// production update, the one put back), whatever stage it was made in.
    pub async fn serving_of_branch(&self, branch_id: i64) -> Result<Option<Build>> {
        let row: Option<Build> = sqlx::query_as(&format!(
            "{BUILD_SELECT} WHERE k.branch_id = $1 AND k.state = 'running' \
             AND k.http_port IS NOT NULL ORDER BY k.id DESC LIMIT 1"
        ))
        .bind(branch_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(named))
    }

    /// The live builds of the branch made in `stage` other than `except` (older staging
    /// databases to drop).
    pub async fn others_live_of_branch(
        &self,
        branch_id: i64,
        stage: Stage,
        except: i64,
    ) -> Result<Vec<Build>> {
        let rows: Vec<Build> = sqlx::query_as(&format!(
            "{BUILD_SELECT} WHERE k.branch_id = $1 AND k.stage = $2 AND k.id <> $3 \
             AND k.state IN ('running', 'stopped') ORDER BY k.id"
        ))
        .bind(branch_id)
        .bind(stage)
        .bind(except)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(named).collect())
    }

    /// Build `from` gave its database to build `to`: it is over, its database lives on.
    pub async fn hand_over(&self, from: i64, to: i64) -> Result<()> {
        sqlx::query(
            "UPDATE builds SET state = 'done', http_port = NULL, pid = NULL, \
             message = coalesce(message, '') || ' (database handed to build #' || $2 || ')' \
             WHERE id = $1",
        )
        .bind(from)
        .bind(to)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many of a project's builds are not over (pending, building, running or stopped):
    /// each holds a database or is about to make one.
    pub async fn count_live_of_project(&self, project_id: i64) -> Result<usize> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM builds k JOIN branches b ON b.id = k.branch_id \
             WHERE b.project_id = $1 AND k.state <> 'done'",
        )
        .bind(project_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(count.max(0) as usize)
    }

    /// The databases a project's builds that are not over work on (a production or staging
    /// database handed from build to build is named once).
    pub async fn live_databases_of_project(&self, project_id: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT k.database FROM builds k JOIN branches b ON b.id = k.branch_id \
             WHERE b.project_id = $1 AND k.state <> 'done' AND k.database IS NOT NULL",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(name,)| name).collect())
    }

    /// Development builds of a project still holding a database, oldest first.
    pub async fn live_of_project_stage(&self, project_id: i64, stage: Stage) -> Result<Vec<Build>> {
        let rows: Vec<Build> = sqlx::query_as(&format!(
            "{BUILD_SELECT} WHERE b.project_id = $1 AND k.stage = $2 \
             AND k.state IN ('running', 'stopped') ORDER BY k.id"
        ))
        .bind(project_id)
        .bind(stage)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(named).collect())
    }
}

async fn enqueue_job(tx: &mut Transaction<'_, Postgres>, build_id: i64) -> Result<()> {
    slipway_metadata::enqueue_with(
        &mut **tx,
        JobKind::BuildRun,
        &serde_json::json!({ "build_id": build_id }),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_result_names_round_trip_as_stored_and_answered() {
        use BuildState::*;
        for state in [Pending, Building, Running, Stopped, Done] {
            assert_eq!(BuildState::parse(state.as_str()), Some(state));
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        use BuildResult::*;
        for result in [Success, Warning, Failed, Killed] {
            assert_eq!(BuildResult::parse(result.as_str()), Some(result));
            assert_eq!(serde_json::to_value(result).unwrap(), result.as_str());
        }
        assert_eq!(BuildState::parse("teleported"), None);
    }
}
