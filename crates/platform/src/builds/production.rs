//! Production builds. The first one creates the database (`base` only, no demo, no tests)
//! and gives its administrator a password of Slipway's instead of Odoo's `admin`
//! ([`super::OdooLogins::production_admin_password`], shown to the project's admins).
//! Every later push moves the server to the new revision; modules whose adapted manifest
//! version went up (or a changed `requirements.txt`) are updated with `-u` after a
//! snapshot (template copy + hardlinks), and if the update or the restart fails, the
//! snapshot is swapped back by rename and the previous revision's server comes back, with
//! the failed `update.log` kept. A push that finds a production upgrade armed runs it
//! instead (`production_upgrade.rs`).

use std::time::{Duration, Instant};

use slipway_dump::IdleSessions;
use slipway_odoo::{build_plan, scan_addons, FolderRules, PlanInput, Reason, UpdateRequest};
use slipway_runner::odoo::{free_port, OdooTask};

use super::odoo_logins::set_admin_password_sql;
use super::pipeline::{Context, Failed, Installed, Pipeline, Prepared, Stop};
use super::store::{Build, BuildResult};
use crate::branches::Branch;
use crate::history::HistoryEvent;
use crate::projects::Project;
use crate::stages::Stage;

impl Pipeline {
    pub(super) async fn production(
        &self,
        build: &Build,
        branch: &Branch,
        project: &Project,
    ) -> Result<(), Stop> {
        let previous = self
            .builds
            .live_of_branch(branch.id, Stage::Production, Some(build.id))
            .await?;
        if let Some(previous) = &previous {
            if let Some(upgrade) = self.take_armed_upgrade(branch).await? {
                return self
                    .upgrade_production(build, branch, project, previous, upgrade)
                    .await;
            }
        }
        let prepared = self.prepare(build, project).await?;
        self.builds
            .set_parts(build.id, &prepared.venv.key, "", false)
            .await?;
        match previous {
            None => self.first_production(build, &prepared, project).await,
            Some(previous) => self.update_production(build, &prepared, &previous).await,
        }
    }

    async fn first_production(
        &self,
        build: &Build,
        prepared: &Prepared,
        project: &Project,
    ) -> Result<(), Stop> {
        self.step(build, "install").await?;
        self.env
            .target
            .create_empty_database(&build.name)
            .await
            .context("creating the production database")?;
        let port = free_port().context("finding a free port")?;
        let conf = self.conf(build, prepared, port).await?;
        conf.write(&prepared.conf_path())
            .context("writing odoo.conf")?;
        let task = OdooTask::Install {
            modules: vec!["base".into()],
            demo: false,
            tests: None,
        };
        let installed = self
            .odoo_task(build, prepared, &task, "install.log", "install of base")
            .await?;
        self.protect_admin(build, project).await?;
        self.step(build, "server").await?;
        let pid = self.start_server(build, prepared, &conf).await?;
        let summary = format!("production database created: {}", installed.summary);
        self.mark_running(build, port, pid, installed.result, &summary)
            .await?;
        self.schedule_daily_backup(build).await;
        Ok(())
    }

    /// `build` takes over `previous`'s database: production keeps one database across its
    /// builds, and a failed build must never drop it. Returns the build as it now is and the
    /// database's name.
    pub(super) async fn take_over_database(
        &self,
        build: &Build,
        previous: &Build,
    ) -> Result<(Build, String), Stop> {
        let database = previous
            .database
            .clone()
            .unwrap_or_else(|| previous.name.clone());
        self.builds.set_database(build.id, &database).await?;
        let build = Build {
            database: Some(database.clone()),
            ..build.clone()
        };
        Ok((build, database))
    }

