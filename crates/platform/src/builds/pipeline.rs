//! What a worker does with a build job: checkout → virtualenv → odoo.conf → database
//! (template copy or install with tests) → server started and health-checked → `running`.
//!
//! Each step records itself on the build (`step`), writes its log (`pip.log`,
//! `install.log`, `odoo.log`), and between steps the pipeline checks the build is still
//! wanted (a newer push or a kill ends it). Any failure ends the build as `failed` with the
//! reason in `message` and its database dropped; the platform goes on serving everything
//! else. Staging and production are further stages of the same pipeline.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use slipway_dump::Target;
use slipway_git::Repos;
use slipway_odoo::{scan_addons, Series};
use slipway_runner::modules::module_dirs;
use slipway_runner::odoo::{
    free_port, link_filestore, run_task_in, OdooConf, OdooServer, OdooSource, OdooTask,
    SmtpSettings, TaskOutcome,
};
use slipway_runner::venv::{Venv, Venvs};
use tracing::Instrument;

use super::store::{Build, BuildResult, BuildStore, Taken};
use super::supervisor::Supervisor;
use super::templates::TemplateStore;
use crate::branches::Branches;
use crate::history::{History, HistoryEvent};
use crate::projects::{Project, Projects};
use crate::stages::Stage;

/// SMTP settings a build's odoo.conf gets, by build id (the mail catcher's credentials for
/// development and staging builds).
#[derive(Clone)]
pub struct SmtpForBuild(pub Arc<dyn Fn(i64) -> Option<SmtpSettings> + Send + Sync>);

impl fmt::Debug for SmtpForBuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpForBuild")
    }
}

/// Whether builds' foreign code runs in a sandbox.
#[derive(Debug, Clone, Default)]
pub enum SandboxPolicy {
    /// `serve --no-sandbox`: everything runs as Slipway (unsafe; the UI says so).
    #[default]
    Off,
    /// Every process of a build runs in its own sandbox.
    On(BuildSandbox),
    /// The sandbox cannot be made here: builds refuse to start with this reason.
    Unavailable(String),
}

/// How builds' sandboxes are made.
#[derive(Debug, Clone)]
pub struct BuildSandbox {
    /// The `bwrap` program.
    pub bwrap: PathBuf,
    /// Project `p`'s processes run as uid `uid_base + p` (when Slipway is root).
    pub uid_base: u32,
    /// Limits of every process.
    pub limits: slipway_sandbox::Limits,
    /// `RLIMIT_CPU` of one-shot tasks (install, update, tests), in seconds.
    pub task_cpu_seconds: Option<u64>,
}

/// Where the build's files are inside its sandbox (Odoo.sh's layout).
/// Where the Odoo source is inside a build's sandbox (what `PATH` names for `odoo-bin`).
pub(super) const SRC_ODOO_INSIDE: &str = layout::SRC_ODOO;

mod layout {
    /// The branch's checkout.
    pub(super) const SRC_USER: &str = "/home/odoo/src/user";
    /// The Odoo source.
    pub(super) const SRC_ODOO: &str = "/home/odoo/src/odoo";
    /// Odoo's `data_dir`.
    pub(super) const DATA: &str = "/home/odoo/data";
    /// The build's logs, read-only (Slipway writes them from pipes).
    pub(super) const LOGS: &str = "/home/odoo/logs";
    /// The build's odoo.conf, read-only; `ODOO_RC` names it too.
    pub(super) const CONF: &str = "/etc/odoo/odoo.conf";
    /// Slipway's own modules (`slipway_connect`), read-only.
    pub(super) const SLIPWAY_ADDONS: &str = "/opt/slipway/addons";
}

