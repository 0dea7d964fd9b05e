//! The Upgrade tab of a branch (seed 000): test upgrades of production's database into a
//! staging branch, then its upgrade mode.
//!
//! A test upgrade is a row of `branch_upgrades` ([`store`]) moved along
//! [`BranchUpgradeState`] by a `branch.upgrade` job, so a restart of Slipway resumes it where
//! it was: `requested` (production's latest daily backup, or one taken now, exported as a dump
//! and sent to the [`Delegate`]) -> `upgrading` (the request's step and log mirrored into the
//! upgrade's row and its `upgrade.log`) -> `restoring` (the upgraded dump imported into the
//! staging branch, neutralized, its series switched to the target, and kept as a database of
//! its own) -> `upgrade_mode` (each push restores a fresh copy of the kept database and
//! updates the branch's custom modules on the target series) -> `closed`, 30 days later or on
//! demand. The pure rules (targets offered, missing modules and their advice, states, the
//! mode's end) are in [`rules`]. A production upgrade is armed here and run by production's
//! next push ([`production`]).

pub(crate) mod log;
pub mod production;
pub mod rules;
pub mod store;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use slipway_odoo::Series;
use slipway_upgrade::rules::RequestState;
use slipway_upgrade::{Delegate, EngineCatalog, Filed, UpgradeOrder};

use crate::backups::{BackupKind, BackupRecord, DownloadFormat, DownloadOptions, ListFilter};
use crate::branches::Branch;
use crate::builds::{Build, BuildState};
use crate::error::{PlatformError, Result};
use crate::history::HistoryEvent;
use crate::service::Platform;
use crate::stages::Stage;
use rules::{BranchUpgradeState, UpgradeKind};
use store::{BranchUpgrade, NewBranchUpgrade};

pub use store::BranchUpgrades;

/// How often a running upgrade's progress is asked for.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// The name of an upgrade's log, in its folder and in the builds' logs.
pub const UPGRADE_LOG: &str = "upgrade.log";

/// The upgrade platform's log of an upgrade's request (see [`log`]).
const REQUEST_LOG: &str = log::REQUEST_LOG;

/// How many lines of the log the Upgrade tab's state carries.
const LOG_TAIL_LINES: usize = 40;

/// What the Upgrade tab shows of a branch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpgradeOverview {
    /// The branch.
    pub branch: String,
    /// Its stage.
    pub stage: Stage,
    /// The series the branch runs now.
    pub series: String,
    /// The series of production's database, which an upgrade starts from.
    pub production_series: String,
    /// Why the tab is not available on this branch (`None`: it is).
    pub unavailable: Option<String>,
    /// The series an upgrade may reach (ready engines above production's).
    pub targets: Vec<String>,
    /// The branch's newest upgrade, if any.
    pub upgrade: Option<UpgradeView>,
}

/// A branch's upgrade as the Upgrade tab shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpgradeView {
    /// Id.
    pub id: i64,
    /// `test` or `production`.
    pub kind: UpgradeKind,
    /// Where it is.
    pub state: BranchUpgradeState,
    /// The series before.
    pub source_series: String,
    /// The series it goes to.
    pub target: String,
    /// Who asked.
    pub requested_by: String,
    /// The branch's own modules, left for its code to update on the target.
    pub custom_modules: Vec<String>,
    /// The backup it started from.
    pub backup: Option<String>,
    /// What it is doing now.
    pub step: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Until when upgrade mode lasts.
    pub mode_until: Option<DateTime<Utc>>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// Its last change.
    pub updated_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The last lines of its `upgrade.log`.
    pub log_tail: String,
}

/// The modules of a database and of the code an upgrade takes it to.
struct ModuleCensus {
    installed: BTreeSet<String>,
    standard: BTreeSet<String>,
    branch_code: BTreeSet<String>,
}

impl Platform {
    /// Where branch upgrades go: the delegate `serve` configured.
    fn upgrade_delegate(&self) -> Result<&Delegate> {
        self.upgrade_delegate.as_ref().ok_or_else(|| {
            PlatformError::Conflict(
                "this server does not run upgrades (no upgrade delegate)".into(),
            )
        })
    }