    async fn update_production(
        &self,
        build: &Build,
        prepared: &Prepared,
        previous: &Build,
    ) -> Result<(), Stop> {
        let (build, database) = &self.take_over_database(build, previous).await?;
        self.recover_interrupted_update(build, previous, database)
            .await?;
        self.step(build, "plan").await?;
        let mut modules = self.modules_to_update(database, prepared).await?;
        if previous.venv_key.as_deref() != Some(prepared.venv.key.as_str()) && modules.is_empty() {
            // New Python requirements: the branch's modules are updated, as Odoo.sh does.
            modules = prepared.own.iter().map(|(name, _)| name.clone()).collect();
        }
        let port = free_port().context("finding a free port")?;
        let conf = self.conf(build, prepared, port).await?;
        conf.write(&prepared.conf_path())
            .context("writing odoo.conf")?;
        if !modules.is_empty() {
            // Taken while production still serves (pg_dump reads a snapshot): it costs no
            // unavailability, and a failure here changes nothing.
            self.step(build, "backup").await?;
            self.safety_backup(previous, build).await?;
        }

        self.step(
            build,
            if modules.is_empty() {
                "restart"
            } else {
                "update"
            },
        )
        .await?;
        let down = Instant::now();
        self.supervisor.stop(previous.id, previous.pid).await;
        let snapshot = snapshot_name(build.id);
        let snapshotted = if modules.is_empty() {
            false
        } else {
            if let Err(Failed(e)) = self.take_snapshot(database, &snapshot).await {
                self.bring_back(previous).await;
                return Err(Failed(format!(
                    "could not snapshot the database before the update: {e}"
                ))
                .into());
            }
            true
        };
        let attempt = self.apply_update(build, prepared, &conf, &modules).await;
        match attempt {
            Ok((pid, installed)) => {
                let unavailable = down.elapsed();
                if snapshotted {
                    if let Err(e) = self.env.target.drop_database(&snapshot).await {
                        tracing::warn!(error = %e, "could not drop the update snapshot");
                    }
                }
                self.builds.hand_over(previous.id, build.id).await?;
                let summary = update_summary(&modules, &installed, unavailable);
                self.history
                    .record(
                        build.branch_id,
                        HistoryEvent::ProductionUpdated {
                            message: summary.clone(),
                            build: build.id,
                            modules: modules.clone(),
                            unavailable_ms: unavailable.as_millis() as u64,
                        },
                    )
                    .await?;
                self.mark_running(build, port, pid, installed.result, &summary)
                    .await
            }
            Err(stop) => {
                let reason = match stop {
                    Stop::Failed(Failed(m)) => m,
                    Stop::Superseded => "the update was interrupted".into(),
                };
                let message = self
                    .roll_back(
                        build,
                        previous,
                        database,
                        snapshotted.then_some(&snapshot),
                        &reason,
                    )
                    .await;
                Err(Failed(message).into())
            }
        }
    }

    /// Production never serves with Odoo's `admin`/`admin`: before its server first starts,
    /// the administrator gets the project's password (hashed as Odoo stores it).
    async fn protect_admin(&self, build: &Build, project: &Project) -> Result<(), Failed> {
        let password = self.env.odoo_logins.production_admin_password(project.id)?;
        let hash =
            tokio::task::spawn_blocking(move || slipway_secrets::odoo_password_hash(&password))
                .await
                .context("hashing the administrator's password")?;
        let updated = self
            .env
            .target
            .execute_as_owner(&build.name, &set_admin_password_sql(&hash))
            .await
            .context("setting the administrator's password")?;
        if updated != 1 {
            return Err(Failed(
                "the new database has no administrator (base.user_admin) to protect".into(),
            ));
        }
        self.note(
            build,
            "the administrator's password is not admin: project admins find it on production",
        );
        Ok(())
    }

    /// The `before-update` backup of production.
    async fn safety_backup(&self, previous: &Build, build: &Build) -> Result<(), Stop> {
        let Some(backups) = &self.env.backups else {
            return Ok(());
        };
        let labels = slipway_backup::BackupLabels {
            project: Some(previous.project.clone()),
            branch: Some(previous.branch.clone()),
            revision: Some(previous.revision.clone()),
            kind: slipway_backup::BackupKind::BeforeUpdate,
        };
        let record = backups
            .create(&self.env.backup_source(previous), labels, None)
            .await
            .context("the backup before the update failed; production was not touched")?;
        self.history
            .record(
                build.branch_id,
                HistoryEvent::BackupTaken {
                    message: format!("backup {} taken before the update", record.id),
                    backup: record.id.clone(),
                    build: Some(build.id),
                },
            )
            .await?;
        Ok(())
    }