/// Where builds live and what they run with.
#[derive(Debug, Clone)]
pub struct BuildEnv {
    /// `<data-dir>/builds`: one folder per build (`src/`, `logs/`, `odoo.conf`, `odoo-data/`).
    pub builds_dir: PathBuf,
    /// The PostgreSQL databases and filestores of builds.
    pub target: Target,
    /// The projects' Git repositories.
    pub repos: Repos,
    /// Virtualenvs shared by builds with equal requirements.
    pub venvs: Venvs,
    /// SMTP of development and staging builds (the mail catcher).
    pub smtp: Option<SmtpForBuild>,
    /// SMTP of production builds: a real relay (none: Odoo's own mail server settings).
    pub production_smtp: Option<SmtpSettings>,
    /// Backups: production is backed up before every update, and daily once it exists.
    pub backups: Option<crate::backups::Backups>,
    /// When production's daily backup runs, local time in `daily_backup_tz`.
    pub daily_backup_at: chrono::NaiveTime,
    /// The IANA time zone of `daily_backup_at` (its days follow that zone's clock changes).
    pub daily_backup_tz: String,
    /// The mail catcher's messages, dropped with their build.
    pub mails: Option<slipway_mail::MailStore>,
    /// The `slipway` binary (Odoo stand-ins run `slipway migrate run` for updates).
    pub slipway_bin: Option<PathBuf>,
    /// How long a build server gets to answer its health check.
    pub health_timeout: Duration,
    /// The sandbox of builds' processes.
    pub sandbox: SandboxPolicy,
    /// Connect's keys and production's admin passwords.
    pub odoo_logins: super::OdooLogins,
    /// Where Slipway's own Odoo modules are written out, first on every build's addons path.
    pub slipway_addons: PathBuf,
    /// `<data-dir>/upgrade-engines`: OpenUpgrade fetched for upgrade engines, their
    /// requirements (their virtualenvs are in `venvs`, beside builds').
    pub upgrade_engines_dir: PathBuf,
}

impl BuildEnv {
    /// The environment of builds kept under `data_dir` (`builds/`, `git/`, `venvs/`), with
    /// databases in `target`: no mail catcher or relay, `python3`, a 3-minute health check.
    pub fn under(data_dir: &Path, target: Target) -> Self {
        let layout = slipway_metadata::DataDir::new(data_dir);
        Self {
            builds_dir: layout.builds(),
            target,
            repos: Repos::new(layout.git()),
            venvs: Venvs::new(layout.venvs(), "python3".into()),
            smtp: None,
            production_smtp: None,
            backups: None,
            daily_backup_at: chrono::NaiveTime::from_hms_opt(2, 0, 0).unwrap_or_default(),
            daily_backup_tz: "UTC".into(),
            mails: None,
            slipway_bin: None,
            health_timeout: Duration::from_secs(180),
            sandbox: SandboxPolicy::Off,
            odoo_logins: super::OdooLogins::new(layout.odoo_logins_secret()),
            slipway_addons: layout.slipway_addons(),
            upgrade_engines_dir: layout.upgrade_engines(),
        }
    }

    /// The folder of build `name`.
    pub fn build_dir(&self, name: &str) -> PathBuf {
        self.builds_dir.join(name)
    }

    /// The logs folder of build `name`.
    pub fn logs_dir(&self, name: &str) -> PathBuf {
        self.build_dir(name).join("logs")
    }

    /// What a backup of `build`'s database holds: the database, its filestore, the build's
    /// logs and Odoo's sessions.
    pub fn backup_source(&self, build: &Build) -> crate::backups::BackupSource {
        let database = build.database.clone().unwrap_or_else(|| build.name.clone());
        let dir = self.build_dir(&build.name);
        crate::backups::BackupSource {
            filestore: self.target.filestore(&database),
            database,
            logs_dir: Some(dir.join("logs")),
            sessions_dir: Some(dir.join("odoo-data").join("sessions")),
        }
    }
}

/// The pipeline and everything it reads and writes.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Environment.
    pub env: BuildEnv,
    /// Builds.
    pub builds: BuildStore,
    /// Branches.
    pub branches: Branches,
    /// Projects and runtimes.
    pub projects: Projects,
    /// History.
    pub history: History,
    /// Template cache.
    pub templates: TemplateStore,
    /// Running servers.
    pub supervisor: Supervisor,
    /// Branches' upgrades: a staging branch in upgrade mode builds from its upgraded database.
    pub upgrades: crate::branch_upgrades::BranchUpgrades,
}

/// Why a build failed, for its `message`.
#[derive(Debug)]
pub(crate) struct Failed(pub(super) String);

impl<E: fmt::Display> From<E> for Failed {
    fn from(e: E) -> Self {
        Failed(e.to_string())
    }
}

pub(super) trait Context<T> {
    fn context(self, what: &str) -> Result<T, Failed>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: &str) -> Result<T, Failed> {
        self.map_err(|e| Failed(format!("{what}: {e}")))
    }
}

pub(super) enum Stop {
    Failed(Failed),
    Superseded,
}

impl From<Failed> for Stop {
    fn from(f: Failed) -> Self {
        Stop::Failed(f)
    }
}

/// Any error mid-pipeline (the metadata database, History, a database of the build) fails
/// the build, its message the reason; steps that need context say it with [`Context`].
impl<E: fmt::Display> From<E> for Stop {
    fn from(e: E) -> Self {
        Stop::Failed(Failed(e.to_string()))
    }
}

