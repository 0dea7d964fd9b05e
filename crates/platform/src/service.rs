//! [`Platform`]: the operations the API and the CLI call, on top of the stores — pushes,
//! rebuilds, stopping and dropping builds, deleting branches, the scheduler's chores, and
//! resuming build servers after a restart.

use std::time::Duration;

use chrono::Utc;
use slipway_git::RefUpdate;
use sqlx::PgPool;

use crate::branches::{Branch, Branches};
use crate::builds::pipeline::{BuildEnv, Pipeline};
use crate::builds::supervisor::Supervisor;
use crate::builds::templates::{to_trim, TemplateStore};
use crate::builds::{Build, BuildState, BuildStore};
use crate::error::{PlatformError, Result};
use crate::history::{History, HistoryEvent, PushedCommit};
use crate::limits::{Limits, NewBuild};
use crate::people::{People, User};
use crate::projects::{Project, Projects, Runtime};
use crate::ref_locks::{RefLocks, RefsGuard};
use crate::ssh_keys::SshKeys;
use crate::stages::Stage;
use crate::usage::FilestoreSizes;
use slipway_metadata::{JobKind, JobQueue};

/// What a merge did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum MergeResult {
    /// The target has a new merge commit, being built.
    Merged {
        /// The merge commit.
        sha: String,
        /// The build of it.
        build: i64,
    },
    /// Nothing to merge.
    UpToDate,
    /// The branches conflict on these paths; nothing was written.
    Conflict {
        /// Conflicting paths.
        paths: Vec<String>,
    },
}

/// How long an unused template database is kept, and how many at most.
const TEMPLATE_MAX_AGE_DAYS: i64 = 14;
const TEMPLATE_MAX_COUNT: usize = 20;

/// Slipway's projects, branches and builds, and what can be done with them.
#[derive(Debug, Clone)]
pub struct Platform {
    /// Users and tokens.
    pub people: People,
    /// Projects and runtimes.
    pub projects: Projects,
    /// Branches.
    pub branches: Branches,
    /// Builds.
    pub builds: BuildStore,
    /// History.
    pub history: History,
    /// The job queue.
    pub queue: JobQueue,
    /// People's SSH keys.
    pub ssh_keys: SshKeys,
    /// Upgrade engines' rows (see `upgrade_engines.rs`).
    pub(crate) engines: slipway_upgrade::EngineStore,
    /// The build pipeline (and its environment and running servers).
    pub(crate) pipeline: Pipeline,
    /// One change of a project's branches at a time ([`Platform::lock_refs`]).
    ref_locks: RefLocks,
    /// What one push and one project may take ([`Platform::with_limits`]).
    pub limits: Limits,
    /// Filestore sizes measured lately, for the disk limit.
    pub(crate) filestore_sizes: FilestoreSizes,
    /// Branches' upgrades (the Upgrade tab).
    pub upgrades: crate::branch_upgrades::BranchUpgrades,
    /// Where branches' upgrades go ([`Platform::with_upgrade_delegate`]); none: refused.
    pub(crate) upgrade_delegate: Option<slipway_upgrade::Delegate>,
}

impl Platform {
    /// The platform on the metadata database behind `pool`, building in `env`.
    pub fn new(pool: PgPool, env: BuildEnv) -> Self {
        let pipeline = Pipeline {
            env,
            builds: BuildStore::new(pool.clone()),
            branches: Branches::new(pool.clone()),
            projects: Projects::new(pool.clone()),
            history: History::new(pool.clone()),
            templates: TemplateStore::new(pool.clone()),
            supervisor: Supervisor::default(),
            upgrades: crate::branch_upgrades::BranchUpgrades::new(pool.clone()),
        };
        Self {
            people: People::new(pool.clone()),
            projects: pipeline.projects.clone(),
            branches: pipeline.branches.clone(),
            builds: pipeline.builds.clone(),
            history: pipeline.history.clone(),
            ssh_keys: SshKeys::new(pool.clone()),
            engines: slipway_upgrade::EngineStore::new(pool.clone()),
            upgrades: pipeline.upgrades.clone(),
            upgrade_delegate: None,
            queue: JobQueue::new(pool),
            pipeline,
            ref_locks: RefLocks::default(),
            limits: Limits::default(),
            filestore_sizes: FilestoreSizes::default(),
        }
    }

