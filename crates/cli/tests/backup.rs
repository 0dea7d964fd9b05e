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

/// A data directory whose embedded cluster runs with `prod`, a database Odoo 17 made (mail,
/// demo data).
fn data_with_prod() -> DataDir {
    let data = DataDir::new();
    slipway_ok(data.path(), &["pg", "start"]);
    slipway_ok(
        data.path(),
        &[
            "dump",
            "restore",
            &fixture("v17_mail_demo.zip"),
            "-d",
            "prod",
            "--move",
        ],
    );
    data
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
    let data = data_with_prod();
    let d = data.path();

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
         FROM generate_series(1, 400000) g; DO $$ BEGIN EXECUTE format('ALTER TABLE bulk OWNER TO %I', \
         (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database())); END $$",
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
    // the next command finds it cut short: failed, saying why
    let listed = json(&slipway_ok(d, &["backup", "list", "--json"]));
    assert_eq!(listed[0]["state"], "failed", "{listed}");
    let reason = listed[0]["error"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("interrupted by a restart of Slipway"),
        "{reason}"
    );

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

/// `POST /api/projects/{p}/branches/{b}/import` through a real HTTP client: a file that is not
/// a dump is a 400 that says what it looks like, and the branch's database is untouched; an
/// Odoo 17 zip replaces it with mail servers and crons off; `slipway backup import --into`
/// takes the same route, and an Odoo 16 dump switches the branch to 16.0 (an event), the
/// server then failing to start for want of a 16.0 runtime, which the CLI says; a backup that
/// does not exist is a 404.
#[test]
fn a_dump_imports_into_a_branch_through_the_api() {
    use common::site::{Site, WorkTree};
    let site = Site::start(&[]);
    site.cli_ok(&["project", "create", "imp", "--odoo", "17.0"]);
    let tree = WorkTree::from_fixture("shop", &site.git_url("imp"));
    tree.push("main");
    let build = site.wait_build(site.build_of("imp", "main", &tree.git(&["rev-parse", "HEAD"])));
    assert_eq!(build["state"], "running", "{build}");
    let db = build["name"].as_str().unwrap().to_string();
    site.psql(
        &db,
        "INSERT INTO res_partner (name) VALUES ('before the import')",
    );
    let kept = || {
        site.psql(
            &db,
            "SELECT count(*) FROM res_partner WHERE name = 'before the import'",
        )
    };
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let url = format!("{}/api/projects/imp/branches/main/import", site.url());

    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.resize(4096, 0);
    let refused = http
        .post(&url)
        .bearer_auth(site.token())
        .body(png)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().unwrap();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("not a database dump") && message.contains("PNG"),
        "{body}"
    );
    assert_eq!(
        kept(),
        "1",
        "a refused import leaves the database as it was"
    );
    let empty = http.post(&url).bearer_auth(site.token()).send().unwrap();
    assert_eq!(empty.status(), 400);
    let body: serde_json::Value = empty.json().unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("--data-binary"),
        "{body}"
    );

    let imported = http
        .post(&url)
        .bearer_auth(site.token())
        .body(std::fs::File::open(fixture("v17_mail_demo.zip")).unwrap())
        .send()
        .unwrap();
    assert_eq!(imported.status(), 200);
    let outcome: serde_json::Value = imported.json().unwrap();
    assert_eq!(outcome["format"], "odoo-zip", "{outcome}");
    assert_eq!(outcome["odoo_version"], "17.0", "{outcome}");
    assert!(outcome["series_switched"].is_null(), "{outcome}");
    assert!(outcome["server_error"].is_null(), "{outcome}");
    assert_eq!(kept(), "0", "the dump replaced the branch's database");
    assert_eq!(
        site.psql(&db, "SELECT count(*) FROM ir_cron WHERE active"),
        "0"
    );
    assert_eq!(
        site.psql(&db, "SELECT count(*) FROM ir_mail_server WHERE active"),
        "0"
    );

    let out = site.cli(&[
        "backup",
        "import",
        &fixture("v16_base.zip"),
        "--into",
        "imp/main",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "no 16.0 runtime to serve it");
    assert!(
        stderr.contains("no Odoo runtime is registered for series 16.0"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("now runs Odoo 16.0 (was 17.0)"),
        "{out:?}"
    );
    assert_eq!(
        site.psql(
            &db,
            "SELECT latest_version FROM ir_module_module WHERE name = 'base'"
        )
        .split('.')
        .next(),
        Some("16")
    );
    let branch = site.get("/api/projects/imp/branches/main");
    assert_eq!(branch["settings"]["series"], "16.0", "{branch}");
    let history = site.get("/api/projects/imp/branches/main/history");
    let kinds: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"series.switched"), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "backup.imported").count(),
        2,
        "{kinds:?}"
    );

    let missing = http
        .post(format!(
            "{}/api/backups/20990101T000000Z-00000000/verify",
            site.url()
        ))
        .bearer_auth(site.token())
        .json(&serde_json::json!({}))
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404, "no backup is a 404, not a 409");

    // A branch with no running database (its build failed before making one: no 16.0
    // runtime) refuses an import before taking the dump in: even an empty body, which a
    // received one would refuse as empty (400), gets the 409.
    site.cli_ok(&["project", "create", "nodb", "--odoo", "16.0"]);
    let other = WorkTree::from_fixture("shop", &site.git_url("nodb"));
    other.push("main");
    let failed = site.wait_build(site.build_of("nodb", "main", &other.git(&["rev-parse", "HEAD"])));
    assert_eq!(failed["result"], "failed", "{failed}");
    let url = format!("{}/api/projects/nodb/branches/main/import", site.url());
    let refused = http.post(&url).bearer_auth(site.token()).send().unwrap();
    assert_eq!(refused.status(), 409);
    let body: serde_json::Value = refused.json().unwrap();
    assert_eq!(body["error"]["code"], "no_database", "{body}");
    let uploads = site.data.path().join("backups").join("uploads");
    let left = std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        left,
        0,
        "nothing of the refused dump stays in {}",
        uploads.display()
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