/// A step of the pipeline run outside a build (a server restarted) failed: the reason is
/// the error's message.
impl From<Failed> for crate::PlatformError {
    fn from(f: Failed) -> Self {
        crate::PlatformError::Failed(f.0)
    }
}

/// What an install or update produced.
pub(super) struct Installed {
    pub(super) result: BuildResult,
    pub(super) summary: String,
}

/// What every stage starts from: the checkout, the Odoo source, the modules, the venv.
pub(super) struct Prepared {
    pub(super) dir: PathBuf,
    pub(super) logs: PathBuf,
    pub(super) source: OdooSource,
    pub(super) series: Series,
    pub(super) module_dirs: Vec<PathBuf>,
    /// The branch's own installable modules: name and folder.
    pub(super) own: Vec<(String, PathBuf)>,
    pub(super) venv: Venv,
    /// The build's sandbox (`None` with `--no-sandbox`).
    pub(super) jail: Option<slipway_sandbox::Jail>,
    /// The folders its sandbox writes (filestore, sessions): made and given to its uid before
    /// each start, once a template copy or a clone has filled them.
    pub(super) writable: Vec<PathBuf>,
}

impl Prepared {
    /// Where the build's odoo.conf goes.
    pub(super) fn conf_path(&self) -> PathBuf {
        self.dir.join("odoo.conf")
    }
}

impl Pipeline {
    /// Runs build `id` to its end, for the `run`-th time (the queue's attempt count: above 1,
    /// an earlier run may have been cut short). Errors of the metadata database are returned;
    /// everything else ends in the build's state.
    pub async fn run(&self, id: i64, run: i32) -> crate::Result<()> {
        let build = self.builds.get(id).await?;
        let span = tracing::info_span!("build", id, name = %build.name, stage = %build.stage);
        self.run_build(build, run).instrument(span).await
    }

    async fn run_build(&self, build: Build, run: i32) -> crate::Result<()> {
        let branch = self.branches.by_id(build.branch_id).await?;
        // One pipeline at a time per branch: production updates never overlap, and a
        // staging update never races the next one.
        let lock = self.builds.lock_branch(branch.id).await?;
        let Some(taken) = self.builds.take(build.id, &build.name).await? else {
            tracing::info!("no longer pending; skipped");
            lock.commit().await?;
            return Ok(());
        };
        let project = self.projects.by_id(branch.project_id).await?;
        let given_up = match &taken {
            Taken::Fresh => None,
            Taken::Interrupted { step, database } => {
                self.clean_interrupted(&build, run, step.as_deref(), database.as_deref())
                    .await
            }
        };
        tracing::info!(revision = %build.revision, "build started");
        let outcome = match (given_up, build.stage) {
            (Some(reason), _) => Err(Stop::Failed(Failed(reason))),
            (None, Stage::Development) => self.development(&build, &branch, &project).await,
            (None, Stage::Staging) => self.staging(&build, &branch, &project).await,
            (None, Stage::Production) => self.production(&build, &branch, &project).await,
        };
        match outcome {
            Ok(()) => {}
            Err(Stop::Superseded) => {
                tracing::info!("killed or superseded; cleaning up");
                self.note(&build, "killed or superseded: the build stops here");
                self.supervisor.stop(build.id, None).await;
                self.drop_own_database(&build).await;
            }
            Err(Stop::Failed(Failed(message))) => {
                tracing::warn!(%message, "build failed");
                self.note(&build, &format!("FAILED: {message}"));
                self.supervisor.stop(build.id, None).await;
                self.drop_own_database(&build).await;
                let failed = self
                    .builds
                    .finish(build.id, BuildResult::Failed, &message)
                    .await?;
                if !failed {
                    tracing::info!("killed while failing; the kill stands");
                    lock.commit().await?;
                    return Ok(());
                }
                self.history
                    .record(
                        branch.id,
                        HistoryEvent::BuildFailed {
                            message,
                            build: build.id,
                        },
                    )
                    .await?;
            }
        }
        lock.commit().await?;
        Ok(())
    }

    pub(super) async fn step(&self, build: &Build, step: &str) -> Result<(), Stop> {
        if !self.builds.still_building(build.id).await? {
            return Err(Stop::Superseded);
        }
        self.builds.set_step(build.id, step).await?;
        tracing::info!(step, "step");
        self.note(build, &format!("step: {step}"));
        Ok(())
    }

    /// Appends a line to the build's `build.log`: its steps and how it ended, so the
    /// reason of a failure that no tool logged (a broken manifest, no Odoo runtime, a
    /// kill) is in its logs too.
    pub(crate) fn note(&self, build: &Build, line: &str) {
        use std::io::Write;
        let logs = self.env.logs_dir(&build.name);
        let written = std::fs::create_dir_all(&logs).and_then(|()| {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(logs.join("build.log"))?;
            let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.3f");
            writeln!(file, "{now} {line}")
        });
        if let Err(e) = written {
            tracing::warn!("writing build.log: {e}");
        }
    }

