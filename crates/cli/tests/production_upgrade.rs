//! The production upgrade end to end (seed 000, "Production upgrade"), on stand-in runtimes
//! of two series (16.0 and 17.0, NOT Odoo) and a ready 17.0 engine: "Start upgrade" arms it,
//! the next push runs it while production's host answers with the maintenance page; it lands
//! on 17.0 with backups before and after, or, when anything fails, everything is put back.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::site::{Site, WorkTree};
use serde_json::{json, Value};

/// A server with a 16.0 runtime beside its 17.0 one and a ready 17.0 engine, and project
/// `shop` whose production (`main`) runs 16.0 with the custom module `shop_core` installed.
struct World {
    site: Site,
    tree: WorkTree,
    production: Value,
    _runtime_16: tempfile::TempDir,
    _engine: slipway_testkit::EngineFixture,
}

fn world() -> World {
    let (site, runtime_16, engine) = common::upgrade_world::two_series_site(&[]);
    let (tree, production) = site.project_with_production_on("shop", "16.0");
    let name = production["name"].as_str().unwrap();
    site.odoo_bin_of(runtime_16.path(), name, &["-i", "shop_core"]);
    World {
        site,
        tree,
        production,
        _runtime_16: runtime_16,
        _engine: engine,
    }
}

/// The 17.0 code of `shop_core`: version 1.1 with an upgrade script, which writes
/// `shop_core.upgraded` or, when `fails`, raises.
fn upgraded_code(tree: &WorkTree, fails: bool) -> String {
    tree.write(
        "shop_core/__manifest__.py",
        "{'name': 'shop_core', 'version': '1.1', 'depends': ['base'], \
         'data': ['data/shop_core_data.xml'], 'license': 'LGPL-3', 'installable': True}\n",
    );
    let script = if fails {
        "def migrate(cr, version):\n    raise Exception('the 17.0 upgrade script fails on purpose')\n"
    } else {
        "def migrate(cr, version):\n    cr.execute(\"INSERT INTO ir_config_parameter (key, value) VALUES ('shop_core.upgraded', %s)\", (version,))\n"
    };
    tree.write("shop_core/migrations/17.0.1.1/post-upgraded.py", script);
    tree.commit("shop_core for Odoo 17.0")
}

impl World {
    fn database(&self) -> String {
        self.production["database"]
            .as_str()
            .or(self.production["name"].as_str())
            .unwrap()
            .to_string()
    }

    fn upgrade_state(&self) -> Value {
        self.site.get("/api/projects/shop/branches/main/upgrade")
    }

    fn history_kinds(&self) -> Vec<String> {
        self.site
            .get("/api/projects/shop/branches/main/history")
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    }

    fn arm(&self) {
        let out = self
            .site
            .cli_ok(&["branch", "upgrade", "shop", "main", "--target", "17.0"]);
        assert!(
            out.contains("next push"),
            "the CLI says when it starts: {out}"
        );
        let armed = self.upgrade_state();
        assert_eq!(armed["upgrade"]["state"], "armed", "{armed}");
        assert_eq!(armed["upgrade"]["kind"], "production", "{armed}");
        assert_eq!(armed["series"], "16.0", "arming changes nothing: {armed}");
    }

