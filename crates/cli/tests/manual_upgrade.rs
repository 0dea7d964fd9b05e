//! Seed 002's manual upgrade path, end to end, as a user walks it with curl and git against
//! the real `slipway serve`: two Odoo runtimes (stand-ins saying 16.0 and 17.0) and an upgrade
//! engine for 17.0. Production runs on 16.0; its build's exact dump without filestore is
//! downloaded as `.sql.gz`, sent to `/database/v1` (with the custom code upgraded to 17.0) and
//! comes back upgraded; imported into a staging branch it switches the branch to 17.0, which
//! serves it; imported into production it switches production to 17.0, whose server then
//! fails on the old code with a message saying so, until the upgraded code is pushed; a backup
//! of 16.0 restored into production takes it back to 16.0.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::site::{Site, WorkTree};
use common::upgrade_api::{UpgradeApi, CONTRACT};
use serde_json::{json, Value};

const PROJECT: &str = "acme";

/// `shop_core` as written for Odoo 16.0: its Python refuses another Odoo (as 16.0 code using
/// an API 17.0 removed does), so it installs and serves on 16.0 only.
const SHOP_CORE_16: &str = "from odoo import release\n\
if release.version_info[0] != 16:\n    \
raise ImportError('shop_core is written for Odoo 16.0, this is Odoo %s' % release.version)\n";

/// The upgraded code: `shop_core` 1.1, for Odoo 17.0 (and harmless on 16.0).
fn upgrade_code(tree: &WorkTree) {
    tree.write("shop_core/__init__.py", "");
    let manifest = std::fs::read_to_string(tree.path().join("shop_core/__manifest__.py")).unwrap();
    tree.write(
        "shop_core/__manifest__.py",
        &manifest.replace("'version': '1.0'", "'version': '1.1'"),
    );
}

fn healthy(site: &Site, build: &Value) -> bool {
    site.build_request(
        reqwest::Method::GET,
        build["name"].as_str().unwrap(),
        "/web/health",
    )
    .send()
    .map(|r| r.status() == 200)
    .unwrap_or(false)
}

