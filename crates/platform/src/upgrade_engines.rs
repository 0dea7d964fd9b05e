//! Upgrade engines as the platform serves them: the upgrade crate's engines (OpenUpgrade,
//! upgrade-util, their rows) joined with what is the platform's, the series' Odoo runtime and
//! the virtualenv made from its requirements plus `openupgradelib`. [`Platform`] answers the
//! upgrade crate's [`EngineCatalog`], so `/database/v1` offers the series of ready engines.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use slipway_odoo::Series;
use slipway_runner::odoo::OdooSource;
use slipway_upgrade::engines::{
    openupgrade, requirements_file, venv_scope, EngineCatalog, EngineFacts, RuntimeFact,
    ENGINE_REQUIREMENTS,
};

/// An engine, its status and its OpenUpgrade source, as `/api` answers them.
pub use slipway_upgrade::engines::{EngineStatus, OpenUpgradeSource, UpgradeEngine};

use crate::error::{PlatformError, Result};
use crate::Platform;

/// Where a new engine's OpenUpgrade addons come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenUpgradeChoice {
    /// PyPI's wheels: the scripts at `version` (else the newest of the series).
    Pypi {
        /// An exact version of `odoo-addon-openupgrade-scripts`.
        version: Option<String>,
    },
    /// A folder holding `openupgrade_framework/` and `openupgrade_scripts/`.
    Folder(PathBuf),
}

/// What `slipway upgrade engine add` asks.
#[derive(Debug, Clone)]
pub struct NewEngine {
    /// The series it upgrades to.
    pub series: Series,
    /// Its OpenUpgrade.
    pub openupgrade: OpenUpgradeChoice,
    /// A checkout of odoo/upgrade-util.
    pub upgrade_util: Option<PathBuf>,
}

impl Platform {
    /// Adds (or replaces) the engine of a series: checks the folders given, makes the
    /// virtualenv with `openupgradelib` when the series has a runtime, fetches OpenUpgrade from
    /// PyPI when asked, then stores it. A bad folder or a failing fetch or pip stores nothing. An engine
    /// whose runtime is missing is stored, not ready, and says so.
    pub async fn add_upgrade_engine(&self, new: &NewEngine) -> Result<EngineStatus> {
        let series = &new.series;
        let upgrade_util = new
            .upgrade_util
            .as_deref()
            .map(checked_upgrade_util)
            .transpose()?;
        // Bad input is refused before anything is made.
        let choice = match &new.openupgrade {
            OpenUpgradeChoice::Folder(dir) => OpenUpgradeChoice::Folder(checked_openupgrade(dir)?),
            OpenUpgradeChoice::Pypi { version } => {
                openupgrade::scripts_requirement(series, version.as_deref())
                    .map_err(upgrade_error)?;
                new.openupgrade.clone()
            }
        };
        let engine_dir = self.env().upgrade_engines_dir.join(series.to_string());
        // The virtualenv first: a failing pip leaves an earlier engine's OpenUpgrade as its row
        // says it is.
        let requirements = requirements_file(&engine_dir);
        std::fs::create_dir_all(&engine_dir)
            .and_then(|()| std::fs::write(&requirements, ENGINE_REQUIREMENTS))
            .map_err(|source| PlatformError::Io {
                context: format!("writing {}", requirements.display()),
                source,
            })?;
        if let RuntimeFact::Found(source) = self.runtime_fact(series).await? {
            let odoo = OdooSource::inspect(&source)
                .map_err(|e| PlatformError::Invalid(format!("{}: {e}", source.display())))?;
            let log = engine_dir.join("pip.log");
            self.env()
                .venvs
                .ensure_in(&venv_scope(series), &engine_requirements(&odoo, &engine_dir), &log)
                .await
                .map_err(|e| {
                    PlatformError::Conflict(format!(
                        "installing openupgradelib and Odoo {series}'s requirements in the engine's virtualenv (see {}): {e}",
                        log.display()
                    ))
                })?;
        }
        let (openupgrade, openupgrade_dir) = match choice {
            OpenUpgradeChoice::Folder(dir) => (OpenUpgradeSource::Folder, dir),
            OpenUpgradeChoice::Pypi { version } => {
                let dest = engine_dir.join("openupgrade");
                let fetched =
                    openupgrade::fetch_from_pypi("python3", series, version.as_deref(), &dest)
                        .await
                        .map_err(upgrade_error)?;
                tracing::info!(
                    %series,
                    scripts = %fetched.scripts_version,
                    framework = %fetched.framework_version,
                    "OpenUpgrade fetched from PyPI"
                );
                let source = OpenUpgradeSource::Pypi {
                    scripts_version: fetched.scripts_version,
                    framework_version: fetched.framework_version,
                };
                (source, dest)
            }
        };
        let engine = UpgradeEngine {
            series: series.clone(),
            openupgrade,
            openupgrade_dir,
            upgrade_util_dir: upgrade_util,
            added_at: chrono::Utc::now(),
        };
        let stored = self.engines.put(&engine).await.map_err(upgrade_error)?;
        self.judge(stored).await
    }

