//! The push that runs production's armed upgrade (see `branch_upgrades::production`).
//!
//! Before anything changes, the pushed code is prepared on the target series and checked
//! for missing custom modules (refused with Odoo.sh's advice; the series goes back). Then,
//! production unavailable and its hosts answering with the maintenance page: the previous
//! server stopped, a `before-upgrade` backup, a dump of it upgraded by the engine (custom
//! modules left for the code), the upgraded database swapped in under production's name
//! (production's own renamed aside as the update's snapshot), `-u` of the custom modules
//! with the pushed code (`upgrade.log`), the server on the target series. Any failure
//! puts the snapshot back by rename, the series back, and the previous revision's server,
//! as a failed update does; the logs stay.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use slipway_odoo::{scan_addons, Series};
use slipway_runner::odoo::{free_port, OdooSource, OdooTask};
use slipway_upgrade::rules::{Aim, RequestState};
use slipway_upgrade::{Delegate, Filed, UpgradeOrder};

use super::pipeline::{Context, Failed, Installed, Pipeline, Prepared, Stop};
use super::production::snapshot_name;
use super::store::Build;
use crate::backups::{DownloadFormat, DownloadOptions};
use crate::branch_upgrades::production::maintenance_reason;
use crate::branch_upgrades::rules::{self, BranchUpgradeState, UpgradeKind};
use crate::branch_upgrades::store::BranchUpgrade;
use crate::branch_upgrades::{log, UPGRADE_LOG};
use crate::branches::Branch;
use crate::history::HistoryEvent;
use crate::projects::Project;

/// How often the engine's progress is asked for.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// What the upgrade did while production was down, for the success or the revert.
#[derive(Default)]
struct Done {
    /// The upgraded database is in production's place (production's own is the snapshot).
    swapped: bool,
}

/// The build's server, up on the target series.
struct Serving {
    port: u16,
    pid: u32,
    installed: Installed,
}

impl Pipeline {
    /// The production upgrade armed on `branch`, taken by this push (armed -> upgrading);
    /// one found `upgrading` was cut short by a stop of Slipway and is taken again, to be put
    /// back. `None`: no production upgrade is waiting.
    pub(super) async fn take_armed_upgrade(
        &self,
        branch: &Branch,
    ) -> Result<Option<BranchUpgrade>, Stop> {
        let Some(open) = self.upgrades.open_of_branch(branch.id).await? else {
            return Ok(None);
        };
        if open.kind != UpgradeKind::Production {
            return Ok(None);
        }
        Ok(match open.state {
            BranchUpgradeState::Armed => {
                self.upgrades
                    .transition(
                        open.id,
                        &[BranchUpgradeState::Armed],
                        BranchUpgradeState::Upgrading,
                    )
                    .await?
            }
            BranchUpgradeState::Upgrading => Some(open),
            _ => None,
        })
    }

