//! Running an engine's Odoo on a request's scratch database: the OpenUpgrade run of a series
//! step (`-u all` with `openupgrade_framework` loaded server-wide and the upgrade path), and
//! the verification server (the same Odoo, without OpenUpgrade).
//!
//! Customer code runs in these processes (custom modules, their scripts, standard scripts),
//! so they run in the processor's sandbox when it has one, as builds do: every folder they
//! read bound read-only at its own path, only the scratch database's filestore and a private
//! home writable, PostgreSQL reached over TCP as the scratch database's own role.

use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_odoo::Series;
use slipway_runner::odoo::{
    free_port, http_status, link_filestore, run_task_in, OdooConf, OdooServer, OdooSource,
    OdooTask, TaskOutcome,
};
use slipway_runner::venv::{PythonInstall, Venv};

use super::{Processor, StepFailure, StepResult};
use crate::engines::EngineStatus;

/// Where the sandbox sees the Odoo source tree, as builds do.
const SOURCE_INSIDE: &str = "/home/odoo/src/odoo";
/// Where it sees the other folders it reads (OpenUpgrade, upgrade-util, scripts, custom
/// modules), numbered.
const FOLDERS_INSIDE: &str = "/opt/upgrade";
/// Where it sees its odoo.conf.
const CONF_INSIDE: &str = "/etc/odoo/odoo.conf";

/// How long the verification server may take to answer `/web/health`: a real Odoo loads
/// every installed module's Python and registry first.
const VERIFY_START: Duration = Duration::from_secs(300);

/// What OpenUpgrade adds to a run: its framework loaded server-wide, and the upgrade path.
pub(super) struct Upgrading {
    /// `OPENUPGRADE_USE_DEMO=yes`: the database has demo data, which OpenUpgrade would
    /// otherwise delete.
    pub keep_demo: bool,
    /// The standard scripts of the step's series, if the server has any.
    pub standard_scripts: Option<PathBuf>,
}

/// A series step of a request: which engine takes the scratch database to its series, and
/// the custom modules' folders its Odoo loads.
pub(super) struct SeriesStep<'a> {
    /// The request.
    pub id: i64,
    /// The step's engine.
    pub engine: &'a EngineStatus,
    /// Its runtime's source tree and virtualenv, found once for all the step's runs.
    pub runtime: EngineRuntime,
    /// The scratch database.
    pub scratch: &'a str,
    /// Its URL, as its owner role.
    pub dsn: &'a str,
    /// Folders of custom modules on the addons path (the target's step only).
    pub custom: &'a [PathBuf],
}

/// The Odoo an engine runs: its runtime's tree and the engine's virtualenv.
#[derive(Debug, Clone)]
pub(super) struct EngineRuntime {
    source: OdooSource,
    venv: Venv,
}

impl EngineRuntime {
    /// The runtime of a ready engine; an engine no longer ready fails the step, saying why.
    pub fn of(engine: &EngineStatus) -> StepResult<EngineRuntime> {
        let series = &engine.engine.series;
        let (Some(root), Some(python)) = (&engine.runtime_dir, &engine.python) else {
            return Err(StepFailure(format!(
                "The upgrade engine of {series} is not ready ({}); ask the server's administrator (`slipway upgrade engine list`)",
                engine.not_ready.join("; ")
            )));
        };
        let source = OdooSource::inspect(root)
            .map_err(|e| StepFailure(format!("The Odoo {series} runtime: {e}")))?;
        let venv = Venv {
            dir: python
                .parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new("/"))
                .to_path_buf(),
            python: python.clone(),
            key: String::new(),
            reused: true,
        };
        Ok(EngineRuntime { source, venv })
    }

    /// The modules of its Odoo (its addons folders).
    pub fn modules(&self) -> std::collections::BTreeSet<String> {
        slipway_odoo::scan_addons(&self.source.addons_dirs(), &self.source.series)
            .addons
            .into_keys()
            .collect()
    }
}

