//! Upgrade engines: what takes a database to a target series.
//!
//! An engine for series S is the registered Odoo runtime of S (the platform's, found by the
//! caller), OpenUpgrade's `openupgrade_framework` and `openupgrade_scripts` for S (unpacked
//! from PyPI under the data directory, pinned to the versions resolved when it was added, or
//! a folder the admin gave), optionally odoo/upgrade-util, and a virtualenv with the runtime's
//! requirements and `openupgradelib`. This module holds the stored row ([`UpgradeEngine`]), the
//! facts found on the machine ([`EngineFacts`]) and the pure judgement of them
//! ([`readiness`]); [`EngineCatalog`] is how the upgrade platform asks which engines are ready
//! without knowing where runtimes come from.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use slipway_odoo::Series;

pub mod openupgrade;
mod store;

pub use store::EngineStore;

/// Where an engine's OpenUpgrade addons come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpenUpgradeSource {
    /// The wheels `odoo-addon-openupgrade-scripts` and `-framework` from PyPI, unpacked under
    /// the data directory, at these exact versions.
    Pypi {
        /// The version of `odoo-addon-openupgrade-scripts` (`17.0.1.0.1.493`).
        scripts_version: String,
        /// The version of `odoo-addon-openupgrade-framework` (`17.0.1.0.0.10`).
        framework_version: String,
    },
    /// A folder the admin gave: a checkout of OCA/OpenUpgrade, or their own scripts in its
    /// layout.
    Folder,
}

impl OpenUpgradeSource {
    /// `pypi` or `folder`, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            OpenUpgradeSource::Pypi { .. } => "pypi",
            OpenUpgradeSource::Folder => "folder",
        }
    }
}

/// An upgrade engine as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeEngine {
    /// The series it upgrades to.
    #[serde(with = "series_text")]
    pub series: Series,
    /// Where its OpenUpgrade addons come from.
    pub openupgrade: OpenUpgradeSource,
    /// The folder holding `openupgrade_framework/` and `openupgrade_scripts/`.
    pub openupgrade_dir: PathBuf,
    /// odoo/upgrade-util's checkout (its `src` goes first on the upgrade path).
    pub upgrade_util_dir: Option<PathBuf>,
    /// When it was added.
    pub added_at: DateTime<Utc>,
}

/// The Odoo runtime of an engine's series, as the platform found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeFact {
    /// No runtime is registered for the series.
    Missing,
    /// One is registered but cannot run: why.
    Unusable(String),
    /// Its source tree.
    Found(PathBuf),
}

/// What was found on this machine for one engine: the facts [`readiness`] judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineFacts {
    /// The runtime of the series.
    pub runtime: RuntimeFact,
    /// What the OpenUpgrade folder lacks ([`openupgrade::missing_parts`]); empty when whole.
    pub openupgrade_missing: Vec<String>,
    /// Whether upgrade-util's `src` folder is there (`None`: no upgrade-util configured).
    pub upgrade_util_src: Option<bool>,
    /// The Python of the engine's virtualenv, holding `openupgradelib`; `None`: not made.
    pub python: Option<PathBuf>,
}

/// An engine, what was found for it, and whether it can run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineStatus {
    /// The engine as stored.
    #[serde(flatten)]
    pub engine: UpgradeEngine,
    /// The runtime's Odoo source tree, when usable.
    pub runtime_dir: Option<PathBuf>,
    /// The Python of its virtualenv (with the runtime's requirements and `openupgradelib`).
    pub python: Option<PathBuf>,
    /// Whether it can take a database to its series.
    pub ready: bool,
    /// Why not, each with what to do; empty when ready.
    pub not_ready: Vec<String>,
}

impl EngineStatus {
    /// `engine` judged on `facts`.
    pub fn judge(engine: UpgradeEngine, facts: &EngineFacts) -> Self {
        let not_ready = readiness(&engine, facts);
        Self {
            runtime_dir: match &facts.runtime {
                RuntimeFact::Found(dir) => Some(dir.clone()),
                _ => None,
            },
            python: facts.python.clone(),
            ready: not_ready.is_empty(),
            not_ready,
            engine,
        }
    }
}