    /// The same platform, refusing what goes past `limits` (else [`Limits::default`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The same platform, sending branches' upgrades to `delegate`.
    pub fn with_upgrade_delegate(mut self, delegate: slipway_upgrade::Delegate) -> Self {
        self.upgrade_delegate = Some(delegate);
        self
    }

    /// Waits until the project's branches are the caller's to change: hold the guard from
    /// reading the branches, through moving them, to recording the change ([`Self::on_push`]),
    /// so that two pushes (or a push and an editor commit, a merge, a fork) never see the
    /// same change nor enqueue their builds out of order.
    pub async fn lock_refs(&self, project_id: i64) -> RefsGuard {
        self.ref_locks.lock(project_id).await
    }

    /// The build environment.
    pub fn env(&self) -> &BuildEnv {
        &self.pipeline.env
    }

    /// The key `build`'s `slipway_connect` checks Connect's tokens with.
    pub fn connect_key(&self, build: &Build) -> Result<String> {
        self.pipeline.env.odoo_logins.connect_key(build.id)
    }

    /// The administrator's password of the production database Slipway creates for
    /// `project` (and so of its staging copies), for the project's admins to see; Odoo's
    /// `admin` is never production's. Who saw it goes into the production branch's History.
    pub async fn production_admin_password(&self, project: &Project, by: &User) -> Result<String> {
        let password = self
            .pipeline
            .env
            .odoo_logins
            .production_admin_password(project.id)?;
        let branches = self.branches.list(project.id).await?;
        if let Some(production) = branches.iter().find(|b| b.stage == Stage::Production) {
            let event = HistoryEvent::AdminPasswordShown {
                message: format!("{} was shown the Odoo administrator's password", by.login),
                login: by.login.clone(),
            };
            self.history.record(production.id, event).await?;
        }
        Ok(password)
    }

    /// A ready command running `what` inside `build`'s sandbox, as the build's own processes
    /// run (the Shell and SSH sessions); see `Pipeline::command_in_build`.
    pub async fn command_in_build(
        &self,
        build: &crate::builds::Build,
        what: &crate::builds::SessionProgram,
    ) -> crate::Result<tokio::process::Command> {
        self.pipeline.command_in_build(build, what).await
    }

    /// Creates a project and its Git repository.
    pub async fn create_project(
        &self,
        name: &str,
        series: &slipway_odoo::Series,
        creator: &User,
        trial: bool,
    ) -> Result<Project> {
        let project = self
            .projects
            .create(name, series, creator.id, trial)
            .await?;
        self.env().repos.create(&project.name).await?;
        Ok(project)
    }

    /// Registers the Odoo source tree at `source` as the runtime of `series`, after checking
    /// it is one (its `odoo-bin`, and a release that says the same series).
    pub async fn add_runtime(
        &self,
        series: &slipway_odoo::Series,
        source: &std::path::Path,
    ) -> Result<Runtime> {
        let shown = source.display();
        let found = slipway_runner::odoo::OdooSource::inspect(source)
            .map_err(|e| PlatformError::Invalid(format!("{shown}: {e}")))?;
        if found.series != *series {
            return Err(PlatformError::Invalid(format!(
                "{shown} holds Odoo {}, not {series}",
                found.series
            )));
        }
        let dir = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
        self.projects
            .register_runtime(series, &dir.display().to_string())
            .await
    }

    /// What a push changed: new branches are created in development, every new head is
    /// built, deleted branches have their builds stopped and databases dropped. Returns the
    /// builds enqueued.
    pub async fn on_push(
        &self,
        project: &Project,
        pusher: &User,
        updates: &[RefUpdate],
    ) -> Result<Vec<i64>> {
        let mut enqueued = Vec::new();
        for update in updates {
            match &update.new {
                Some(new) => {
                    let id = self.branch_pushed(project, pusher, update, new).await?;
                    enqueued.push(id);
                }
                None => {
                    if let Ok(branch) = self.branches.get(project.id, &update.branch).await {
                        self.delete_branch(&branch, &pusher.login).await?;
                    }
                }
            }
        }
        Ok(enqueued)
    }