    /// Checkout, Odoo source, modules and virtualenv: what every stage starts with.
    pub(super) async fn prepare(&self, build: &Build, project: &Project) -> Result<Prepared, Stop> {
        if let SandboxPolicy::Unavailable(reason) = &self.env.sandbox {
            return Err(Stop::Failed(Failed(format!(
                "builds refuse to start without their sandbox: {reason}"
            ))));
        }
        let dir = self.env.build_dir(&build.name);
        let logs = self.env.logs_dir(&build.name);
        reset_dir_keeping(&dir, "logs").context("preparing the build folder")?;
        std::fs::create_dir_all(&logs).context("creating the logs folder")?;

        self.step(build, "checkout").await?;
        let src = dir.join("src");
        let repo = self
            .env
            .repos
            .open(&project.name)
            .await
            .context("opening the repository")?;
        repo.export(&build.revision, &src)
            .await
            .context("checking out the revision")?;

        self.step(build, "runtime").await?;
        let source = self.runtime(build, project).await?;
        let series = source.series.clone();
        let module_dirs = module_dirs(&src);
        let own = branch_modules(&module_dirs, &series)?;

        self.step(build, "virtualenv").await?;
        let venv = self
            .venv(
                &venv_scope(project, build),
                &source,
                &src,
                &module_dirs,
                &logs,
            )
            .await?;
        let mut prepared = Prepared {
            dir,
            logs,
            source,
            series,
            module_dirs,
            own,
            venv,
            jail: None,
            writable: Vec::new(),
        };
        (prepared.jail, prepared.writable) = self.jail(build, project, &prepared).await?;
        Ok(prepared)
    }

    /// Starts the build's server on `conf` (written to the build folder), waits for its
    /// health check, and takes charge of it. Returns its pid.
    pub(super) async fn start_server(
        &self,
        build: &Build,
        prepared: &Prepared,
        conf: &OdooConf,
    ) -> Result<u32, Failed> {
        if build.stage != Stage::Production {
            self.keep_mail_inside(&conf.db_name).await?;
        }
        let conf_path = prepared.conf_path();
        conf.write(&conf_path).context("writing odoo.conf")?;
        give_to_sandbox(prepared, &conf_path)?;
        let log = prepared.logs.join("odoo.log");
        let mut server = OdooServer::start_in(
            prepared.jail.as_ref(),
            &prepared.venv,
            &prepared.source,
            &conf_path,
            &log,
            &self.task_env(),
        )
        .await
        .context("starting the Odoo server")?;
        if let Err(e) = server
            .wait_healthy(conf.http_port, self.env.health_timeout)
            .await
        {
            server.stop(Duration::from_secs(5)).await;
            return Err(Failed(format!(
                "the Odoo server did not start (see odoo.log): {e}"
            )));
        }
        let pid = server.pid();
        self.supervisor.adopt(build.id, server).await;
        Ok(pid)
    }

    /// A development or staging build's mail goes only to the mail catcher its odoo.conf
    /// names; but Odoo prefers any active `ir_mail_server` to odoo.conf, and a module's
    /// data or a user may have added one since the copy was neutralized, so every one is
    /// switched off before each start of the server.
    pub(super) async fn keep_mail_inside(&self, database: &str) -> Result<(), Failed> {
        const SWITCH_OFF: &str = "DO $$ BEGIN IF to_regclass('ir_mail_server') IS NOT NULL THEN \
             UPDATE ir_mail_server SET active = false WHERE active; END IF; END $$";
        self.env
            .target
            .execute_as_owner(database, SWITCH_OFF)
            .await
            .context("switching off the database's outgoing mail servers")?;
        Ok(())
    }

    /// The build is up: running, with its result, in History.
    pub(super) async fn mark_running(
        &self,
        build: &Build,
        port: u16,
        pid: u32,
        result: BuildResult,
        summary: &str,
    ) -> Result<(), Stop> {
        let running = self
            .builds
            .set_running(build.id, port, pid, result, summary)
            .await?;
        if !running {
            return Err(Stop::Superseded);
        }
        self.note(build, &format!("running ({}): {summary}", result.as_str()));
        self.history
            .record(
                build.branch_id,
                HistoryEvent::BuildReady {
                    message: summary.to_string(),
                    build: build.id,
                    result,
                },
            )
            .await?;
        tracing::info!(port, result = result.as_str(), "build running");
        Ok(())
    }