    /// Runs `upgrade` with `build` (the pushed code) in place of `previous`.
    pub(super) async fn upgrade_production(
        &self,
        build: &Build,
        branch: &Branch,
        project: &Project,
        previous: &Build,
        upgrade: BranchUpgrade,
    ) -> Result<(), Stop> {
        let (build, database) = &self.take_over_database(build, previous).await?;
        let dir = log::upgrade_dir(&self.env, upgrade.id);
        if upgrade.request.is_some() || upgrade.backup.is_some() {
            // an earlier run was cut short by a stop of Slipway: put production back
            self.recover_interrupted_update(build, previous, database)
                .await?;
            return Err(self
                .refuse_upgrade(
                    build,
                    branch,
                    &upgrade,
                    "the upgrade was interrupted by a stop of Slipway; production was put back",
                )
                .await
                .into());
        }
        log::append(
            &dir,
            &format!(
                "slipway: upgrade of production from Odoo {} to Odoo {} with revision {}",
                upgrade.source_series, upgrade.target, build.revision
            ),
        )
        .await;

        // The pushed code on the target series: its runtime is the branch's series.
        self.branches.set_series(branch.id, &upgrade.target).await?;
        let checked = self.check_upgrade(build, project, database, &upgrade).await;
        let (prepared, custom) = match checked {
            Ok(ready) => ready,
            Err(stop) => {
                let reason = match stop {
                    Stop::Failed(Failed(m)) => m,
                    Stop::Superseded => "a newer push came first".into(),
                };
                return Err(self
                    .refuse_upgrade(build, branch, &upgrade, &reason)
                    .await
                    .into());
            }
        };

        let hosts = [previous.name.as_str(), build.name.as_str()];
        self.maintenance.begin(
            &hosts,
            &maintenance_reason(&upgrade.source_series, &upgrade.target),
        );
        let down = Instant::now();
        let mut done = Done::default();
        let outcome = self
            .upgrade_while_down(
                build, previous, database, &upgrade, &prepared, &custom, &mut done,
            )
            .await;
        let result = match outcome {
            Ok(serving) => {
                self.upgrade_succeeded(
                    build,
                    branch,
                    previous,
                    database,
                    &upgrade,
                    serving,
                    down.elapsed(),
                )
                .await
            }
            Err(stop) => {
                let reason = match stop {
                    Stop::Failed(Failed(m)) => m,
                    Stop::Superseded => {
                        "the upgrade was interrupted by a newer push or a kill".into()
                    }
                };
                let message = self
                    .revert_upgrade(build, branch, previous, database, &upgrade, &done, &reason)
                    .await;
                Err(Failed(message).into())
            }
        };
        self.maintenance.end(&hosts);
        // The build's `upgrade.log` (Logs tab, `~/logs/upgrade.log`): the whole upgrade, the
        // update of the custom modules included.
        let _ = tokio::fs::copy(dir.join(UPGRADE_LOG), prepared.logs.join(UPGRADE_LOG)).await;
        result
    }

    /// The pushed code prepared on the target series, and the branch's custom modules
    /// installed in production; refused when production has modules that are neither
    /// standard nor in the pushed code (Odoo.sh's advice).
    async fn check_upgrade(
        &self,
        build: &Build,
        project: &Project,
        database: &str,
        upgrade: &BranchUpgrade,
    ) -> Result<(Prepared, Vec<String>), Stop> {
        let dir = log::upgrade_dir(&self.env, upgrade.id);
        self.upgrade_step(build, upgrade, "prepare the pushed code")
            .await?;
        let prepared = self.prepare(build, project).await?;
        self.builds
            .set_parts(build.id, &prepared.venv.key, "", false)
            .await?;
        self.upgrade_step(build, upgrade, "check the custom modules")
            .await?;
        let url = self
            .env
            .target
            .owner_url(database)
            .await
            .context("reaching production's database")?;
        let state = slipway_runner::read_db_state(&url)
            .await
            .context("reading production's modules")?;
        let installed: BTreeSet<String> = state
            .modules
            .iter()
            .filter(|m| m.state.is_installed())
            .map(|m| m.name.clone())
            .collect();
        let source: Series = upgrade
            .source_series
            .parse()
            .map_err(|_| Failed(format!("{} is not an Odoo series", upgrade.source_series)))?;
        let runtime = self
            .projects
            .runtime(&upgrade.source_series)
            .await?
            .ok_or_else(|| Failed(format!("this server has no Odoo {source} runtime")))?;
        let odoo = OdooSource::inspect(Path::new(&runtime.source_dir))
            .context("the source series' Odoo runtime")?;
        let standard: BTreeSet<String> = scan_addons(&odoo.addons_dirs(), &source)
            .addons
            .into_keys()
            .collect();
        let code: BTreeSet<String> = prepared.own.iter().map(|(name, _)| name.clone()).collect();
        let missing = rules::missing_custom_modules(&installed, &standard, &code);
        if !missing.is_empty() {
            let branch = self.branches.by_id(build.branch_id).await?;
            return Err(Failed(rules::missing_modules_advice(&missing, &branch.name)).into());
        }
        let custom = rules::custom_modules(&installed, &code);
        self.upgrades
            .set_custom_modules(upgrade.id, &custom)
            .await?;
        log::append(
            &dir,
            &format!(
                "slipway: custom modules, left for the pushed code: {}",
                if custom.is_empty() {
                    "none".to_string()
                } else {
                    custom.join(", ")
                }
            ),
        )
        .await;
        Ok((prepared, custom))
    }

