//! The Upgrade tab end to end, on stand-in runtimes of two series (16.0 and 17.0, NOT Odoo)
//! and a ready 17.0 upgrade engine: a project whose production runs 16.0, a staging branch,
//! and `slipway branch upgrade` / `/api/projects/{p}/branches/{b}/upgrade` as users call them.

mod common;

use common::site::Site;
use common::upgrade_world::TwoSeriesWorld;
use serde_json::Value;

/// The two-series world (`common::upgrade_world`), with what these tests read of it.
struct World(TwoSeriesWorld);

impl std::ops::Deref for World {
    type Target = TwoSeriesWorld;
    fn deref(&self) -> &TwoSeriesWorld {
        &self.0
    }
}

/// A server with a 16.0 runtime beside its 17.0 one and a ready 17.0 engine, and project
/// `shop` whose production (`main`) runs 16.0 and whose `staging` branch is a staging copy.
fn world() -> World {
    World(TwoSeriesWorld::start(&[]))
}

impl World {
    fn upgrade_state(&self, branch: &str) -> Value {
        self.site
            .get(&format!("/api/projects/shop/branches/{branch}/upgrade"))
    }

    fn history_kinds(&self, branch: &str) -> Vec<String> {
        let events = self
            .site
            .get(&format!("/api/projects/shop/branches/{branch}/history"));
        events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    }