    async fn venv(
        &self,
        scope: &str,
        source: &OdooSource,
        src: &Path,
        module_dirs: &[PathBuf],
        logs: &Path,
    ) -> Result<Venv, Failed> {
        let mut requirements: Vec<PathBuf> = source.requirements().into_iter().collect();
        requirements.extend(branch_requirements(src, module_dirs));
        self.env
            .venvs
            .ensure_in(scope, &requirements, &logs.join("pip.log"))
            .await
            .context("installing the Python requirements (see pip.log)")
    }

    /// Starts the server of a build recorded as running again (after Slipway restarted, or
    /// after a failed production update put it back), on a new port.
    pub async fn restart_server(&self, build: &Build) -> crate::Result<()> {
        let prepared = self.prepared_again(build).await?;
        self.supervisor.stop(build.id, build.pid).await;
        let port = free_port().context("finding a free port")?;
        let conf = self.conf(build, &prepared, port).await?;
        let pid = self.start_server(build, &prepared, &conf).await?;
        self.builds.set_server(build.id, port, pid).await?;
        tracing::info!(build = build.id, port, "build server restarted");
        Ok(())
    }

    /// What an earlier run of the pipeline prepared for `build` (its checkout, runtime,
    /// virtualenv, sandbox), found again.
    pub(super) async fn prepared_again(&self, build: &Build) -> crate::Result<Prepared> {
        let branch = self.branches.by_id(build.branch_id).await?;
        let project = self.projects.by_id(branch.project_id).await?;
        let dir = self.env.build_dir(&build.name);
        let logs = self.env.logs_dir(&build.name);
        let src = dir.join("src");
        let source = self.runtime(build, &project).await?;
        let module_dirs = module_dirs(&src);
        let venv = self
            .venv(
                &venv_scope(&project, build),
                &source,
                &src,
                &module_dirs,
                &logs,
            )
            .await?;
        let series = source.series.clone();
        let mut prepared = Prepared {
            dir,
            logs,
            source,
            series,
            module_dirs,
            own: Vec::new(),
            venv,
            jail: None,
            writable: Vec::new(),
        };
        (prepared.jail, prepared.writable) = self.jail(build, &project, &prepared).await?;
        Ok(prepared)
    }

    /// The Odoo source of the build's branch's series (its own, else its project's).
    async fn runtime(&self, build: &Build, project: &Project) -> Result<OdooSource, Failed> {
        let branch = self.branches.by_id(build.branch_id).await?;
        let series = branch.series(&project.series);
        let runtime = self.projects.runtime(series).await?.ok_or_else(|| {
            Failed(format!(
                "no Odoo runtime is registered for series {series}: register one with `slipway odoo add {series} --source DIR`"
            ))
        })?;
        OdooSource::inspect(Path::new(&runtime.source_dir)).context("the registered Odoo source")
    }

    /// The odoo.conf of a build: its database (which must exist: the build logs in as its
    /// role, over TCP), addons path, data dir, port; mail to the catcher unless production
    /// (whose mail goes to the configured relay, really).
    pub(super) async fn conf(
        &self,
        build: &Build,
        prepared: &Prepared,
        port: u16,
    ) -> Result<OdooConf, Failed> {
        let mut odoo_data = prepared.dir.join("odoo-data");
        let db_name = build.database.clone().unwrap_or_else(|| build.name.clone());
        let db = self
            .env
            .target
            .credentials(&db_name)
            .await
            .context("the credentials of the build's database")?;
        // Slipway's own modules come first: a branch's module of the same name cannot stand in
        // for `slipway_connect`.
        let mut addons_path = vec![self.slipway_addons()?];
        addons_path.extend(prepared.module_dirs.iter().cloned());
        addons_path.extend(prepared.source.addons_dirs());
        match &prepared.jail {
            Some(jail) => {
                // Paths as the sandbox sees them.
                addons_path = addons_path
                    .iter()
                    .map(|p| jail.sandbox.inside(p).unwrap_or_else(|| p.clone()))
                    .collect();
                // PostgreSQL is reached over TCP already (`Target::credentials`).
                odoo_data = layout::DATA.into();
            }
            None => link_filestore(&odoo_data, &self.env.target.data_dir.join("filestore"))
                .context("preparing the Odoo data folder")?,
        }
        let stage = build.stage;
        let smtp = match stage {
            Stage::Production => self.env.production_smtp.clone(),
            _ => self.env.smtp.as_ref().and_then(|f| (f.0)(build.id)),
        };
        Ok(OdooConf {
            db_host: db.host,
            db_port: db.port,
            db_user: db.user,
            db_password: db.password,
            db_name: db.database,
            addons_path,
            data_dir: odoo_data,
            http_interface: "127.0.0.1".into(),
            http_port: port,
            smtp,
            list_db: false,
            proxy_mode: true,
            // Staging keeps its crons off (neutralized, and no cron thread either).
            max_cron_threads: if stage == Stage::Staging { 0 } else { 1 },
            without_demo: stage != Stage::Development,
            admin_passwd: crate::people::random_secret(),
            log_level: "info".into(),
            connect_key: Some(self.env.odoo_logins.connect_key(build.id)?),
            upgrade_path: Vec::new(),
            load: Vec::new(),
        })
    }

