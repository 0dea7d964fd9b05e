//! Backups of branches: what the API and the CLI ask of a branch's database (back it up, list
//! its backups, restore one into it, take it back to a time, import a dump into it, dump it as
//! it is now), on top of the backup engine, which knows databases but not branches.
//!
//! The rules of Odoo.sh live here: development databases are not backed up; backups are
//! restored into production (after a `before-restore` backup, keeping the database's identity)
//! or into a staging branch (a neutralized copy); point-in-time recovery is for production; an
//! import into production keeps the dump's identity, anywhere else it is a neutralized copy;
//! a backup whose branch is gone is treated as production's (the strictest rights). An imported
//! dump or a restored backup of another Odoo series switches the branch to it (an upgraded
//! dump forward, a backup of before the upgrade back).
//!
//! **Invariant:** whatever replaces a branch's database runs with the branch's server stopped,
//! and the server is started again afterwards whether or not the replacement succeeded
//! ([`Platform::with_server_stopped`]); the replacement itself leaves the database as it was
//! when it fails.

use std::future::Future;
use std::path::Path;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::backups::{
    BackupKind, BackupLabels, BackupRecord, BackupSource, Backups, DownloadFormat, DownloadOptions,
    ImportOutcome, ListFilter, PitrOutcome, RestoreOptions, RestoreOutcome,
};
use crate::branches::{series_switch, Branch, Branches};
use crate::builds::pipeline::BuildEnv;
use crate::builds::{Build, BuildState, BuildStore};
use crate::error::{PlatformError, Result};
use crate::history::HistoryEvent;
use crate::projects::Projects;
use crate::service::Platform;
use crate::stages::Stage;

/// What an operation that replaced a branch's database did, and whether the branch's server
/// started again afterwards.
#[derive(Debug, Clone)]
pub struct AfterRestart<T> {
    /// The operation's outcome.
    pub outcome: T,
    /// Why the server did not start again (`None`: it did).
    pub server_error: Option<String>,
}

/// A branch that switched Odoo series to follow the database put in it (an imported dump, a
/// restored backup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesSwitch {
    /// The series it ran.
    pub from: String,
    /// The database's series, which it runs now.
    pub to: String,
}

impl SeriesSwitch {
    /// Why the branch's server may not start after the switch, and what to do: the code it
    /// runs (at `revision`) is the code it ran on the previous series, which the new series'
    /// Odoo may refuse (as Odoo.sh warns after importing an upgraded dump into production).
    pub fn old_code_hint(&self, revision: &str) -> String {
        let short = &revision[..revision.len().min(8)];
        format!(
            "the database is of Odoo {to} and the branch now runs Odoo {to}, but with the code of \
             revision {short}, which ran on Odoo {from}: merge or push the code upgraded to Odoo \
             {to} into the branch (its next build runs on {to}), or restore a backup of Odoo \
             {from} to go back",
            to = self.to,
            from = self.from,
        )
    }
}

/// What restoring a backup into a branch did.
#[derive(Debug, Clone)]
pub struct BranchRestore {
    /// What the engine did.
    pub restored: RestoreOutcome,
    /// The branch's switch to the backup's Odoo series (a backup taken before an upgrade, say),
    /// when it ran another one.
    pub series_switched: Option<SeriesSwitch>,
}

/// What importing a dump into a branch did.
#[derive(Debug, Clone)]
pub struct BranchImport {
    /// What the engine did.
    pub imported: ImportOutcome,
    /// The branch's switch to the dump's Odoo series, when it ran another one.
    pub series_switched: Option<SeriesSwitch>,
}

/// A branch's backup source, and the labels a backup of it carries.
#[derive(Debug, Clone)]
pub struct BranchSource {
    /// Its live build's database, filestore, logs and sessions.
    pub source: BackupSource,
    /// Its project, branch and the live build's revision (kind `manual`).
    pub labels: BackupLabels,
}

/// The backup source of `project`/`branch`'s live database, read from the metadata database
/// behind `pool` with the data directory of `target`: what `slipway backup create --of` backs
/// up, without a running server.
pub async fn branch_source(
    pool: &PgPool,
    target: &slipway_dump::Target,
    project: &str,
    branch: &str,
) -> Result<BranchSource> {
    let project = Projects::new(pool.clone()).get(project).await?;
    let branch = Branches::new(pool.clone()).get(project.id, branch).await?;
    let build = live_build_in(&BuildStore::new(pool.clone()), &branch).await?;
    let env = BuildEnv::under(&target.data_dir, target.clone());
    Ok(source_of(&env, &build))
}

