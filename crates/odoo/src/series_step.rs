//! A major-version step, as the upgrade platform takes a database through it: every installed
//! module moves to the target series (`16.0.1.3` -> `17.0.1.3`) and the standard scripts of
//! that series run, from an upgrade-path directory (`DIR/<series>/<module>/<version>/`).

use std::path::{Path, PathBuf};

use crate::addons::{Addon, AddonsScan};
use crate::manifest::{AutoInstall, Manifest};
use crate::plan::{build_plan, DbState, ModuleState, Plan, PlanInput, UpdateRequest};
use crate::scripts::FolderRules;
use crate::version::Series;

/// `16.0.1.3` moved to `17.0` is `17.0.1.3`; a version without a series gets one.
pub fn move_to_series(version: &str, target: &Series) -> String {
    let rest = match Series::of_version(version) {
        Some(series) => version
            .strip_prefix(&series.to_string())
            .map(|r| r.trim_start_matches('.'))
            .unwrap_or(version),
        None => version,
    };
    if rest.is_empty() {
        target.to_string()
    } else {
        format!("{target}.{rest}")
    }
}

/// The plan of one series step: every installed module but the `custom` ones updated to its
/// version moved to `target`, with the scripts of `scripts_dir` (`DIR/<module>/<version>/`, the
/// upgrade-path layout), in Odoo's order. The database's own dependencies give the graph.
/// Custom modules keep their version: their own code, updated later, brings their scripts.
pub fn series_step_plan(
    db: &DbState,
    target: &Series,
    scripts_dir: &Path,
    custom: &[String],
) -> Plan {
    let mut scan = AddonsScan::default();
    for module in db
        .modules
        .iter()
        .filter(|m| matches!(m.state, ModuleState::Installed | ModuleState::ToUpgrade))
        .filter(|m| !custom.contains(&m.name))
    {
        let version = move_to_series(module.latest_version.as_deref().unwrap_or("1.0"), target);
        let addon = Addon {
            name: module.name.clone(),
            // The module's folder in the scripts directory: its `migrations/` and `upgrades/`
            // do not exist, so only the upgrade path supplies scripts.
            path: scripts_dir.join(&module.name),
            manifest: Manifest {
                name: module.name.clone(),
                version: version.clone(),
                depends: module.depends.clone(),
                auto_install: AutoInstall::Bool(false),
                installable: true,
                license: String::new(),
                data: Vec::new(),
                demo: Vec::new(),
            },
            full_version: Some(version),
        };
        scan.addons.insert(module.name.clone(), addon);
    }
    let upgrade_paths = [PathBuf::from(scripts_dir)];
    build_plan(&PlanInput {
        addons: &scan,
        db,
        request: &UpdateRequest::Modules(vec!["base".into()]),
        series: target,
        rules: FolderRules::for_series(target),
        upgrade_paths: &upgrade_paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::DbModule;

    fn series(s: &str) -> Series {
        s.parse().unwrap()
    }

    #[test]
    fn versions_move_to_the_target_series() {
        assert_eq!(move_to_series("16.0.1.3", &series("17.0")), "17.0.1.3");
        assert_eq!(move_to_series("16.0", &series("17.0")), "17.0");
        assert_eq!(move_to_series("1.2", &series("17.0")), "17.0.1.2");
        assert_eq!(move_to_series("saas~16.3.1.0", &series("17.0")), "17.0.1.0");
    }

    #[test]
    fn a_step_updates_every_installed_module_with_the_series_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let pre = dir.path().join("base/0.0.0");
        std::fs::create_dir_all(&pre).unwrap();
        std::fs::write(
            pre.join("pre-a.py"),
            "def migrate(cr, version):\n    pass\n",
        )
        .unwrap();
        let post = dir.path().join("web/17.0.1.0");
        std::fs::create_dir_all(&post).unwrap();
        std::fs::write(
            post.join("post-b.py"),
            "def migrate(cr, version):\n    pass\n",
        )
        .unwrap();
        let module = |name: &str, version: &str, depends: &[&str]| DbModule {
            name: name.into(),
            state: ModuleState::Installed,
            latest_version: Some(version.into()),
            depends: depends.iter().map(|d| d.to_string()).collect(),
        };
        let db = DbState {
            modules: vec![
                module("base", "16.0.1.3", &[]),
                module("web", "16.0.1.0", &["base"]),
                DbModule {
                    state: ModuleState::Uninstalled,
                    ..module("sale", "", &["base"])
                },
            ],
        };
        let plan = series_step_plan(&db, &series("17.0"), dir.path(), &[]);
        let moved: Vec<(&str, &str)> = plan
            .modules
            .iter()
            .map(|m| (m.name.as_str(), m.new_version.as_str()))
            .collect();
        assert_eq!(moved, [("base", "17.0.1.3"), ("web", "17.0.1.0")]);
        let scripts: Vec<String> = plan
            .steps
            .iter()
            .map(|s| s.script.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(scripts, ["pre-a.py", "post-b.py"]);

        let without_web = series_step_plan(&db, &series("17.0"), dir.path(), &["web".into()]);
        let moved: Vec<&str> = without_web
            .modules
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(moved, ["base"], "custom modules keep their version");
    }
}