    /// The folder of Slipway's own Odoo modules, written out from the binary if needed.
    fn slipway_addons(&self) -> Result<PathBuf, Failed> {
        slipway_runner::odoo::connect::write_connect_module(&self.env.slipway_addons)
            .context("writing Slipway's Odoo module slipway_connect")
    }

    /// Runs a one-shot odoo-bin task (install, update) into `log`, giving up if the build is
    /// killed meanwhile, and judges it.
    pub(super) async fn odoo_task(
        &self,
        build: &Build,
        prepared: &Prepared,
        task: &OdooTask,
        log: &str,
        what: &str,
    ) -> Result<Installed, Stop> {
        let log = prepared.logs.join(log);
        let env = self.task_env();
        let conf = prepared.conf_path();
        give_to_sandbox(prepared, &conf)?;
        let mut jail = prepared.jail.clone();
        if let (Some(jail), SandboxPolicy::On(sandbox)) = (jail.as_mut(), &self.env.sandbox) {
            jail.sandbox.limits.cpu_seconds = sandbox.task_cpu_seconds;
        }
        let mut on_line = |_: &str| {};
        let run = run_task_in(
            jail.as_ref(),
            &prepared.venv,
            &prepared.source,
            &conf,
            task,
            &log,
            &env,
            &mut on_line,
        );
        let outcome = self.unless_killed(build, run).await?;
        let outcome = outcome.context(what)?;
        let tested = matches!(task, OdooTask::Install { tests: Some(_), .. });
        if tested {
            tests_verdict(&outcome, what)
        } else {
            verdict(&outcome, what)
        }
        .map_err(Stop::Failed)
    }

    /// The sandbox of `build`'s processes, in Odoo.sh's layout: `~/src/user` (the checkout,
    /// read-only: a build's code is its commit), `~/src/odoo`, `~/data` (`filestore/<db>`
    /// and `sessions`, the only folders it writes, given to its uid), `~/logs`, its odoo.conf
    /// at `/etc/odoo/odoo.conf`, the virtualenv and its Python installation at their own
    /// paths, Slipway's own Odoo modules at `/opt/slipway/addons`, and the `slipway` binary
    /// (the stand-in runs `slipway migrate run`).
    async fn jail(
        &self,
        build: &Build,
        project: &Project,
        prepared: &Prepared,
    ) -> Result<(Option<slipway_sandbox::Jail>, Vec<PathBuf>), Failed> {
        use slipway_sandbox::{HostLayout, Identity, Jail, Sandbox};
        let SandboxPolicy::On(settings) = &self.env.sandbox else {
            return Ok((None, Vec::new()));
        };
        let identity = Identity::for_project(settings.uid_base, project.id);
        let mut sandbox = Sandbox::new(identity, settings.limits, &HostLayout::read());
        sandbox.bind_ro(prepared.dir.join("src"), layout::SRC_USER);
        sandbox.bind_ro(&prepared.source.root, layout::SRC_ODOO);
        slipway_runner::venv::PythonInstall::of(&prepared.venv.python)
            .await
            .context("finding the virtualenv's Python")?
            .bind_into(&mut sandbox);
        sandbox.bind_ro(&prepared.logs, layout::LOGS);
        sandbox.bind_ro(self.slipway_addons()?, layout::SLIPWAY_ADDONS);
        let database = build.database.clone().unwrap_or_else(|| build.name.clone());
        let filestore = self.env.target.filestore(&database);
        let sessions = prepared.dir.join("odoo-data").join("sessions");
        sandbox.bind_rw(&filestore, format!("{}/filestore/{database}", layout::DATA));
        sandbox.bind_rw(&sessions, format!("{}/sessions", layout::DATA));
        sandbox.bind_ro(prepared.conf_path(), layout::CONF);
        sandbox.setenv("ODOO_RC", layout::CONF);
        if let Some(bin) = &self.env.slipway_bin {
            sandbox.bind_ro(bin, bin);
        }
        let jail = Jail {
            bwrap: settings.bwrap.clone(),
            sandbox,
        };
        Ok((Some(jail), vec![filestore, sessions]))
    }