    /// Refused before anything changed: the series back, the upgrade `failed` with `reason`.
    /// Returns the build's message.
    async fn refuse_upgrade(
        &self,
        build: &Build,
        branch: &Branch,
        upgrade: &BranchUpgrade,
        reason: &str,
    ) -> Failed {
        let dir = log::upgrade_dir(&self.env, upgrade.id);
        if let Err(e) = self
            .branches
            .set_series(branch.id, &upgrade.source_series)
            .await
        {
            tracing::error!("putting the series back after a refused upgrade: {e}");
        }
        log::append(&dir, &format!("FAILED: {reason}")).await;
        let message = format!(
            "upgrade of production to Odoo {} refused, production unchanged: {reason}",
            upgrade.target
        );
        let ended = self
            .upgrades
            .end(
                upgrade.id,
                &[BranchUpgradeState::Upgrading],
                BranchUpgradeState::Failed,
                Some(reason),
            )
            .await;
        if let Ok(true) = ended {
            let event = HistoryEvent::UpgradeFailed {
                message: message.clone(),
                upgrade: upgrade.id,
            };
            if let Err(e) = self.history.record(build.branch_id, event).await {
                tracing::warn!("recording the refused upgrade: {e}");
            }
        }
        Failed(message)
    }

    /// The upgrade's steps while production is unavailable; `done` says what to put back.
    #[allow(clippy::too_many_arguments)]
    async fn upgrade_while_down(
        &self,
        build: &Build,
        previous: &Build,
        database: &str,
        upgrade: &BranchUpgrade,
        prepared: &Prepared,
        custom: &[String],
        done: &mut Done,
    ) -> Result<Serving, Stop> {
        let dir = log::upgrade_dir(&self.env, upgrade.id);
        let backups = self.env.backups.as_ref().ok_or_else(|| {
            Failed(
                "this server has no backup repository: production is backed up before its upgrade"
                    .into(),
            )
        })?;
        let delegate = self.upgrade_delegate.as_ref().ok_or_else(|| {
            Failed("this server does not run upgrades (no upgrade delegate)".into())
        })?;

        self.upgrade_step(build, upgrade, "backup").await?;
        self.supervisor.stop(previous.id, previous.pid).await;
        let labels = slipway_backup::BackupLabels {
            project: Some(previous.project.clone()),
            branch: Some(previous.branch.clone()),
            revision: Some(previous.revision.clone()),
            kind: slipway_backup::BackupKind::BeforeUpgrade,
        };
        let backup = backups
            .create(&self.env.backup_source(previous), labels, None)
            .await
            .context("the backup before the upgrade failed")?;
        self.upgrades.set_backup(upgrade.id, &backup.id).await?;
        self.history
            .record(
                build.branch_id,
                HistoryEvent::BackupTaken {
                    message: format!("backup {} taken before the upgrade", backup.id),
                    backup: backup.id.clone(),
                    build: Some(build.id),
                },
            )
            .await?;
        log::append(&dir, &format!("slipway: backup {} taken", backup.id)).await;

        self.upgrade_step(build, upgrade, "export").await?;
        let dump = dir.join("production.zip");
        let options = DownloadOptions {
            format: DownloadFormat::Zip,
            filestore: true,
            neutralized: false,
            output: dump.clone(),
        };
        backups
            .download(&backup.id, &options, None)
            .await
            .context("exporting the backup for the upgrade")?;

        self.upgrade_step(build, upgrade, "submit").await?;
        let order = UpgradeOrder {
            dump: dump.clone(),
            target: upgrade.target.clone(),
            aim: Aim::Production,
            email: format!("{}@localhost", upgrade.requested_by),
            custom_modules: custom.to_vec(),
        };
        let filed = delegate.submit(&order).await;
        let _ = tokio::fs::remove_file(&dump).await;
        let filed = filed.context("sending production's database to the upgrade platform")?;
        self.upgrades.set_request(upgrade.id, &filed).await?;
        let upgraded = self.follow_engine(delegate, &filed, upgrade, &dir).await?;

        self.upgrade_step(build, upgrade, "replace production's database")
            .await?;
        self.swap_in_upgraded(build, database, &upgraded, done)
            .await?;
        let _ = tokio::fs::remove_file(&upgraded).await;

        let port = free_port().context("finding a free port")?;
        let conf = self.conf(build, prepared, port).await?;
        conf.write(&prepared.conf_path())
            .context("writing odoo.conf")?;
        let installed = if custom.is_empty() {
            Installed {
                result: super::store::BuildResult::Success,
                summary: "no custom module to update".into(),
            }
        } else {
            self.upgrade_step(build, upgrade, "update the custom modules")
                .await?;
            let log_file = prepared.logs.join(UPGRADE_LOG);
            let header = format!(
                "Slipway: updating the custom modules {} with revision {} on Odoo {} (their upgrade scripts run)\n",
                custom.join(", "),
                build.revision,
                upgrade.target
            );
            std::fs::write(&log_file, header).context("writing upgrade.log")?;
            let task = OdooTask::Update {
                modules: custom.to_vec(),
            };
            let updated = self
                .odoo_task(
                    build,
                    prepared,
                    &task,
                    UPGRADE_LOG,
                    "update of the custom modules",
                )
                .await;
            log::include(&dir, "the update of the custom modules", &log_file).await;
            updated?
        };
        self.upgrade_step(build, upgrade, "server").await?;
        let pid = self.start_server(build, prepared, &conf).await?;
        Ok(Serving {
            port,
            pid,
            installed,
        })
    }