    /// The database of the branch's live build.
    fn live_database(&self, branch: &str) -> String {
        let shown = self
            .site
            .get(&format!("/api/projects/shop/branches/{branch}"));
        let build = shown["builds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["state"] == "running")
            .unwrap_or_else(|| panic!("no running build of {branch}: {shown}"))
            .clone();
        build["database"]
            .as_str()
            .or(build["name"].as_str())
            .unwrap()
            .to_string()
    }
}

fn base_version(site: &Site, db: &str) -> String {
    site.psql(
        db,
        "SELECT latest_version FROM ir_module_module WHERE name = 'base'",
    )
}

#[test]
fn a_test_upgrade_lands_in_staging_on_the_new_series_neutralized() {
    let w = world();
    let before = w.upgrade_state("staging");
    assert_eq!(before["production_series"], "16.0", "{before}");
    assert_eq!(before["targets"], serde_json::json!(["17.0"]), "{before}");
    assert!(before["unavailable"].is_null(), "{before}");
    assert!(before["upgrade"].is_null(), "{before}");
    let production_db = w.production["database"]
        .as_str()
        .or(w.production["name"].as_str())
        .unwrap()
        .to_string();

    let out = w.site.cli_ok(&[
        "branch", "upgrade", "shop", "staging", "--target", "17.0", "--json",
    ]);
    let done: Value = serde_json::from_str(&out).unwrap();
    let upgrade = &done["upgrade"];
    assert!(
        upgrade["state"] == "closed" || upgrade["state"] == "upgrade_mode",
        "{done}"
    );
    assert_eq!(done["series"], "17.0", "{done}");
    assert!(upgrade["backup"].is_string(), "{done}");
    assert!(
        upgrade["step"].is_null(),
        "an ended upgrade has no step: {done}"
    );
    assert!(
        upgrade["log_tail"]
            .as_str()
            .unwrap()
            .contains("upgraded database (Odoo 17.0) is in the branch"),
        "{done}"
    );
    let staging_build = w.site.get("/api/projects/shop/branches/staging")["builds"][0]["id"]
        .as_i64()
        .unwrap();
    let log = w
        .site
        .cli_ok(&["build", "logs", &staging_build.to_string(), "upgrade.log"]);
    for line in [
        "slipway: backup",
        "Upgrade to 17.0 with OpenUpgrade",
        "Neutralize (test request)",
    ] {
        assert!(log.contains(line), "{line:?} in upgrade.log:\n{log}");
    }

    let staging_db = w.live_database("staging");
    assert!(
        base_version(&w.site, &staging_db).starts_with("17.0."),
        "staging's database is upgraded"
    );
    assert_eq!(
        w.site.psql(
            &staging_db,
            "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
        ),
        "true"
    );
    assert!(
        base_version(&w.site, &production_db).starts_with("16.0."),
        "production is untouched"
    );
    let kinds = w.history_kinds("staging");
    for kind in [
        "upgrade.requested",
        "upgrade.started",
        "upgrade.database_upgraded",
        "upgrade.brought_back",
        "series.switched",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

/// Waits until the branch's upgrade is in `state`; returns the Upgrade tab's answer.
fn wait_upgrade_state(w: &World, branch: &str, state: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let now = w.upgrade_state(branch);
        if now["upgrade"]["state"] == state {
            return now;
        }
        assert!(std::time::Instant::now() < deadline, "not {state}: {now}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[test]
fn upgrade_mode_restores_the_upgraded_database_and_runs_custom_upgrade_scripts_at_each_push() {
    let w = world();
    let production_db = w.production["name"].as_str().unwrap().to_string();
    w.odoo_16_on_production(&["-i", "shop_core"]);

    // A module installed in production that the branch's code lacks stops everything.
    w.site.psql(
        &production_db,
        "INSERT INTO ir_module_module (name, state, latest_version) VALUES ('x_gone', 'installed', '16.0.1.0')",
    );
    let (status, refused) = w.site.post(
        "/api/projects/shop/branches/staging/upgrade",
        serde_json::json!({"target": "17.0"}),
    );
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "missing_modules", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("x_gone")
            && message.contains("empty module")
            && message.contains("remove it completely"),
        "{message}"
    );
    assert!(
        w.upgrade_state("staging")["upgrade"].is_null(),
        "nothing started"
    );
    w.site.psql(
        &production_db,
        "DELETE FROM ir_module_module WHERE name = 'x_gone'",
    );

    // Cancelled while under way: it ends there.
    w.site.cli_ok(&[
        "branch",
        "upgrade",
        "shop",
        "staging",
        "--target",
        "17.0",
        "--no-wait",
    ]);
    let cancelled: Value = serde_json::from_str(
        &w.site
            .cli_ok(&["branch", "upgrade", "shop", "staging", "--cancel", "--json"]),
    )
    .unwrap();
    assert_eq!(cancelled["upgrade"]["state"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["series"], "16.0", "{cancelled}");

    // The test upgrade: shop_core is left for the branch's code, and upgrade mode begins.
    let out = w.site.cli_ok(&[
        "branch", "upgrade", "shop", "staging", "--target", "17.0", "--json",
    ]);
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["upgrade"]["state"], "upgrade_mode", "{done}");
    assert_eq!(
        done["upgrade"]["custom_modules"],
        serde_json::json!(["shop_core"]),
        "{done}"
    );
    assert!(done["upgrade"]["mode_until"].is_string(), "{done}");
    let id = done["upgrade"]["id"].as_i64().unwrap();
    let kept = format!("slipway_upgraded_{id}");
    assert!(
        w.site.database_exists(&kept),
        "the upgraded database is kept"
    );
    assert_eq!(
        w.site.psql(
            &kept,
            "SELECT state || ' ' || latest_version FROM ir_module_module WHERE name = 'shop_core'"
        ),
        "to upgrade 16.0.1.0",
        "the custom module is left at its old version, set to be updated"
    );
    // the upgraded database reaches the branch through a build in upgrade mode
    let brought = w.site.get("/api/projects/shop/branches/staging")["builds"][0].clone();
    assert_eq!(brought["trigger"], "upgrade mode", "{brought}");
    let brought = w.site.wait_build(brought["id"].as_i64().unwrap());
    assert_eq!(brought["state"], "running", "{brought}");
    assert_eq!(
        w.site.psql(
            brought["database"].as_str().unwrap(),
            "SELECT state || ' ' || latest_version FROM ir_module_module WHERE name = 'shop_core'"
        ),
        "installed 17.0.1.0",
        "the custom module updated with the branch's code"
    );

    // A push in upgrade mode: the upgraded database again, and shop_core's upgrade script.
    w.tree.write(
        "shop_core/migrations/17.0.1.0/post-mark.py",
        "import logging\n\n\ndef migrate(cr, version):\n    logging.getLogger(__name__).info('shop_core upgraded from %s', version)\n    cr.execute('CREATE TABLE shop_core_upgrade_mark (from_version text)')\n    cr.execute('INSERT INTO shop_core_upgrade_mark VALUES (%s)', (version,))\n",
    );
    let sha = w.tree.commit("shop_core: upgrade script for 17.0");
    w.tree.push("staging");
    let build = w.site.wait_build(w.site.build_of("shop", "staging", &sha));
    assert_eq!(build["state"], "running", "{build}");
    let db = build["database"].as_str().unwrap();
    assert_eq!(
        w.site
            .psql(db, "SELECT from_version FROM shop_core_upgrade_mark"),
        "16.0.1.0"
    );
    assert_eq!(
        w.site.psql(
            db,
            "SELECT state || ' ' || latest_version FROM ir_module_module WHERE name = 'shop_core'"
        ),
        "installed 17.0.1.0"
    );
    let log = w
        .site
        .cli_ok(&["build", "logs", &build["id"].to_string(), "upgrade.log"]);
    assert!(log.contains("shop_core upgraded from 16.0.1.0"), "{log}");

    // 30 days later (the row's end moved into the past), the scheduler closes the mode.
    w.site.psql(
        "slipway",
        &format!(
            "UPDATE branch_upgrades SET mode_until = now() - interval '1 second' WHERE id = {id}"
        ),
    );
    let closed = wait_upgrade_state(&w, "staging", "closed");
    assert!(closed["upgrade"]["finished_at"].is_string(), "{closed}");
    // the row closes first, then its kept database goes
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while w.site.database_exists(&kept) {
        assert!(
            std::time::Instant::now() < deadline,
            "the kept database is dropped"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let kinds = w.history_kinds("staging");
    for kind in [
        "upgrade.cancelled",
        "upgrade.brought_back",
        "upgrade.mode_closed",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

/// Odoo.sh's usual order: the staging branch already holds code of the target, so its build on
/// a copy of production (16.0) failed. The test upgrade brings the upgraded database back
/// through a build in upgrade mode, which restores it and updates the custom modules with
/// that code.
#[test]
fn a_staging_branch_whose_build_failed_gets_the_upgraded_database_through_upgrade_mode() {
    let w = world();
    w.odoo_16_on_production(&["-i", "shop_core"]);
    // each push copies production, as a staging branch may be set to
    w.site.cli_ok(&[
        "branch",
        "set",
        "shop",
        "staging",
        "--staging-behaviour",
        "new_build",
    ]);
    w.tree.write(
        "shop_core/__manifest__.py",
        "{'name': 'shop_core', 'version': '1.1', 'depends': ['base'], \
         'data': ['data/shop_core_data.xml'], 'license': 'LGPL-3'}\n",
    );
    w.tree.write(
        "shop_core/migrations/1.1/post-needs-17.py",
        "def migrate(cr, version):\n    cr.execute(\"SELECT latest_version FROM ir_module_module WHERE name = 'base'\")\n    if not cr.fetchone()[0].startswith('17.0.'):\n        raise Exception('shop_core 1.1 is written for Odoo 17.0')\n    cr.execute('CREATE TABLE shop_core_on_17 (from_version text)')\n    cr.execute('INSERT INTO shop_core_on_17 VALUES (%s)', (version,))\n",
    );
    let sha = w.tree.commit("shop_core 1.1, written for Odoo 17.0");
    w.tree.push("staging");
    let failed = w.site.wait_build(w.site.build_of("shop", "staging", &sha));
    assert_eq!(failed["result"], "failed", "{failed}");
    let out = w.site.cli_ok(&[
        "branch", "upgrade", "shop", "staging", "--target", "17.0", "--json",
    ]);
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["upgrade"]["state"], "upgrade_mode", "{done}");
    assert_eq!(done["series"], "17.0", "{done}");
    let build = w
        .site
        .settled_build_after("shop", "staging", failed["id"].as_i64().unwrap());
    assert_eq!(build["state"], "running", "{build}");
    assert_eq!(build["trigger"], "upgrade mode", "{build}");
    let db = build["database"].as_str().unwrap();
    assert!(base_version(&w.site, db).starts_with("17.0."), "{db}");
    assert_eq!(
        w.site.psql(db, "SELECT from_version FROM shop_core_on_17"),
        "16.0.1.0",
        "shop_core's upgrade script ran on the upgraded database"
    );
    assert!(
        w.history_kinds("staging")
            .iter()
            .any(|k| k == "series.switched"),
        "the branch's series switch is in its History"
    );
}

/// Odoo.sh's first step: a fork of production set to the target's version in its settings
/// builds on that version's runtime.
#[test]
fn a_development_branch_is_set_to_the_next_odoo_version() {
    let w = world();
    w.site.push_branch(&w.tree, "shop", "port-17", "port.txt");
    let set = w
        .site
        .cli_ok(&["branch", "set", "shop", "port-17", "--odoo", "17.0"]);
    assert!(set.contains("\"series\":\"17.0\""), "{set}");
    let before = w.site.get("/api/projects/shop/branches/port-17")["builds"][0]["id"]
        .as_i64()
        .unwrap();
    w.site.cli_ok(&["branch", "rebuild", "shop", "port-17"]);
    let build = w.site.settled_build_after("shop", "port-17", before);
    assert_eq!(build["state"], "running", "{build}");
    assert!(
        base_version(&w.site, build["database"].as_str().unwrap()).starts_with("17.0."),
        "built on the 17.0 runtime: {build}"
    );
    let refused = w
        .site
        .cli(&["branch", "set", "shop", "port-17", "--odoo", "latest"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not an Odoo series"),
        "{refused:?}"
    );
}