    fn task_env(&self) -> Vec<(String, String)> {
        self.env
            .slipway_bin
            .iter()
            .map(|bin| ("SLIPWAY_BIN".to_string(), bin.display().to_string()))
            .collect()
    }

    /// Runs `work`, giving up (and so killing the child process it owns) when the build is
    /// killed or superseded meanwhile.
    pub(super) async fn unless_killed<T>(
        &self,
        build: &Build,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, Stop> {
        tokio::pin!(work);
        let mut ticks = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                out = &mut work => return Ok(out),
                _ = ticks.tick() => {
                    if !self.builds.still_building(build.id).await? {
                        return Err(Stop::Superseded);
                    }
                }
            }
        }
    }

    /// Drops the database this build made itself (never one it was handed, such as
    /// production's).
    async fn drop_own_database(&self, build: &Build) {
        let database = self
            .builds
            .get(build.id)
            .await
            .ok()
            .and_then(|b| b.database);
        if database.as_deref().is_some_and(|db| db != build.name) {
            return;
        }
        if let Err(e) = self.env.target.drop_database(&build.name).await {
            tracing::warn!(error = %e, "could not drop the build database");
        }
    }
}

/// Whose virtualenvs a build shares: its project's, of its stage. One project's venvs are never
/// another's, nor development's production's (see `Venvs::ensure_in`).
fn venv_scope(project: &Project, build: &Build) -> String {
    format!("p{}-{}", project.id, build.stage)
}

/// The branch's own modules: name and folder. A manifest Odoo could not read fails the
/// build here, naming the file, rather than deep in an install log.
pub(super) fn branch_modules(
    module_dirs: &[PathBuf],
    series: &Series,
) -> Result<Vec<(String, PathBuf)>, Failed> {
    let scan = scan_addons(module_dirs, series);
    if let Some(problem) = scan
        .problems
        .iter()
        .find(|p| p.path.ends_with("__manifest__.py") || p.path.contains("__manifest__.py:"))
    {
        return Err(Failed(format!(
            "broken manifest {}: {}",
            problem.path, problem.message
        )));
    }
    Ok(scan
        .addons
        .values()
        .filter(|a| a.manifest.installable)
        .map(|a| (a.name.clone(), a.path.clone()))
        .collect())
}

/// The branch's `requirements.txt` files: at its root and at the root of each module folder.
fn branch_requirements(src: &Path, module_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::iter::once(src.to_path_buf())
        .chain(module_dirs.iter().cloned())
        .map(|d| d.join("requirements.txt"))
        .filter(|f| f.is_file())
        .collect();
    files.sort();
    files.dedup();
    files
}

/// A finished install's verdict: failed on a non-zero exit or ERROR lines; warning on
/// WARNING lines; success otherwise.
pub(super) fn verdict(outcome: &TaskOutcome, what: &str) -> Result<Installed, Failed> {
    let v = &outcome.verdict;
    if outcome.exit_code != Some(0) || v.errors > 0 {
        let first = v
            .first_error
            .clone()
            .unwrap_or_else(|| format!("odoo-bin exited with {:?}", outcome.exit_code));
        return Err(Failed(format!(
            "{what} failed ({} error line(s); see its log): {first}",
            v.errors
        )));
    }
    let secs = outcome.duration.as_secs_f64();
    if v.warnings > 0 {
        Ok(Installed {
            result: BuildResult::Warning,
            summary: format!(
                "{what} passed with {} warning(s) in {secs:.1}s; first: {}",
                v.warnings,
                v.first_warning.as_deref().unwrap_or("-")
            ),
        })
    } else {
        Ok(Installed {
            result: BuildResult::Success,
            summary: format!("{what} passed in {secs:.1}s"),
        })
    }
}

/// The verdict of an install that ran tests: when every error is a failing test, the modules
/// are installed and the build still serves, failed (red, as on Odoo.sh), so that someone can
/// connect and look into it; any other error fails it as [`verdict`] does.
pub(super) fn tests_verdict(outcome: &TaskOutcome, what: &str) -> Result<Installed, Failed> {
    let v = &outcome.verdict;
    // Odoo exits 1 when tests failed; a signal is a crash whatever the log says
    let only_tests = v.errors > 0 && v.test_errors == v.errors && outcome.exit_code.is_some();
    if !only_tests {
        return verdict(outcome, what);
    }
    Ok(Installed {
        result: BuildResult::Failed,
        summary: format!(
            "tests failed ({} error line(s); see install.log): {}",
            v.errors,
            v.first_error.as_deref().unwrap_or("-")
        ),
    })
}

