//! Backups on a real cluster, of real Odoo databases (the shared fixtures restored through
//! slipway_dump, with a generated filestore on top).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sha1::Digest;
use slipway_backup::store::GcOptions;
use slipway_backup::{
    open_location, retention::RetentionPolicy, BackupKind, BackupLabels, Location, Repository,
};
use slipway_backup_engine::{
    BackupSource, BackupState, Backups, DownloadFormat, DownloadOptions, Phase, RestoreOptions,
};
use slipway_dump::Target;
use slipway_metadata::Metadata;
use slipway_testkit::TestDb;
use sqlx::PgPool;

struct World {
    _meta: TestDb,
    dir: tempfile::TempDir,
    target: Target,
    backups: Backups,
    dbs: Vec<String>,
}

impl World {
    async fn new() -> World {
        World::with(|_| {}, RetentionPolicy::default()).await
    }

    /// `tweak` may change the folder layout before the repository opens.
    async fn with(tweak: impl FnOnce(&Path), policy: RetentionPolicy) -> World {
        let meta = TestDb::new().await;
        let metadata = Metadata::open_url(meta.url()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        tweak(dir.path());
        let target = Target::new(
            slipway_testkit::shared_server().clone(),
            slipway_testkit::binaries(),
            &dir.path().join("data"),
        )
        .unwrap();
        let replicas: Vec<Arc<dyn Location>> = ["replica-1", "replica-2"]
            .iter()
            .map(|r| open_location(dir.path().join(r).to_str().unwrap()).unwrap())
            .collect();
        let repo = Repository::open(dir.path().join("primary"), replicas).unwrap();
        let backups =
            Backups::new(metadata.pool().clone(), target.clone(), repo).with_policy(policy);
        World {
            _meta: meta,
            dir,
            target,
            backups,
            dbs: Vec::new(),
        }
    }

    fn name(&mut self, prefix: &str) -> String {
        let name = format!(
            "{prefix}_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        self.dbs.push(name.clone());
        name
    }

    /// A production-like database: a real Odoo 17 database with its filestore, plus generated
    /// attachments files.
    async fn production(&mut self, fixture: &str, extra_files: usize) -> BackupSource {
        let db = self.name("prod");
        let dump = slipway_testkit::odoo_dumps_dir().join(fixture);
        slipway_dump::restore(&self.target, &dump, &slipway_dump::RestoreOptions::new(&db))
            .await
            .unwrap();
        let filestore = self.target.filestore(&db);
        for i in 0..extra_files {
            let data: Vec<u8> = (0..2000 + i * 37).map(|j| (j * 7 + i) as u8).collect();
            write_attachment(&filestore, &data);
        }
        let logs = self.dir.path().join(format!("logs-{db}"));
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(logs.join("odoo.log"), "INFO odoo: started\n").unwrap();
        BackupSource {
            database: db,
            filestore,
            logs_dir: Some(logs),
            sessions_dir: None,
        }
    }

    async fn pool(&self, db: &str) -> PgPool {
        PgPool::connect(&self.target.server.url(db)).await.unwrap()
    }

    async fn counts(&self, db: &str) -> BTreeMap<String, i64> {
        let pool = self.pool(db).await;
        let mut out = BTreeMap::new();
        for table in [
            "res_partner",
            "res_users",
            "ir_attachment",
            "ir_module_module",
            "mail_message",
        ] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .unwrap();
            out.insert(table.to_string(), n);
        }
        pool.close().await;
        out
    }

    async fn exists(&self, db: &str) -> bool {
        let pool = self.pool("postgres").await;
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(db)
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        found
    }

    fn labels(&self) -> BackupLabels {
        BackupLabels {
            project: Some("acme".into()),
            branch: Some("main".into()),
            revision: Some("abc123".into()),
            kind: BackupKind::Manual,
        }
    }

    fn chunk_files(&self, location: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let root = self.dir.path().join(location).join("chunks");
        for shard in std::fs::read_dir(root).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(shard.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                out.push(f.path());
            }
        }
        out
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let (server, dbs) = (self.target.server.clone(), self.dbs.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let Ok(pool) = PgPool::connect(&server.url("postgres")).await else {
                    return;
                };
                for db in dbs {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                        .execute(&pool)
                        .await;
                }
            });
        })
        .join()
        .ok();
    }
}