    /// Production's database is backed up daily from now on (the branch's schedule, pointed
    /// at this database when it had one).
    pub(super) async fn schedule_daily_backup(&self, build: &Build) {
        let Some(backups) = &self.env.backups else {
            return;
        };
        let pointed = backups
            .point_schedule(
                &build.project,
                &build.branch,
                &self.env.backup_source(build),
                self.env.daily_backup_at,
                &self.env.daily_backup_tz,
            )
            .await;
        if let Err(e) = pointed {
            tracing::warn!("scheduling production's daily backup: {e}");
        }
    }

    /// `-u` of `modules` (if any), then the new revision's server.
    async fn apply_update(
        &self,
        build: &Build,
        prepared: &Prepared,
        conf: &slipway_runner::odoo::OdooConf,
        modules: &[String],
    ) -> Result<(u32, Installed), Stop> {
        let installed = if modules.is_empty() {
            Installed {
                result: BuildResult::Success,
                summary: "nothing to update".into(),
            }
        } else {
            let header = format!(
                "Slipway: updating {} (their manifest version went up, or the requirements changed)\n",
                modules.join(", ")
            );
            std::fs::write(prepared.logs.join("update.log"), header)
                .context("writing update.log")?;
            let task = OdooTask::Update {
                modules: modules.to_vec(),
            };
            self.odoo_task(build, prepared, &task, "update.log", "update")
                .await?
        };
        self.step(build, "server").await?;
        let pid = self.start_server(build, prepared, conf).await?;
        Ok((pid, installed))
    }

    /// Puts production back as it was: the snapshot renamed in place of the database the
    /// update touched, and the previous revision's server. Returns the build's message.
    async fn roll_back(
        &self,
        build: &Build,
        previous: &Build,
        database: &str,
        snapshot: Option<&String>,
        reason: &str,
    ) -> String {
        let began = Instant::now();
        self.supervisor.stop(build.id, None).await;
        let mut problems = Vec::new();
        if let Some(snapshot) = snapshot {
            if let Err(Failed(e)) = self.swap_back(build, database, snapshot).await {
                problems.push(e);
            }
        }
        if let Err(e) = self.restart_server(previous).await {
            problems.push(format!("restarting the previous revision: {e}"));
        }
        let took = began.elapsed();
        let message = if problems.is_empty() {
            format!(
                "{reason}; rolled back in {:.1}s: the previous revision serves the database as it was before the update",
                took.as_secs_f64()
            )
        } else {
            format!("{reason}; ROLLBACK INCOMPLETE: {}", problems.join("; "))
        };
        let recorded = self
            .history
            .record(
                build.branch_id,
                HistoryEvent::ProductionRolledBack {
                    message: message.clone(),
                    build: build.id,
                    rollback_ms: took.as_millis() as u64,
                    complete: problems.is_empty(),
                },
            )
            .await;
        if let Err(e) = recorded {
            tracing::warn!("recording the rollback: {e}");
        }
        message
    }

    /// Copies production's database and filestore to `snapshot`, under a partial name
    /// renamed at the end: a snapshot under its own name is always complete.
    pub(super) async fn take_snapshot(&self, database: &str, snapshot: &str) -> Result<(), Failed> {
        let target = &self.env.target;
        let partial = format!("{snapshot}_partial");
        let _ = target.drop_database(&partial).await;
        // Nothing may stay connected, or the snapshot falls back from a template copy
        // (about a second for 1 GB) to a dump and restore (about twenty).
        target.close_connections(database).await?;
        slipway_dump::clone_database(target, database, &partial, 2, IdleSessions::Keep).await?;
        target.rename_database(&partial, snapshot).await?;
        Ok(())
    }