    async fn branch_pushed(
        &self,
        project: &Project,
        pusher: &User,
        update: &RefUpdate,
        new: &str,
    ) -> Result<i64> {
        let (branch, created) = self.branches.ensure(project.id, &update.branch).await?;
        if created {
            self.history
                .record(
                    branch.id,
                    HistoryEvent::BranchCreated {
                        message: format!("branch created in development by {}", pusher.login),
                    },
                )
                .await?;
        }
        let commits = match self.env().repos.open(&project.name).await {
            Ok(repo) => repo
                .commits(new, update.old.as_deref(), 50)
                .await
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        self.history
            .record(
                branch.id,
                HistoryEvent::Push {
                    message: format!("{} pushed {} commit(s)", pusher.login, commits.len()),
                    pusher: pusher.login.clone(),
                    old: update.old.clone(),
                    new: new.to_string(),
                    commits: commits.iter().map(PushedCommit::from).collect(),
                },
            )
            .await?;
        self.branches.set_head(branch.id, new).await?;
        self.builds
            .enqueue(branch.id, branch.stage, new, "push")
            .await
    }

    /// Merges `source`'s code into `target` with a real `git merge` (code only: no data
    /// moves), then builds the target like a push would. A conflict writes nothing.
    pub async fn merge(
        &self,
        project: &Project,
        source: &Branch,
        target: &Branch,
        by: &User,
    ) -> Result<MergeResult> {
        let repo = self.env().repos.open(&project.name).await?;
        let author = slipway_git::Signature {
            name: by.name.clone(),
            email: by
                .email
                .clone()
                .unwrap_or_else(|| format!("{}@slipway.invalid", by.login)),
        };
        let _refs = self.lock_refs(project.id).await;
        let outcome = repo.merge(&source.name, &target.name, &author).await?;
        match outcome {
            slipway_git::MergeOutcome::Merged { sha } => {
                let old = target.head.clone();
                self.history
                    .record(
                        target.id,
                        HistoryEvent::Merge {
                            message: format!(
                                "{} merged {} into {} ({})",
                                by.login,
                                source.name,
                                target.name,
                                &sha[..sha.len().min(10)]
                            ),
                            source: source.name.clone(),
                            sha: sha.clone(),
                        },
                    )
                    .await?;
                let update = RefUpdate {
                    branch: target.name.clone(),
                    old,
                    new: Some(sha.clone()),
                };
                let build = self.branch_pushed(project, by, &update, &sha).await?;
                Ok(MergeResult::Merged { sha, build })
            }
            slipway_git::MergeOutcome::UpToDate => Ok(MergeResult::UpToDate),
            slipway_git::MergeOutcome::Conflict { paths } => Ok(MergeResult::Conflict { paths }),
        }
    }

    /// Moves a branch to another stage (the caller checked the rules with
    /// [`crate::stages::check_move`]), records it, and builds the branch in its new stage
    /// when that is staging or production; a branch made production loses its development
    /// builds.
    pub async fn move_stage(&self, branch: &Branch, to: Stage, by: &str) -> Result<Option<i64>> {
        let from = branch.stage;
        self.branches.set_stage(branch.id, to).await?;
        if from == Stage::Production && to != Stage::Production {
            if let Some(backups) = &self.env().backups {
                let project = self.projects.by_id(branch.project_id).await?;
                backups
                    .disable_schedules(&project.name, &branch.name)
                    .await?;
            }
        }
        self.history
            .record(
                branch.id,
                HistoryEvent::StageMoved {
                    message: format!("moved from {from} to {to} by {by}"),
                    from,
                    to,
                },
            )
            .await?;
        if to == Stage::Production && from != Stage::Production {
            self.drop_development_builds(branch).await?;
        }
        match (&branch.head, to) {
            (Some(head), Stage::Staging | Stage::Production) => Ok(Some(
                self.builds.enqueue(branch.id, to, head, "stage").await?,
            )),
            _ => Ok(None),
        }
    }

    /// A branch made production keeps no development build serving beside production: each
    /// is stopped and its database dropped, as at the end of its lifetime, and History says
    /// so.
    async fn drop_development_builds(&self, branch: &Branch) -> Result<()> {
        for build in self.builds.of_branch(branch.id, 1000).await? {
            if build.stage != Stage::Development || build.db_dropped_at.is_some() {
                continue;
            }
            self.drop_build(&build, "its branch became production")
                .await?;
            self.history
                .record(
                    branch.id,
                    HistoryEvent::BuildDropped {
                        message: format!(
                            "development build #{} stopped and its database dropped: \
                             the branch became production",
                            build.id
                        ),
                        build: build.id,
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// A new build of the branch's head; refused, but in production, when the project is
    /// over its disk limit ([`Platform::check_limits`]).
    pub async fn rebuild(&self, branch: &Branch, by: &User) -> Result<i64> {
        let head = branch.head.as_deref().ok_or_else(|| {
            PlatformError::Invalid(format!("branch {} has no commit to build yet", branch.name))
        })?;
        let project = self.projects.by_id(branch.project_id).await?;
        self.check_limits(&project, NewBuild::Rebuild(branch.stage))
            .await?;
        let id = self
            .builds
            .enqueue(branch.id, branch.stage, head, "rebuild")
            .await?;
        self.history
            .record(
                branch.id,
                HistoryEvent::Rebuild {
                    message: format!("rebuild requested by {}", by.login),
                    build: id,
                },
            )
            .await?;
        Ok(id)
    }

    /// Stops a build: an unfinished one is killed, a running one's server is stopped (its
    /// database stays until its lifetime ends).
    pub async fn stop_build(&self, build: &Build, why: &str) -> Result<()> {
        if self.builds.kill_unfinished(build.id, why).await? {
            return Ok(());
        }
        self.pipeline.supervisor.stop(build.id, build.pid).await;
        self.builds.set_stopped(build.id).await
    }

    /// Stops a build and drops its database and filestore.
    pub async fn drop_build(&self, build: &Build, why: &str) -> Result<()> {
        self.stop_build(build, why).await?;
        if let Err(e) = self.env().target.drop_database(&build.name).await {
            tracing::warn!(build = build.id, error = %e, "dropping the build database");
            return Err(PlatformError::Io {
                context: format!("dropping database {}", build.name),
                source: std::io::Error::other(e.to_string()),
            });
        }
        if let Some(mails) = &self.env().mails {
            if let Err(e) = mails.drop_build(build.id) {
                tracing::warn!(build = build.id, "dropping the build's mails: {e}");
            }
        }
        self.builds.set_dropped(build.id).await
    }

    /// Deletes a branch: its builds are stopped and their databases dropped.
    pub async fn delete_branch(&self, branch: &Branch, by: &str) -> Result<()> {
        self.branches.mark_deleted(branch.id).await?;
        self.history
            .record(
                branch.id,
                HistoryEvent::BranchDeleted {
                    message: format!("branch deleted by {by}"),
                },
            )
            .await?;
        for build in self.builds.of_branch(branch.id, 1000).await? {
            if build.db_dropped_at.is_none() {
                self.drop_build(&build, "branch deleted").await?;
            }
        }
        Ok(())
    }

    /// Runs the build pipeline on jobs until `shutdown` turns true.
    pub async fn run_build_worker(
        &self,
        name: String,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        slipway_metadata::run_worker(
            self.queue.clone(),
            JobKind::BuildRun,
            name,
            shutdown,
            |job| {
                let platform = self.clone();
                async move {
                    let id = job.payload["build_id"]
                        .as_i64()
                        .ok_or_else(|| "payload has no build id".to_string())?;
                    platform
                        .pipeline
                        .run(id, job.attempts)
                        .await
                        .map_err(|e| e.to_string())?;
                    platform.after_build(id).await.map_err(|e| e.to_string())
                }
            },
        )
        .await
    }

    async fn after_build(&self, id: i64) -> Result<()> {
        let build = self.builds.get(id).await?;
        let branch = self.branches.by_id(build.branch_id).await?;
        let project = self.projects.by_id(branch.project_id).await?;
        self.enforce_running_limit(&project).await
    }

    /// After a build went running: at most the project's number of running development
    /// builds; the oldest not kept are stopped.
    pub async fn enforce_running_limit(&self, project: &Project) -> Result<()> {
        let max = project.settings.0.max_running_dev_builds as usize;
        let running: Vec<Build> = self
            .builds
            .live_of_project_stage(project.id, Stage::Development)
            .await?
            .into_iter()
            .filter(|b| b.state == BuildState::Running && !b.keep)
            .collect();
        let surplus = running.len().saturating_sub(max);
        for build in running.iter().take(surplus) {
            tracing::info!(
                build = build.id,
                "stopping: too many running development builds"
            );
            self.stop_build(
                build,
                "stopped: the project's running development builds limit",
            )
            .await?;
        }
        Ok(())
    }

    /// The scheduler's periodic work: running limits, development databases past their
    /// lifetime, leftovers of deleted branches, running builds' databases (`health.rs`),
    /// template trimming. Every decision reads
    /// timestamps in the database, so a restart neither repeats nor forgets anything.
    pub async fn run_chores(&self) -> Result<()> {
        for project in self.projects.list().await? {
            self.end_trial_if_over(&project).await?;
            self.enforce_running_limit(&project).await?;
            let days = i64::from(project.settings.0.dev_database_days);
            let cutoff = Utc::now() - chrono::Duration::days(days);
            for build in self
                .builds
                .live_of_project_stage(project.id, Stage::Development)
                .await?
            {
                let born = build
                    .ready_at
                    .or(build.finished_at)
                    .unwrap_or(build.created_at);
                if born < cutoff && !build.keep {
                    self.drop_build(&build, "development database lifetime over")
                        .await?;
                    self.history
                        .record(
                            build.branch_id,
                            HistoryEvent::BuildDropped {
                                message: format!(
                                    "database of build #{} dropped after {days} day(s)",
                                    build.id
                                ),
                                build: build.id,
                            },
                        )
                        .await?;
                }
            }
        }
        self.check_running_databases().await?;
        self.close_expired_upgrade_modes(Utc::now()).await?;
        self.trim_templates().await
    }

    /// Trial projects: once the trial is over, production and staging branches go back to
    /// development (their running builds are stopped).
    async fn end_trial_if_over(&self, project: &Project) -> Result<()> {
        if project.trial_until.is_none_or(|until| until >= Utc::now()) {
            return Ok(());
        }
        for branch in self.branches.list(project.id).await? {
            if branch.stage != Stage::Development {
                self.move_stage(
                    &branch,
                    Stage::Development,
                    "the end of the trial (15 days)",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn trim_templates(&self) -> Result<()> {
        let store = &self.pipeline.templates;
        let all = store.list().await?;
        for key in to_trim(
            &all,
            Utc::now(),
            chrono::Duration::days(TEMPLATE_MAX_AGE_DAYS),
            TEMPLATE_MAX_COUNT,
        ) {
            if let Some(t) = all.iter().find(|t| t.key == key) {
                store.remove(&key).await?;
                if let Err(e) = self.env().target.drop_database(&t.database).await {
                    tracing::warn!(database = %t.database, error = %e, "dropping a template");
                }
            }
        }
        Ok(())
    }

    /// Runs the chores every `every` until `shutdown` turns true.
    pub async fn run_scheduler(
        &self,
        every: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        while !*shutdown.borrow() {
            if let Err(e) = self.run_chores().await {
                tracing::warn!("scheduler: {e}");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// At startup: the builds recorded as running get their server back (Slipway stopped
    /// them when it shut down, or died with them).
    pub async fn resume_running_builds(&self) -> Result<()> {
        for build in self.builds.in_state(BuildState::Running).await? {
            if let Err(e) = self.pipeline.restart_server(&build).await {
                tracing::warn!(build = build.id, "could not restart the build server: {e}");
                self.builds
                    .finish(
                        build.id,
                        crate::builds::BuildResult::Failed,
                        &format!("server could not be restarted: {e}"),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Stops every build server this process runs (Slipway is shutting down); builds stay
    /// `running` in the database so the next start brings them back.
    pub async fn shutdown(&self) {
        self.pipeline.supervisor.stop_all().await;
    }
}