    /// Every engine, judged: ready, or why not.
    pub async fn upgrade_engines(&self) -> Result<Vec<EngineStatus>> {
        let mut statuses = Vec::new();
        for engine in self.engines.list().await.map_err(upgrade_error)? {
            statuses.push(self.judge(engine).await?);
        }
        Ok(statuses)
    }

    /// Removes the engine of `series` and the OpenUpgrade files fetched for it (a folder the
    /// admin gave is theirs and stays).
    pub async fn remove_upgrade_engine(&self, series: &Series) -> Result<()> {
        if !self.engines.remove(series).await.map_err(upgrade_error)? {
            return Err(PlatformError::NotFound(format!(
                "no upgrade engine for {series} (see `slipway upgrade engine list`)"
            )));
        }
        let dir = self.env().upgrade_engines_dir.join(series.to_string());
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("removing {}: {e}", dir.display());
            }
        }
        Ok(())
    }

    /// `engine` with what this machine has for it.
    async fn judge(&self, engine: UpgradeEngine) -> Result<EngineStatus> {
        let runtime = self.runtime_fact(&engine.series).await?;
        let python = match &runtime {
            RuntimeFact::Found(source) => match OdooSource::inspect(source) {
                Ok(odoo) => {
                    let dir = self
                        .env()
                        .upgrade_engines_dir
                        .join(engine.series.to_string());
                    let requirements = engine_requirements(&odoo, &dir);
                    let found = self
                        .env()
                        .venvs
                        .find_in(&venv_scope(&engine.series), &requirements)
                        .await;
                    found.ok().flatten().map(|venv| venv.python)
                }
                Err(_) => None,
            },
            _ => None,
        };
        let facts = EngineFacts {
            openupgrade_missing: openupgrade::missing_parts(&engine.openupgrade_dir),
            upgrade_util_src: engine
                .upgrade_util_dir
                .as_ref()
                .map(|dir| dir.join("src").is_dir()),
            runtime,
            python,
        };
        Ok(EngineStatus::judge(engine, &facts))
    }

    /// The runtime of `series` as this machine has it.
    async fn runtime_fact(&self, series: &Series) -> Result<RuntimeFact> {
        let Some(runtime) = self.projects.runtime(&series.to_string()).await? else {
            return Ok(RuntimeFact::Missing);
        };
        let dir = PathBuf::from(&runtime.source_dir);
        Ok(match OdooSource::inspect(&dir) {
            Ok(_) => RuntimeFact::Found(dir),
            Err(e) => RuntimeFact::Unusable(format!("{}: {e}", dir.display())),
        })
    }
}

impl EngineCatalog for Platform {
    fn engines(
        &self,
    ) -> Pin<Box<dyn Future<Output = slipway_upgrade::Result<Vec<EngineStatus>>> + Send + '_>> {
        Box::pin(async move {
            self.upgrade_engines()
                .await
                .map_err(|e| slipway_upgrade::Error::Engines(e.to_string()))
        })
    }
}

/// The requirement files of an engine's virtualenv: its runtime's, and `openupgradelib`.
fn engine_requirements(odoo: &OdooSource, engine_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = odoo.requirements().into_iter().collect();
    files.push(requirements_file(engine_dir));
    files
}

/// The OpenUpgrade folder `dir`, absolute, if laid out as OpenUpgrade.
fn checked_openupgrade(dir: &Path) -> Result<PathBuf> {
    let absolute = std::fs::canonicalize(dir)
        .map_err(|e| PlatformError::Invalid(format!("--openupgrade-dir {}: {e}", dir.display())))?;
    let missing = openupgrade::missing_parts(&absolute);
    if !missing.is_empty() {
        return Err(PlatformError::Invalid(format!(
            "--openupgrade-dir {} is not laid out as OCA/OpenUpgrade: it lacks {}",
            dir.display(),
            missing.join(", ")
        )));
    }
    Ok(absolute)
}

/// The upgrade-util checkout `dir`, absolute, if it has its `src`.
fn checked_upgrade_util(dir: &Path) -> Result<PathBuf> {
    let absolute = std::fs::canonicalize(dir)
        .map_err(|e| PlatformError::Invalid(format!("--upgrade-util {}: {e}", dir.display())))?;
    if !absolute.join("src").is_dir() {
        return Err(PlatformError::Invalid(format!(
            "--upgrade-util {} has no src/ folder: give a checkout of odoo/upgrade-util",
            dir.display()
        )));
    }
    Ok(absolute)
}

/// The upgrade crate's errors as the platform's. A tool that failed (pip, PyPI out of reach)
/// is a `Conflict`: the admin's request was fine and may succeed once the network is back, and
/// unlike an internal error its message reaches them.
fn upgrade_error(e: slipway_upgrade::Error) -> PlatformError {
    match e {
        slipway_upgrade::Error::Invalid(message) => PlatformError::Invalid(message),
        slipway_upgrade::Error::Failed(message) => PlatformError::Conflict(message),
        other => PlatformError::Failed(other.to_string()),
    }
}
