//! Development builds: a fresh database with demo data, the branch's modules (or all, or a
//! list) installed and tested — or, when no module changed since a cached install, a copy
//! of that install's template database (click-odoo-initdb's idea).

use std::path::{Path, PathBuf};

use slipway_dump::IdleSessions;
use slipway_odoo::{scan_addons, Series};
use slipway_runner::modules::template_key;
use slipway_runner::odoo::{free_port, OdooSource, OdooTask, TestSelection};

use super::pipeline::{Context, Installed, Pipeline, Prepared, Stop};
use super::store::{Build, BuildResult};
use super::templates::template_database;
use crate::branches::{Branch, BranchSettings, InstallSet};
use crate::projects::Project;

/// What a development build installs.
struct InstallPlan {
    modules: Vec<String>,
    tests: Option<TestSelection>,
    /// The modules whose files the template key covers (the branch's; the Odoo source is
    /// covered by its revision).
    keyed_modules: Vec<(String, PathBuf)>,
    /// What else the key depends on (install list, tests).
    key_suffix: String,
}

impl Pipeline {
    pub(super) async fn development(
        &self,
        build: &Build,
        branch: &Branch,
        project: &Project,
    ) -> Result<(), Stop> {
        let prepared = self.prepare(build, project).await?;
        let plan = install_plan(&branch.settings.0, &prepared.own, || {
            all_installable(&prepared.module_dirs, &prepared.source, &prepared.series)
        });
        let key = template_key(
            &prepared.series,
            &prepared.source.revision(),
            &plan.keyed_modules,
            true,
        )
        .context("hashing the module set")?;
        let key = format!("{key}{}", plan.key_suffix);

        self.step(build, "database").await?;
        let port = free_port().context("finding a free port")?;
        let cached = self.templates.take(&key).await?;
        self.builds
            .set_parts(build.id, &prepared.venv.key, &key, cached.is_some())
            .await?;
        // odoo.conf is written once the database exists: it holds the database role's login.
        let (conf, installed) = match cached {
            Some(t) => {
                let copied = self
                    .copy_template(build, &t.database, t.result, &prepared.logs)
                    .await?;
                (self.write_conf(build, &prepared, port).await?, copied)
            }
            None => {
                let step = if plan.tests.is_some() {
                    "install+tests"
                } else {
                    "install"
                };
                self.step(build, step).await?;
                self.env
                    .target
                    .create_empty_database(&build.name)
                    .await
                    .context("creating the database")?;
                let conf = self.write_conf(build, &prepared, port).await?;
                let task = OdooTask::Install {
                    modules: plan.modules.clone(),
                    demo: true,
                    tests: plan.tests.clone(),
                };
                let what = if plan.tests.is_some() {
                    "install and tests"
                } else {
                    "install"
                };
                let installed = self
                    .odoo_task(build, &prepared, &task, "install.log", what)
                    .await?;
                // a copy of a database whose tests failed would pass for a tested one
                if installed.result != BuildResult::Failed {
                    self.save_template(build, &key, &installed).await;
                }
                (conf, installed)
            }
        };

        self.step(build, "server").await?;
        let pid = self.start_server(build, &prepared, &conf).await?;
        if !self.builds.still_building(build.id).await? {
            return Err(Stop::Superseded);
        }
        self.mark_running(build, port, pid, installed.result, &installed.summary)
            .await
    }

    async fn write_conf(
        &self,
        build: &Build,
        prepared: &Prepared,
        port: u16,
    ) -> Result<slipway_runner::odoo::OdooConf, Stop> {
        let conf = self.conf(build, prepared, port).await?;
        conf.write(&prepared.conf_path())
            .context("writing odoo.conf")?;
        Ok(conf)
    }

    async fn copy_template(
        &self,
        build: &Build,
        template: &str,
        result: BuildResult,
        logs: &Path,
    ) -> Result<Installed, Stop> {
        let report = slipway_dump::clone_database(
            &self.env.target,
            template,
            &build.name,
            2,
            IdleSessions::Keep,
        )
        .await
        .context("copying the template database")?;
        let note = format!(
            "Template cache hit: no module changed since the build that made {template}, so its \
             installed database was copied ({:.1}s) instead of installing again; that install's \
             result ({}) stands.\n",
            report.elapsed.as_secs_f64(),
            result.as_str()
        );
        std::fs::write(logs.join("install.log"), note).context("writing install.log")?;
        Ok(Installed {
            result,
            summary: format!(
                "database copied from the template cache ({})",
                result.as_str()
            ),
        })
    }

