//! The web UI in a real browser: `tests/ui/run.mjs` (Playwright driving Debian's Chromium)
//! against a real `slipway serve` with the Odoo stand-in, a production branch and two
//! development branches pushed with real git; and `tests/ui/upgrade.mjs`, the Upgrade tab on
//! stand-in runtimes of two series. Screenshots land in `target/ui-screenshots/`.

mod common;

use std::path::Path;
use std::process::Command;

use common::site::{repo_root, Site};
use common::upgrade_world::TwoSeriesWorld;
use serde_json::{json, Value};

/// Installs the test's npm packages from the committed lock file when they are missing
/// (`dev/setup` does it too).
fn npm_ci(dir: &Path) {
    if dir.join("node_modules/playwright-core").is_dir() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .expect("npm (run dev/setup to install nodejs and npm)");
    assert!(status.success(), "npm ci in {}", dir.display());
}

#[test]
fn the_web_ui_in_a_real_browser() {
    let ui = repo_root().join("tests/ui");
    npm_ci(&ui);
    let site = Site::start(&["--log-follow", "300"]);
    let (tree, prod) = site.project_with_production("shop");
    let feature = site.push_branch(&tree, "shop", "feature", "NOTES.md");
    // feature-b also installs a module depending on `mail`, so its build can send a mail
    // (the stand-in's `/standin/send_mail`) for the Mails tab to catch.
    tree.write(
        "shop_mail/__manifest__.py",
        "{'name': 'Shop mail', 'version': '17.0.1.0', 'depends': ['mail'], 'license': 'LGPL-3'}\n",
    );
    tree.write("shop_mail/__init__.py", "");
    // A developer's page that tries to read Slipway's session from the build's host name.
    let probe = std::fs::read_to_string(ui.join("build-probe.html")).unwrap();
    tree.write("shop_mail/static/probe.html", &probe);
    let feature_b = site.push_branch(&tree, "shop", "feature-b", "TODO.md");
    // A production update that fails and is rolled back: production still serves (green),
    // the failed attempt beside it, its Logs tab on update.log.
    let failed_update = failed_production_update(&site, &tree, &prod);

    let world = json!({
        "url": site.url(),
        "token": site.token(),
        "project": "shop",
        "production": prod,
        "feature": feature,
        "feature_b": feature_b,
        "failed_update": failed_update,
        "screenshots": repo_root().join("target/ui-screenshots"),
        "import_dump": slipway_testkit::odoo_dumps_dir().join("v17_mail_demo.zip"),
    });
    browse(&site, "run.mjs", world);
}

#[test]
fn the_upgrade_tab_in_a_real_browser() {
    npm_ci(&repo_root().join("tests/ui"));
    let w = TwoSeriesWorld::start(&[]);
    w.odoo_16_on_production(&["-i", "shop_core"]);
    let world = json!({
        "url": w.site.url(),
        "token": w.site.token(),
        "project": "shop",
        "production": w.production,
        "staging": w.staging,
        // to run `slipway pg psql` on production's database
        "slipway": common::slipway_bin(),
        "data_dir": w.site.data.path(),
        "screenshots": repo_root().join("target/ui-screenshots"),
    });
    browse(&w.site, "upgrade.mjs", world);
}

/// Runs `tests/ui/<script>` on `world` (written to a file beside the site's data) and insists
/// every check passed.
fn browse(site: &Site, script: &str, world: Value) {
    let world_file = site.data.path().join("ui-world.json");
    std::fs::write(&world_file, world.to_string()).unwrap();
    let output = Command::new("node")
        .arg(repo_root().join("tests/ui").join(script))
        .arg(&world_file)
        .output()
        .expect("node (run dev/setup to install nodejs)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}"); // each check's line, for `--success-output immediate`
    assert!(
        output.status.success(),
        "the browser test {script} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("all UI checks passed"),
        "{stdout}\n{stderr}"
    );
}

/// Installs `shop_core` in production, then pushes to `main` a version bump whose upgrade
/// script raises; returns the failed build once production serves again.
fn failed_production_update(
    site: &Site,
    tree: &common::site::WorkTree,
    prod: &serde_json::Value,
) -> serde_json::Value {
    site.odoo_bin(prod["name"].as_str().unwrap(), &["-i", "shop_core"]);
    tree.git(&["checkout", "-q", "main"]);
    let manifest = std::fs::read_to_string(tree.path().join("shop_core/__manifest__.py")).unwrap();
    tree.write(
        "shop_core/__manifest__.py",
        &manifest.replace("'version': '1.0'", "'version': '1.1'"),
    );
    tree.write(
        "shop_core/migrations/1.1/pre-break.py",
        "def migrate(cr, version):\n    raise RuntimeError('migration fails in the UI test')\n",
    );
    tree.commit("shop_core 1.1, whose migration fails");
    tree.push("main");
    let failed = site.settled_build_after("shop", "main", prod["id"].as_i64().unwrap());
    assert_eq!(failed["result"], "failed", "{failed}");
    failed
}