    /// Pushes `main` and waits for its build to settle, polling production's host meanwhile;
    /// returns the build and whether the maintenance page (503, "upgrade") was seen.
    fn push_watching_production(&self) -> (Value, bool) {
        let host = self.production["name"].as_str().unwrap().to_string();
        let seen = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (seen, stop, url) = (seen.clone(), stop.clone(), self.site.url());
            let port = url.rsplit(':').next().unwrap().to_string();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                while !stop.load(Ordering::SeqCst) {
                    let answer = client
                        .get(format!("{url}/web/login"))
                        .header(reqwest::header::HOST, format!("{host}.localhost:{port}"))
                        .send();
                    if let Ok(answer) = answer {
                        if answer.status().as_u16() == 503 {
                            let page = answer.text().unwrap_or_default();
                            if page.contains("upgrade") && page.contains("Odoo 17.0") {
                                seen.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        let before = self.production["id"].as_i64().unwrap();
        self.tree.push("main");
        let build = self.site.settled_build_after("shop", "main", before);
        stop.store(true, Ordering::SeqCst);
        watcher.join().unwrap();
        (build, seen.load(Ordering::SeqCst))
    }

    fn backup_kinds(&self) -> Vec<String> {
        self.site
            .get("/api/projects/shop/branches/main/backups")
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .filter_map(|b| b["kind"].as_str().map(str::to_string))
            .collect()
    }

    fn psql(&self, sql: &str) -> String {
        self.site.psql(&self.database(), sql)
    }

    /// The status production's `host` answers `/web/login` with.
    fn status_of(&self, host: &str) -> u16 {
        self.site
            .build_request(reqwest::Method::GET, host, "/web/login")
            .send()
            .unwrap()
            .status()
            .as_u16()
    }
}

#[test]
fn an_armed_production_upgrade_runs_with_the_next_push_and_lands_on_the_new_series() {
    let w = world();
    w.arm();
    let backups_before = w.backup_kinds();
    upgraded_code(&w.tree, false);
    let (build, maintenance_seen) = w.push_watching_production();
    assert_eq!(build["state"], "running", "{build}");
    assert!(
        maintenance_seen,
        "production's host showed the maintenance page during the upgrade"
    );

    let after = w.upgrade_state();
    assert_eq!(after["upgrade"]["state"], "done", "{after}");
    assert_eq!(after["series"], "17.0", "{after}");
    assert_eq!(
        after["upgrade"]["custom_modules"],
        json!(["shop_core"]),
        "{after}"
    );
    assert!(after["upgrade"]["backup"].is_string(), "{after}");
    let log = after["upgrade"]["log_tail"].as_str().unwrap();
    assert!(
        log.contains("production upgraded from Odoo 16.0 to Odoo 17.0"),
        "{log}"
    );

    assert!(w
        .psql("SELECT latest_version FROM ir_module_module WHERE name = 'base'")
        .starts_with("17.0."));
    assert_eq!(
        w.psql("SELECT latest_version FROM ir_module_module WHERE name = 'shop_core'"),
        "17.0.1.1"
    );
    assert!(
        !w.psql("SELECT value FROM ir_config_parameter WHERE key = 'shop_core.upgraded'")
            .is_empty(),
        "shop_core's 17.0 upgrade script ran"
    );
    let upgrade_log = w
        .site
        .cli_ok(&["build", "logs", &build["id"].to_string(), "upgrade.log"]);
    assert!(upgrade_log.contains("shop_core"), "{upgrade_log}");
    assert_eq!(
        w.status_of(build["name"].as_str().unwrap()),
        200,
        "the upgraded production serves"
    );

    let backups = w.backup_kinds();
    assert!(
        backups.iter().any(|k| k == "before-upgrade"),
        "a backup before: {backups:?} (before arming: {backups_before:?})"
    );
    assert!(
        backups.iter().filter(|k| *k == "daily").count()
            > backups_before.iter().filter(|k| *k == "daily").count(),
        "a backup after: {backups:?}"
    );
    let kinds = w.history_kinds();
    for kind in [
        "upgrade.requested",
        "production.upgraded",
        "series.switched",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

#[test]
fn a_failing_production_upgrade_is_reverted_database_revision_and_series() {
    let w = world();
    w.psql("INSERT INTO ir_config_parameter (key, value) VALUES ('written.before', 'kept')");
    w.arm();
    upgraded_code(&w.tree, true);
    let (build, maintenance_seen) = w.push_watching_production();
    assert_eq!(build["result"], "failed", "{build}");
    assert!(
        maintenance_seen,
        "production's host showed the maintenance page during the upgrade"
    );

    let after = w.upgrade_state();
    assert_eq!(after["upgrade"]["state"], "reverted", "{after}");
    assert!(
        after["upgrade"]["error"]
            .as_str()
            .unwrap()
            .contains("custom modules"),
        "{after}"
    );
    assert_eq!(after["series"], "16.0", "the series is back: {after}");
    assert!(w
        .psql("SELECT latest_version FROM ir_module_module WHERE name = 'base'")
        .starts_with("16.0."));
    assert_eq!(
        w.psql("SELECT value FROM ir_config_parameter WHERE key = 'written.before'"),
        "kept"
    );
    let production = w.production["name"].as_str().unwrap();
    assert_eq!(
        w.status_of(production),
        200,
        "the previous revision serves again"
    );
    let branch = w.site.get("/api/projects/shop/branches/main");
    let running: Vec<&Value> = branch["builds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["state"] == "running")
        .collect();
    assert_eq!(running.len(), 1, "{branch}");
    assert_eq!(
        running[0]["id"], w.production["id"],
        "the old build serves: {branch}"
    );
    let upgrade_log = w
        .site
        .cli_ok(&["build", "logs", &build["id"].to_string(), "upgrade.log"]);
    assert!(
        upgrade_log.contains("fails on purpose"),
        "the log is kept: {upgrade_log}"
    );
    let kinds = w.history_kinds();
    assert!(
        kinds.iter().any(|k| k == "production.upgrade_reverted"),
        "{kinds:?}"
    );
}

#[test]
fn a_production_upgrade_whose_pushed_code_lacks_an_installed_module_is_refused_with_the_advice() {
    let w = world();
    w.arm();
    let disarmed = w
        .site
        .cli_ok(&["branch", "upgrade", "shop", "main", "--cancel", "--json"]);
    let disarmed: Value = serde_json::from_str(&disarmed).unwrap();
    assert_eq!(disarmed["upgrade"]["state"], "cancelled", "{disarmed}");
    w.arm();
    std::fs::remove_dir_all(w.tree.path().join("shop_core")).unwrap();
    w.tree.commit("shop_core removed");
    let (build, _) = w.push_watching_production();
    assert_eq!(build["result"], "failed", "{build}");
    let message = build["message"].as_str().unwrap();
    assert!(
        message.contains("shop_core") && message.contains("manifest"),
        "{message}"
    );
    let after = w.upgrade_state();
    assert_eq!(after["upgrade"]["state"], "failed", "{after}");
    assert_eq!(after["series"], "16.0", "{after}");
    assert!(after["upgrade"]["backup"].is_null(), "nothing ran: {after}");
    assert!(w
        .psql("SELECT latest_version FROM ir_module_module WHERE name = 'base'")
        .starts_with("16.0."));
    assert_eq!(w.status_of(w.production["name"].as_str().unwrap()), 200);
}