/// The build holding `branch`'s live database.
async fn live_build_in(builds: &BuildStore, branch: &Branch) -> Result<Build> {
    builds
        .live_of_branch(branch.id, branch.stage, None)
        .await?
        .ok_or_else(|| PlatformError::ConflictCode {
            code: "no_database",
            message: format!("branch {} has no running database", branch.name),
        })
}

/// The backup source of `build` and its labels.
fn source_of(env: &BuildEnv, build: &Build) -> BranchSource {
    BranchSource {
        source: env.backup_source(build),
        labels: labels_of(build, BackupKind::Manual),
    }
}

/// The labels of a backup of `build`'s database.
fn labels_of(build: &Build, kind: BackupKind) -> BackupLabels {
    BackupLabels {
        project: Some(build.project.clone()),
        branch: Some(build.branch.clone()),
        revision: Some(build.revision.clone()),
        kind,
    }
}

impl Platform {
    /// The backup engine, when this server has a repository configured.
    pub fn backups(&self) -> Option<&Backups> {
        self.env().backups.as_ref()
    }

    fn require_backups(&self) -> Result<&Backups> {
        self.backups().ok_or_else(|| {
            PlatformError::Conflict("this server has no backup repository configured".into())
        })
    }

    /// The build holding `branch`'s live database, or a `no_database` conflict: what an
    /// import checks before receiving a dump, so that a branch with nothing to import into
    /// refuses at once instead of after the upload.
    pub async fn live_build_of(&self, branch: &Branch) -> Result<Build> {
        live_build_in(&self.builds, branch).await
    }

    /// The backups of `branch`, newest first.
    pub async fn branch_backups(&self, branch: &Branch) -> Result<Vec<BackupRecord>> {
        let filter = ListFilter {
            project: Some(branch.project.clone()),
            branch: Some(branch.name.clone()),
            database: None,
        };
        let mut records = self.require_backups()?.list(&filter).await?;
        records.reverse();
        Ok(records)
    }

    /// The stage whose rights apply to backup `record` of project `project_id`: its branch's,
    /// or production's when the branch is gone (the strictest).
    pub async fn backup_stage(&self, project_id: i64, record: &BackupRecord) -> Stage {
        match record.branch.as_deref() {
            Some(branch) => self
                .branches
                .get(project_id, branch)
                .await
                .map(|b| b.stage)
                .unwrap_or(Stage::Production),
            None => Stage::Production,
        }
    }

    /// A manual backup of `branch`'s live database (production or staging), recorded in its
    /// History as taken by `by`.
    pub async fn back_up_branch(&self, branch: &Branch, by: &str) -> Result<BackupRecord> {
        let backups = self.require_backups()?;
        let build = live_build_in(&self.builds, branch).await?;
        if branch.stage == Stage::Development {
            return Err(PlatformError::Invalid(
                "development databases are not backed up; make the branch staging or production"
                    .into(),
            ));
        }
        let BranchSource { source, labels } = source_of(self.env(), &build);
        let record = backups.create(&source, labels, None).await?;
        let event = HistoryEvent::BackupTaken {
            message: format!("manual backup {} by {by}", record.id),
            backup: record.id.clone(),
            build: None,
        };
        self.history.record(branch.id, event).await?;
        Ok(record)
    }

    /// Restores backup `id` into `branch`: production after a `before-restore` backup (the
    /// database keeps its identity), a staging branch as a neutralized copy. When the backup's
    /// Odoo series differs from the branch's (a backup taken before an upgrade), the branch
    /// switches back to it, as Odoo.sh does.
    pub async fn restore_backup_into(
        &self,
        id: &str,
        branch: &Branch,
        by: &str,
    ) -> Result<AfterRestart<BranchRestore>> {
        let backups = self.require_backups()?;
        let build = live_build_in(&self.builds, branch).await?;
        let mut options = self.restore_options(&build);
        match branch.stage {
            Stage::Production => {
                options.safety_backup = Some(labels_of(&build, BackupKind::BeforeRestore));
            }
            Stage::Staging => {
                options.mode = slipway_dump::Mode::Copy;
                options.neutralize = true;
            }
            Stage::Development => {
                return Err(PlatformError::Invalid(
                    "backups are restored into production or a staging branch".into(),
                ))
            }
        }
        let restore = async {
            let restored = backups.restore(id, &options, None).await?;
            // before the server starts again: it must start on the backup's series
            let origin = format!("the restored backup {id}");
            let series_switched = self
                .follow_database_series(branch, restored.odoo_version.as_deref(), &origin)
                .await?;
            Ok(BranchRestore {
                restored,
                series_switched,
            })
        };
        let done = self
            .with_server_stopped(&build, restore, |done: &BranchRestore| {
                HistoryEvent::BackupRestored {
                    message: format!("backup {id} restored by {by}"),
                    backup: Some(id.to_string()),
                    at: None,
                    safety_backup: done.restored.safety_backup.clone(),
                }
            })
            .await?;
        let switched = done.outcome.series_switched.clone();
        Ok(explain_failed_start(done, switched.as_ref(), &build))
    }