    /// The folder of branch upgrade `id`: its exported and upgraded dumps, its log.
    fn upgrade_dir(&self, id: i64) -> PathBuf {
        log::upgrade_dir(self.env(), id)
    }

    /// The `upgrade.log` of branch upgrade `id`.
    pub fn upgrade_log(&self, id: i64) -> PathBuf {
        self.upgrade_dir(id).join(UPGRADE_LOG)
    }

    /// The project's production branch and its running build, or why the tab is unavailable.
    async fn production_of(&self, project_id: i64) -> Result<Option<(Branch, Build)>> {
        let Some(production) = self.branches.production(project_id).await? else {
            return Ok(None);
        };
        let build = self
            .builds
            .live_of_branch(production.id, Stage::Production, None)
            .await?
            .filter(|b| b.state == BuildState::Running && b.database.is_some());
        Ok(build.map(|b| (production, b)))
    }

    /// The series of the ready upgrade engines.
    async fn ready_targets(&self) -> Result<Vec<Series>> {
        let engines = EngineCatalog::engines(self).await?;
        Ok(slipway_upgrade::engines::ready_series(&engines))
    }

    /// What the Upgrade tab shows of `branch`.
    pub async fn upgrade_overview(&self, branch: &Branch) -> Result<UpgradeOverview> {
        let project = self.projects.by_id(branch.project_id).await?;
        let production = self.production_of(project.id).await?;
        let production_series = match &production {
            Some((p, _)) => p.series(&project.series).to_string(),
            None => project.series.clone(),
        };
        let unavailable = rules::unavailable_because(branch.stage, production.is_some());
        let targets = match production_series.parse::<Series>() {
            Ok(source) if unavailable.is_none() => {
                rules::offered_targets(&source, &self.ready_targets().await?)
            }
            _ => Vec::new(),
        };
        let upgrade = match self.upgrades.latest_of_branch(branch.id).await? {
            Some(u) => Some(self.upgrade_view(u).await),
            None => None,
        };
        Ok(UpgradeOverview {
            branch: branch.name.clone(),
            stage: branch.stage,
            series: branch.series(&project.series).to_string(),
            production_series,
            unavailable,
            targets: targets.iter().map(Series::to_string).collect(),
            upgrade,
        })
    }

    async fn upgrade_view(&self, u: BranchUpgrade) -> UpgradeView {
        let log = tokio::fs::read_to_string(self.upgrade_log(u.id))
            .await
            .unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let log_tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        UpgradeView {
            id: u.id,
            kind: u.kind,
            state: u.state,
            source_series: u.source_series,
            target: u.target,
            requested_by: u.requested_by,
            custom_modules: u.custom_modules.0,
            backup: u.backup,
            step: u.step,
            error: u.error,
            mode_until: u.mode_until,
            created_at: u.created_at,
            updated_at: u.updated_at,
            finished_at: u.finished_at,
            log_tail,
        }
    }

