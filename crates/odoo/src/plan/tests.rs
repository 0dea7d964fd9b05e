use std::fs;
use std::path::Path;

use super::*;
use crate::addons::scan_addons;

const OK: &str = "def migrate(cr, version):\n    pass\n";

struct World {
    tmp: tempfile::TempDir,
    db: DbState,
}

impl World {
    fn new() -> World {
        World {
            tmp: tempfile::tempdir().unwrap(),
            db: DbState::default(),
        }
    }

    fn addon(&self, name: &str, manifest: &str) -> &Self {
        self.file(&format!("{name}/__manifest__.py"), manifest)
    }

    fn file(&self, rel: &str, body: &str) -> &Self {
        let p = self.tmp.path().join("addons").join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
        self
    }

    fn installed(&mut self, name: &str, version: &str, deps: &[&str]) -> &mut Self {
        self.db.modules.push(DbModule {
            name: name.into(),
            state: ModuleState::Installed,
            latest_version: Some(version.into()),
            depends: deps.iter().map(|d| d.to_string()).collect(),
        });
        self
    }

    fn plan(&self, request: UpdateRequest) -> Plan {
        let series: Series = "17.0".parse().unwrap();
        let scan = scan_addons(&[self.tmp.path().join("addons")], &series);
        build_plan(&PlanInput {
            addons: &scan,
            db: &self.db,
            request: &request,
            series: &series,
            rules: FolderRules::V17,
            upgrade_paths: &[],
        })
    }
}

fn steps(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|s| {
            let file = Path::new(&s.script)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            format!("{} {} {} {}", s.module, s.stage.as_str(), s.version, file)
        })
        .collect()
}

fn modules(plan: &Plan) -> Vec<(String, Reason)> {
    plan.modules
        .iter()
        .map(|m| (m.name.clone(), m.reason))
        .collect()
}

/// Odoo's own modules installed in the DB but absent from the custom addons path.
fn odoo_base(w: &mut World) {
    w.installed("base", "17.0.1.3", &[])
        .installed("web", "17.0.1.0", &["base"]);
}

#[test]
fn default_updates_modules_whose_version_went_up_and_their_dependents() {
    let mut w = World::new();
    odoo_base(&mut w);
    w.installed("sale_x", "17.0.1.0", &["web"])
        .installed("sale_y", "17.0.1.0", &["sale_x"]);
    w.installed("other", "17.0.1.0", &["base"]);
    w.addon("sale_x", "{'version': '1.2', 'depends': ['web']}")
        .addon("sale_y", "{'version': '1.0', 'depends': ['sale_x']}")
        .addon("other", "{'version': '1.0', 'depends': ['base']}")
        .file("sale_x/migrations/1.1/pre-a.py", OK)
        .file("sale_x/migrations/1.2/post-b.py", OK)
        .file("sale_x/migrations/1.0/pre-old.py", OK)
        .file("sale_x/migrations/0.0.0/end-always.py", OK)
        .file("sale_y/migrations/0.0.0/pre-never.py", OK);
    let plan = w.plan(UpdateRequest::VersionBumps);
    assert_eq!(
        modules(&plan),
        [
            ("sale_x".into(), Reason::Version),
            ("sale_y".into(), Reason::Dependent)
        ]
    );
    assert_eq!(
        plan.modules[0].installed_version.as_deref(),
        Some("17.0.1.0")
    );
    assert_eq!(plan.modules[0].new_version, "17.0.1.2");
    assert_eq!(
        steps(&plan),
        [
            "sale_x pre 17.0.1.1 pre-a.py",
            "sale_x post 17.0.1.2 post-b.py",
            "sale_x end 0.0.0 end-always.py",
        ]
    );
}

#[test]
fn nothing_runs_again_without_a_version_increase() {
    let mut w = World::new();
    odoo_base(&mut w);
    w.installed("m", "17.0.1.2", &["base"]);
    w.addon("m", "{'version': '1.2', 'depends': ['base']}")
        .file("m/migrations/1.2/pre-a.py", OK)
        .file("m/migrations/0.0.0/pre-z.py", OK);
    assert!(w.plan(UpdateRequest::VersionBumps).modules.is_empty());
    let forced = w.plan(UpdateRequest::Modules(vec!["m".into()]));
    assert_eq!(modules(&forced), [("m".into(), Reason::Requested)]);
    assert!(forced.steps.is_empty(), "{:?}", steps(&forced));
}