/// Why an engine cannot run, each reason saying what to do; empty when it is ready.
pub fn readiness(engine: &UpgradeEngine, facts: &EngineFacts) -> Vec<String> {
    let series = &engine.series;
    let mut reasons = Vec::new();
    match &facts.runtime {
        RuntimeFact::Missing => reasons.push(format!(
            "no Odoo {series} runtime is registered: add one with `slipway odoo add {series} --source DIR`, then `slipway upgrade engine add {series}` again"
        )),
        RuntimeFact::Unusable(why) => {
            reasons.push(format!("the Odoo {series} runtime cannot run: {why}"))
        }
        RuntimeFact::Found(_) => {}
    }
    if !facts.openupgrade_missing.is_empty() {
        reasons.push(format!(
            "the OpenUpgrade folder {} lacks {}: {}",
            engine.openupgrade_dir.display(),
            facts.openupgrade_missing.join(", "),
            match engine.openupgrade {
                OpenUpgradeSource::Pypi { .. } => format!(
                    "run `slipway upgrade engine add {series}` again to fetch it from PyPI"
                ),
                OpenUpgradeSource::Folder => {
                    "give a folder laid out as OCA/OpenUpgrade with `--openupgrade-dir`".into()
                }
            }
        ));
    }
    if let (Some(false), Some(dir)) = (facts.upgrade_util_src, &engine.upgrade_util_dir) {
        reasons.push(format!(
            "the upgrade-util folder {} has no src/: give a checkout of odoo/upgrade-util with `--upgrade-util`",
            dir.display()
        ));
    }
    // Without a runtime there are no requirements to make the virtualenv from: that reason
    // already says what to do.
    if facts.python.is_none() && matches!(facts.runtime, RuntimeFact::Found(_)) {
        reasons.push(format!(
            "openupgradelib is not installed in the engine's virtualenv: run `slipway upgrade engine add {series}` again (it needs PyPI, or pip's PIP_INDEX_URL or PIP_FIND_LINKS)"
        ));
    }
    reasons
}

/// The series the ready engines upgrade to, in release order.
pub fn ready_series(engines: &[EngineStatus]) -> Vec<Series> {
    let mut series: Vec<Series> = engines
        .iter()
        .filter(|e| e.ready)
        .map(|e| e.engine.series.clone())
        .collect();
    series.sort();
    series
}

/// The series a database goes through from `from` up to `to`, one major version at a time as
/// Odoo upgrades (`15.0` -> `17.0`: `16.0`, then `17.0`; the last is `to` itself), each by the
/// ready engine of its series. `Err` lists the steps that have no ready engine.
pub fn upgrade_steps(
    from: &Series,
    to: &Series,
    ready: &[Series],
) -> Result<Vec<Series>, Vec<Series>> {
    let steps: Vec<Series> = (from.major() + 1..=to.major())
        .filter_map(|major| {
            if major == to.major() {
                Some(to.clone())
            } else {
                format!("{major}.0").parse().ok()
            }
        })
        .collect();
    let missing: Vec<Series> = steps
        .iter()
        .filter(|s| !ready.contains(s))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(steps)
    } else {
        Err(missing)
    }
}

/// The virtualenv scope of an engine's series (`upgrade-17-0`): only `[a-z0-9-]`, so that an
/// engine never shares a virtualenv with a project's builds.
pub fn venv_scope(series: &Series) -> String {
    let text: String = series
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("upgrade-{text}")
}

/// The requirements an engine adds to its runtime's: `openupgradelib`, which OpenUpgrade's
/// scripts import.
pub const ENGINE_REQUIREMENTS: &str =
    "# Slipway's upgrade engine: OpenUpgrade's scripts import openupgradelib.\nopenupgradelib\n";

/// The file holding [`ENGINE_REQUIREMENTS`] under an engine's folder.
pub fn requirements_file(engine_dir: &Path) -> PathBuf {
    engine_dir.join("requirements.txt")
}

/// Where the upgrade platform learns which engines exist and which are ready: the platform
/// answers it, since runtimes are the platform's and this crate knows nothing of them.
pub trait EngineCatalog: Send + Sync + std::fmt::Debug {
    /// Every engine, judged.
    fn engines(
        &self,
    ) -> Pin<Box<dyn Future<Output = crate::Result<Vec<EngineStatus>>> + Send + '_>>;
}