/// `slipway <args>` (`backup create`, `backup restore`) killed (`abort`) at the named
/// `SLIPWAY_CRASH_AT` point: it must have failed there, saying so.
fn slipway_crashing_at(data: &Path, point: &str, args: &[&str]) {
    let out = Command::new(slipway_bin())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("SLIPWAY_PG_URL")
        .env("SLIPWAY_CRASH_AT", point)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("aborting here"),
        "{point}: {stderr}"
    );
}

#[test]
fn a_backup_cut_short_by_a_crash_is_finished_or_failed_at_the_next_start() {
    let data = data_with_prod();
    let d = data.path();
    let manifest_in = |copy: &str, id: &str| {
        d.join("backups")
            .join(copy)
            .join(format!("backups/{id}.json"))
            .is_file()
    };

    // Killed once the primary holds the manifest, before any replica: the row says running,
    // 1 of 3 locations. The next command copies it to the others and records it complete.
    slipway_crashing_at(
        d,
        "backup:manifest-in-primary",
        &["backup", "create", "-d", "prod"],
    );
    let rows = json(&psql(
        d,
        "slipway",
        "SELECT json_agg(json_build_object('id', id, 'state', state)) FROM backups",
    ));
    assert_eq!(rows[0]["state"], "running", "{rows}");
    let id = rows[0]["id"].as_str().unwrap().to_string();
    assert!(manifest_in("primary", &id) && !manifest_in("replica-1", &id));
    let out = slipway(d, &["backup", "list", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("backup {id} was cut short while being copied")),
        "{said}"
    );
    let listed = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(listed[0]["state"], "complete", "{listed}");
    assert_eq!(listed[0]["locations_done"].as_array().unwrap().len(), 3);
    for copy in ["primary", "replica-1", "replica-2"] {
        assert!(manifest_in(copy, &id), "{copy}");
    }
    slipway_ok(d, &["backup", "verify", &id]);

    // Killed before the manifest was written: nothing usable, so failed with its reason, and
    // its chunks are garbage for the collection.
    slipway_crashing_at(
        d,
        "backup:database-dumped",
        &["backup", "create", "-d", "prod"],
    );
    let listed = json(&slipway_ok(d, &["backup", "list", "--json"]));
    let cut = &listed[1];
    assert_eq!(cut["state"], "failed", "{listed}");
    let reason = cut["error"].as_str().unwrap();
    assert!(
        reason.starts_with("interrupted by a restart of Slipway at "),
        "{reason}"
    );
    // ended once: the next command has nothing more to say about it
    let out = slipway(d, &["backup", "list"]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("cut short"),
        "{out:?}"
    );
}

#[test]
fn a_restore_cut_short_by_a_crash_mid_swap_is_ended_at_the_next_start() {
    let data = data_with_prod();
    let d = data.path();
    let created = json(&slipway_ok(
        d,
        &["backup", "create", "-d", "prod", "--no-replicas", "--json"],
    ));
    let id = created["backup"]["id"].as_str().unwrap().to_string();
    // what only the live database has, not the backup
    psql(
        d,
        "prod",
        "INSERT INTO res_partner (name) VALUES ('after the backup')",
    );
    let late_file = d.join("filestore/prod/zz/after-the-backup");
    std::fs::create_dir_all(late_file.parent().unwrap()).unwrap();
    std::fs::write(&late_file, "written after the backup").unwrap();
    let live_rows = || {
        psql(
            d,
            "prod",
            "SELECT count(*) FROM res_partner WHERE name = 'after the backup'",
        )
        .trim()
        .to_string()
    };
    let databases = || {
        psql(
            d,
            "postgres",
            "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database \
             WHERE datname = 'prod' OR datname LIKE 'slipway_old_%' OR datname LIKE 'slipway_restore_%'",
        )
        .trim()
        .to_string()
    };
    let leftovers = || {
        let swaps = std::fs::read_dir(d.join("swaps")).map_or(0, |e| e.count());
        let hidden = std::fs::read_dir(d.join("filestore"))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with(".prod.")
            })
            .count();
        (swaps, hidden)
    };

    // Killed once the live database is renamed away and the restored one not yet in: no
    // database is called prod. The next command puts it back as it was.
    slipway_crashing_at(
        d,
        "restore-swap:database-away",
        &["backup", "restore", &id, "-d", "prod"],
    );
    assert!(
        !databases().split(',').any(|n| n == "prod"),
        "{}",
        databases()
    );
    let out = slipway(d, &["backup", "list"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("prod is as it was"),
        "{out:?}"
    );
    assert_eq!(live_rows(), "1");
    assert!(late_file.is_file());
    assert_eq!(databases(), "prod");
    assert_eq!(leftovers(), (0, 0));

    // Killed once the restored database is in and before its filestore: the next command
    // moves the restored filestore in too, so database and files match again.
    slipway_crashing_at(
        d,
        "restore-swap:database-in",
        &["backup", "restore", &id, "-d", "prod"],
    );
    assert_eq!(live_rows(), "0", "the restored database is in");
    assert!(late_file.is_file(), "the old filestore is still there");
    let out = slipway(d, &["backup", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("its filestore was moved in too"),
        "{out:?}"
    );
    assert_eq!(live_rows(), "0");
    assert!(
        !late_file.exists(),
        "the restored filestore replaced the old one"
    );
    assert_eq!(databases(), "prod");
    assert_eq!(leftovers(), (0, 0));
}