#[test]
fn modules_run_by_depth_then_name_and_end_scripts_after_all() {
    let mut w = World::new();
    odoo_base(&mut w);
    for (name, deps) in [
        ("zeta", vec!["base"]),
        ("alpha", vec!["web"]),
        ("mid", vec!["zeta"]),
    ] {
        w.installed(name, "17.0.1.0", &deps);
        let deps_py = deps
            .iter()
            .map(|d| format!("'{d}'"))
            .collect::<Vec<_>>()
            .join(",");
        w.addon(
            name,
            &format!("{{'version': '1.1', 'depends': [{deps_py}]}}"),
        );
        for stage in ["pre", "post", "end"] {
            w.file(&format!("{name}/upgrades/1.1/{stage}-s.py"), OK);
        }
    }
    let plan = w.plan(UpdateRequest::VersionBumps);
    let names: Vec<_> = plan.modules.iter().map(|m| m.name.as_str()).collect();
    // zeta: depth 1 (base); alpha: depth 2 (web is 1); mid: depth 2 (zeta is 1).
    assert_eq!(names, ["zeta", "alpha", "mid"]);
    let got: Vec<String> = plan
        .steps
        .iter()
        .map(|s| format!("{} {}", s.module, s.stage.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            "zeta pre",
            "zeta post",
            "alpha pre",
            "alpha post",
            "mid pre",
            "mid post",
            "zeta end",
            "alpha end",
            "mid end",
        ]
    );
}

#[test]
fn base_runs_first_alone_but_its_end_scripts_follow_graph_order() {
    let mut w = World::new();
    w.installed("base", "17.0.1.0", &[])
        .installed("aaa", "17.0.1.0", &[]);
    w.addon("base", "{'version': '1.1'}")
        .addon("aaa", "{'version': '1.1'}");
    for m in ["base", "aaa"] {
        for stage in ["pre", "post", "end"] {
            w.file(&format!("{m}/migrations/1.1/{stage}-x.py"), OK);
        }
    }
    let plan = w.plan(UpdateRequest::Modules(vec!["all".into()]));
    let got: Vec<String> = plan
        .steps
        .iter()
        .map(|s| format!("{} {}", s.module, s.stage.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            "base pre",
            "base post",
            "aaa pre",
            "aaa post",
            "aaa end",
            "base end"
        ]
    );
}

#[test]
fn updating_base_updates_every_installed_module_present() {
    let mut w = World::new();
    w.installed("base", "17.0.1.0", &[])
        .installed("web", "17.0.1.0", &["base"]);
    w.installed("m", "17.0.1.0", &["web"]);
    w.addon("base", "{'version': '1.0'}")
        .addon("m", "{'version': '1.0', 'depends': ['web']}");
    let plan = w.plan(UpdateRequest::Modules(vec!["base".into()]));
    assert_eq!(
        modules(&plan),
        [
            ("base".into(), Reason::Requested),
            ("m".into(), Reason::Dependent)
        ]
    );
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.contains("web") && w.contains("not in the addons paths")));
}

#[test]
fn requested_modules_pull_in_installed_dependents_only() {
    let mut w = World::new();
    odoo_base(&mut w);
    w.installed("a", "17.0.1.0", &["base"])
        .installed("b", "17.0.1.0", &["a"]);
    w.db.modules.push(DbModule {
        name: "c".into(),
        state: ModuleState::Uninstalled,
        latest_version: None,
        depends: vec!["a".into()],
    });
    w.addon("a", "{'depends': ['base']}")
        .addon("b", "{'depends': ['a']}")
        .addon("c", "{'depends': ['a']}");
    let plan = w.plan(UpdateRequest::Modules(vec!["a".into(), "nope".into()]));
    assert_eq!(
        modules(&plan),
        [
            ("a".into(), Reason::Requested),
            ("b".into(), Reason::Dependent)
        ]
    );
    assert!(plan.warnings.iter().any(|w| w.contains("nope")));
}

#[test]
fn depth_uses_database_dependencies_of_absent_modules() {
    let mut w = World::new();
    odoo_base(&mut w);
    w.installed("mail", "17.0.1.0", &["base", "web"]);
    w.installed("x_mail", "17.0.1.0", &["mail"])
        .installed("a_base", "17.0.1.0", &["base"]);
    w.addon("x_mail", "{'version': '2.0', 'depends': ['mail']}")
        .addon("a_base", "{'version': '2.0', 'depends': ['base']}");
    let plan = w.plan(UpdateRequest::VersionBumps);
    let names: Vec<_> = plan.modules.iter().map(|m| m.name.as_str()).collect();
    // x_mail sits at depth 3 (base 0, web 1, mail 2) even though mail is not in the addons path.
    assert_eq!(names, ["a_base", "x_mail"]);
}

#[test]
fn uninstallable_modules_and_their_dependents_are_left_out() {
    let mut w = World::new();
    odoo_base(&mut w);
    w.installed("off", "17.0.1.0", &["base"])
        .installed("on_off", "17.0.1.0", &["off"]);
    w.addon("off", "{'version': '2.0', 'installable': False}")
        .addon("on_off", "{'version': '2.0', 'depends': ['off']}");
    let plan = w.plan(UpdateRequest::VersionBumps);
    assert!(plan.modules.is_empty());
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.contains("off: not installable")));
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.contains("on_off: not loaded, unmet dependencies: off")));
}

