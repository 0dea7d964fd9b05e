//! `slipway dump restore` of the real Odoo fixtures into real PostgreSQL.

mod common;

use common::{fixture, World};
use slipway_dump::{restore, Format, Mode, RestoreOptions};

#[tokio::test]
async fn odoo_17_zip_restores_with_its_filestore_as_an_unprivileged_owner() {
    let mut w = World::new();
    let db = w.name("r17zip");
    let src = fixture("v17_mail_demo.zip");
    let before = common::bytes_of(&src);
    let report = restore(&w.target, &src, &RestoreOptions::new(&db))
        .await
        .unwrap();
    assert_eq!(report.format, Format::OdooZip);
    assert_eq!(report.filestore_files, 124);
    assert_eq!(report.stripped_restrict_lines, 2);
    assert_eq!(w.modules(&db).await.len(), 24);
    let hello = w
        .filestore(&db)
        .join("2a/2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
    assert_eq!(
        std::fs::read_to_string(hello).unwrap().trim_end(),
        "hello world"
    );
    let owner: String = sqlx::query_scalar(
        "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
    )
    .bind(&db)
    .fetch_one(&w.admin("postgres").await)
    .await
    .unwrap();
    assert!(
        owner.starts_with(slipway_dump::ROLE_PREFIX),
        "a role of its own: {owner}"
    );
    let table_owner: String = sqlx::query_scalar(
        "SELECT tableowner::text FROM pg_tables WHERE tablename = 'res_partner'",
    )
    .fetch_one(&w.admin(&db).await)
    .await
    .unwrap();
    assert_eq!(
        table_owner, owner,
        "the dump was replayed as the database's own role"
    );
    assert_eq!(common::bytes_of(&src), before, "source file unmodified");
}

#[tokio::test]
async fn copy_gets_a_new_uuid_and_move_keeps_it() {
    let mut w = World::new();
    let src = fixture("v16_base.zip");
    let original = slipway_dump::inspect(
        &src,
        &slipway_dump::InspectOptions {
            pg_restore: w.target.binaries.tool("pg_restore"),
            zip_limits: Default::default(),
        },
    )
    .unwrap()
    .database_uuid
    .unwrap();
    let (copy, moved) = (w.name("rcopy"), w.name("rmove"));
    restore(&w.target, &src, &RestoreOptions::new(&copy))
        .await
        .unwrap();
    let mut opts = RestoreOptions::new(&moved);
    opts.mode = Mode::Move;
    restore(&w.target, &src, &opts).await.unwrap();
    assert_ne!(w.param(&copy, "database.uuid").await.unwrap(), original);
    assert_eq!(w.param(&moved, "database.uuid").await.unwrap(), original);
    assert_eq!(
        w.param(&copy, "web.base.url").await.as_deref(),
        Some("http://localhost:8069")
    );
    assert_eq!(w.modules(&copy).await.len(), 8);
    assert!(std::fs::read_dir(w.filestore(&copy)).unwrap().count() > 0);
}

#[tokio::test]
async fn custom_dump_restores_in_parallel_and_neutralized() {
    let mut w = World::new();
    let db = w.name("rcustom");
    let mut opts = RestoreOptions::new(&db);
    opts.jobs = 2;
    opts.neutralize = true;
    let report = restore(&w.target, &fixture("v17_base.dump"), &opts)
        .await
        .unwrap();
    assert_eq!(report.format, Format::PgCustom);
    assert_eq!(w.modules(&db).await.len(), 11);
    assert_eq!(
        w.param(&db, "database.is_neutralized").await.as_deref(),
        Some("true")
    );
    let active_crons = w
        .scalar_i64(&db, "SELECT count(*) FROM ir_cron c JOIN ir_model_data d ON d.res_id = c.id AND d.model = 'ir.cron' \
                          WHERE c.active AND d.name <> 'autovacuum_job'")
        .await;
    assert_eq!(active_crons, 0);
    let neutralized = report.neutralized.unwrap();
    assert!(neutralized
        .applied
        .iter()
        .any(|s| s.contains("deactivate outgoing mail servers")));
    assert!(neutralized
        .skipped
        .iter()
        .any(|s| s.contains("module payment not installed")));
}

#[tokio::test]
async fn existing_database_is_not_overwritten_without_force() {
    let mut w = World::new();
    let db = w.name("rexists");
    restore(
        &w.target,
        &fixture("v17_base.dump"),
        &RestoreOptions::new(&db),
    )
    .await
    .unwrap();
    let err = restore(
        &w.target,
        &fixture("v17_base.dump"),
        &RestoreOptions::new(&db),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(w.exists(&db).await, "the existing database is left alone");
    let mut opts = RestoreOptions::new(&db);
    opts.force = true;
    restore(&w.target, &fixture("v17_base.dump"), &opts)
        .await
        .unwrap();
}
