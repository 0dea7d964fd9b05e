//! `slipway backup ...` with the real binary, on its own embedded cluster.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{slipway, slipway_bin, slipway_ok, DataDir};

fn fixture(name: &str) -> String {
    slipway_testkit::odoo_dumps_dir()
        .join(name)
        .display()
        .to_string()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn psql(data: &Path, db: &str, sql: &str) -> String {
    slipway_ok(
        data,
        &[
            "pg",
            "psql",
            db,
            "--",
            "-X",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ],
    )
}

#[test]
fn backup_create_list_verify_restore_download_and_refused_import() {
    let data = DataDir::new();
    let d = data.path();
    slipway_ok(d, &["pg", "start"]);
    slipway_ok(
        d,
        &[
            "dump",
            "restore",
            &fixture("v17_mail_demo.zip"),
            "-d",
            "prod",
            "--move",
        ],
    );

    let created = json(&slipway_ok(
        d,
        &[
            "backup",
            "create",
            "-d",
            "prod",
            "--project",
            "acme",
            "--branch",
            "main",
            "--verify",
            "--json",
        ],
    ));
    let id = created["backup"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["backup"]["state"], "complete");
    assert_eq!(
        created["backup"]["locations_done"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(created["verification"]["ok"], true);
    for copy in ["primary", "replica-1", "replica-2"] {
        assert!(d
            .join("backups")
            .join(copy)
            .join(format!("backups/{id}.json"))
            .is_file());
    }

    let listed = json(&slipway_ok(d, &["backup", "list", "--json"]));
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["project"], "acme");
    let table = slipway_ok(d, &["backup", "list"]);
    assert!(
        table.contains(&id) && table.contains("3/3") && table.contains("ok"),
        "{table}"
    );

    slipway_ok(d, &["backup", "verify", &id]);
    slipway_ok(d, &["backup", "restore", &id, "-d", "copy"]);
    let count = |db: &str| psql(d, db, "SELECT count(*) FROM res_partner");
    assert_eq!(count("copy"), count("prod"));
    assert!(d.join("filestore/copy").is_dir());

    let gz = d.join("prod.sql.gz");
    slipway_ok(
        d,
        &[
            "backup",
            "download",
            &id,
            "--format",
            "sql-gz",
            "--neutralize",
            "-o",
            gz.to_str().unwrap(),
        ],
    );
    let seen = json(&slipway_ok(
        d,
        &["dump", "inspect", gz.to_str().unwrap(), "--json"],
    ));
    assert_eq!(seen["format"], "sql-gz");

    let junk = d.join("notes.txt");
    std::fs::write(&junk, "just some notes, not a dump\n").unwrap();
    let out = slipway(
        d,
        &["backup", "import", junk.to_str().unwrap(), "-d", "imported"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a database dump"), "{err}");

    let out = slipway(
        d,
        &["backup", "restore", "20990101T000000Z-00000000", "-d", "x"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no backup"));
}

#[test]
fn a_killed_backup_leaves_no_manifest_and_an_unreachable_replica_fails_the_command() {
    let data = DataDir::new();
    let d = data.path();
    slipway_ok(d, &["pg", "start"]);
    slipway_ok(
        d,
        &[
            "dump",
            "restore",
            &fixture("v17_base.dump"),
            "-d",
            "big",
            "--move",
        ],
    );
    psql(
        d,
        "big",
        "CREATE TABLE bulk AS SELECT g, md5(g::text) || repeat(md5((g * 3)::text), 8) AS t \
         FROM generate_series(1, 400000) g; ALTER TABLE bulk OWNER TO odoo",
    );

    // kill -9 once the backup has started writing
    let mut child = Command::new(slipway_bin())
        .arg("--data-dir")
        .arg(d)
        .args(["backup", "create", "-d", "big"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sessions = d.join("backups/primary/sessions");
    let started = Instant::now();
    while std::fs::read_dir(&sessions).map_or(true, |mut s| s.next().is_none()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the backup never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    let manifests = std::fs::read_dir(d.join("backups/primary/backups"))
        .unwrap()
        .count();
    assert_eq!(manifests, 0, "a killed backup wrote a manifest");
    let listed = json(&slipway_ok(d, &["backup", "list", "--json"]));
    assert_eq!(listed[0]["state"], "running");

    // a replica that is a file: the backup is kept in the others but the command fails
    let blocked = d.join("blocked");
    std::fs::write(&blocked, "not a folder").unwrap();
    let replica = d.join("replica-ok");
    let out = slipway(
        d,
        &[
            "backup",
            "create",
            "-d",
            "big",
            "--replica",
            replica.to_str().unwrap(),
            "--replica",
            blocked.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("blocked") && text.contains("not complete"),
        "{text}"
    );
}

/// Point-in-time recovery the way a user does it: the embedded cluster archives its WAL from
/// its first start, a base backup, changes, `pitr-window`, `restore --at`.
#[test]
fn point_in_time_restore_with_the_real_binary() {
    let data = DataDir::new();
    let d = data.path();
    std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    slipway_ok(d, &["pg", "start"]);
    psql(d, "postgres", "CREATE DATABASE shop");
    psql(
        d,
        "shop",
        "CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2)",
    );
    let window = json(&slipway_ok(d, &["backup", "pitr-window", "--json"]));
    assert_eq!(window["archiving"], true, "{window}");
    assert_eq!(
        window["windows"],
        serde_json::json!([]),
        "no base backup yet"
    );
    slipway_ok(d, &["backup", "base-backup", "--no-replicas"]);
    psql(d, "shop", "INSERT INTO items VALUES (3)");
    std::thread::sleep(Duration::from_millis(1100));
    let at = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    std::thread::sleep(Duration::from_millis(1100));
    psql(d, "shop", "DELETE FROM items");

    let restored = json(&slipway_ok(
        d,
        &[
            "backup",
            "restore",
            "--at",
            &at,
            "-d",
            "shop",
            "--safety-backup",
            "--json",
            "--no-replicas",
        ],
    ));
    assert_eq!(restored["replaced"], true, "{restored}");
    assert!(restored["safety_backup"].is_string(), "{restored}");
    assert_eq!(
        psql(
            d,
            "shop",
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM items"
        )
        .trim(),
        "1,2,3"
    );
    let table = slipway_ok(d, &["backup", "pitr-window", "--no-replicas"]);
    assert!(table.contains("restorable from "), "{table}");

    let out = slipway(
        d,
        &[
            "backup",
            "restore",
            "--at",
            "2000-01-01 00:00",
            "-d",
            "shop",
            "--no-replicas",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("outside the point-in-time recovery window: recovery is possible from"),
        "{err}"
    );
    assert!(err.contains("the database was left as it was"), "{err}");
    let out = slipway(d, &["backup", "restore", "--at", "yesterday", "-d", "shop"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a time"));
    assert_eq!(psql(d, "shop", "SELECT count(*) FROM items").trim(), "3");
}
