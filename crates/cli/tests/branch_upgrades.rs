//! The Upgrade tab end to end, on stand-in runtimes of two series (16.0 and 17.0, NOT Odoo)
//! and a ready 17.0 upgrade engine: a project whose production runs 16.0, a staging branch,
//! and `slipway branch upgrade` / `/api/projects/{p}/branches/{b}/upgrade` as users call them.

mod common;

use std::path::Path;
use std::process::Command;

use common::site::{Site, WorkTree};
use common::slipway_bin;
use serde_json::Value;

/// A server with a 16.0 runtime beside its 17.0 one and a ready 17.0 engine, and project
/// `shop` whose production (`main`) runs 16.0 and whose `staging` branch is a staging copy.
struct World {
    site: Site,
    tree: WorkTree,
    production: Value,
    staging: Value,
    runtime_16: tempfile::TempDir,
    _engine: slipway_testkit::EngineFixture,
}

fn world() -> World {
    let engine = slipway_testkit::EngineFixture::for_series("17.0");
    // the server's pip takes openupgradelib from the fixture's wheel (no PyPI)
    engine.set_pip_env();
    let site = Site::start(&[]);
    let runtime_16 = slipway_testkit::standin_of_series("16.0");
    site.cli_ok(&[
        "odoo",
        "add",
        "16.0",
        "--source",
        runtime_16.path().to_str().unwrap(),
    ]);
    let added = site.cli_ok(&[
        "upgrade",
        "engine",
        "add",
        "17.0",
        "--openupgrade-dir",
        engine.openupgrade_dir().to_str().unwrap(),
    ]);
    assert!(
        added.starts_with("17.0") && added.contains("ready"),
        "{added}"
    );

    site.cli_ok(&["project", "create", "shop", "--odoo", "16.0"]);
    let tree = WorkTree::from_fixture("shop", &site.git_url("shop"));
    tree.push("main");
    let dev = site.wait_build(site.build_of("shop", "main", &tree.git(&["rev-parse", "HEAD"])));
    assert_eq!(dev["state"], "running", "{dev}");
    site.cli_ok(&[
        "branch",
        "set",
        "shop",
        "main",
        "--stage",
        "production",
        "--confirm",
    ]);
    let production = site.settled_build_after("shop", "main", dev["id"].as_i64().unwrap());
    assert_eq!(production["state"], "running", "{production}");

    let dev = site.push_branch(&tree, "shop", "staging", "notes.txt");
    site.cli_ok(&["branch", "set", "shop", "staging", "--stage", "staging"]);
    let staging = site.settled_build_after("shop", "staging", dev["id"].as_i64().unwrap());
    assert_eq!(staging["state"], "running", "{staging}");
    World {
        site,
        tree,
        production,
        staging,
        runtime_16,
        _engine: engine,
    }
}

impl World {
    /// Runs the 16.0 stand-in on production's database, as an admin would from its shell.
    fn odoo_16_on_production(&self, args: &[&str]) {
        let build = self.production["name"].as_str().unwrap();
        let build_dir = self.site.data.path().join("builds").join(build);
        let source = self.runtime_16.path();
        let addons = format!(
            "{},{}",
            build_dir.join("src").display(),
            source.join("addons").display()
        );
        let out = Command::new("python3")
            .arg(source.join("odoo-bin"))
            .arg("-c")
            .arg(build_dir.join("odoo.conf"))
            .args(["--addons-path", &addons, "--data-dir"])
            .arg(self.site.data.path())
            .args(args)
            .arg("--stop-after-init")
            .env("SLIPWAY_BIN", slipway_bin())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "odoo-bin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

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
    let _ = Path::new(&w.tree.path());
}