    /// Starts an upgrade of `branch` to `target`, asked by `by`: on a staging branch, a test
    /// upgrade of production's database; on production, arms the upgrade that production's
    /// next push runs. Refused before anything runs when the tab is not
    /// available, the target is not offered, or modules installed in production are missing
    /// from the branch's code (with Odoo.sh's advice).
    pub async fn start_upgrade(
        &self,
        branch: &Branch,
        target: &str,
        by: &crate::people::User,
    ) -> Result<UpgradeOverview> {
        let project = self.projects.by_id(branch.project_id).await?;
        let production = self.production_of(project.id).await?;
        if let Some(why) = rules::unavailable_because(branch.stage, production.is_some()) {
            return Err(PlatformError::ConflictCode {
                code: "upgrade_unavailable",
                message: why,
            });
        }
        let Some((production, production_build)) = production else {
            unreachable!("unavailable_because refuses a project without running production")
        };
        let production_upgrade = branch.stage == Stage::Production;
        if production_upgrade && self.backups().is_none() {
            return Err(PlatformError::Conflict(
                "this server has no backup repository configured: production is backed up before its upgrade".into(),
            ));
        }
        let source_text = production.series(&project.series).to_string();
        let source: Series = source_text.parse().map_err(|_| {
            PlatformError::Invalid(format!("production runs {source_text}, not an Odoo series"))
        })?;
        let offered = rules::offered_targets(&source, &self.ready_targets().await?);
        let target =
            rules::check_target(target, &source, &offered).map_err(PlatformError::Invalid)?;
        self.upgrade_delegate()?;
        let census = self
            .module_census(&production_build, &source, &target, branch, &project.name)
            .await?;
        let missing =
            rules::missing_custom_modules(&census.installed, &census.standard, &census.branch_code);
        if !missing.is_empty() {
            return Err(PlatformError::ConflictCode {
                code: "missing_modules",
                message: rules::missing_modules_advice(&missing, &branch.name),
            });
        }
        let new = NewBranchUpgrade {
            branch_id: branch.id,
            kind: if production_upgrade {
                UpgradeKind::Production
            } else {
                UpgradeKind::Test
            },
            state: if production_upgrade {
                BranchUpgradeState::Armed
            } else {
                BranchUpgradeState::Requested
            },
            source_series: source_text.clone(),
            target: target.to_string(),
            requested_by: by.login.clone(),
            custom_modules: rules::custom_modules(&census.installed, &census.branch_code),
        };
        let upgrade = self.upgrades.insert(&new).await?;
        self.history
            .record(
                branch.id,
                HistoryEvent::UpgradeRequested {
                    message: if production_upgrade {
                        format!(
                            "upgrade of production to Odoo {target} armed by {}: it starts with the next push",
                            by.login
                        )
                    } else {
                        format!(
                            "test upgrade of production's database to Odoo {target} requested by {}",
                            by.login
                        )
                    },
                    upgrade: upgrade.id,
                    target: target.to_string(),
                },
            )
            .await?;
        tracing::info!(upgrade = upgrade.id, branch = %branch.name, %target, "test upgrade requested");
        self.upgrade_overview(branch).await
    }

    /// The modules installed in production's database, those of its series' Odoo, and those
    /// of `branch`'s code at its head, read as code of `target` (the code an upgrade is tested
    /// with is written for the target: `18.0.1.0` is no version of a 17.0 module).
    async fn module_census(
        &self,
        production: &Build,
        source: &Series,
        target: &Series,
        branch: &Branch,
        project: &str,
    ) -> Result<ModuleCensus> {
        let database = production
            .database
            .clone()
            .unwrap_or(production.name.clone());
        let dsn = self.env().target.owner_url(&database).await?;
        let state = slipway_runner::read_db_state(&dsn)
            .await
            .map_err(|e| PlatformError::Failed(format!("reading production's modules: {e}")))?;
        let installed = state
            .modules
            .iter()
            .filter(|m| m.state.is_installed())
            .map(|m| m.name.clone())
            .collect();
        let runtime = self
            .projects
            .runtime(&source.to_string())
            .await?
            .ok_or_else(|| {
                PlatformError::Conflict(format!("this server has no Odoo {source} runtime"))
            })?;
        let odoo = slipway_runner::odoo::OdooSource::inspect(Path::new(&runtime.source_dir))
            .map_err(|e| PlatformError::Failed(format!("Odoo {source}'s runtime: {e}")))?;
        let standard = slipway_odoo::scan_addons(&odoo.addons_dirs(), source)
            .addons
            .into_keys()
            .collect();
        let branch_code = self.modules_at_head(branch, project, target).await?;
        Ok(ModuleCensus {
            installed,
            standard,
            branch_code,
        })
    }

    /// The modules of `branch`'s code at its head.
    async fn modules_at_head(
        &self,
        branch: &Branch,
        project: &str,
        series: &Series,
    ) -> Result<BTreeSet<String>> {
        let Some(head) = &branch.head else {
            return Ok(BTreeSet::new());
        };
        let scratch = tempfile::Builder::new()
            .prefix("slipway-upgrade-code-")
            .tempdir_in(&self.env().builds_dir)
            .map_err(|source| PlatformError::Io {
                context: "making a folder for the branch's code".into(),
                source,
            })?;
        let repo = self.env().repos.open(project).await?;
        repo.export(head, scratch.path()).await?;
        let dirs = slipway_runner::modules::module_dirs(scratch.path());
        Ok(slipway_odoo::scan_addons(&dirs, series)
            .addons
            .into_keys()
            .collect())
    }