/// One run of an engine's Odoo, ready to start.
pub(super) struct OdooRun {
    source: OdooSource,
    venv: Venv,
    conf: PathBuf,
    jail: Option<slipway_sandbox::Jail>,
    env: Vec<(String, String)>,
    port: u16,
}

impl Processor {
    /// Prepares a run of the step's engine's Odoo on the scratch database, with the custom
    /// modules' folders on its addons path, upgrading with OpenUpgrade when `upgrading` says
    /// so. Its files live in the request's work folder (odoo.conf, its home).
    pub(super) async fn odoo_run(
        &self,
        step: &SeriesStep<'_>,
        upgrading: Option<&Upgrading>,
    ) -> StepResult<OdooRun> {
        let (engine, scratch) = (step.engine, step.scratch);
        let work = &self.files.dir(step.id).join(super::ODOO_WORK);
        let series = &engine.engine.series;
        let EngineRuntime { source, venv } = step.runtime.clone();
        let python = &venv.python;
        let _ = std::fs::remove_dir_all(work);
        std::fs::create_dir_all(work)?;
        let mut addons_path = source.addons_dirs();
        let mut upgrade_path = Vec::new();
        let mut load = Vec::new();
        let mut env = vec![];
        if let Some(upgrading) = upgrading {
            let ou = &engine.engine.openupgrade_dir;
            addons_path.push(ou.clone());
            upgrade_path.extend(engine.engine.upgrade_util_dir.iter().map(|d| d.join("src")));
            upgrade_path.push(ou.join("openupgrade_scripts/scripts"));
            upgrade_path.extend(upgrading.standard_scripts.iter().cloned());
            load.push("openupgrade_framework".to_string());
            env.push(("OPENUPGRADE_TARGET_VERSION".into(), series.to_string()));
            if upgrading.keep_demo {
                env.push(("OPENUPGRADE_USE_DEMO".into(), "yes".into()));
            }
        }
        addons_path.extend(step.custom.iter().cloned());
        env.extend(
            self.slipway_bin
                .iter()
                .map(|bin| ("SLIPWAY_BIN".to_string(), bin.display().to_string())),
        );
        let db = self
            .target
            .credentials(scratch)
            .await
            .map_err(|e| StepFailure(format!("Reaching the scratch database: {e}")))?;
        let filestore = self.target.filestore(scratch);
        std::fs::create_dir_all(&filestore)?;
        let conf_path = work.join("odoo.conf");
        let mut jail = self.sandbox.clone();
        let data_dir = match jail.as_mut() {
            Some(jail) => {
                let sandbox = &mut jail.sandbox;
                // Its home is the run's own folder, holding Odoo's data folder (sessions,
                // `addons/<series>`), so all of it belongs to the sandbox's uid.
                let home = work.join("home");
                std::fs::create_dir_all(home.join("data/filestore").join(scratch))?;
                sandbox.home_from(&home);
                // What it reads is seen at neutral paths (Odoo.sh's `~/src/odoo` for the
                // source): nothing tells it where the server keeps its data.
                sandbox.bind_ro(&source.root, SOURCE_INSIDE);
                let outside: Vec<PathBuf> =
                    addons_path.iter().chain(&upgrade_path).cloned().collect();
                for (n, folder) in outside.iter().enumerate() {
                    if sandbox.inside(folder).is_none() {
                        sandbox.bind_ro(folder, format!("{FOLDERS_INSIDE}/{n}"));
                    }
                }
                let inside = |p: &PathBuf| sandbox.inside(p).unwrap_or_else(|| p.clone());
                addons_path = addons_path.iter().map(inside).collect();
                upgrade_path = upgrade_path.iter().map(inside).collect();
                PythonInstall::of(python)
                    .await
                    .map_err(|e| StepFailure(format!("The engine's Python: {e}")))?
                    .bind_into(sandbox);
                if let Some(bin) = &self.slipway_bin {
                    sandbox.bind_ro(bin, bin);
                }
                let data = PathBuf::from(slipway_sandbox::HOME).join("data");
                sandbox.bind_rw(&filestore, data.join("filestore").join(scratch));
                sandbox.bind_ro(&conf_path, CONF_INSIDE);
                let owner = sandbox.identity.owner();
                for writable in [&home, &filestore] {
                    slipway_sandbox::chown_tree(writable, owner)?;
                }
                data
            }
            None => {
                let data = work.join("odoo-data");
                link_filestore(&data, &self.target.data_dir.join("filestore"))?;
                data
            }
        };
        let port = free_port()?;
        let conf = OdooConf {
            db_host: db.host,
            db_port: db.port,
            db_user: db.user,
            db_password: db.password,
            db_name: db.database,
            addons_path,
            data_dir,
            http_interface: "127.0.0.1".into(),
            http_port: port,
            smtp: None,
            list_db: false,
            proxy_mode: false,
            max_cron_threads: 0,
            without_demo: true,
            admin_passwd: slipway_secrets::generate_key(),
            log_level: "info".into(),
            connect_key: None,
            upgrade_path,
            load,
        };
        conf.write(&conf_path)?;
        if let Some(jail) = &jail {
            slipway_sandbox::chown_tree(&conf_path, jail.sandbox.identity.owner())?;
        }
        Ok(OdooRun {
            source,
            venv,
            conf: conf_path,
            jail,
            env,
            port,
        })
    }
}