    /// Point-in-time recovery of production `branch`: its database as it was at `at` (after a
    /// `before-restore` backup; the filestore kept).
    pub async fn restore_branch_to_time(
        &self,
        branch: &Branch,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<AfterRestart<PitrOutcome>> {
        let backups = self.require_backups()?;
        let build = live_build_in(&self.builds, branch).await?;
        if branch.stage != Stage::Production {
            return Err(PlatformError::Invalid(
                "point-in-time recovery is for production; restore a backup into staging instead"
                    .into(),
            ));
        }
        let mut options = self.restore_options(&build);
        options.safety_backup = Some(labels_of(&build, BackupKind::BeforeRestore));
        let restore = async {
            Ok(backups
                .restore_to_time(&options.database, at, &options)
                .await?)
        };
        let at = at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        self.with_server_stopped(&build, restore, |outcome: &PitrOutcome| {
            HistoryEvent::BackupRestored {
                message: format!("production restored as it was at {at} by {by}"),
                backup: None,
                at: Some(at.clone()),
                safety_backup: outcome.safety_backup.clone(),
            }
        })
        .await
    }

    /// Imports the dump `file` into `branch`: production takes a `before-import` backup first
    /// and keeps the dump's identity (neutralized only when `neutralize` says so); other
    /// stages get a copy, neutralized unless `neutralize` is `Some(false)`. When the dump's
    /// Odoo series differs from the branch's, the branch switches to it.
    pub async fn import_into_branch(
        &self,
        file: &Path,
        branch: &Branch,
        neutralize: Option<bool>,
        by: &str,
    ) -> Result<AfterRestart<BranchImport>> {
        let backups = self.require_backups()?;
        let build = live_build_in(&self.builds, branch).await?;
        let mut options = self.restore_options(&build);
        if branch.stage == Stage::Production {
            options.neutralize = neutralize.unwrap_or(false);
            options.safety_backup = Some(labels_of(&build, BackupKind::BeforeImport));
        } else {
            options.mode = slipway_dump::Mode::Copy;
            options.neutralize = neutralize.unwrap_or(true);
        }
        let import = async {
            let imported = backups.import(file, &options).await?;
            // before the server starts again: it must start on the dump's series
            let series_switched = self
                .follow_database_series(
                    branch,
                    imported.odoo_version.as_deref(),
                    "the imported dump",
                )
                .await?;
            Ok(BranchImport {
                imported,
                series_switched,
            })
        };
        let done = self
            .with_server_stopped(&build, import, |done: &BranchImport| {
                let outcome = &done.imported;
                HistoryEvent::BackupImported {
                    message: format!(
                        "{} dump of Odoo {} imported by {by}",
                        outcome.format,
                        outcome.odoo_version.as_deref().unwrap_or("?")
                    ),
                    format: outcome.format.clone(),
                    odoo_version: outcome.odoo_version.clone(),
                    safety_backup: outcome.restore.safety_backup.clone(),
                    disabled: outcome.disabled.clone(),
                }
            })
            .await?;
        let switched = done.outcome.series_switched.clone();
        Ok(explain_failed_start(done, switched.as_ref(), &build))
    }

    /// Switches `branch` to the Odoo series of the database just put in it (`origin`: "the
    /// imported dump", "the restored backup X"), when it differs.
    pub(crate) async fn follow_database_series(
        &self,
        branch: &Branch,
        database_series: Option<&str>,
        origin: &str,
    ) -> Result<Option<SeriesSwitch>> {
        let project = self.projects.by_id(branch.project_id).await?;
        let current = branch.series(&project.series).to_string();
        let Some(series) = series_switch(&current, database_series) else {
            return Ok(None);
        };
        self.branches.set_series(branch.id, &series).await?;
        let event = HistoryEvent::SeriesSwitched {
            message: format!("Odoo {current} -> {series}: {origin} is of Odoo {series}"),
            from: current.clone(),
            to: series.clone(),
        };
        self.history.record(branch.id, event).await?;
        Ok(Some(SeriesSwitch {
            from: current,
            to: series,
        }))
    }

    /// Writes a dump of `build`'s database as it is now to `options.output` (Odoo.sh's
    /// "Download dump"); a neutralized dump is made from a copy, the build's database is not
    /// touched. The build must be running.
    pub async fn dump_live_build(&self, build: &Build, options: &DownloadOptions) -> Result<()> {
        let database = match (&build.database, build.state) {
            (Some(database), BuildState::Running) => database.clone(),
            _ => {
                return Err(PlatformError::ConflictCode {
                    code: "not_running",
                    message: format!("build #{} has no live database ({})", build.id, build.state),
                })
            }
        };
        let create = slipway_dump::CreateOptions {
            database,
            format: match options.format {
                DownloadFormat::Zip => slipway_dump::OutputFormat::Zip,
                DownloadFormat::SqlGz => slipway_dump::OutputFormat::SqlGz,
            },
            filestore: options.filestore,
            neutralized: options.neutralized,
            output: options.output.clone(),
            jobs: 2,
        };
        if let Err(e) = slipway_dump::create(&self.env().target, &create).await {
            let _ = std::fs::remove_file(&options.output);
            return Err(e.into());
        }
        Ok(())
    }

    /// Restoring into `build`'s database and its filestore.
    fn restore_options(&self, build: &Build) -> RestoreOptions {
        let database = build.database.clone().unwrap_or_else(|| build.name.clone());
        let filestore = self.env().target.filestore(&database);
        RestoreOptions::new(&database, filestore)
    }

    /// Stops `build`'s server, runs `work` (which replaces its database), records the
    /// event `event` makes of the outcome (`backup.restored`, `backup.imported`) in the
    /// branch's History, and starts the server again whether or not `work` succeeded (a failed one
    /// leaves the database as it was, which is served again).
    async fn with_server_stopped<T>(
        &self,
        build: &Build,
        work: impl Future<Output = Result<T>>,
        event: impl FnOnce(&T) -> HistoryEvent,
    ) -> Result<AfterRestart<T>> {
        // the branch's pipeline lock: no build of the branch runs meanwhile, and the health
        // check does not take the database renamed away by the swap for one that is gone
        let lock = self.builds.lock_branch(build.branch_id).await?;
        self.pipeline.supervisor.stop(build.id, build.pid).await;
        let done = work.await;
        let recorded = match done {
            Ok(outcome) => {
                let recorded = self.history.record(build.branch_id, event(&outcome)).await;
                recorded.map(|_| outcome)
            }
            Err(e) => Err(e),
        };
        let restarted = self.pipeline.restart_server(build).await;
        let _ = lock.commit().await;
        if let (Err(_), Err(e)) = (&recorded, &restarted) {
            tracing::warn!(build = build.id, error = %e, "server not restarted after a failed restore");
        }
        let outcome = recorded?;
        Ok(AfterRestart {
            outcome,
            server_error: restarted.err().map(|e| e.to_string()),
        })
    }
}

/// A server that did not start again after its branch switched series says why in the words of
/// the switch ([`SeriesSwitch::old_code_hint`]), not only Odoo's.
fn explain_failed_start<T>(
    mut done: AfterRestart<T>,
    switched: Option<&SeriesSwitch>,
    build: &Build,
) -> AfterRestart<T> {
    if let (Some(error), Some(switch)) = (&done.server_error, switched) {
        done.server_error = Some(format!(
            "{error}; {}",
            switch.old_code_hint(&build.revision)
        ));
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_failing_after_a_series_switch_is_explained_by_the_switch() {
        let switch = SeriesSwitch {
            from: "16.0".into(),
            to: "17.0".into(),
        };
        let hint = switch.old_code_hint("0123456789abcdef");
        assert!(
            hint.contains("the database is of Odoo 17.0")
                && hint.contains("revision 01234567, which ran on Odoo 16.0")
                && hint.contains("push the code upgraded to Odoo 17.0")
                && hint.contains("restore a backup of Odoo 16.0"),
            "{hint}"
        );
        assert!(switch.old_code_hint("abc").contains("revision abc,"));
    }
}