    /// Cancels `branch`'s upgrade under way, or closes its upgrade mode (dropping the kept
    /// database), as asked by `by`.
    pub async fn cancel_upgrade(&self, branch: &Branch, by: &str) -> Result<UpgradeOverview> {
        let upgrade = self
            .upgrades
            .open_of_branch(branch.id)
            .await?
            .ok_or_else(|| {
                PlatformError::NotFound(format!(
                    "branch {} has no upgrade under way nor in upgrade mode",
                    branch.name
                ))
            })?;
        match upgrade.state {
            BranchUpgradeState::UpgradeMode => {
                self.close_upgrade_mode(&upgrade, &format!("closed by {by}"))
                    .await?;
            }
            BranchUpgradeState::Upgrading if upgrade.kind == UpgradeKind::Production => {
                return Err(PlatformError::Conflict(
                    "production's upgrade is under way and cannot be stopped; if anything fails, production is put back as it was".into(),
                ))
            }
            BranchUpgradeState::Restoring => {
                return Err(PlatformError::Conflict(
                    "the upgraded database is being brought back into the branch; wait for it to end, then close upgrade mode".into(),
                ))
            }
            _ => {
                let from = [
                    BranchUpgradeState::Armed,
                    BranchUpgradeState::Requested,
                    BranchUpgradeState::Upgrading,
                ];
                if self
                    .upgrades
                    .transition(upgrade.id, &from, BranchUpgradeState::Cancelled)
                    .await?
                    .is_some()
                {
                    if let (Some(request), Ok(delegate)) = (&upgrade.request, self.upgrade_delegate()) {
                        if let Err(e) = delegate.cancel(&request.0).await {
                            tracing::warn!(upgrade = upgrade.id, "cancelling the upgrade request: {e}");
                        }
                    }
                    self.history
                        .record(
                            branch.id,
                            HistoryEvent::UpgradeCancelled {
                                message: format!("upgrade to Odoo {} cancelled by {by}", upgrade.target),
                                upgrade: upgrade.id,
                            },
                        )
                        .await?;
                }
            }
        }
        self.upgrade_overview(branch).await
    }

    /// Ends upgrade mode of `upgrade`: its kept database dropped, the branch's History told
    /// `why`.
    async fn close_upgrade_mode(&self, upgrade: &BranchUpgrade, why: &str) -> Result<()> {
        let closed = self
            .upgrades
            .transition(
                upgrade.id,
                &[BranchUpgradeState::UpgradeMode],
                BranchUpgradeState::Closed,
            )
            .await?;
        if closed.is_none() {
            return Ok(());
        }
        if let Some(kept) = &upgrade.kept_database {
            if let Err(e) = self.env().target.drop_database(kept).await {
                tracing::warn!(upgrade = upgrade.id, database = %kept, "dropping the kept upgraded database: {e}");
            }
        }
        self.history
            .record(
                upgrade.branch_id,
                HistoryEvent::UpgradeModeClosed {
                    message: format!("upgrade mode (Odoo {}) {why}", upgrade.target),
                    upgrade: upgrade.id,
                },
            )
            .await
    }

    /// The scheduler's part: upgrade modes whose 30 days are over at `now` are closed.
    pub async fn close_expired_upgrade_modes(&self, now: DateTime<Utc>) -> Result<()> {
        for upgrade in self.upgrades.in_upgrade_mode().await? {
            if rules::upgrade_mode_over(upgrade.mode_until, now) {
                self.close_upgrade_mode(&upgrade, "closed after 30 days")
                    .await?;
            }
        }
        Ok(())
    }