impl OdooRun {
    /// `-u all --stop-after-init`, its output appended to `log`.
    pub(super) async fn update_all(&self, log: &Path) -> StepResult<TaskOutcome> {
        let task = OdooTask::Update {
            modules: vec!["all".into()],
        };
        let mut on_line = |_: &str| {};
        let outcome = run_task_in(
            self.jail.as_ref(),
            &self.venv,
            &self.source,
            &self.conf,
            &task,
            log,
            &self.env,
            &mut on_line,
        )
        .await?;
        Ok(outcome)
    }

    /// Starts the server, waits for `/web/health`, asks `GET /web/login`, stops it: whether
    /// this Odoo serves the database. Its output is appended to `log`.
    pub(super) async fn serves(&self, log: &Path) -> StepResult<Vec<String>> {
        let mut server = OdooServer::start_in(
            self.jail.as_ref(),
            &self.venv,
            &self.source,
            &self.conf,
            log,
            &self.env,
        )
        .await?;
        let healthy = server.wait_healthy(self.port, VERIFY_START).await;
        let login = match healthy {
            Ok(()) => http_status(self.port, "/web/login").await,
            Err(_) => None,
        };
        server.stop(Duration::from_secs(10)).await;
        if let Err(e) = healthy {
            return Err(StepFailure(format!(
                "Odoo {} does not start on the upgraded database: {e}",
                self.source.series
            )));
        }
        match login {
            Some(200) => Ok(vec![format!(
                "Odoo {} started on it and answered GET /web/login with 200",
                self.source.series
            )]),
            other => Err(StepFailure(format!(
                "Odoo {} started on the upgraded database but GET /web/login answered {}",
                self.source.series,
                other.map_or("nothing".to_string(), |c| c.to_string())
            ))),
        }
    }
}

/// The modules whose `latest_version` is not of `series` after the upgrade (name and version).
pub(super) fn left_behind(db: &slipway_odoo::DbState, series: &Series) -> Vec<String> {
    db.modules
        .iter()
        .filter(|m| m.state.is_installed())
        .filter(|m| {
            m.latest_version
                .as_deref()
                .and_then(Series::of_version)
                .as_ref()
                != Some(series)
        })
        .map(|m| {
            format!(
                "{} {}",
                m.name,
                m.latest_version.as_deref().unwrap_or("(no version)")
            )
        })
        .collect()
}