    /// Keeps the freshly installed database as the template of its module set. A failure
    /// here costs only speed, so it is logged, not fatal.
    async fn save_template(&self, build: &Build, key: &str, installed: &Installed) {
        let database = template_database(key);
        let saved = async {
            if self.env.target.database_exists(&database).await? {
                self.env.target.drop_database(&database).await?;
            }
            slipway_dump::clone_database(
                &self.env.target,
                &build.name,
                &database,
                2,
                IdleSessions::Keep,
            )
            .await?;
            Ok::<_, slipway_dump::DumpError>(())
        }
        .await;
        match saved {
            Ok(()) => {
                let recorded = self
                    .templates
                    .insert(key, &database, build.id, installed.result)
                    .await;
                if let Err(e) = recorded {
                    tracing::warn!(error = %e, "could not record the template");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not save the template database"),
        }
    }
}

/// What a development build installs, from the branch's settings: `own` are the branch's
/// installable modules (name and folder), `all` scans for every installable module and is
/// only called for a full installation.
fn install_plan(
    settings: &BranchSettings,
    own: &[(String, PathBuf)],
    all: impl FnOnce() -> Vec<String>,
) -> InstallPlan {
    let (modules, tests_allowed): (Vec<String>, bool) = match &settings.install {
        InstallSet::Own => (own.iter().map(|(n, _)| n.clone()).collect(), true),
        InstallSet::List { modules } => (modules.clone(), true),
        InstallSet::All => (all(), false),
    };
    let modules = if modules.is_empty() {
        vec!["base".to_string()]
    } else {
        modules
    };
    let tests = (settings.tests && tests_allowed).then(|| TestSelection {
        tags: settings.test_tags.clone(),
    });
    let key_suffix = format!(
        "-{}",
        short_hash(&format!(
            "{modules:?}|{:?}",
            tests.as_ref().map(|t| &t.tags)
        ))
    );
    InstallPlan {
        modules,
        tests,
        keyed_modules: own.to_vec(),
        key_suffix,
    }
}

/// Every installable module of the addons path (a "full installation").
fn all_installable(module_dirs: &[PathBuf], source: &OdooSource, series: &Series) -> Vec<String> {
    let mut paths = module_dirs.to_vec();
    paths.extend(source.addons_dirs());
    scan_addons(&paths, series)
        .addons
        .values()
        .filter(|a| a.manifest.installable)
        .map(|a| a.name.clone())
        .collect()
}

fn short_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Vec<(String, PathBuf)> {
        ["shop_core", "shop_sale"]
            .iter()
            .map(|n| (n.to_string(), PathBuf::from(format!("/checkout/{n}"))))
            .collect()
    }

    fn settings(install: InstallSet, tests: bool, tags: Option<&str>) -> BranchSettings {
        BranchSettings {
            install,
            tests,
            test_tags: tags.map(str::to_string),
            ..BranchSettings::default()
        }
    }

    fn never_scanned() -> Vec<String> {
        panic!("only a full installation scans the addons path")
    }

    #[test]
    fn by_default_the_branch_s_own_modules_are_installed_and_tested() {
        let plan = install_plan(&BranchSettings::default(), &own(), never_scanned);
        assert_eq!(plan.modules, ["shop_core", "shop_sale"]);
        assert_eq!(plan.tests, Some(TestSelection { tags: None }));
        assert_eq!(plan.keyed_modules, own());
    }

    #[test]
    fn a_branch_without_modules_of_its_own_installs_base() {
        let plan = install_plan(&BranchSettings::default(), &[], never_scanned);
        assert_eq!(plan.modules, ["base"]);
        assert!(plan.keyed_modules.is_empty());
    }

    #[test]
    fn a_full_installation_installs_every_module_with_tests_off() {
        let all = || vec!["base".to_string(), "sale".into(), "shop_core".into()];
        let plan = install_plan(&settings(InstallSet::All, true, Some("/shop")), &own(), all);
        assert_eq!(plan.modules, ["base", "sale", "shop_core"]);
        assert_eq!(plan.tests, None, "a full install is too slow to test");
        assert_eq!(
            plan.keyed_modules,
            own(),
            "the key still covers the branch's files"
        );
    }

    #[test]
    fn a_listed_set_installs_exactly_those_modules_with_tests() {
        let list = InstallSet::List {
            modules: vec!["shop_core".into(), "sale".into()],
        };
        let plan = install_plan(&settings(list, true, None), &own(), never_scanned);
        assert_eq!(plan.modules, ["shop_core", "sale"]);
        assert_eq!(plan.tests, Some(TestSelection { tags: None }));
        assert_eq!(plan.keyed_modules, own());
    }

    #[test]
    fn an_empty_list_installs_base() {
        let list = InstallSet::List { modules: vec![] };
        let plan = install_plan(&settings(list, true, None), &own(), never_scanned);
        assert_eq!(plan.modules, ["base"]);
    }

    #[test]
    fn test_tags_are_passed_through_to_the_test_run() {
        let plan = install_plan(
            &settings(InstallSet::Own, true, Some("/shop_sale,-slow")),
            &own(),
            never_scanned,
        );
        assert_eq!(
            plan.tests,
            Some(TestSelection {
                tags: Some("/shop_sale,-slow".into())
            })
        );
    }

    #[test]
    fn tests_turned_off_run_no_tests_whatever_the_tags() {
        let plan = install_plan(
            &settings(InstallSet::Own, false, Some("/shop_sale")),
            &own(),
            never_scanned,
        );
        assert_eq!(plan.tests, None);
        assert_eq!(plan.modules, ["shop_core", "shop_sale"]);
    }

    #[test]
    fn the_template_key_tells_apart_what_was_installed_and_tested() {
        let suffix = |install: InstallSet, tests: bool, tags: Option<&str>| {
            install_plan(&settings(install, tests, tags), &own(), never_scanned).key_suffix
        };
        let default = suffix(InstallSet::Own, true, None);
        assert_eq!(default, suffix(InstallSet::Own, true, None), "stable");
        let listed = InstallSet::List {
            modules: vec!["shop_core".into()],
        };
        for other in [
            suffix(InstallSet::Own, false, None),
            suffix(InstallSet::Own, true, Some("/shop_sale")),
            suffix(listed, true, None),
        ] {
            assert_ne!(
                default, other,
                "a different install must not reuse the template"
            );
        }
    }
}