fn sha1_hex(data: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(data))
}

fn write_attachment(filestore: &Path, data: &[u8]) {
    let sha = sha1_hex(data);
    let dir = filestore.join(&sha[..2]);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&sha), data).unwrap();
}

/// Every file under `dir` with its SHA-1.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                pending.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, sha1_hex(&std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_verifies_and_restores_into_an_identical_database() {
    let mut w = World::new().await;
    let source = w.production("v17_mail_demo.zip", 30).await;
    let phases = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = phases.clone();
    let progress: slipway_backup_engine::ProgressFn = Arc::new(move |p: Phase, _| {
        let mut seen = seen.lock().unwrap();
        if seen.last() != Some(&p) {
            seen.push(p);
        }
    });
    let record = w
        .backups
        .create(&source, w.labels(), Some(progress))
        .await
        .unwrap();

    assert_eq!(record.state, BackupState::Complete, "{:?}", record.error);
    assert_eq!(record.locations_done.len(), 3);
    assert_eq!(record.odoo_version.as_deref(), Some("17.0"));
    assert!(
        record.size_database > 100_000 && record.size_filestore > 60_000,
        "{record:?}"
    );
    assert!(phases
        .lock()
        .unwrap()
        .starts_with(&[Phase::Database, Phase::Filestore]));
    let manifest = w.backups.repository().load(&record.id).unwrap();
    assert_eq!(manifest.labels.revision.as_deref(), Some("abc123"));
    assert_eq!(manifest.filestore.len(), 124 + 30);
    assert_eq!(manifest.logs.len(), 1);
    assert!(manifest.row_counts["res_partner"] > 0);

    let v = w.backups.verify(&record.id, None).await.unwrap();
    assert!(v.ok, "{:?}", v.problems);
    assert_eq!(v.files_ok, 154);
    assert_eq!(v.modules_expected, 24);
    assert_eq!(v.modules_restored, 24);
    assert!(
        !w.exists(&format!(
            "slipway_verify_{}",
            record.id.to_lowercase().replace('-', "_")
        ))
        .await
    );
    let listed = w.backups.list(&Default::default()).await.unwrap();
    assert_eq!(listed[0].verification.as_ref().unwrap()["ok"], true);

    let copy = w.name("restored");
    let files = w.dir.path().join("restored-files");
    let outcome = w
        .backups
        .restore(&record.id, &RestoreOptions::new(&copy, &files), None)
        .await
        .unwrap();
    assert_eq!(outcome.filestore_files, 154);
    assert!(!outcome.replaced);
    assert_eq!(w.counts(&copy).await, w.counts(&source.database).await);
    assert_eq!(tree(&files), tree(&source.filestore));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_backup_after_a_one_percent_change_stores_only_new_chunks() {
    let mut w = World::new().await;
    let source = w.production("v17_mail_demo.zip", 100).await;
    let first = w.backups.create(&source, w.labels(), None).await.unwrap();

    let pool = w.pool(&source.database).await;
    sqlx::query("UPDATE res_partner SET comment = 'changed' WHERE id % 100 = 1")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    write_attachment(&source.filestore, b"one new attachment today");
    let second = w.backups.create(&source, w.labels(), None).await.unwrap();

    let repo_size: u64 = w
        .chunk_files("primary")
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .sum();
    assert!(
        second.size_added * 5 < first.size_added,
        "first added {}, second {}",
        first.size_added,
        second.size_added
    );
    assert_eq!(repo_size, (first.size_added + second.size_added) as u64);
    let v = w.backups.verify(&second.id, None).await.unwrap();
    assert!(v.ok, "{:?}", v.problems);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_chunk_in_one_location_is_detected_and_healed_on_verify() {
    let mut w = World::new().await;
    let source = w.production("v17_base.dump", 5).await;
    let record = w.backups.create(&source, w.labels(), None).await.unwrap();
    let replica = w.chunk_files("replica-1");
    std::fs::write(&replica[0], b"bit rot").unwrap();
    std::fs::remove_file(&w.chunk_files("primary")[1]).unwrap();

    let v = w.backups.verify(&record.id, None).await.unwrap();
    assert!(v.ok, "{:?}", v.problems);
    assert_eq!(v.locations[0].missing, 1);
    assert_eq!(v.locations[1].corrupt, 1);
    assert_eq!(v.locations[0].healed + v.locations[1].healed, 2);
    let again = w.backups.repository().check(&record.id, false).unwrap();
    assert!(again.complete());
    assert_ne!(std::fs::read(&replica[0]).unwrap(), b"bit rot");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_location_leaves_the_backup_incomplete_with_a_clear_error() {
    let mut w = World::with(
        |dir| std::fs::write(dir.join("replica-2"), b"a file where a folder should be").unwrap(),
        RetentionPolicy::default(),
    )
    .await;
    let source = w.production("v17_base.dump", 3).await;
    let record = w.backups.create(&source, w.labels(), None).await.unwrap();

    assert_eq!(record.state, BackupState::Incomplete);
    assert_eq!(record.locations_done.len(), 2);
    let error = record.error.clone().unwrap();
    assert!(
        error.contains("replica-2") && error.contains("cannot "),
        "{error}"
    );
    let v = w.backups.verify(&record.id, None).await.unwrap();
    assert!(!v.ok);
    assert!(
        v.problems.iter().any(|p| p.contains("replica-2")),
        "{:?}",
        v.problems
    );

    // the location comes back: the next verify completes the copy
    std::fs::remove_file(w.dir.path().join("replica-2")).unwrap();
    let v = w.backups.verify(&record.id, None).await.unwrap();
    assert!(v.ok, "{:?}", v.problems);
    assert_eq!(
        w.backups.get(&record.id).await.unwrap().state,
        BackupState::Complete
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_copies_again_a_backup_a_location_missed_or_a_kill_cut_short() {
    let mut w = World::with(
        |dir| std::fs::write(dir.join("replica-2"), b"a file where a folder should be").unwrap(),
        RetentionPolicy::default(),
    )
    .await;
    let source = w.production("v17_base.dump", 2).await;
    let missed = w.backups.create(&source, w.labels(), None).await.unwrap();
    assert_eq!(missed.state, BackupState::Incomplete);
    let gc = GcOptions::default();

    // still unreachable: said so, and nothing is lost
    let report = w.backups.prune(Utc::now(), &gc).await.unwrap();
    assert_eq!(report.still_incomplete.len(), 1, "{report:?}");
    assert!(
        report.still_incomplete[0].contains("replica-2"),
        "{report:?}"
    );
    assert_eq!(
        w.backups.get(&missed.id).await.unwrap().state,
        BackupState::Incomplete
    );

    // back: the next prune completes the copy without anyone running verify
    std::fs::remove_file(w.dir.path().join("replica-2")).unwrap();
    let report = w.backups.prune(Utc::now(), &gc).await.unwrap();
    assert_eq!(report.completed, vec![missed.id.clone()]);
    let record = w.backups.get(&missed.id).await.unwrap();
    assert_eq!(record.state, BackupState::Complete);
    assert_eq!(record.locations_done.len(), 3);
    assert!(w
        .dir
        .path()
        .join(format!("replica-2/backups/{}.json", missed.id))
        .exists());

    // killed while copying to the replicas: the primary holds it, the record says running
    let pool = w.pool(&source.database).await;
    sqlx::query("UPDATE res_partner SET comment = 'changed'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let cut = w.backups.create(&source, w.labels(), None).await.unwrap();
    std::fs::remove_file(
        w.dir
            .path()
            .join(format!("replica-1/backups/{}.json", cut.id)),
    )
    .unwrap();
    let meta = PgPool::connect(w._meta.url()).await.unwrap();
    sqlx::query(
        "UPDATE backups SET state = 'running', created_at = now() - interval '2 hours' WHERE id = $1",
    )
    .bind(&cut.id)
    .execute(&meta)
    .await
    .unwrap();
    meta.close().await;
    let report = w.backups.prune(Utc::now(), &gc).await.unwrap();
    assert_eq!(report.completed, vec![cut.id.clone()], "{report:?}");
    assert!(report.interrupted.is_empty(), "{report:?}");
    assert_eq!(
        w.backups.get(&cut.id).await.unwrap().state,
        BackupState::Complete
    );
    let v = w.backups.verify(&cut.id, None).await.unwrap();
    assert!(v.ok, "{:?}", v.problems);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_cancelled_mid_way_leaves_no_manifest_and_gc_sweeps_its_chunks() {
    let mut w = World::new().await;
    let source = w.production("v17_mail_demo.zip", 0).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let progress: slipway_backup_engine::ProgressFn = Arc::new(move |p: Phase, n| {
        if p == Phase::Filestore && n > 0 {
            let _ = tx.send(());
        }
    });
    let backups = w.backups.clone();
    let (src, labels) = (source.clone(), w.labels());
    let task = tokio::spawn(async move { backups.create(&src, labels, Some(progress)).await });
    rx.recv().await.unwrap();
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // the blocking half notices and stops without recording anything
    let sessions = w.dir.path().join("primary").join("sessions");
    for _ in 0..100 {
        if std::fs::read_dir(&sessions).unwrap().next().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(w.backups.repository().list().unwrap().is_empty());
    assert!(!w.chunk_files("primary").is_empty());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let gc = GcOptions {
        stale_session: Duration::ZERO,
        clock_margin: Duration::ZERO,
    };
    let report = w.backups.prune(Utc::now(), &gc).await.unwrap();
    assert_eq!(report.interrupted.len(), 1);
    assert!(report.gc.primary_deleted > 0);
    assert!(w.chunk_files("primary").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_being_written_is_never_taken_for_one_a_crash_cut_short() {
    let mut w = World::new().await;
    let source = w.production("v17_mail_demo.zip", 0).await;
    // the backup stops at its filestore until told to go on
    let (reached, reached_rx) = std::sync::mpsc::channel::<()>();
    let (go, go_rx) = std::sync::mpsc::channel::<()>();
    let reached = std::sync::Mutex::new(Some(reached));
    let go_rx = std::sync::Mutex::new(go_rx);
    let progress: slipway_backup_engine::ProgressFn = Arc::new(move |p: Phase, n| {
        if p == Phase::Filestore && n > 0 {
            if let Some(reached) = reached.lock().unwrap().take() {
                reached.send(()).unwrap();
                let _ = go_rx.lock().unwrap().recv();
            }
        }
    });
    let backups = w.backups.clone();
    let (src, labels) = (source.clone(), w.labels());
    let task = tokio::spawn(async move { backups.create(&src, labels, Some(progress)).await });
    tokio::task::spawn_blocking(move || reached_rx.recv().unwrap())
        .await
        .unwrap();

    // what another Slipway process (a second serve, a backup command) does at its start
    let ended = w.backups.finish_interrupted_backups().await.unwrap();
    assert!(ended.is_empty(), "{ended:?}");
    let listed = w.backups.list(&Default::default()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, BackupState::Running);

    go.send(()).unwrap();
    let done = task.await.unwrap().unwrap();
    assert_eq!(done.state, BackupState::Complete);
    assert!(w
        .backups
        .finish_interrupted_backups()
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_or_interrupted_restore_leaves_the_target_as_it_was() {
    let mut w = World::new().await;
    let source = w.production("v17_mail_demo.zip", 2).await;
    let good = w.backups.create(&source, w.labels(), None).await.unwrap();
    // the target: production restored from the good backup
    let target = w.name("target");
    let files = w.dir.path().join("target-files");
    w.backups
        .restore(&good.id, &RestoreOptions::new(&target, &files), None)
        .await
        .unwrap();
    let before = (w.counts(&target).await, tree(&files));

    // a backup of another database whose dump is damaged in every copy
    let other = w.production("v17_base.dump", 1).await;
    let bad = w.backups.create(&other, w.labels(), None).await.unwrap();
    let manifest = w.backups.repository().load(&bad.id).unwrap();
    let chunk = manifest.database.as_ref().unwrap().stream.chunks[0]
        .id
        .to_hex();
    for loc in ["primary", "replica-1", "replica-2"] {
        let path = w
            .dir
            .path()
            .join(loc)
            .join("chunks")
            .join(&chunk[..2])
            .join(&chunk);
        std::fs::write(path, b"damaged").unwrap();
    }
    let mut options = RestoreOptions::new(&target, &files);
    options.safety_backup = Some(w.labels());
    let err = w
        .backups
        .restore(&bad.id, &options, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no sound copy"), "{err}");
    assert_eq!((w.counts(&target).await, tree(&files)), before);

    // interrupted while pg_restore runs
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let progress: slipway_backup_engine::ProgressFn = Arc::new(move |p: Phase, _| {
        if p == Phase::Restoring {
            let _ = tx.send(());
        }
    });
    let backups = w.backups.clone();
    let (t, f, id) = (target.clone(), files.clone(), good.id.clone());
    let task = tokio::spawn(async move {
        backups
            .restore(&id, &RestoreOptions::new(&t, &f), Some(progress))
            .await
    });
    rx.recv().await.unwrap();
    task.abort();
    let _ = task.await;
    assert_eq!((w.counts(&target).await, tree(&files)), before);
    // and a restore run again afterwards replaces it whole, with a safety backup first
    let mut options = RestoreOptions::new(&target, &files);
    options.safety_backup = Some(w.labels());
    let outcome = w.backups.restore(&good.id, &options, None).await.unwrap();
    assert!(outcome.replaced);
    let safety = w
        .backups
        .get(outcome.safety_backup.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(safety.kind, BackupKind::BeforeRestore);
    assert_eq!(safety.source_database, target);
    assert_eq!((w.counts(&target).await, tree(&files)), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn importing_a_file_that_is_not_a_dump_is_refused_and_a_real_dump_is_imported_quietly() {
    let mut w = World::new().await;
    let junk = w.dir.path().join("photo.png");
    std::fs::write(&junk, b"\x89PNG\r\n\x1a\n0000000000000000").unwrap();
    let db = w.name("imported");
    let files = w.dir.path().join("imported-files");
    let err = w
        .backups
        .import(&junk, &RestoreOptions::new(&db, &files))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a database dump") && err.contains("PNG"),
        "{err}"
    );
    assert!(!w.exists(&db).await);

    let dump = slipway_testkit::odoo_dumps_dir().join("v16_base.zip");
    let outcome = w
        .backups
        .import(&dump, &RestoreOptions::new(&db, &files))
        .await
        .unwrap();
    assert_eq!(outcome.odoo_version.as_deref(), Some("16.0"));
    assert_eq!(outcome.restore.filestore_files, 22);
    assert_eq!(tree(&files).len(), 22);
    let pool = w.pool(&db).await;
    let active_crons: i64 = sqlx::query_scalar("SELECT count(*) FROM ir_cron WHERE active")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(active_crons, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_dump_is_refused_and_leaves_the_target_and_no_scratch_behind() {
    let mut w = World::new().await;
    let source = w.production("v16_base.zip", 0).await;
    let damaged = w.dir.path().join("damaged.sql");
    let dumped = std::process::Command::new(w.target.binaries.tool("pg_dump"))
        .args(["--no-owner", "-f"])
        .arg(&damaged)
        .arg(w.target.server.url(&source.database))
        .status()
        .unwrap();
    assert!(dumped.success());
    // a dump cut short by a broken transfer: its last statement refers to nothing
    let mut sql = std::fs::read_to_string(&damaged).unwrap();
    sql.push_str("INSERT INTO table_lost_in_transfer VALUES (1);\n");
    std::fs::write(&damaged, sql).unwrap();

    let target = w.production("v17_mail_demo.zip", 2).await;
    let before = (w.counts(&target.database).await, tree(&target.filestore));
    let err = w
        .backups
        .import(
            &damaged,
            &RestoreOptions::new(&target.database, &target.filestore),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), slipway_metadata::ErrorKind::Invalid, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("damaged") && message.contains("table_lost_in_transfer"),
        "{message}"
    );
    assert_eq!(
        (w.counts(&target.database).await, tree(&target.filestore)),
        before
    );
    let pool = w.pool("postgres").await;
    let scratch: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'slipway_import_%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(scratch, 0);
    let parent = target.filestore.parent().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("importing-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_are_odoo_zips_or_sql_gz_exact_or_neutralized() {
    let mut w = World::new().await;
    let source = w.production("v17_mail_demo.zip", 3).await;
    let record = w.backups.create(&source, w.labels(), None).await.unwrap();
    let inspect = slipway_dump::InspectOptions {
        pg_restore: w.target.binaries.tool("pg_restore"),
        zip_limits: Default::default(),
    };

    let zip = w.dir.path().join("backup.zip");
    let options = DownloadOptions {
        format: DownloadFormat::Zip,
        filestore: true,
        neutralized: false,
        output: zip.clone(),
    };
    let report = w
        .backups
        .download(&record.id, &options, None)
        .await
        .unwrap();
    assert_eq!(report.filestore_files, 127);
    let seen = slipway_dump::inspect(&zip, &inspect).unwrap();
    assert_eq!(seen.format, slipway_dump::Format::OdooZip);
    assert_eq!(seen.modules.len(), 24);

    let gz = w.dir.path().join("backup.sql.gz");
    let options = DownloadOptions {
        format: DownloadFormat::SqlGz,
        filestore: false,
        neutralized: true,
        output: gz.clone(),
    };
    w.backups
        .download(&record.id, &options, None)
        .await
        .unwrap();
    let db = w.name("fromgz");
    slipway_dump::restore(&w.target, &gz, &slipway_dump::RestoreOptions::new(&db))
        .await
        .unwrap();
    let pool = w.pool(&db).await;
    let neutralized: Option<String> = sqlx::query_scalar(
        "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'",
    )
    .fetch_optional(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(neutralized.as_deref(), Some("true"));
    // the source was never touched
    let pool = w.pool(&source.database).await;
    let source_neutralized: Option<String> = sqlx::query_scalar(
        "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'",
    )
    .fetch_optional(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(source_neutralized, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_keeps_the_policy_and_frees_chunks_and_manual_backups_are_limited_per_day() {
    let policy = RetentionPolicy {
        manual_per_day: 2,
        manual_keep_days: 7,
        ..RetentionPolicy::default()
    };
    let mut w = World::with(|_| {}, policy).await;
    let source = w.production("v17_base.dump", 2).await;
    let a = w.backups.create(&source, w.labels(), None).await.unwrap();
    let pool = w.pool(&source.database).await;
    sqlx::query("UPDATE res_partner SET comment = 'b'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let b = w.backups.create(&source, w.labels(), None).await.unwrap();
    let err = w
        .backups
        .create(&source, w.labels(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 manual backups a day"), "{err}");

    // eight days later, only the newest manual backup is kept
    let later = Utc::now() + chrono::Duration::days(8);
    let gc = GcOptions {
        stale_session: Duration::from_secs(3600),
        clock_margin: Duration::ZERO,
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let report = w.backups.prune(later, &gc).await.unwrap();
    assert_eq!(report.deleted, vec![a.id.clone()]);
    assert!(report.gc.primary_deleted > 0);
    assert!(report
        .gc
        .replicas
        .iter()
        .all(|r| r.deleted > 0 && r.error.is_none()));
    let left: Vec<String> = w
        .backups
        .list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, vec![b.id.clone()]);
    let v = w.backups.verify(&b.id, None).await.unwrap();
    assert!(v.ok, "{:?}", v.problems);
}

/// Makes schedule `id` three days old, so that its slots since are due.
async fn age_schedule(meta: &PgPool, id: i64) {
    sqlx::query("UPDATE backup_schedules SET created_at = now() - interval '3 days' WHERE id = $1")
        .bind(id)
        .execute(meta)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduler_queues_a_missed_day_once_and_its_job_takes_a_verified_daily_backup() {
    let mut w = World::new().await;
    let source = w.production("v17_base.dump", 1).await;
    let time = chrono::NaiveTime::from_hms_opt(3, 0, 0).unwrap();
    let schedule = w
        .backups
        .add_schedule(Some("acme"), Some("main"), &source, time, "Europe/Brussels")
        .await
        .unwrap();
    let now = Utc::now();
    assert!(
        w.backups.queue_due(now).await.unwrap().is_empty(),
        "created after today's slot"
    );

    // pretend the schedule is three days old and the server was down since
    let meta = PgPool::connect(w._meta.url()).await.unwrap();
    age_schedule(&meta, schedule.id).await;
    let queued = w.backups.queue_due(now).await.unwrap();
    assert_eq!(queued.len(), 1);
    // a restart (a new service on the same database) does not queue it again
    assert!(w.backups.clone().queue_due(now).await.unwrap().is_empty());

    let queue = slipway_metadata::JobQueue::new(meta.clone());
    let job = queue
        .claim("test", &[slipway_metadata::JobKind::BackupDaily])
        .await
        .unwrap()
        .unwrap();
    // a manual backup from long ago, past the days manual backups are kept
    let old = w.backups.create(&source, w.labels(), None).await.unwrap();
    sqlx::query("UPDATE backups SET created_at = now() - interval '40 days' WHERE id = $1")
        .bind(&old.id)
        .execute(&meta)
        .await
        .unwrap();
    let id = w.backups.run_daily_job(&job, true).await.unwrap();
    let record = w.backups.get(&id).await.unwrap();
    assert_eq!(record.kind, BackupKind::Daily);
    assert_eq!(record.verification.unwrap()["ok"], true);
    let left: Vec<String> = w
        .backups
        .list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        left,
        vec![id.clone()],
        "the daily job applied the retention policy"
    );
    let s = &w.backups.schedules().await.unwrap()[0];
    assert_eq!(s.last_backup.as_deref(), Some(id.as_str()));
    meta.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_daily_backup_is_tried_again_later_that_day_and_then_succeeds() {
    let mut w = World::new().await;
    let source = w.production("v17_base.dump", 1).await;
    let mut missing = source.clone();
    missing.database = "acme_gone".into();
    // the slot an hour ago, so that the next one is a day away whenever the test runs
    let time = (Utc::now() - chrono::Duration::hours(1)).time();
    let schedule = w
        .backups
        .add_schedule(Some("acme"), Some("main"), &missing, time, "UTC")
        .await
        .unwrap();
    let meta = PgPool::connect(w._meta.url()).await.unwrap();
    age_schedule(&meta, schedule.id).await;
    let queue = slipway_metadata::JobQueue::new(meta.clone());
    let run_next = || async {
        let job = queue
            .claim("test", &[slipway_metadata::JobKind::BackupDaily])
            .await
            .unwrap()
            .expect("a daily backup job is queued");
        w.backups.run_daily_job(&job, false).await
    };
    let now = Utc::now();
    assert_eq!(w.backups.queue_due(now).await.unwrap().len(), 1);
    let err = run_next().await.unwrap_err().to_string();
    assert!(err.contains("acme_gone"), "{err}");
    let s = w.backups.schedules().await.unwrap().remove(0);
    assert_eq!(s.failures, 1);
    assert!(s.last_error.unwrap().contains("acme_gone"));

    assert!(
        w.backups.queue_due(now).await.unwrap().is_empty(),
        "not again at once"
    );
    let later = now + chrono::Duration::minutes(16);
    assert_eq!(
        w.backups.queue_due(later).await.unwrap().len(),
        1,
        "tried again"
    );
    assert!(
        w.backups.queue_due(later).await.unwrap().is_empty(),
        "queued once"
    );

    // the cause went away (production's database is back): the retry takes the day's backup
    w.backups
        .point_schedule("acme", "main", &source, time, "UTC")
        .await
        .unwrap();
    let id = run_next().await.unwrap();
    assert_eq!(w.backups.get(&id).await.unwrap().kind, BackupKind::Daily);
    let s = w.backups.schedules().await.unwrap().remove(0);
    assert_eq!(
        (s.failures, s.last_backup.as_deref()),
        (0, Some(id.as_str()))
    );
    assert!(s.last_error.is_none());
    assert!(
        w.backups
            .queue_due(later + chrono::Duration::hours(2))
            .await
            .unwrap()
            .is_empty(),
        "nothing more that day"
    );
    meta.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_new_backup_gets_its_restore_drill_from_a_queued_job() {
    let mut w = World::new().await;
    let source = w.production("v17_base.dump", 2).await;
    let backups = w.backups.clone().verifying_new_backups();
    let meta = PgPool::connect(w._meta.url()).await.unwrap();
    let queue = slipway_metadata::JobQueue::new(meta.clone());
    let next_drill = || async {
        queue
            .claim("test", &[slipway_metadata::JobKind::BackupVerify])
            .await
            .unwrap()
    };

    let manual = backups.create(&source, w.labels(), None).await.unwrap();
    assert!(
        manual.verification.is_none(),
        "the drill does not hold the backup up"
    );
    let job = next_drill()
        .await
        .expect("a drill is queued for the new backup");
    assert_eq!(job.payload["backup"], manual.id.as_str());
    assert!(next_drill().await.is_none(), "one drill per backup");
    // the job and someone's verify at once: they share a scratch database, so one waits
    let (job_done, by_hand) = tokio::join!(
        backups.run_verify_job(&job),
        backups.verify(&manual.id, None)
    );
    job_done.unwrap();
    assert!(by_hand.unwrap().ok);
    let verified = backups.get(&manual.id).await.unwrap().verification.unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
    // a drill already recorded is not run again
    backups.run_verify_job(&job).await.unwrap();
    let again = backups.get(&manual.id).await.unwrap().verification.unwrap();
    assert_eq!(again["checked_at"], verified["checked_at"]);

    // a daily backup's job runs its own drill: nothing queued for it
    let mut daily = w.labels();
    daily.kind = BackupKind::Daily;
    backups.create(&source, daily, None).await.unwrap();
    assert!(next_drill().await.is_none());
    meta.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn production_s_schedule_follows_its_database_and_stops_when_it_leaves_production() {
    let mut w = World::new().await;
    let first = w.production("v17_base.dump", 0).await;
    let time = chrono::NaiveTime::from_hms_opt(3, 0, 0).unwrap();
    let created = w
        .backups
        .point_schedule("acme", "main", &first, time, "UTC")
        .await
        .unwrap();
    assert!(created.enabled);

    assert_eq!(
        w.backups.disable_schedules("acme", "main").await.unwrap(),
        1
    );
    let meta = PgPool::connect(w._meta.url()).await.unwrap();
    sqlx::query("UPDATE backup_schedules SET created_at = now() - interval '3 days'")
        .execute(&meta)
        .await
        .unwrap();
    assert!(
        w.backups.queue_due(Utc::now()).await.unwrap().is_empty(),
        "a disabled schedule queues nothing"
    );

    // promoted again, with a new database: the same schedule, pointed at it and enabled
    let mut second = first.clone();
    second.database = "acme_main_42".into();
    // and at the time of day serve is now configured with
    let later = chrono::NaiveTime::from_hms_opt(4, 15, 0).unwrap();
    let pointed = w
        .backups
        .point_schedule("acme", "main", &second, later, "Europe/Brussels")
        .await
        .unwrap();
    assert_eq!(pointed.id, created.id);
    assert!(pointed.enabled);
    assert_eq!(
        (pointed.time_of_day, pointed.timezone.as_str()),
        (later, "Europe/Brussels")
    );
    let refused = w
        .backups
        .point_schedule("acme", "main", &second, later, "Mars/Olympus")
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("unknown time zone"), "{refused}");
    assert_eq!(pointed.source["database"], "acme_main_42");
    assert_eq!(w.backups.schedules().await.unwrap().len(), 1);
    assert_eq!(w.backups.queue_due(Utc::now()).await.unwrap().len(), 1);
}
