//! Plan and run against a real Odoo 17 database (restored from the shared
//! fixture dump) with a custom addons tree.

mod common;

use std::path::PathBuf;

use common::{lines, plan_for, run};
use slipway_odoo::{Reason, UpdateRequest};
use slipway_testkit::TestDb;

fn custom_addons() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/v17_custom"
    ))
}

/// A restored Odoo 17 database in which `slipway_exclaim` 17.0.1.0 was installed earlier.
async fn odoo17_with_custom_module() -> TestDb {
    let db = TestDb::new().await;
    let dump = slipway_testkit::odoo_dumps_dir().join("v17_base.dump");
    let out = std::process::Command::new(slipway_testkit::binaries().tool("pg_restore"))
        .args(["--no-owner", "--no-acl", "-d"])
        .arg(db.url())
        .arg(&dump)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sqlx::raw_sql(
        "INSERT INTO ir_module_module (name, state, latest_version, author, license)
              VALUES ('slipway_exclaim', 'installed', '17.0.1.0', 'Slipway', 'LGPL-3');
         INSERT INTO ir_module_module_dependency (module_id, name)
              SELECT id, dep FROM ir_module_module, unnest(ARRAY['base', 'web']) dep
               WHERE name = 'slipway_exclaim';",
    )
    .execute(db.pool())
    .await
    .unwrap();
    db
}

#[tokio::test]
async fn plan_on_a_real_odoo_17_database_updates_only_the_bumped_custom_module() {
    let db = odoo17_with_custom_module().await;
    let plan = plan_for(&custom_addons(), db.url(), UpdateRequest::VersionBumps).await;
    assert_eq!(plan.series, "17.0");
    assert_eq!(plan.modules.len(), 1);
    let m = &plan.modules[0];
    assert_eq!(
        (m.name.as_str(), m.reason),
        ("slipway_exclaim", Reason::Version)
    );
    assert_eq!(
        (m.installed_version.as_deref(), m.new_version.as_str()),
        (Some("17.0.1.0"), "17.0.1.1")
    );
    let steps: Vec<_> = plan
        .steps
        .iter()
        .map(|s| format!("{} {}", s.stage.as_str(), s.version))
        .collect();
    assert_eq!(steps, ["pre 17.0.1.1", "post 17.0.1.1", "end 0.0.0"]);
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[tokio::test]
async fn updating_base_touches_every_module_but_only_present_ones_run() {
    let db = odoo17_with_custom_module().await;
    let plan = plan_for(
        &custom_addons(),
        db.url(),
        UpdateRequest::Modules(vec!["base".into()]),
    )
    .await;
    assert_eq!(
        plan.modules.len(),
        1,
        "Odoo's own modules are not in the addons path"
    );
    assert_eq!(plan.modules[0].reason, Reason::Dependent);
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.contains("module base: installed but not in the addons paths")));
}

#[tokio::test]
async fn run_on_a_real_odoo_17_database() {
    let db = odoo17_with_custom_module().await;
    let plan = plan_for(&custom_addons(), db.url(), UpdateRequest::VersionBumps).await;
    let (result, events) = run(&plan, db.url(), false).await;
    let report = result.unwrap();
    assert_eq!(report.scripts_run, 3);
    assert_eq!(
        lines(&events),
        [
            "module slipway_exclaim: Running migration [>1.1] pre-10-snapshot",
            "module slipway_exclaim: Running migration [1.1>] post-exclamation",
            "module slipway_exclaim: Running migration [$0.0.0] end-invariants",
        ]
    );
    let pool = db.pool();
    let (changed, total): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE p.name = b.name || '!'), count(*)
           FROM res_partner p JOIN slipway_exclaim_before b USING (id)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(total > 0);
    assert_eq!(changed, total);
    let version: String = sqlx::query_scalar(
        "SELECT latest_version FROM ir_module_module WHERE name = 'slipway_exclaim'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(version, "17.0.1.1");
    assert!(events.iter().any(|e| matches!(e, slipway_runner::RunEvent::Output(l) if l.contains("Updated") && l.contains("partners"))));
}
