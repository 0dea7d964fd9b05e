//! The world of the Upgrade tab's tests: stand-in runtimes of two series (16.0 and 17.0, NOT
//! Odoo), a ready 17.0 upgrade engine, and project `shop` whose production (`main`) runs 16.0
//! and whose `staging` branch is a staging copy of it.
#![allow(dead_code)]

use serde_json::Value;

use super::site::{Site, WorkTree};

/// `slipway serve` (with `serve_args`) with a 16.0 stand-in runtime beside its 17.0 one and a
/// ready 17.0 upgrade engine; the 16.0 runtime's folder and the engine's fixture live as long
/// as the tests need them.
pub fn two_series_site(
    serve_args: &[&str],
) -> (Site, tempfile::TempDir, slipway_testkit::EngineFixture) {
    let engine = slipway_testkit::EngineFixture::for_series("17.0");
    // the server's pip takes openupgradelib from the fixture's wheel (no PyPI)
    engine.set_pip_env();
    let site = Site::start(serve_args);
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
    (site, runtime_16, engine)
}

/// A server with a 16.0 runtime beside its 17.0 one and a ready 17.0 engine, and project
/// `shop` on 16.0 with a running production and a running staging branch.
pub struct TwoSeriesWorld {
    pub site: Site,
    pub tree: WorkTree,
    pub production: Value,
    pub staging: Value,
    pub runtime_16: tempfile::TempDir,
    pub engine: slipway_testkit::EngineFixture,
}

impl TwoSeriesWorld {
    /// Builds the world on a `slipway serve` started with `serve_args`.
    pub fn start(serve_args: &[&str]) -> Self {
        let (site, runtime_16, engine) = two_series_site(serve_args);

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
        Self {
            site,
            tree,
            production,
            staging,
            runtime_16,
            engine,
        }
    }

    /// Runs the 16.0 stand-in on production's database, as an admin would from its shell
    /// (`-i shop_core` gives production a custom module, so a test upgrade ends in upgrade mode).
    pub fn odoo_16_on_production(&self, args: &[&str]) {
        let build = self.production["name"].as_str().unwrap();
        self.site.odoo_bin_of(self.runtime_16.path(), build, args);
    }
}