#[test]
fn upgrade_path_scripts_merge_with_module_scripts() {
    let mut w = World::new();
    odoo_base(&mut w);
    w.installed("m", "17.0.1.0", &["base"]);
    w.addon("m", "{'version': '1.1', 'depends': ['base']}")
        .file("m/migrations/1.1/pre-20-b.py", OK);
    let up = w.tmp.path().join("up");
    fs::create_dir_all(up.join("m/17.0.1.1")).unwrap();
    fs::write(up.join("m/17.0.1.1/pre-10-a.py"), OK).unwrap();
    fs::create_dir_all(up.join("m/1.1")).unwrap();
    fs::write(up.join("m/1.1/pre-30-c.py"), OK).unwrap();
    let series: Series = "17.0".parse().unwrap();
    let scan = scan_addons(&[w.tmp.path().join("addons")], &series);
    let plan = build_plan(&PlanInput {
        addons: &scan,
        db: &w.db,
        request: &UpdateRequest::VersionBumps,
        series: &series,
        rules: FolderRules::V17,
        upgrade_paths: &[up],
    });
    let got: Vec<(String, Source)> = plan
        .steps
        .iter()
        .map(|s| {
            (
                s.script.file_name().unwrap().to_string_lossy().to_string(),
                s.source,
            )
        })
        .collect();
    // `1.1` and `17.0.1.1` are distinct folders for Odoo (same version): each
    // folder's files in lexical order, sources merged within a folder.
    assert_eq!(
        got,
        [
            ("pre-20-b.py".into(), Source::Migrations),
            ("pre-30-c.py".into(), Source::UpgradePath),
            ("pre-10-a.py".into(), Source::UpgradePath),
        ]
    );
}

#[test]
fn plan_json_has_the_documented_shape() {
    let mut w = World::new();
    odoo_base(&mut w);
    w.installed("m", "17.0.1.0", &["base"]);
    w.addon("m", "{'version': '1.1', 'depends': ['base']}")
        .file("m/upgrades/1.1/post-a.py", OK);
    let json = serde_json::to_value(w.plan(UpdateRequest::VersionBumps)).unwrap();
    assert_eq!(json["series"], "17.0");
    assert_eq!(json["modules"][0]["reason"], "version");
    assert_eq!(json["modules"][0]["installed_version"], "17.0.1.0");
    assert_eq!(json["modules"][0]["new_version"], "17.0.1.1");
    let step = &json["steps"][0];
    assert_eq!(step["stage"], "post");
    assert_eq!(step["version"], "17.0.1.1");
    assert_eq!(step["source"], "upgrades");
    assert!(step["script"]
        .as_str()
        .unwrap()
        .ends_with("m/upgrades/1.1/post-a.py"));
    assert_eq!(step.as_object().unwrap().len(), 5);
    assert!(json["warnings"].is_array());
}

#[test]
fn database_series_comes_from_base() {
    let mut w = World::new();
    w.installed("base", "16.0.1.3", &[]);
    assert_eq!(w.db.series().unwrap().to_string(), "16.0");
}

#[test]
fn a_new_dependency_is_installed_not_updated_and_keeps_the_module_in_the_graph() {
    let mut w = World::new();
    odoo_base(&mut w);
    w.installed("shop", "17.0.1.0", &["base"]);
    w.db.modules.push(DbModule {
        name: "helper".into(),
        state: ModuleState::Uninstalled,
        latest_version: None,
        depends: vec!["base".into()],
    });
    w.addon("shop", "{'version': '1.1', 'depends': ['helper']}")
        .addon("helper", "{'version': '1.0', 'depends': ['base']}")
        .file("shop/migrations/1.1/pre-a.py", OK)
        .file("helper/migrations/0.0.0/pre-never.py", OK);
    let plan = w.plan(UpdateRequest::VersionBumps);
    assert_eq!(modules(&plan), [("shop".into(), Reason::Version)]);
    assert_eq!(steps(&plan), ["shop pre 17.0.1.1 pre-a.py"]);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("helper: not installed, Odoo installs it")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn module_states_read_and_write_odoo_s_own_names() {
    for state in ModuleState::ALL {
        assert_eq!(state.as_str().parse::<ModuleState>().unwrap(), state);
        assert_eq!(
            serde_json::to_value(state).unwrap(),
            serde_json::json!(state.as_str())
        );
    }
    assert_eq!(
        "to upgrade".parse::<ModuleState>().unwrap(),
        ModuleState::ToUpgrade
    );
    let err = "to_upgrade".parse::<ModuleState>().unwrap_err();
    assert!(err.to_string().contains("\"to_upgrade\""), "{err}");
}