    /// Runs a `branch.upgrade` job: takes its upgrade through its remaining phases. A
    /// failure ends the upgrade `failed` with its reason (the job itself succeeds: there is
    /// nothing to retry that would not fail the same way).
    pub async fn run_branch_upgrade_job(&self, job: &slipway_metadata::Job) -> Result<()> {
        let id = job.payload["upgrade"].as_i64().ok_or_else(|| {
            PlatformError::Invalid(format!("job {}: payload names no upgrade", job.id))
        })?;
        loop {
            let upgrade = self.upgrades.get(id).await?;
            let phase = match upgrade.state {
                BranchUpgradeState::Requested => self.upgrade_submit(&upgrade).await,
                BranchUpgradeState::Upgrading => self.upgrade_follow(&upgrade).await,
                BranchUpgradeState::Restoring => self.upgrade_bring_back(&upgrade).await,
                _ => return Ok(()),
            };
            if let Err(e) = phase {
                let message = e.to_string();
                tracing::warn!(upgrade = id, "branch upgrade failed: {message}");
                self.append_upgrade_log(id, &format!("FAILED: {message}"))
                    .await;
                if self.upgrades.fail(id, &message).await? {
                    self.history
                        .record(
                            upgrade.branch_id,
                            HistoryEvent::UpgradeFailed {
                                message: format!(
                                    "upgrade to Odoo {} failed: {message}",
                                    upgrade.target
                                ),
                                upgrade: id,
                            },
                        )
                        .await?;
                }
                return Ok(());
            }
        }
    }

    /// Appends Slipway's own `line` to the upgrade's log.
    async fn append_upgrade_log(&self, id: i64, line: &str) {
        log::append(&self.upgrade_dir(id), line).await;
    }

    /// Once the request ended, its log becomes part of the upgrade's own lines.
    async fn keep_request_log(&self, id: i64) {
        log::keep_request_log(&self.upgrade_dir(id)).await;
    }

    /// Writes `upgrade.log` from Slipway's lines and the request's log.
    async fn compose_upgrade_log(&self, id: i64) {
        log::compose(&self.upgrade_dir(id)).await;
    }

    async fn set_upgrade_step(&self, upgrade: &BranchUpgrade, step: &str) -> Result<()> {
        self.upgrades.set_step(upgrade.id, step).await?;
        self.append_upgrade_log(upgrade.id, &format!("slipway: {step}"))
            .await;
        Ok(())
    }