/// Before a process of the build starts: its data folders made and, with its odoo.conf
/// (0600), given to its sandbox's uid.
pub(super) fn give_to_sandbox(prepared: &Prepared, conf: &Path) -> Result<(), Failed> {
    let Some(jail) = &prepared.jail else {
        return Ok(());
    };
    let owner = jail.sandbox.identity.owner();
    for folder in &prepared.writable {
        std::fs::create_dir_all(folder).context("creating the build's data folders")?;
        slipway_sandbox::chown_tree(folder, owner).context("giving the build its data folders")?;
    }
    slipway_sandbox::chown_tree(conf, owner).context("giving odoo.conf to the build's sandbox")
}

/// Empties `dir` but for its entry `keep` (nothing of a run cut short is reused, but its logs
/// stay, and the next run appends to them), and creates it.
fn reset_dir_keeping(dir: &Path, keep: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == keep {
            continue;
        }
        let removed = if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
        match removed {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Odoo keeps filestores in `<data_dir>/filestore/<db>`; the build's data dir links that
/// folder to Slipway's shared filestore root, where clones, backups and dumps find them.
#[cfg(test)]
mod tests {
    use super::*;
    use slipway_runner::odoo::LogVerdict;

    fn outcome(exit: i32, errors: usize, warnings: usize) -> TaskOutcome {
        TaskOutcome {
            exit_code: Some(exit),
            verdict: LogVerdict {
                errors,
                warnings,
                first_error: (errors > 0).then(|| "ERROR x: FAIL: test_a".to_string()),
                ..Default::default()
            },
            duration: Duration::from_secs(3),
        }
    }

    #[test]
    fn a_build_folder_is_emptied_but_for_its_logs() {
        let dir = tempfile::tempdir().unwrap();
        let build = dir.path().join("acme-dev-1");
        std::fs::create_dir_all(build.join("src/shop")).unwrap();
        std::fs::create_dir_all(build.join("logs")).unwrap();
        std::fs::write(build.join("odoo.conf"), "[options]").unwrap();
        std::fs::write(build.join("logs/build.log"), "first run\n").unwrap();
        reset_dir_keeping(&build, "logs").unwrap();
        let left: Vec<_> = std::fs::read_dir(&build)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["logs"]);
        assert_eq!(
            std::fs::read_to_string(build.join("logs/build.log")).unwrap(),
            "first run\n"
        );
        let fresh = dir.path().join("acme-dev-2");
        reset_dir_keeping(&fresh, "logs").unwrap();
        assert!(fresh.is_dir());
    }

    #[test]
    fn results_follow_the_logs() {
        assert_eq!(
            verdict(&outcome(0, 0, 0), "install").unwrap().result,
            BuildResult::Success
        );
        assert_eq!(
            verdict(&outcome(0, 0, 2), "install").unwrap().result,
            BuildResult::Warning
        );
        let failed = verdict(&outcome(1, 1, 0), "install").err().unwrap();
        assert!(failed.0.contains("FAIL: test_a"), "{}", failed.0);
        assert!(
            verdict(&outcome(0, 1, 0), "update").is_err(),
            "an ERROR line fails even with exit 0"
        );
        assert!(
            verdict(&outcome(3, 0, 0), "update").is_err(),
            "a non-zero exit fails even with clean logs"
        );
    }

    #[test]
    fn failing_tests_leave_a_failed_build_that_serves_but_a_broken_install_does_not() {
        let mut tests_only = outcome(1, 2, 0);
        tests_only.verdict.test_errors = 2;
        let served = tests_verdict(&tests_only, "install and tests").unwrap();
        assert_eq!(served.result, BuildResult::Failed);
        assert!(
            served.summary.starts_with("tests failed (2 error line(s)"),
            "{}",
            served.summary
        );
        assert!(
            served.summary.contains("FAIL: test_a"),
            "{}",
            served.summary
        );

        let mut broken = outcome(1, 2, 0);
        broken.verdict.test_errors = 1;
        assert!(tests_verdict(&broken, "install and tests").is_err());
        assert!(
            tests_verdict(&outcome(1, 0, 0), "install and tests").is_err(),
            "exit 1, no test error"
        );
        let mut crashed = tests_only.clone();
        crashed.exit_code = None;
        assert!(
            tests_verdict(&crashed, "install and tests").is_err(),
            "killed by a signal"
        );
        assert_eq!(
            tests_verdict(&outcome(0, 0, 1), "install and tests")
                .unwrap()
                .result,
            BuildResult::Warning
        );
    }
}
