//! Staging builds: a neutralized copy of the production database and filestore at the
//! branch's revision ("new build"), or the previous staging database updated ("update
//! previous build", the default). Modules whose version went up are updated; crons are
//! off; no tests; the newest staging database is kept, older ones dropped.

use slipway_dump::IdleSessions;
use slipway_runner::odoo::{free_port, OdooTask};

use super::pipeline::{Context, Failed, Installed, Pipeline, Prepared, Stop};
use super::store::{Build, BuildResult};
use crate::branch_upgrades::rules::BranchUpgradeState;
use crate::branches::{Branch, StagingBehaviour};
use crate::projects::Project;
use crate::stages::Stage;

impl Pipeline {
    pub(super) async fn staging(
        &self,
        build: &Build,
        branch: &Branch,
        project: &Project,
    ) -> Result<(), Stop> {
        let prepared = self.prepare(build, project).await?;
        if let Some(mode) = self.upgrades.open_of_branch(branch.id).await? {
            if mode.state == BranchUpgradeState::UpgradeMode {
                if let Some(kept) = &mode.kept_database {
                    return self
                        .staging_in_upgrade_mode(build, &prepared, kept, &mode.custom_modules.0)
                        .await;
                }
            }
        }
        let previous = self
            .builds
            .live_of_branch(branch.id, Stage::Staging, Some(build.id))
            .await?;
        let behaviour = branch.settings.0.staging_behaviour;
        let (database, origin) = match previous {
            Some(previous) if behaviour == StagingBehaviour::UpdatePrevious => {
                self.supervisor.stop(previous.id, previous.pid).await;
                let database = previous.database.clone().unwrap_or(previous.name.clone());
                self.builds.hand_over(previous.id, build.id).await?;
                let origin = format!("previous staging database of build #{}", previous.id);
                (database, origin)
            }
            _ => (
                build.name.clone(),
                self.copy_production(build, project, &prepared).await?,
            ),
        };
        self.builds.set_database(build.id, &database).await?;
        let build = &Build {
            database: Some(database.clone()),
            ..build.clone()
        };

        self.step(build, "update").await?;
        let modules = self.modules_to_update(&database, &prepared).await?;
        let port = free_port().context("finding a free port")?;
        let conf = self.conf(build, &prepared, port).await?;
        conf.write(&prepared.conf_path())
            .context("writing odoo.conf")?;
        let installed = if modules.is_empty() {
            Installed {
                result: BuildResult::Success,
                summary: "nothing to update".into(),
            }
        } else {
            let task = OdooTask::Update {
                modules: modules.clone(),
            };
            self.odoo_task(build, &prepared, &task, "update.log", "update")
                .await?
        };
        self.step(build, "server").await?;
        let pid = self.start_server(build, &prepared, &conf).await?;
        let summary = format!("{origin}; {}", installed.summary);
        self.drop_older_staging(build).await;
        self.mark_running(build, port, pid, installed.result, &summary)
            .await
    }

    /// Upgrade mode: a fresh copy of the kept upgraded database, then `-u` of the branch's
    /// custom modules on the target series (their upgrade scripts run as Odoo runs them),
    /// logged to `upgrade.log`.
    async fn staging_in_upgrade_mode(
        &self,
        build: &Build,
        prepared: &Prepared,
        kept: &str,
        custom_modules: &[String],
    ) -> Result<(), Stop> {
        // the previous staging server lets go of its database; it is dropped once this runs
        if let Some(previous) = self
            .builds
            .live_of_branch(build.branch_id, Stage::Staging, Some(build.id))
            .await?
        {
            self.supervisor.stop(previous.id, previous.pid).await;
        }
        self.step(build, "restore upgraded").await?;
        slipway_dump::clone_database(&self.env.target, kept, &build.name, 2, IdleSessions::Close)
            .await
            .context("copying the upgraded database")?;
        slipway_dump::reset_database_identity(&self.env.target, &build.name)
            .await
            .context("giving the copy its own identity")?;
        self.builds.set_database(build.id, &build.name).await?;
        let build = &Build {
            database: Some(build.name.clone()),
            ..build.clone()
        };
        self.step(build, "upgrade").await?;
        let port = free_port().context("finding a free port")?;
        let conf = self.conf(build, prepared, port).await?;
        conf.write(&prepared.conf_path())
            .context("writing odoo.conf")?;
        let installed = if custom_modules.is_empty() {
            Installed {
                result: BuildResult::Success,
                summary: "no custom module to update".into(),
            }
        } else {
            let task = OdooTask::Update {
                modules: custom_modules.to_vec(),
            };
            self.odoo_task(
                build,
                prepared,
                &task,
                crate::branch_upgrades::UPGRADE_LOG,
                "update of the custom modules",
            )
            .await?
        };
        self.step(build, "server").await?;
        let pid = self.start_server(build, prepared, &conf).await?;
        let summary = format!(
            "upgrade mode: the upgraded database restored from {kept}; {}",
            installed.summary
        );
        self.drop_older_staging(build).await;
        self.mark_running(build, port, pid, installed.result, &summary)
            .await
    }

