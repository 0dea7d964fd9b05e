//! Point-in-time recovery on a real cluster that archives its WAL (its own, not the shared
//! test cluster, which does not archive).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use slipway_backup::{open_location, BackupKind, BackupLabels, Location, Repository};
use slipway_backup_engine::{Backups, RestoreOptions};
use slipway_dump::Target;
use slipway_metadata::Metadata;
use slipway_pg::{ClusterOptions, EmbeddedCluster, Server};
use sqlx::PgPool;

/// A role as Slipway names its own (its password is derived from the data directory's key).
const OWNER: &str = "slipway_db_pitr_owner";

struct World {
    dir: tempfile::TempDir,
    cluster: EmbeddedCluster,
    server: Server,
    target: Target,
    backups: Backups,
}

impl Drop for World {
    /// The cluster is this test's own: stopped even when the test panics.
    fn drop(&mut self) {
        if let Some(pid) = self.cluster.running_pid() {
            let _ = std::process::Command::new("kill")
                .arg("-QUIT")
                .arg(pid.to_string())
                .status();
        }
    }
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        // the server runs as `postgres` when the tests run as root
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        let cluster = EmbeddedCluster::new(
            &data,
            ClusterOptions {
                unsafe_fast: true,
                bin_dir: None,
                wal_archive: true,
            },
        )
        .unwrap();
        cluster.start().await.unwrap();
        let server = cluster.server().unwrap();
        let metadata = Metadata::open(&server).await.unwrap();
        let target = Target::new(server.clone(), cluster.binaries().unwrap(), &data).unwrap();
        let replicas: Vec<Arc<dyn Location>> =
            vec![open_location(dir.path().join("replica").to_str().unwrap()).unwrap()];
        let repo = Repository::open(dir.path().join("primary"), replicas).unwrap();
        let backups = Backups::new(metadata.pool().clone(), target.clone(), repo)
            .with_wal_spool(cluster.layout().wal_spool.clone());
        World {
            dir,
            cluster,
            server,
            target,
            backups,
        }
    }

    async fn admin(&self) -> PgPool {
        PgPool::connect(&self.server.url("postgres")).await.unwrap()
    }

    async fn create_shop(&self) -> PgPool {
        let admin = self.admin().await;
        let password = self.target.roles.password(OWNER);
        sqlx::query(&format!("CREATE ROLE {OWNER} LOGIN PASSWORD '{password}'"))
            .execute(&admin)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE shop OWNER {OWNER}"))
            .execute(&admin)
            .await
            .unwrap();
        let shop = PgPool::connect(&self.target.url_as("shop", OWNER))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE items (id int PRIMARY KEY, name text)")
            .execute(&shop)
            .await
            .unwrap();
        shop
    }

    async fn ids(&self, db: &str) -> Vec<i32> {
        let pool = PgPool::connect(&self.server.url(db)).await.unwrap();
        let ids = sqlx::query_scalar("SELECT id FROM items ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        ids
    }

    fn scratch_leftovers(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.target.data_dir.join("backups").join("scratch"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect()
    }
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::query(sql).execute(pool).await.unwrap();
}

/// A moment strictly between two changes (commit timestamps have microseconds; the clock of
/// the test and the server are the same machine's).
async fn pause_and_mark() -> DateTime<Utc> {
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let at = Utc::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    at
}

fn safety() -> Option<BackupLabels> {
    Some(BackupLabels::of_kind(BackupKind::BeforeRestore))
}

#[tokio::test(flavor = "multi_thread")]
async fn restores_a_database_as_it_was_between_two_changes() {
    let w = World::new().await;
    let shop = w.create_shop().await;
    exec(
        &shop,
        "INSERT INTO items SELECT g, 'first' FROM generate_series(1, 3) g",
    )
    .await;
    let base = w.backups.base_backup().await.unwrap();
    assert!(base.stop_lsn >= base.start_lsn);
    exec(&shop, "INSERT INTO items VALUES (4, 'a'), (5, 'b')").await;
    let t1 = pause_and_mark().await;
    exec(&shop, "DELETE FROM items WHERE id = 1").await;
    exec(&shop, "INSERT INTO items VALUES (6, 'c'), (7, 'd')").await;
    let t2 = pause_and_mark().await;
    exec(&shop, "UPDATE items SET name = 'later'").await;
    exec(&shop, "DELETE FROM items WHERE id > 2").await;
    shop.close().await;

    // a copy as it was at t2, beside the live database
    let options = RestoreOptions::new("shop_at_t2", w.target.filestore("shop_at_t2"));
    let copy = w
        .backups
        .restore_to_time("shop", t2, &options)
        .await
        .unwrap();
    assert_eq!(w.ids("shop_at_t2").await, [2, 3, 4, 5, 6, 7]);
    assert!(!copy.replaced);
    assert_eq!(copy.base_backup, base.id);
    assert_eq!(w.ids("shop").await, [2], "the live database is untouched");

    // production itself back to t1, after a safety backup
    let mut options = RestoreOptions::new("shop", w.target.filestore("shop"));
    options.safety_backup = safety();
    let outcome = w
        .backups
        .restore_to_time("shop", t1, &options)
        .await
        .unwrap();
    eprintln!(
        "restore to time of a small database: {:.2}s, {} WAL files replayed",
        outcome.seconds, outcome.wal_files
    );
    assert_eq!(w.ids("shop").await, [1, 2, 3, 4, 5]);
    assert!(outcome.replaced);
    let safety_id = outcome.safety_backup.expect("a before-restore backup");
    let record = w.backups.get(&safety_id).await.unwrap();
    assert_eq!(record.kind, BackupKind::BeforeRestore);
    assert_eq!(record.source_database, "shop");
    assert!(
        w.scratch_leftovers().is_empty(),
        "{:?}",
        w.scratch_leftovers()
    );

    // the window starts at the base backup and reaches the last archived WAL
    let window = w.backups.pitr_window().await.unwrap();
    assert!(window.archiving);
    assert_eq!(window.base_backups, 1);
    assert_eq!(window.windows.len(), 1, "{:?}", window.windows);
    assert_eq!(window.windows[0].from, base.consistent_at);
    assert!(window.windows[0].to >= t2, "{:?}", window.windows);

    // before the window: refused, naming the window; nothing changed
    let before = base.started_at - chrono::Duration::hours(1);
    let err = w
        .backups
        .restore_to_time("shop", before, &options)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("outside the point-in-time recovery window"),
        "{err}"
    );
    assert!(
        err.contains(&base.consistent_at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        "{err}"
    );
    let future = Utc::now() + chrono::Duration::hours(1);
    let err = w
        .backups
        .restore_to_time("shop", future, &options)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is in the future"), "{err}");

    // a restore failing after recovery (the source did not exist then) leaves the target
    let err = w
        .backups
        .restore_to_time("ghost", t1, &options)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"ghost\" did not exist at"), "{err}");
    assert_eq!(w.ids("shop").await, [1, 2, 3, 4, 5]);
    assert!(
        w.scratch_leftovers().is_empty(),
        "{:?}",
        w.scratch_leftovers()
    );
    let admin = w.admin().await;
    let temp: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'slipway_pitr_%' OR datname LIKE 'slipway_old_%'",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(temp, 0, "no temporary database left");
    admin.close().await;
    drop(w);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_archive_keeps_the_wal_until_it_is_stored() {
    let w = World::new().await;
    let spool = w.cluster.layout().wal_spool.clone();
    let away = w.dir.path().join("spool-away");
    w.backups.ingest_wal().await.unwrap();
    // the spool vanishes: archive_command fails, PostgreSQL keeps the file and retries
    std::fs::rename(&spool, &away).unwrap();
    let admin = w.admin().await;
    exec(&admin, "CREATE TABLE t AS SELECT 1 AS x").await;
    let file: String = sqlx::query_scalar("SELECT pg_walfile_name(pg_switch_wal())")
        .fetch_one(&admin)
        .await
        .unwrap();
    let mut failed = 0i64;
    for _ in 0..100 {
        failed = sqlx::query_scalar("SELECT failed_count FROM pg_stat_archiver")
            .fetch_one(&admin)
            .await
            .unwrap();
        if failed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(failed > 0, "the archiver reported no failure");
    let ready = w
        .target
        .data_dir
        .join("pg/pg_wal/archive_status")
        .join(format!("{file}.ready"));
    assert!(ready.exists(), "{file} is kept for a retry");
    // the spool is back: the retry stores it, and ingest moves it into the repository
    std::fs::rename(&away, &spool).unwrap();
    let mut stored = false;
    for _ in 0..150 {
        w.backups.ingest_wal().await.unwrap();
        let names: Vec<String> = w
            .backups
            .repository()
            .list_wal()
            .unwrap()
            .into_iter()
            .map(|x| x.name)
            .collect();
        if names.contains(&file) {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        stored,
        "{file} reached the repository after the archive came back"
    );
    assert!(
        std::fs::read_dir(&spool).unwrap().next().is_none() || !spool.join(&file).exists(),
        "ingested files leave the spool"
    );
    // its bytes come back whole from a replica when the primary's copy is gone
    let wal = w.backups.repository().list_wal().unwrap();
    let entry = wal.iter().find(|x| x.name == file).unwrap();
    std::fs::remove_file(w.dir.path().join("primary").join(&entry.key)).unwrap();
    let bytes = w.backups.repository().get_wal(entry).unwrap();
    assert_eq!(bytes.len(), 16 * 1024 * 1024);
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_keeps_the_window_and_deletes_older_base_backups_and_wal() {
    let w = World::new().await;
    let shop = w.create_shop().await;
    let admin = w.admin().await;
    let first = w.backups.base_backup().await.unwrap();
    for i in 0..3 {
        exec(&shop, &format!("INSERT INTO items VALUES ({i}, 'x')")).await;
        exec(&admin, "SELECT pg_switch_wal()").await;
    }
    let second = w.backups.base_backup().await.unwrap();
    exec(
        &shop,
        "INSERT INTO items VALUES (10, 'after the second base backup')",
    )
    .await;
    let at = pause_and_mark().await;
    exec(&shop, "DELETE FROM items").await;
    shop.close().await;
    let before: Vec<String> = w
        .backups
        .repository()
        .list_wal()
        .unwrap()
        .into_iter()
        .map(|x| x.name)
        .collect();

    let later = Utc::now() + chrono::Duration::days(8);
    let report = w
        .backups
        .prune(later, &slipway_backup::store::GcOptions::default())
        .await
        .unwrap();
    assert_eq!(report.base_backups_deleted, [first.id]);
    let kept: Vec<String> = w
        .backups
        .repository()
        .list_wal()
        .unwrap()
        .into_iter()
        .map(|x| x.name)
        .collect();
    assert_eq!(report.wal_deleted, before.len() - kept.len());
    assert!(report.wal_deleted >= 3, "{before:?} -> {kept:?}");
    let start = slipway_backup::pitr::segment_name(
        second.timeline,
        slipway_backup::pitr::lsn_segment(second.start_lsn, second.segment_size),
        second.segment_size,
    );
    for name in &kept {
        assert!(name[..24] >= start[..], "{name} is older than {start}");
    }
    let window = w.backups.pitr_window().await.unwrap();
    assert_eq!(window.base_backups, 1);
    assert_eq!(window.windows[0].from, second.consistent_at);

    // what is kept still recovers
    let options = RestoreOptions::new("shop_then", w.target.filestore("shop_then"));
    let outcome = w
        .backups
        .restore_to_time("shop", at, &options)
        .await
        .unwrap();
    assert_eq!(outcome.base_backup, second.id);
    assert_eq!(w.ids("shop_then").await, [0, 1, 2, 10]);
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_backup_job_takes_the_base_backup_of_the_day() {
    let w = World::new().await;
    w.create_shop().await.close().await;
    let source = slipway_backup_engine::BackupSource {
        database: "shop".into(),
        filestore: w.target.filestore("shop"),
        logs_dir: None,
        sessions_dir: None,
    };
    let time = chrono::NaiveTime::from_hms_opt(3, 0, 0).unwrap();
    let schedule = w
        .backups
        .add_schedule(Some("acme"), Some("main"), &source, time, "UTC")
        .await
        .unwrap();
    sqlx::query("UPDATE backup_schedules SET created_at = now() - interval '2 days' WHERE id = $1")
        .bind(schedule.id)
        .execute(w.backups.pool())
        .await
        .unwrap();
    assert_eq!(w.backups.queue_due(Utc::now()).await.unwrap().len(), 1);
    let queue = slipway_metadata::JobQueue::new(w.backups.pool().clone());
    let job = queue
        .claim("test", &[slipway_metadata::JobKind::BackupDaily])
        .await
        .unwrap()
        .unwrap();
    w.backups.run_daily_job(&job, false).await.unwrap();
    let bases = w.backups.repository().base_backups().unwrap();
    assert_eq!(bases.len(), 1, "the daily job took a base backup");
    assert!(
        w.backups.base_backup_if_due().await.unwrap().is_none(),
        "one a day is enough"
    );
    let window = w.backups.pitr_window().await.unwrap();
    assert_eq!(window.windows.len(), 1, "{window:?}");
}

/// Timing, not behaviour: `cargo nextest run -p slipway-platform --test pitr --run-ignored
/// only --no-capture measure`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement"]
async fn measure_restore_to_time_of_a_larger_database() {
    let w = World::new().await;
    let shop = w.create_shop().await;
    exec(
        &shop,
        "INSERT INTO items SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 1000000) g",
    )
    .await;
    let size: i64 = sqlx::query_scalar("SELECT pg_database_size('shop')")
        .fetch_one(&shop)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let base = w.backups.base_backup().await.unwrap();
    eprintln!(
        "database {} MB; base backup of the cluster ({} MB tar, {} MB stored) in {:.1}s",
        size >> 20,
        base.tar.size >> 20,
        base.added >> 20,
        started.elapsed().as_secs_f64()
    );
    exec(&shop, "UPDATE items SET name = 'changed' WHERE id % 10 = 0").await;
    let at = pause_and_mark().await;
    exec(&shop, "DELETE FROM items WHERE id > 500000").await;
    shop.close().await;
    let options = RestoreOptions::new("shop", w.target.filestore("shop"));
    let outcome = w
        .backups
        .restore_to_time("shop", at, &options)
        .await
        .unwrap();
    eprintln!(
        "restore to time: {:.1}s, {} WAL files",
        outcome.seconds, outcome.wal_files
    );
    assert_eq!(w.ids("shop").await.len(), 1_000_000);
}