    /// `requested` -> `upgrading`: production's latest daily backup (one taken now when there
    /// is none), exported as a dump and filed with the upgrade platform.
    async fn upgrade_submit(&self, upgrade: &BranchUpgrade) -> Result<()> {
        let branch = self.branches.by_id(upgrade.branch_id).await?;
        let (production, build) =
            self.production_of(branch.project_id)
                .await?
                .ok_or_else(|| {
                    PlatformError::Conflict("the project's production build is not running".into())
                })?;
        let backups = self.backups().ok_or_else(|| {
            PlatformError::Conflict("this server has no backup repository configured: a test upgrade starts from a backup of production".into())
        })?;
        self.set_upgrade_step(upgrade, "backup").await?;
        let backup = match self.latest_daily_backup(&production).await? {
            Some(backup) => backup,
            None => {
                let source = self.env().backup_source(&build);
                let labels = crate::backups::BackupLabels {
                    project: Some(build.project.clone()),
                    branch: Some(build.branch.clone()),
                    revision: Some(build.revision.clone()),
                    kind: BackupKind::Daily,
                };
                backups.create(&source, labels, None).await?
            }
        };
        self.upgrades.set_backup(upgrade.id, &backup.id).await?;
        self.append_upgrade_log(
            upgrade.id,
            &format!("slipway: from backup {} of production", backup.id),
        )
        .await;
        self.set_upgrade_step(upgrade, "export").await?;
        let dir = self.upgrade_dir(upgrade.id);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|source| PlatformError::Io {
                context: format!("creating {}", dir.display()),
                source,
            })?;
        let dump = dir.join(format!("{}.zip", build.name));
        let options = DownloadOptions {
            format: DownloadFormat::Zip,
            filestore: true,
            neutralized: false,
            output: dump.clone(),
        };
        backups.download(&backup.id, &options, None).await?;
        self.set_upgrade_step(upgrade, "submit").await?;
        let email = self
            .people
            .by_login(&upgrade.requested_by)
            .await?
            .and_then(|u| u.email)
            .unwrap_or_else(|| format!("{}@localhost", upgrade.requested_by));
        let order = UpgradeOrder {
            dump: dump.clone(),
            target: upgrade.target.clone(),
            aim: slipway_upgrade::rules::Aim::Test,
            email,
            custom_modules: upgrade.custom_modules.0.clone(),
        };
        let filed = self.upgrade_delegate()?.submit(&order).await;
        let _ = tokio::fs::remove_file(&dump).await;
        let filed = filed?;
        self.upgrades.set_request(upgrade.id, &filed).await?;
        if self
            .upgrades
            .transition(
                upgrade.id,
                &[BranchUpgradeState::Requested],
                BranchUpgradeState::Upgrading,
            )
            .await?
            .is_some()
        {
            self.history
                .record(
                    branch.id,
                    HistoryEvent::UpgradeStarted {
                        message: format!(
                            "upgrade of production's backup {} to Odoo {} started",
                            backup.id, upgrade.target
                        ),
                        upgrade: upgrade.id,
                        backup: backup.id.clone(),
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// The newest complete daily backup of `production`.
    async fn latest_daily_backup(&self, production: &Branch) -> Result<Option<BackupRecord>> {
        let Some(backups) = self.backups() else {
            return Ok(None);
        };
        let filter = ListFilter {
            project: Some(production.project.clone()),
            branch: Some(production.name.clone()),
            database: None,
        };
        let records = backups.list(&filter).await?;
        Ok(records
            .into_iter()
            .filter(|b| {
                b.kind == BackupKind::Daily
                    && b.state.is_kept()
                    && b.state != crate::backups::BackupState::Running
            })
            .max_by_key(|b| b.created_at))
    }

    /// `upgrading` -> `restoring`: follows the request until it ends, mirroring its step and
    /// log, then fetches the upgraded dump.
    async fn upgrade_follow(&self, upgrade: &BranchUpgrade) -> Result<()> {
        let delegate = self.upgrade_delegate()?;
        let filed: Filed = upgrade
            .request
            .as_ref()
            .map(|r| r.0.clone())
            .ok_or_else(|| PlatformError::Failed("the upgrade has no request filed".into()))?;
        let request_log = self.upgrade_dir(upgrade.id).join(REQUEST_LOG);
        loop {
            let progress = delegate.progress(&filed).await?;
            if let Some(step) = &progress.step {
                self.upgrades.set_step(upgrade.id, step).await?;
            }
            delegate.fetch_log(&filed, &request_log).await?;
            self.compose_upgrade_log(upgrade.id).await;
            match progress.state {
                RequestState::Done | RequestState::Delivered => {
                    self.keep_request_log(upgrade.id).await;
                    break;
                }
                RequestState::Failed | RequestState::Cancelled => {
                    self.keep_request_log(upgrade.id).await;
                    return Err(PlatformError::Failed(progress.message.unwrap_or_else(
                        || format!("the upgrade request ended {}", progress.state.as_str()),
                    )));
                }
                _ => {}
            }
            let now = self.upgrades.get(upgrade.id).await?;
            if now.state != BranchUpgradeState::Upgrading {
                return Ok(()); // cancelled meanwhile
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        self.set_upgrade_step(upgrade, "fetch the upgraded database")
            .await?;
        let upgraded = self.upgraded_dump(upgrade.id);
        delegate.fetch_upgraded(&filed, &upgraded).await?;
        if self
            .upgrades
            .transition(
                upgrade.id,
                &[BranchUpgradeState::Upgrading],
                BranchUpgradeState::Restoring,
            )
            .await?
            .is_some()
        {
            self.history
                .record(
                    upgrade.branch_id,
                    HistoryEvent::UpgradeDatabaseUpgraded {
                        message: format!(
                            "production's database upgraded to Odoo {}",
                            upgrade.target
                        ),
                        upgrade: upgrade.id,
                    },
                )
                .await?;
        }
        Ok(())
    }

    fn upgraded_dump(&self, id: i64) -> PathBuf {
        self.upgrade_dir(id).join("upgraded.zip")
    }

    /// `restoring` -> `upgrade_mode`: the upgraded dump imported into the staging branch
    /// (neutralized, its series switched to the target) and kept as a database of its own
    /// for upgrade mode's pushes.
    async fn upgrade_bring_back(&self, upgrade: &BranchUpgrade) -> Result<()> {
        let branch = self.branches.by_id(upgrade.branch_id).await?;
        let upgraded = self.upgraded_dump(upgrade.id);
        let mode = !upgrade.custom_modules.0.is_empty();
        let live = self
            .builds
            .live_of_branch(branch.id, branch.stage, None)
            .await?;
        if mode {
            // As on Odoo.sh, the upgraded database reaches the branch through upgrade mode: a
            // build restores it and updates the custom modules with the branch's code (queued
            // below), whether or not a build serves now: the branch's code is usually the
            // target's already, and its build on a copy of production failed.
            self.follow_database_series(&branch, Some(&upgrade.target), "the upgraded database")
                .await?;
        } else if live.is_some() {
            self.set_upgrade_step(upgrade, "import into the branch")
                .await?;
            let imported = self
                .import_into_branch(&upgraded, &branch, Some(true), &upgrade.requested_by)
                .await?;
            if let Some(e) = &imported.server_error {
                self.append_upgrade_log(
                    upgrade.id,
                    &format!("slipway: the branch's server did not start again: {e}"),
                )
                .await;
            }
        } else {
            return Err(PlatformError::ConflictCode {
                code: "no_database",
                message: format!(
                    "branch {} has no running build to receive the upgraded database: rebuild \
                     it (or push to it), then test the upgrade again",
                    branch.name
                ),
            });
        }
        if mode {
            self.set_upgrade_step(upgrade, "keep the upgraded database")
                .await?;
            let kept = format!("slipway_upgraded_{}", upgrade.id);
            let options = slipway_dump::RestoreOptions {
                mode: slipway_dump::Mode::Copy,
                force: true,
                jobs: 2,
                ..slipway_dump::RestoreOptions::new(&kept)
            };
            slipway_dump::restore(&self.env().target, &upgraded, &options).await?;
            self.upgrades.set_kept_database(upgrade.id, &kept).await?;
        }
        let _ = tokio::fs::remove_file(&upgraded).await;
        self.copy_upgrade_log_to_branch(&branch, upgrade.id).await;
        let now = Utc::now();
        let entered = if mode {
            self.upgrades
                .enter_upgrade_mode(upgrade.id, rules::upgrade_mode_until(now))
                .await?
        } else {
            self.upgrades
                .transition(
                    upgrade.id,
                    &[BranchUpgradeState::Restoring],
                    BranchUpgradeState::Closed,
                )
                .await?
        };
        let Some(entered) = entered else {
            return Ok(());
        };
        let message = match entered.mode_until {
            Some(until) => format!(
                "the upgraded database (Odoo {}) is in the branch; upgrade mode until {}",
                upgrade.target,
                until.format("%Y-%m-%d")
            ),
            None => format!(
                "the upgraded database (Odoo {}) is in the branch; no custom module, so no upgrade mode",
                upgrade.target
            ),
        };
        self.append_upgrade_log(upgrade.id, &format!("slipway: {message}"))
            .await;
        self.history
            .record(
                branch.id,
                HistoryEvent::UpgradeBroughtBack {
                    message,
                    upgrade: upgrade.id,
                    mode_until: entered.mode_until.map(|u| u.to_rfc3339()),
                },
            )
            .await?;
        if let (true, Some(head)) = (mode, &branch.head) {
            let build = self
                .builds
                .enqueue(branch.id, branch.stage, head, "upgrade mode")
                .await?;
            self.append_upgrade_log(
                upgrade.id,
                &format!("slipway: build #{build} restores it and updates the custom modules"),
            )
            .await;
        }
        Ok(())
    }

    /// Puts the upgrade's log among the logs of the branch's live build (its Logs tab, and
    /// `~/logs/upgrade.log` in its shell).
    async fn copy_upgrade_log_to_branch(&self, branch: &Branch, id: i64) {
        let Ok(Some(build)) = self
            .builds
            .live_of_branch(branch.id, branch.stage, None)
            .await
        else {
            return;
        };
        let logs = self.env().logs_dir(&build.name);
        let _ = tokio::fs::create_dir_all(&logs).await;
        let _ = tokio::fs::copy(self.upgrade_log(id), logs.join(UPGRADE_LOG)).await;
    }
}