    /// Follows the engine's request until it ends (its step mirrored into the upgrade's, its
    /// log into `upgrade.log`); returns the upgraded dump, fetched.
    async fn follow_engine(
        &self,
        delegate: &Delegate,
        filed: &Filed,
        upgrade: &BranchUpgrade,
        dir: &Path,
    ) -> Result<PathBuf, Failed> {
        let request_log = log::request_log(dir);
        loop {
            let progress = delegate.progress(filed).await?;
            if let Some(step) = &progress.step {
                self.upgrades.set_step(upgrade.id, step).await?;
            }
            delegate.fetch_log(filed, &request_log).await?;
            log::compose(dir).await;
            match progress.state {
                RequestState::Done | RequestState::Delivered => {
                    log::keep_request_log(dir).await;
                    break;
                }
                RequestState::Failed | RequestState::Cancelled => {
                    log::keep_request_log(dir).await;
                    return Err(Failed(format!(
                        "the upgrade platform: {}",
                        progress.message.unwrap_or_else(|| format!(
                            "the request ended {}",
                            progress.state.as_str()
                        ))
                    )));
                }
                _ => {}
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        self.upgrades
            .set_step(upgrade.id, "fetch the upgraded database")
            .await?;
        let upgraded = dir.join("upgraded.zip");
        delegate
            .fetch_upgraded(filed, &upgraded)
            .await
            .context("fetching the upgraded database")?;
        Ok(upgraded)
    }

    /// The upgraded dump restored beside production, then swapped in by renames: production's
    /// database becomes the snapshot (nothing copied), the upgraded one takes its name and its
    /// role (the login the builds' odoo.conf hold).
    async fn swap_in_upgraded(
        &self,
        build: &Build,
        database: &str,
        upgraded: &Path,
        done: &mut Done,
    ) -> Result<(), Failed> {
        let target = &self.env.target;
        let fresh = format!("slipway_upgraded_{}", build.id);
        let options = slipway_dump::RestoreOptions {
            mode: slipway_dump::Mode::Move,
            force: true,
            jobs: 2,
            ..slipway_dump::RestoreOptions::new(&fresh)
        };
        slipway_dump::restore(target, upgraded, &options)
            .await
            .context("restoring the upgraded database")?;
        let snapshot = snapshot_name(build.id);
        let _ = target.drop_database(&snapshot).await;
        target
            .rename_database(database, &snapshot)
            .await
            .context("moving production's database aside")?;
        if let Err(e) = target.rename_database(&fresh, database).await {
            let back = target.rename_database(&snapshot, database).await;
            let _ = target.drop_database(&fresh).await;
            return Err(Failed(match back {
                Ok(()) => format!("putting the upgraded database in place: {e}"),
                Err(again) => format!(
                    "putting the upgraded database in place: {e}; and production's could not return: {again} (it is {snapshot})"
                ),
            }));
        }
        done.swapped = true;
        target
            .take_role_of(database, &snapshot)
            .await
            .context("giving the upgraded database production's role")?;
        Ok(())
    }

    /// The upgrade succeeded: the new build serves, the snapshot goes, `done`, History, and
    /// a backup of the upgraded production.
    #[allow(clippy::too_many_arguments)]
    async fn upgrade_succeeded(
        &self,
        build: &Build,
        branch: &Branch,
        previous: &Build,
        database: &str,
        upgrade: &BranchUpgrade,
        serving: Serving,
        unavailable: Duration,
    ) -> Result<(), Stop> {
        let dir = log::upgrade_dir(&self.env, upgrade.id);
        if let Err(e) = self
            .env
            .target
            .drop_database(&snapshot_name(build.id))
            .await
        {
            tracing::warn!(error = %e, "could not drop the upgrade's snapshot");
        }
        self.builds.hand_over(previous.id, build.id).await?;
        let message = format!(
            "production upgraded from Odoo {} to Odoo {} ({}); unavailable {:.1}s",
            upgrade.source_series,
            upgrade.target,
            serving.installed.summary,
            unavailable.as_secs_f64()
        );
        self.upgrades
            .end(
                upgrade.id,
                &[BranchUpgradeState::Upgrading],
                BranchUpgradeState::Done,
                None,
            )
            .await?;
        self.history
            .record(
                branch.id,
                HistoryEvent::SeriesSwitched {
                    message: format!(
                        "Odoo {} -> {}: production was upgraded",
                        upgrade.source_series, upgrade.target
                    ),
                    from: upgrade.source_series.clone(),
                    to: upgrade.target.clone(),
                },
            )
            .await?;
        self.history
            .record(
                branch.id,
                HistoryEvent::ProductionUpgraded {
                    message: message.clone(),
                    build: build.id,
                    upgrade: upgrade.id,
                },
            )
            .await?;
        log::append(&dir, &format!("slipway: {message}")).await;
        self.mark_running(
            build,
            serving.port,
            serving.pid,
            serving.installed.result,
            &message,
        )
        .await?;
        // Odoo.sh: "In case of success, a backup is always made." Production's daily kind:
        // the first of the new series, the one a next test upgrade would start from.
        self.backup_after_upgrade(build, database, &dir).await;
        Ok(())
    }

    async fn backup_after_upgrade(&self, build: &Build, database: &str, dir: &Path) {
        let Some(backups) = &self.env.backups else {
            return;
        };
        let labels = slipway_backup::BackupLabels {
            project: Some(build.project.clone()),
            branch: Some(build.branch.clone()),
            revision: Some(build.revision.clone()),
            kind: slipway_backup::BackupKind::Daily,
        };
        let source = self.env.backup_source(&Build {
            database: Some(database.to_string()),
            ..build.clone()
        });
        match backups.create(&source, labels, None).await {
            Ok(record) => {
                log::append(
                    dir,
                    &format!("slipway: backup {} taken after the upgrade", record.id),
                )
                .await;
                let event = HistoryEvent::BackupTaken {
                    message: format!("backup {} taken after the upgrade", record.id),
                    backup: record.id.clone(),
                    build: Some(build.id),
                };
                if let Err(e) = self.history.record(build.branch_id, event).await {
                    tracing::warn!("recording the backup after the upgrade: {e}");
                }
            }
            Err(e) => {
                log::append(
                    dir,
                    &format!("slipway: the backup after the upgrade failed: {e}"),
                )
                .await;
                tracing::warn!("the backup after production's upgrade failed: {e}");
            }
        }
    }

    /// Puts production back as it was before the upgrade: the snapshot renamed in place of
    /// the upgraded database, the series, the previous revision's server; `reverted` with
    /// `reason`, History. Returns the build's message.
    #[allow(clippy::too_many_arguments)]
    async fn revert_upgrade(
        &self,
        build: &Build,
        branch: &Branch,
        previous: &Build,
        database: &str,
        upgrade: &BranchUpgrade,
        done: &Done,
        reason: &str,
    ) -> String {
        let dir = log::upgrade_dir(&self.env, upgrade.id);
        log::append(&dir, &format!("FAILED: {reason}")).await;
        self.supervisor.stop(build.id, None).await;
        let mut problems = Vec::new();
        if done.swapped {
            if let Err(Failed(e)) = self
                .swap_back(build, database, &snapshot_name(build.id))
                .await
            {
                problems.push(e);
            }
        } else {
            let _ = self
                .env
                .target
                .drop_database(&format!("slipway_upgraded_{}", build.id))
                .await;
        }
        let _ = tokio::fs::remove_file(dir.join("upgraded.zip")).await;
        if let Err(e) = self
            .branches
            .set_series(branch.id, &upgrade.source_series)
            .await
        {
            problems.push(format!("putting the series back: {e}"));
        }
        if let Err(e) = self.restart_server(previous).await {
            problems.push(format!("restarting the previous revision: {e}"));
        }
        let message = if problems.is_empty() {
            format!(
                "upgrade of production to Odoo {} failed: {reason}; reverted: the previous revision serves the database as it was, on Odoo {}",
                upgrade.target, upgrade.source_series
            )
        } else {
            format!(
                "upgrade of production to Odoo {} failed: {reason}; REVERT INCOMPLETE: {}",
                upgrade.target,
                problems.join("; ")
            )
        };
        log::append(&dir, &format!("slipway: {message}")).await;
        if let Err(e) = self
            .upgrades
            .end(
                upgrade.id,
                &[BranchUpgradeState::Upgrading],
                BranchUpgradeState::Reverted,
                Some(reason),
            )
            .await
        {
            tracing::warn!("ending the reverted upgrade: {e}");
        }
        let event = HistoryEvent::ProductionUpgradeReverted {
            message: message.clone(),
            build: build.id,
            upgrade: upgrade.id,
            complete: problems.is_empty(),
        };
        if let Err(e) = self.history.record(branch.id, event).await {
            tracing::warn!("recording the reverted upgrade: {e}");
        }
        message
    }

    /// The build's step and the upgrade's, and a line of its log.
    async fn upgrade_step(
        &self,
        build: &Build,
        upgrade: &BranchUpgrade,
        step: &str,
    ) -> Result<(), Stop> {
        self.step(build, &format!("upgrade: {step}")).await?;
        self.upgrades.set_step(upgrade.id, step).await?;
        log::append(
            &log::upgrade_dir(&self.env, upgrade.id),
            &format!("slipway: {step}"),
        )
        .await;
        Ok(())
    }
}