/// The series of a build's database (`base`'s version, first two parts).
fn database_series(site: &Site, build: &Value) -> String {
    let db = build["database"]
        .as_str()
        .or(build["name"].as_str())
        .unwrap();
    let version = site.psql(
        db,
        "SELECT latest_version FROM ir_module_module WHERE name = 'base'",
    );
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

fn branch_series(site: &Site, branch: &str) -> String {
    let info = site.get(&format!("/api/projects/{PROJECT}/branches/{branch}"));
    info["settings"]["series"]
        .as_str()
        .unwrap_or_else(|| panic!("no series in {info}"))
        .to_string()
}

/// `curl` as a user runs it, with the CLI's token; its stdout.
fn curl(site: &Site, args: &[&str]) -> String {
    let auth = format!("Authorization: Bearer {}", site.token());
    let out = Command::new("curl")
        .args(["-sS", "--fail-with-body", "-H", &auth])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `curl --data-binary @dump` to the branch's import route: the answer.
fn import(site: &Site, branch: &str, dump: &Path) -> Value {
    let url = format!(
        "{}/api/projects/{PROJECT}/branches/{branch}/import",
        site.url()
    );
    let answer = curl(
        site,
        &[
            "-X",
            "POST",
            "--data-binary",
            &format!("@{}", dump.display()),
            &url,
        ],
    );
    serde_json::from_str(&answer).unwrap()
}

/// A zip of the tree's `shop_core` in a folder, as `upload_modules` takes custom modules.
fn zip_custom_code(tree: &WorkTree, to: &Path) -> std::path::PathBuf {
    let root = to.join("code");
    let module = root.join("custom-addons/shop_core");
    std::fs::create_dir_all(module.join("data")).unwrap();
    for file in ["__init__.py", "__manifest__.py", "data/shop_core_data.xml"] {
        std::fs::copy(tree.path().join("shop_core").join(file), module.join(file)).unwrap();
    }
    let base = to.join("modules");
    let zipped = Command::new("python3")
        .args([
            "-c",
            "import shutil, sys; shutil.make_archive(sys.argv[1], 'zip', sys.argv[2])",
        ])
        .arg(&base)
        .arg(&root)
        .status()
        .unwrap();
    assert!(zipped.success());
    base.with_extension("zip")
}

/// create + upload_modules + upload + process, then the upgraded dump downloaded as a client
/// does, next to the original: its path.
fn upgrade(api: &UpgradeApi, dump: &Path, modules: &Path, aim: &str) -> std::path::PathBuf {
    let (id, key) = api.submit_with_modules(dump, modules, aim);
    let request = api.wait_finished(&id, &key);
    assert_eq!(request["state"], "done", "{request}");
    let upgraded = dump.with_file_name(format!("upgraded_{aim}.sql.gz"));
    let bytes = api
        .get(request["upgraded_dump_url"].as_str().unwrap())
        .bytes()
        .unwrap();
    std::fs::write(&upgraded, &bytes).unwrap();
    upgraded
}

/// `slipway dump inspect --json` of a file.
fn inspect(site: &Site, dump: &Path) -> Value {
    serde_json::from_str(&common::slipway_ok(
        site.data.path(),
        &["dump", "inspect", dump.to_str().unwrap(), "--json"],
    ))
    .unwrap()
}

#[test]
fn seed_002_manual_upgrade_path_from_download_to_restore() {
    // the 17.0 stand-in is registered, the 16.0 one and the 17.0 engine beside it
    let (site, runtime_16, _engine) = common::upgrade_world::two_series_site(&[]);
    common::slipway_ok(site.data.path(), &["contract", "add", CONTRACT]);
    let work = tempfile::tempdir().unwrap();

    // Production on 16.0, with the 16.0 code's shop_core installed.
    site.cli_ok(&["project", "create", PROJECT, "--odoo", "16.0"]);
    let tree = WorkTree::from_fixture("shop", &site.git_url(PROJECT));
    tree.write("shop_core/__init__.py", SHOP_CORE_16);
    tree.commit("shop_core for Odoo 16.0");
    tree.push("main");
    let dev = site.wait_build(site.build_of(PROJECT, "main", &tree.git(&["rev-parse", "HEAD"])));
    assert_eq!(dev["state"], "running", "{dev}");
    site.cli_ok(&[
        "branch",
        "set",
        PROJECT,
        "main",
        "--stage",
        "production",
        "--confirm",
    ]);
    let prod = site.settled_build_after(PROJECT, "main", dev["id"].as_i64().unwrap());
    assert_eq!(prod["state"], "running", "{prod}");
    site.odoo_bin_of(
        runtime_16.path(),
        prod["name"].as_str().unwrap(),
        &["-i", "shop_core"],
    );
    assert_eq!(database_series(&site, &prod), "16.0");

    // 1. The Builds view's "Download dump" (`slipway build dump`): exact, without
    // filestore, .sql.gz.
    let dump = work.path().join("production.sql.gz");
    site.cli_ok(&[
        "build",
        "dump",
        &prod["id"].to_string(),
        "--no-filestore",
        "-o",
        dump.to_str().unwrap(),
    ]);
    assert_eq!(&std::fs::read(&dump).unwrap()[..2], b"\x1f\x8b", "gzip");
    let seen = inspect(&site, &dump);
    assert_eq!(seen["format"], "sql-gz", "{seen}");
    assert_eq!(seen["odoo_version"], "16.0", "{seen}");
    assert_eq!(seen["modules"]["shop_core"], "16.0.1.0", "{seen}");

    // 2. The upgrade platform, with the custom code upgraded to 17.0: a test request first.
    let api = UpgradeApi::new(site.url(), "17.0", Duration::from_secs(240));
    let upgraded_code = tempfile::tempdir().unwrap();
    let upgraded_tree = WorkTree::from_fixture("shop", &site.git_url(PROJECT));
    upgrade_code(&upgraded_tree);
    let modules = zip_custom_code(&upgraded_tree, upgraded_code.path());
    let tested = upgrade(&api, &dump, &modules, "test");
    let seen = inspect(&site, &tested);
    assert_eq!(
        seen["format"], "sql-gz",
        "a .sql.gz comes back as .sql.gz: {seen}"
    );
    assert_eq!(seen["odoo_version"], "17.0", "{seen}");
    assert_eq!(seen["modules"]["shop_core"], "17.0.1.1", "{seen}");

    // 3. A staging branch forked from main with the upgraded code, then the test dump
    // imported into it: the branch switches to 17.0 and its build serves it.
    tree.git(&["checkout", "-q", "-b", "upgrade-17"]);
    upgrade_code(&tree);
    let upgraded_sha = tree.commit("shop_core upgraded to Odoo 17.0");
    tree.push("upgrade-17");
    let fork = site.wait_build(site.build_of(PROJECT, "upgrade-17", &upgraded_sha));
    assert_eq!(fork["state"], "running", "{fork}");
    site.cli_ok(&["branch", "set", PROJECT, "upgrade-17", "--stage", "staging"]);
    let staging = site.settled_build_after(PROJECT, "upgrade-17", fork["id"].as_i64().unwrap());
    assert_eq!(staging["state"], "running", "{staging}");
    assert_eq!(database_series(&site, &staging), "16.0");
    let imported = import(&site, "upgrade-17", &tested);
    assert_eq!(
        imported["series_switched"],
        json!({"from": "16.0", "to": "17.0"}),
        "{imported}"
    );
    assert!(imported["server_error"].is_null(), "{imported}");
    assert_eq!(branch_series(&site, "upgrade-17"), "17.0");
    let staging = site.get(&format!("/api/builds/{}", staging["id"]));
    assert_eq!(database_series(&site, &staging), "17.0");
    assert!(
        healthy(&site, &staging),
        "the staging build serves the upgraded database on 17.0"
    );

    // 4. Production: a production request, its dump imported into main (a backup first).
    // Production switches to 17.0 and its server fails on the old code, saying why.
    let upgraded = upgrade(&api, &dump, &modules, "production");
    let imported = import(&site, "main", &upgraded);
    assert_eq!(
        imported["series_switched"],
        json!({"from": "16.0", "to": "17.0"}),
        "{imported}"
    );
    let before_import = imported["restore"]["safety_backup"]
        .as_str()
        .unwrap_or_else(|| panic!("no before-import backup: {imported}"))
        .to_string();
    let error = imported["server_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("the database is of Odoo 17.0")
            && error.contains("which ran on Odoo 16.0")
            && error.contains("push the code upgraded to Odoo 17.0"),
        "{imported}"
    );
    assert_eq!(branch_series(&site, "main"), "17.0");
    let prod = site.get(&format!("/api/builds/{}", prod["id"]));
    assert_eq!(database_series(&site, &prod), "17.0");
    assert!(!healthy(&site, &prod), "the old code does not serve 17.0");

    // 5. The upgraded code merged into production: it comes up on 17.0.
    tree.git(&["checkout", "-q", "main"]);
    tree.git(&["merge", "-q", "--ff-only", "upgrade-17"]);
    tree.push("main");
    let upgraded_prod = site.settled_build_after(PROJECT, "main", prod["id"].as_i64().unwrap());
    assert_eq!(upgraded_prod["state"], "running", "{upgraded_prod}");
    assert_eq!(upgraded_prod["revision"], upgraded_sha.as_str());
    assert_eq!(database_series(&site, &upgraded_prod), "17.0");
    assert!(healthy(&site, &upgraded_prod));

    // 6. The 16.0 backup taken before the import, restored: production is back on 16.0.
    let kind = site.get(&format!("/api/projects/{PROJECT}/branches/main/backups"));
    let record = kind
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == before_import.as_str())
        .unwrap_or_else(|| panic!("{before_import} not in {kind}"));
    assert_eq!(record["kind"], "before-import", "{record}");
    assert_eq!(record["odoo_version"], "16.0", "{record}");
    let (status, restored) = site.post(
        &format!("/api/backups/{before_import}/restore"),
        json!({"branch": "main"}),
    );
    assert_eq!(status, 200, "{restored}");
    assert_eq!(
        restored["series_switched"],
        json!({"from": "17.0", "to": "16.0"}),
        "{restored}"
    );
    assert_eq!(restored["odoo_version"], "16.0", "{restored}");
    assert_eq!(branch_series(&site, "main"), "16.0");
    assert_eq!(database_series(&site, &upgraded_prod), "16.0");
    assert!(
        healthy(&site, &upgraded_prod),
        "16.0 serves the restored 16.0 database"
    );

    let history = site.get(&format!("/api/projects/{PROJECT}/branches/main/history"));
    let switches: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "series.switched")
        .filter_map(|e| e["detail"]["message"].as_str())
        .collect();
    assert!(
        switches
            .iter()
            .any(|m| m.contains("17.0 -> 16.0") && m.contains("the restored backup")),
        "{switches:?}"
    );
    assert!(
        switches
            .iter()
            .any(|m| m.contains("16.0 -> 17.0") && m.contains("the imported dump")),
        "{switches:?}"
    );
}