/// A series as its text (`17.0`) in JSON.
mod series_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use slipway_odoo::Series;

    pub fn serialize<S: Serializer>(series: &Series, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(series)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Series, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an Odoo series")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(list: &[&str]) -> Vec<Series> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn a_database_goes_up_one_major_version_at_a_time_each_by_its_engine() {
        let ready = series(&["15.0", "16.0", "17.0", "18.0"]);
        let (from, to) = (&series(&["15.0"])[0], &series(&["17.0"])[0]);
        assert_eq!(
            upgrade_steps(from, to, &ready),
            Ok(series(&["16.0", "17.0"]))
        );
        let from = &series(&["saas~16.3"])[0];
        assert_eq!(upgrade_steps(from, to, &ready), Ok(series(&["17.0"])));
    }

    #[test]
    fn a_step_without_a_ready_engine_is_named_even_between_two_ready_ones() {
        let ready = series(&["15.0", "17.0"]);
        let (from, to) = (&series(&["14.0"])[0], &series(&["17.0"])[0]);
        assert_eq!(upgrade_steps(from, to, &ready), Err(series(&["16.0"])));
        let none: Vec<Series> = Vec::new();
        assert_eq!(
            upgrade_steps(from, to, &none),
            Err(series(&["15.0", "16.0", "17.0"]))
        );
    }

    fn engine(source: OpenUpgradeSource) -> UpgradeEngine {
        UpgradeEngine {
            series: "17.0".parse().unwrap(),
            openupgrade: source,
            openupgrade_dir: "/ou".into(),
            upgrade_util_dir: Some("/uu".into()),
            added_at: Utc::now(),
        }
    }

    fn whole() -> EngineFacts {
        EngineFacts {
            runtime: RuntimeFact::Found("/odoo17".into()),
            openupgrade_missing: Vec::new(),
            upgrade_util_src: Some(true),
            python: Some("/venv/bin/python".into()),
        }
    }

    #[test]
    fn an_engine_with_everything_found_is_ready() {
        let status = EngineStatus::judge(engine(OpenUpgradeSource::Folder), &whole());
        assert!(status.ready, "{:?}", status.not_ready);
        assert_eq!(status.runtime_dir, Some(PathBuf::from("/odoo17")));
    }

    #[test]
    fn a_missing_runtime_says_how_to_add_it_and_hides_the_venv_reason() {
        let facts = EngineFacts {
            runtime: RuntimeFact::Missing,
            python: None,
            ..whole()
        };
        let reasons = readiness(&engine(OpenUpgradeSource::Folder), &facts);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(
            reasons[0].contains("slipway odoo add 17.0 --source DIR"),
            "{reasons:?}"
        );
    }

    #[test]
    fn every_missing_part_is_a_reason_saying_what_to_do() {
        let facts = EngineFacts {
            runtime: RuntimeFact::Unusable("/odoo17 has no odoo-bin".into()),
            openupgrade_missing: vec!["openupgrade_scripts/apriori.py".into()],
            upgrade_util_src: Some(false),
            python: None,
        };
        let pypi = OpenUpgradeSource::Pypi {
            scripts_version: "17.0.1.0.1.493".into(),
            framework_version: "17.0.1.0.0.10".into(),
        };
        let reasons = readiness(&engine(pypi), &facts);
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].contains("has no odoo-bin"));
        assert!(reasons[1].contains("apriori.py") && reasons[1].contains("fetch it from PyPI"));
        assert!(reasons[2].contains("/uu has no src/"));
        let no_venv = EngineFacts {
            python: None,
            ..whole()
        };
        let reasons = readiness(&engine(OpenUpgradeSource::Folder), &no_venv);
        assert!(reasons[0].contains("openupgradelib"), "{reasons:?}");
    }

    #[test]
    fn only_ready_engines_give_targets_in_release_order() {
        let mut statuses: Vec<EngineStatus> = ["18.0", "16.0", "17.0"]
            .iter()
            .map(|s| {
                let mut e = engine(OpenUpgradeSource::Folder);
                e.series = s.parse().unwrap();
                EngineStatus::judge(e, &whole())
            })
            .collect();
        statuses[0].ready = false;
        let series: Vec<String> = ready_series(&statuses)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(series, ["16.0", "17.0"]);
    }

    #[test]
    fn engine_venvs_have_a_scope_of_their_own() {
        assert_eq!(venv_scope(&"17.0".parse().unwrap()), "upgrade-17-0");
        assert_eq!(
            venv_scope(&"saas~17.2".parse().unwrap()),
            "upgrade-saas-17-2"
        );
    }

    #[test]
    fn an_engine_reads_back_from_json_as_written() {
        let e = engine(OpenUpgradeSource::Pypi {
            scripts_version: "17.0.1.0.1.493".into(),
            framework_version: "17.0.1.0.0.10".into(),
        });
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["series"], "17.0");
        assert_eq!(json["openupgrade"]["kind"], "pypi");
        let back: UpgradeEngine = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }
}