    /// An update that Slipway's stop or crash cut short left its snapshot behind (the job
    /// runs again from the start): production is put back on it before anything else, so
    /// the new attempt starts from the database as it was, never from a half-updated one.
    pub(super) async fn recover_interrupted_update(
        &self,
        build: &Build,
        previous: &Build,
        database: &str,
    ) -> Result<(), Stop> {
        let target = &self.env.target;
        let snapshot = snapshot_name(build.id);
        let _ = target.drop_database(&format!("{snapshot}_partial")).await;
        if !target.database_exists(&snapshot).await? {
            return Ok(());
        }
        self.supervisor.stop(previous.id, previous.pid).await;
        let recovered = if target.database_exists(database).await? {
            self.swap_back(build, database, &snapshot).await
        } else {
            // cut short between the two renames of a swap: the snapshot only has to go in,
            // and take the role of the updated database moved aside
            let failed = failed_update_name(build.id);
            async {
                target.rename_database(&snapshot, database).await?;
                if target.database_exists(&failed).await? {
                    target.take_role_of(database, &failed).await?;
                }
                Ok::<(), slipway_dump::DumpError>(())
            }
            .await
            .map_err(Failed::from)
        };
        if let Err(Failed(e)) = recovered {
            self.bring_back(previous).await;
            return Err(Failed(format!(
                "an earlier attempt of this update was interrupted and its snapshot could not be put back: {e}"
            ))
            .into());
        }
        let _ = target.drop_database(&failed_update_name(build.id)).await;
        self.history
            .record(
                build.branch_id,
                HistoryEvent::ProductionRecovered {
                    message: format!(
                        "build #{}: an update interrupted by a stop of Slipway was rolled back to its snapshot; updating again",
                        build.id
                    ),
                    build: build.id,
                },
            )
            .await?;
        self.restart_server(previous).await?;
        Ok(())
    }

    /// The snapshot back under production's name. The updated database is renamed aside
    /// first and dropped last, so that at no moment does production have no database: if
    /// the snapshot cannot be renamed in, the updated one goes back under the name.
    pub(super) async fn swap_back(
        &self,
        build: &Build,
        database: &str,
        snapshot: &str,
    ) -> Result<(), Failed> {
        let target = &self.env.target;
        let failed = failed_update_name(build.id);
        target
            .rename_database(database, &failed)
            .await
            .context("moving the updated database aside")?;
        if let Err(e) = target.rename_database(snapshot, database).await {
            let restored = target.rename_database(&failed, database).await;
            return Err(Failed(match restored {
                Ok(()) => format!("putting the snapshot back: {e} (the updated database stays; the snapshot is {snapshot})"),
                Err(again) => format!("putting the snapshot back: {e}; and the updated database could not return: {again} (it is {failed}, the snapshot {snapshot})"),
            }));
        }
        // the builds' odoo.conf hold production's login: the snapshot takes its role
        target
            .take_role_of(database, &failed)
            .await
            .context("giving the snapshot production's role")?;
        if let Err(e) = target.drop_database(&failed).await {
            tracing::warn!(database = %failed, "could not drop the failed update's database: {e}");
        }
        Ok(())
    }

    /// The previous server again, after a failure before anything was changed.
    pub(super) async fn bring_back(&self, previous: &Build) {
        if let Err(e) = self.restart_server(previous).await {
            tracing::error!(
                build = previous.id,
                "could not restart the previous revision: {e}"
            );
        }
    }

    /// Installed modules whose adapted manifest version went up (Odoo's rule for updates).
    pub(super) async fn modules_to_update(
        &self,
        database: &str,
        prepared: &Prepared,
    ) -> Result<Vec<String>, Failed> {
        let url = self
            .env
            .target
            .owner_url(database)
            .await
            .context("reaching the database as its role")?;
        let state = slipway_runner::read_db_state(&url)
            .await
            .context("reading the database's modules")?;
        let mut paths = prepared.module_dirs.clone();
        paths.extend(prepared.source.addons_dirs());
        let addons = scan_addons(&paths, &prepared.series);
        let plan = build_plan(&PlanInput {
            addons: &addons,
            db: &state,
            request: &UpdateRequest::VersionBumps,
            series: &prepared.series,
            rules: FolderRules::for_series(&prepared.series),
            upgrade_paths: &[],
        });
        Ok(plan
            .modules
            .into_iter()
            .filter(|m| m.reason == Reason::Version)
            .map(|m| m.name)
            .collect())
    }
}

fn update_summary(modules: &[String], installed: &Installed, unavailable: Duration) -> String {
    if modules.is_empty() {
        format!(
            "new revision running (nothing to update); unavailable {:.1}s",
            unavailable.as_secs_f64()
        )
    } else {
        format!(
            "updated {}: {}; unavailable {:.1}s",
            modules.join(", "),
            installed.summary,
            unavailable.as_secs_f64()
        )
    }
}

/// The database holding production as it was before build `id`'s update.
pub(super) fn snapshot_name(id: i64) -> String {
    format!("slipway_snapshot_{id}")
}

/// Where build `id`'s failed update is moved aside while the snapshot goes back.
fn failed_update_name(id: i64) -> String {
    format!("slipway_failed_update_{id}")
}