    /// A fresh copy of production's database and filestore for this build, neutralized.
    async fn copy_production(
        &self,
        build: &Build,
        project: &Project,
        prepared: &Prepared,
    ) -> Result<String, Stop> {
        let production = self
            .branches
            .production(project.id)
            .await?
            .ok_or_else(|| Failed("no production branch: a staging build is a copy of the production database; make a branch production first".into()))?;
        let source = self
            .builds
            .live_of_branch(production.id, Stage::Production, None)
            .await?
            .and_then(|b| b.database)
            .ok_or_else(|| {
                Failed(format!(
                    "production branch {} has no database yet; push to it first",
                    production.name
                ))
            })?;

        self.step(build, "copy").await?;
        let report = slipway_dump::clone_database(
            &self.env.target,
            &source,
            &build.name,
            2,
            // production keeps serving: its pool reconnects
            IdleSessions::Close,
        )
        .await
        .context("copying the production database")?;

        self.step(build, "neutralize").await?;
        slipway_dump::reset_database_identity(&self.env.target, &build.name)
            .await
            .context("giving the copy its own identity")?;
        let outcome = slipway_dump::neutralize_database(&self.env.target, &build.name, false)
            .await
            .context("neutralizing the copy")?;
        let mut log = format!(
            "Neutralized copy of {source} ({:?}, {} filestore files, production held {:.3}s, {:.1}s in all)\n",
            report.path,
            report.filestore_files,
            report.held.as_secs_f64(),
            report.elapsed.as_secs_f64()
        );
        log.push_str("new database.uuid, database.secret, database.create_date and web.base.url, as Odoo's duplicate gives a copy\n");
        for step in &outcome.steps.applied {
            log.push_str(&format!("applied: {step}\n"));
        }
        for step in &outcome.steps.skipped {
            log.push_str(&format!("skipped: {step}\n"));
        }
        // Odoo's neutralization sends mail to an unreachable "neutralization - disable emails"
        // server; Slipway switches that one off too, so the build's mail goes to the mail
        // catcher its odoo.conf names (and still never leaves the machine).
        self.keep_mail_inside(&build.name).await?;
        log.push_str("slipway: every ir_mail_server switched off; mail goes to the mail catcher (odoo.conf smtp_*)\n");
        std::fs::write(prepared.logs.join("neutralize.log"), log)
            .context("writing neutralize.log")?;
        Ok(format!("neutralized copy of production ({source})"))
    }

    /// The newest staging database is kept; older ones of the branch are dropped.
    async fn drop_older_staging(&self, build: &Build) {
        let older = match self
            .builds
            .others_live_of_branch(build.branch_id, Stage::Staging, build.id)
            .await
        {
            Ok(older) => older,
            Err(e) => return tracing::warn!("listing older staging builds: {e}"),
        };
        for old in older {
            self.supervisor.stop(old.id, old.pid).await;
            let database = old.database.clone().unwrap_or(old.name.clone());
            if Some(&database) == build.database.as_ref() {
                continue;
            }
            if let Err(e) = self.env.target.drop_database(&database).await {
                tracing::warn!(build = old.id, "dropping an older staging database: {e}");
                continue;
            }
            if let Some(mails) = &self.env.mails {
                if let Err(e) = mails.drop_build(old.id) {
                    tracing::warn!(
                        build = old.id,
                        "dropping an older staging build's mails: {e}"
                    );
                }
            }
            if let Err(e) = self.builds.set_dropped(old.id).await {
                tracing::warn!(build = old.id, "recording a dropped staging database: {e}");
            }
        }
    }
}
