//! `slipway addons list` and `slipway migrate plan | run | lint`, run as a user would.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{slipway_bin, slipway_ok, DataDir};
use slipway_testkit::TestDb;

fn fixture(name: &str) -> String {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/migrate"
    ))
    .join(name)
    .display()
    .to_string()
}

fn slipway(args: &[&str]) -> Output {
    Command::new(slipway_bin())
        .args(args)
        .env_remove("SLIPWAY_PG_URL")
        .output()
        .expect("run slipway")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// A database with Odoo's module registry: base 17.0.1.3, shop_ext and shop_report at 17.0.1.0.
async fn registry_db() -> TestDb {
    let db = TestDb::new().await;
    sqlx::raw_sql(
        "CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar UNIQUE, state varchar, latest_version varchar);
         CREATE TABLE ir_module_module_dependency (id serial PRIMARY KEY, module_id int, name varchar);
         INSERT INTO ir_module_module (name, state, latest_version) VALUES
            ('base', 'installed', '17.0.1.3'), ('shop_ext', 'installed', '17.0.1.0'),
            ('shop_report', 'installed', '17.0.1.0');
         INSERT INTO ir_module_module_dependency (module_id, name)
            SELECT id, 'base' FROM ir_module_module WHERE name = 'shop_ext'
            UNION ALL SELECT id, 'shop_ext' FROM ir_module_module WHERE name = 'shop_report';",
    )
    .execute(db.pool())
    .await
    .unwrap();
    db
}

#[test]
fn addons_list_json_is_in_graph_order_with_problems() {
    let paths = format!(
        "{},{},{}",
        fixture("odoo_stub"),
        fixture("ok"),
        fixture("bad")
    );
    let out = json(&slipway(&[
        "addons",
        "list",
        "--addons-path",
        &paths,
        "--json",
    ]));
    assert_eq!(out["series"], "17.0");
    let names: Vec<&str> = out["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    // Loadable modules by depth then name; then those that cannot load.
    assert_eq!(
        names,
        [
            "base",
            "shop_ext",
            "traps",
            "shop_report",
            "not_ready",
            "orphan"
        ]
    );
    assert_eq!(out["modules"][0]["auto_install"], true);
    assert_eq!(out["modules"][3]["depth"], 2);
    assert!(out["modules"][4]["depth"].is_null());
    let shop = &out["modules"][1];
    assert_eq!(shop["full_version"], "17.0.1.1");
    assert_eq!(shop["version"], "1.1");
    assert_eq!(shop["auto_install"], false);
    assert_eq!(shop["installable"], true);
    assert!(shop["depth"].is_number());
    let problems = out["problems"].as_array().unwrap();
    let broken = problems
        .iter()
        .find(|p| p["path"].as_str().unwrap().contains("broken"))
        .unwrap();
    assert!(
        broken["path"]
            .as_str()
            .unwrap()
            .ends_with("broken/__manifest__.py:4"),
        "{broken}"
    );
    assert!(problems
        .iter()
        .any(|p| p["message"].as_str().unwrap().contains("does_not_exist")));
}

#[tokio::test]
async fn migrate_plan_json_names_modules_steps_and_reasons() {
    let db = registry_db().await;
    let out = slipway(&[
        "migrate",
        "plan",
        "--addons-path",
        &fixture("ok"),
        "--database",
        db.url(),
        "--json",
    ]);
    let plan = json(&out);
    assert_eq!(plan["series"], "17.0");
    let modules: Vec<(String, String)> = plan["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().into(),
                m["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        modules,
        [
            ("shop_ext".into(), "version".into()),
            ("shop_report".into(), "dependent".into())
        ]
    );
    let steps: Vec<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {} {} {}",
                s["module"], s["stage"], s["version"], s["source"]
            )
            .replace('"', "")
        })
        .collect();
    assert_eq!(
        steps,
        [
            "shop_ext pre 17.0.1.1 migrations",
            "shop_ext post 17.0.1.1 migrations",
            "shop_ext end 0.0.0 upgrades"
        ]
    );
}

#[tokio::test]
async fn migrate_run_applies_scripts_and_writes_versions() {
    let db = registry_db().await;
    let out = slipway(&[
        "migrate",
        "run",
        "--addons-path",
        &fixture("ok"),
        "--database",
        db.url(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("module shop_ext: Running migration [>1.1] pre-10-table ("),
        "{stdout}"
    );
    assert!(
        stdout.contains("module shop_ext: Running migration [$0.0.0] end-check ("),
        "{stdout}"
    );
    let log: Vec<String> = sqlx::query_scalar("SELECT msg FROM shop_ext_log")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(log, ["pre from 17.0.1.0", "post", "end"]);
    let v: String =
        sqlx::query_scalar("SELECT latest_version FROM ir_module_module WHERE name = 'shop_ext'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(v, "17.0.1.1");
}

#[tokio::test]
async fn migrate_run_failure_exits_non_zero_and_changes_nothing() {
    let db = registry_db().await;
    let out = slipway(&[
        "migrate",
        "run",
        "--addons-path",
        &fixture("failing"),
        "--database",
        db.url(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rolled back, nothing changed"), "{stderr}");
    assert!(
        stderr.contains("module shop_ext: post script") && stderr.contains("post-20-fail.py"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no_such_table") && stderr.contains("Traceback"),
        "{stderr}"
    );
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('shop_ext_log')::text")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(table, None);
}

#[test]
fn migrate_lint_exits_1_and_names_each_trap() {
    let out = slipway(&[
        "migrate",
        "lint",
        "--addons-path",
        &fixture("bad"),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["severity"], f["message"]))
        .collect();
    let all = messages.join("\n");
    assert!(all.contains("no pre-/post-/end- prefix"), "{all}");
    assert!(all.contains("no migrate(cr, version) function"), "{all}");
    assert!(all.contains("invalid version folder \\\"v2\\\""), "{all}");
    let clean = slipway(&["migrate", "lint", "--addons-path", &fixture("ok")]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
}

#[test]
fn migrate_finds_a_database_by_name_in_the_embedded_postgresql() {
    let data = DataDir::new();
    slipway_ok(data.path(), &["pg", "start"]);
    let psql = |db: &str, sql: &str| {
        slipway_ok(
            data.path(),
            &["pg", "psql", db, "--", "-v", "ON_ERROR_STOP=1", "-c", sql],
        )
    };
    psql("postgres", "CREATE DATABASE shop_prod");
    psql(
        "shop_prod",
        "CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar UNIQUE, state varchar, latest_version varchar);
         CREATE TABLE ir_module_module_dependency (id serial PRIMARY KEY, module_id int, name varchar);
         INSERT INTO ir_module_module (name, state, latest_version) VALUES
            ('base', 'installed', '17.0.1.3'), ('shop_ext', 'installed', '17.0.1.0');",
    );
    let args = [
        "migrate",
        "plan",
        "--addons-path",
        &fixture("ok"),
        "--database",
        "shop_prod",
        "--json",
    ];
    let plan: serde_json::Value = serde_json::from_str(&slipway_ok(data.path(), &args)).unwrap();
    assert_eq!(plan["modules"][0]["name"], "shop_ext");
    let ran = slipway_ok(
        data.path(),
        &[
            "migrate",
            "run",
            "--addons-path",
            &fixture("ok"),
            "--database",
            "shop_prod",
        ],
    );
    assert!(ran.contains("3 scripts run"), "{ran}");
    let version = psql(
        "shop_prod",
        "SELECT latest_version FROM ir_module_module WHERE name = 'shop_ext'",
    );
    assert!(version.contains("17.0.1.1"), "{version}");
}
