//! `dump create`, `db clone` and `db neutralize` on restored fixtures.

mod common;

use common::{fixture, World};
use slipway_dump::{
    clone_database, create, inspect, neutralize_database, restore, ClonePath, CreateOptions,
    Format, IdleSessions, InspectOptions, Mode, OutputFormat, RestoreOptions,
};
use sqlx::Connection;

async fn restored(w: &mut World, fixture_name: &str, prefix: &str) -> String {
    let db = w.name(prefix);
    let mut opts = RestoreOptions::new(&db);
    opts.mode = Mode::Move;
    restore(&w.target, &fixture(fixture_name), &opts)
        .await
        .unwrap();
    db
}

fn create_opts(db: &str, format: OutputFormat, output: std::path::PathBuf) -> CreateOptions {
    CreateOptions {
        database: db.into(),
        format,
        filestore: true,
        neutralized: false,
        output,
        jobs: 2,
    }
}

fn inspect_opts(w: &World) -> InspectOptions {
    InspectOptions {
        pg_restore: w.target.binaries.tool("pg_restore"),
        zip_limits: Default::default(),
    }
}

async fn attachments(w: &World, db: &str) -> Vec<(String, String)> {
    let pool = w.admin(db).await;
    let rows = sqlx::query_as(
        "SELECT name::text, coalesce(store_fname, '')::text FROM ir_attachment ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows
}

#[tokio::test]
async fn round_trip_restore_zip_restore_keeps_modules_and_attachments() {
    let mut w = World::new();
    let first = restored(&mut w, "v17_mail_demo.zip", "rt1").await;
    let zip = w.data.path().join("backup.zip");
    let report = create(
        &w.target,
        &create_opts(&first, OutputFormat::Zip, zip.clone()),
    )
    .await
    .unwrap();
    assert_eq!(report.filestore_files, 124);

    let names: Vec<String> = {
        let a = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
        a.file_names().map(str::to_string).collect()
    };
    // Odoo's zip_dir order: dump.sql, manifest.json, then the filestore
    assert_eq!(&names[..2], ["dump.sql", "manifest.json"]);
    assert!(names[2..].iter().all(|n| n.starts_with("filestore/")));

    let i = inspect(&zip, &inspect_opts(&w)).unwrap();
    assert_eq!(i.format, Format::OdooZip);
    let m = i.manifest.unwrap();
    for key in [
        "odoo_dump",
        "db_name",
        "version",
        "version_info",
        "major_version",
        "pg_version",
        "modules",
    ] {
        assert!(m.get(key).is_some(), "manifest field {key}");
    }
    assert_eq!(m["version"], "17.0");
    assert_eq!(m["pg_version"], "15.0");
    assert_eq!(
        m["version_info"],
        serde_json::json!([17, 0, 0, "final", 0, ""])
    );

    let second = w.name("rt2");
    restore(&w.target, &zip, &RestoreOptions::new(&second))
        .await
        .unwrap();
    assert_eq!(w.modules(&first).await, w.modules(&second).await);
    assert_eq!(
        attachments(&w, &first).await,
        attachments(&w, &second).await
    );
    let hello = w
        .filestore(&second)
        .join("2a/2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
    assert!(hello.is_file());
}

#[tokio::test]
async fn pg_dump_formats_inspect_and_restore() {
    let mut w = World::new();
    let db = restored(&mut w, "v17_base.dump", "fmt").await;
    for (format, name, expected) in [
        (OutputFormat::Custom, "x.dump", Format::PgCustom),
        (OutputFormat::Directory, "x.dir", Format::PgDirectory),
        (OutputFormat::Sql, "x.sql", Format::Sql),
        (OutputFormat::SqlGz, "x.sql.gz", Format::SqlGz),
    ] {
        let out = w.data.path().join(name);
        create(&w.target, &create_opts(&db, format, out.clone()))
            .await
            .unwrap();
        let i = inspect(&out, &inspect_opts(&w)).unwrap();
        assert_eq!(i.format, expected, "{name}");
        assert_eq!(i.modules.len(), 11, "{name}");
        let again = w.name("fmtr");
        restore(&w.target, &out, &RestoreOptions::new(&again))
            .await
            .unwrap();
        assert_eq!(w.modules(&again).await, w.modules(&db).await, "{name}");
    }
}

#[tokio::test]
async fn pg_dump_tar_archive_inspects_and_restores() {
    let mut w = World::new();
    let db = restored(&mut w, "v17_base.dump", "tar").await;
    let out = w.data.path().join("x.tar");
    let status = std::process::Command::new(w.target.binaries.tool("pg_dump"))
        .args(["--format=tar", "--no-owner", "-f"])
        .arg(&out)
        .arg(w.target.server.url(&db))
        .status()
        .unwrap();
    assert!(status.success());
    let i = inspect(&out, &inspect_opts(&w)).unwrap();
    assert_eq!(i.format, Format::PgTar);
    assert_eq!(i.compressions, ["pgdmp_tar"]);
    assert_eq!(i.modules.len(), 11);
    let again = w.name("tarr");
    let mut opts = RestoreOptions::new(&again);
    opts.jobs = 2; // ignored for tar, which pg_restore cannot read in parallel
    restore(&w.target, &out, &opts).await.unwrap();
    assert_eq!(w.modules(&again).await, w.modules(&db).await);
}

#[tokio::test]
async fn neutralized_dump_leaves_the_source_untouched() {
    let mut w = World::new();
    let db = restored(&mut w, "v17_mail_demo.zip", "neu").await;
    let crons_before = w
        .scalar_i64(&db, "SELECT count(*) FROM ir_cron WHERE active")
        .await;
    let out = w.data.path().join("neutral.zip");
    let mut opts = create_opts(&db, OutputFormat::Zip, out.clone());
    opts.neutralized = true;
    create(&w.target, &opts).await.unwrap();
    assert_eq!(
        w.param(&db, "database.is_neutralized").await,
        None,
        "source untouched"
    );
    assert_eq!(
        w.scalar_i64(&db, "SELECT count(*) FROM ir_cron WHERE active")
            .await,
        crons_before
    );
    let back = w.name("neur");
    restore(&w.target, &out, &RestoreOptions::new(&back))
        .await
        .unwrap();
    assert_eq!(
        w.param(&back, "database.is_neutralized").await.as_deref(),
        Some("true")
    );
    assert!(w
        .filestore(&back)
        .join("2a/2aae6c35c94fcfb415dbe95f408b9ce91ee846ed")
        .is_file());
    let leftovers = w
        .scalar_i64(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname LIKE '{db}_neutralized%'"),
        )
        .await;
    assert_eq!(leftovers, 0, "the temporary copy was dropped");
}

#[tokio::test]
async fn neutralize_is_idempotent_and_dry_run_changes_nothing() {
    let mut w = World::new();
    let db = restored(&mut w, "v17_mail_demo.zip", "idem").await;
    let dry = neutralize_database(&w.target, &db, true).await.unwrap();
    assert!(dry
        .sql
        .unwrap()
        .contains("UPDATE ir_cron SET active = false"));
    assert_eq!(w.param(&db, "database.is_neutralized").await, None);
    let first = neutralize_database(&w.target, &db, false).await.unwrap();
    assert!(first.steps.applied.iter().any(|s| s.starts_with("[mail]")));
    let servers = "SELECT count(*) FROM ir_mail_server WHERE active";
    let after_one = w.scalar_i64(&db, servers).await;
    neutralize_database(&w.target, &db, false).await.unwrap();
    assert_eq!(w.scalar_i64(&db, servers).await, after_one);
    assert_eq!(after_one, 1, "only the dummy server is active");
    assert_eq!(
        w.param(&db, "database.is_neutralized").await.as_deref(),
        Some("true")
    );
    let banner = w
        .scalar_i64(
            &db,
            "SELECT count(*) FROM ir_ui_view WHERE key = 'web.neutralize_banner' AND active",
        )
        .await;
    assert_eq!(banner, 1);
}

#[tokio::test]
async fn clone_uses_the_template_when_idle_and_dump_restore_when_busy() {
    let mut w = World::new();
    let db = restored(&mut w, "v17_mail_demo.zip", "clsrc").await;
    let idle = w.name("clidle");
    let report = clone_database(&w.target, &db, &idle, 2, IdleSessions::Keep)
        .await
        .unwrap();
    assert_eq!(report.path, ClonePath::Template);
    assert_eq!(report.filestore_files, 124);
    assert_eq!(w.modules(&idle).await, w.modules(&db).await);
    use std::os::unix::fs::MetadataExt;
    let rel = "2a/2aae6c35c94fcfb415dbe95f408b9ce91ee846ed";
    let (a, b) = (
        std::fs::metadata(w.filestore(&db).join(rel)).unwrap(),
        std::fs::metadata(w.filestore(&idle).join(rel)).unwrap(),
    );
    assert_eq!(a.ino(), b.ino(), "filestore files are hardlinked");

    let busy_conn = w.admin(&db).await;
    sqlx::query("SELECT 1").execute(&busy_conn).await.unwrap();
    let busy = w.name("clbusy");
    let report = clone_database(&w.target, &db, &busy, 2, IdleSessions::Keep)
        .await
        .unwrap();
    assert_eq!(report.path, ClonePath::DumpRestore);
    assert_eq!(w.modules(&busy).await, w.modules(&db).await);
    busy_conn.close().await;
}

#[tokio::test]
async fn a_live_database_s_idle_pool_is_closed_for_a_template_copy_but_never_a_transaction() {
    let mut w = World::new();
    let db = restored(&mut w, "v17_base.dump", "clpool").await;

    // A pool that served a request and keeps its connection, as a running Odoo does.
    let mut pooled = sqlx::PgConnection::connect(&w.target.server.url(&db))
        .await
        .unwrap();
    sqlx::query("SELECT 1").execute(&mut pooled).await.unwrap();
    let copy = w.name("clpoolcopy");
    let report = clone_database(&w.target, &db, &copy, 2, IdleSessions::Close)
        .await
        .unwrap();
    assert_eq!(report.path, ClonePath::Template, "{report:?}");
    assert_eq!(w.modules(&copy).await, w.modules(&db).await);
    assert!(
        sqlx::query("SELECT 1").execute(&mut pooled).await.is_err(),
        "the idle pooled session was ended"
    );
    let mut again = sqlx::PgConnection::connect(&w.target.server.url(&db))
        .await
        .unwrap();
    sqlx::query("SELECT 1").execute(&mut again).await.unwrap();

    // A session inside a transaction is someone's work: never ended, the copy goes the
    // dump and restore way.
    let mut working = again.begin().await.unwrap();
    sqlx::query("SELECT count(*) FROM res_users")
        .execute(&mut *working)
        .await
        .unwrap();
    let copy = w.name("clpooltx");
    let report = clone_database(&w.target, &db, &copy, 2, IdleSessions::Close)
        .await
        .unwrap();
    assert_eq!(report.path, ClonePath::DumpRestore, "{report:?}");
    sqlx::query("SELECT 1")
        .execute(&mut *working)
        .await
        .expect("the transaction's session is untouched");
    working.rollback().await.unwrap();
}
