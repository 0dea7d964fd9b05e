//! The health of running builds beyond their server's `/web/health`: their database. A
//! running build whose database is gone (dropped by hand, lost with a server) cannot serve,
//! however its process answers; on each tick of the scheduler it is failed, with a reason
//! the API and the UI show, its server stopped, and its branch's History told (the project's
//! admins read it there). A database is judged gone only under the branch's pipeline lock, so
//! the renames of a production update or a restore are never taken for a loss.

use std::collections::BTreeSet;

use crate::builds::{Build, BuildResult, BuildState};
use crate::history::HistoryEvent;
use crate::service::Platform;
use crate::stages::Stage;
use crate::Result;

/// Why a running build whose database is not among `existing` cannot go on, if so.
pub(crate) fn database_gone(build: &Build, existing: &BTreeSet<String>) -> Option<String> {
    let database = build.database.as_deref().unwrap_or(&build.name);
    if existing.contains(database) {
        return None;
    }
    let next = match build.stage {
        Stage::Production => {
            "push again (or rebuild) to make a new production database, then restore a backup \
             into it"
        }
        Stage::Staging | Stage::Development => "rebuild the branch to make a new one",
    };
    Some(format!(
        "the build's database {database} no longer exists (dropped outside Slipway?), so its \
         server was stopped; {next}"
    ))
}

impl Platform {
    /// Fails the running builds whose database is gone (see the module documentation);
    /// returns how many.
    pub async fn check_running_databases(&self) -> Result<usize> {
        let running = self.builds.in_state(BuildState::Running).await?;
        if running.is_empty() {
            return Ok(0);
        }
        let target = &self.env().target;
        let existing = target.database_names().await?;
        let mut failed = 0;
        for build in running {
            if database_gone(&build, &existing).is_none() {
                continue;
            }
            let Some(lock) = self.builds.try_lock_branch(build.branch_id).await? else {
                continue; // a pipeline or a restore is at work on it: next tick
            };
            // again under the lock: the build and its database as they are now
            let build = self.builds.get(build.id).await?;
            let existing = target.database_names().await?;
            let reason = match database_gone(&build, &existing) {
                Some(reason) if build.state == BuildState::Running => reason,
                _ => continue,
            };
            tracing::error!(build = build.id, %reason, "running build without its database");
            self.pipeline.supervisor.stop(build.id, build.pid).await;
            if self
                .builds
                .finish(build.id, BuildResult::Failed, &reason)
                .await?
            {
                self.pipeline.note(&build, &format!("FAILED: {reason}"));
                self.history
                    .record(
                        build.branch_id,
                        HistoryEvent::BuildFailed {
                            message: reason,
                            build: build.id,
                        },
                    )
                    .await?;
                failed += 1;
            }
            lock.commit().await?;
        }
        Ok(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(stage: Stage, database: Option<&str>) -> Build {
        let at = chrono::Utc::now();
        Build {
            id: 7,
            name: "acme-main-7".into(),
            project: "acme".into(),
            branch_id: 1,
            branch: "main".into(),
            revision: "abc".into(),
            stage,
            trigger: "push".into(),
            state: BuildState::Running,
            result: Some(BuildResult::Success),
            step: None,
            message: None,
            database: database.map(str::to_string),
            http_port: Some(8069),
            pid: Some(42),
            venv_key: None,
            template_key: None,
            template_hit: false,
            keep: false,
            created_at: at,
            started_at: Some(at),
            ready_at: Some(at),
            finished_at: Some(at),
            db_dropped_at: None,
            tests: None,
            failed_log: None,
            tests_failed: None,
            tests_errors: None,
            tests_run: None,
        }
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_build_whose_database_exists_is_healthy() {
        let b = build(Stage::Production, Some("acme-main-3"));
        assert_eq!(
            database_gone(&b, &names(&["postgres", "acme-main-3"])),
            None
        );
        let own = build(Stage::Development, None);
        assert_eq!(database_gone(&own, &names(&["acme-main-7"])), None);
    }

    #[test]
    fn production_without_its_database_is_failed_naming_it_and_what_to_do() {
        // production's database is the first production build's, handed down
        let b = build(Stage::Production, Some("acme-main-3"));
        let reason = database_gone(&b, &names(&["postgres", "acme-main-7"])).unwrap();
        assert!(
            reason.contains("database acme-main-3 no longer exists"),
            "{reason}"
        );
        assert!(reason.contains("restore a backup"), "{reason}");
        let dev = build(Stage::Development, None);
        let reason = database_gone(&dev, &names(&[])).unwrap();
        assert!(
            reason.contains("acme-main-7") && reason.contains("rebuild"),
            "{reason}"
        );
    }
}
