//! Staging and production, end to end with real pushes on the Odoo stand-in: production
//! updates that succeed, fail and roll back; neutralized staging copies; stage-move rules;
//! merges; trial projects.

mod common;

use std::time::{Duration, Instant};

use common::site::{Site, WorkTree};
use serde_json::{json, Value};

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn healthy(site: &Site, build: &str) -> bool {
    site.build_request(reqwest::Method::GET, build, "/web/health")
        .send()
        .map(|r| r.status() == 200)
        .unwrap_or(false)
}

/// The newest build of a branch, once it is finished.
/// A project whose `main` is production with `shop_core` installed (as a user does from the
/// Apps menu), and whose production build is running. Returns the tree and that build.
fn production_project(site: &Site, name: &str) -> (WorkTree, Value) {
    site.cli_ok(&["project", "create", name, "--odoo", "17.0"]);
    let tree = WorkTree::from_fixture("shop", &site.git_url(name));
    tree.push("main");
    let dev = site.wait_build(site.build_of(name, "main", &tree.git(&["rev-parse", "HEAD"])));
    assert_eq!(dev["state"], "running", "{dev}");
    site.cli_ok(&[
        "branch",
        "set",
        name,
        "main",
        "--stage",
        "production",
        "--confirm",
    ]);
    let prod = site.settled_build_after(name, "main", dev["id"].as_i64().unwrap());
    assert_eq!(prod["state"], "running", "{prod}");
    assert_eq!(prod["stage"], "production");
    let build = prod["name"].as_str().unwrap();
    assert_eq!(
        site.psql(build, "SELECT count(*) FROM ir_module_module WHERE name = 'shop_core' AND state = 'installed'"),
        "0",
        "a first production build installs base only"
    );
    site.odoo_bin(build, &["-i", "shop_core"]);
    (tree, prod)
}

fn bump(tree: &WorkTree, version: &str, script: Option<(&str, &str)>) -> String {
    let manifest = std::fs::read_to_string(tree.path().join("shop_core/__manifest__.py")).unwrap();
    let bumped = manifest
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("'version'") {
                format!("    'version': '{version}',")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    tree.write("shop_core/__manifest__.py", &bumped);
    if let Some((name, body)) = script {
        tree.write(&format!("shop_core/migrations/{version}/{name}"), body);
    }
    let sha = tree.commit(&format!("shop_core {version}"));
    tree.push("main");
    sha
}

#[test]
fn production_updates_bumped_modules_and_rolls_back_failures() {
    let site = Site::start(&[]);
    let (tree, first) = production_project(&site, "prod");
    let db = first["name"].as_str().unwrap().to_string();
    let version = |site: &Site| {
        site.psql(
            &db,
            "SELECT latest_version FROM ir_module_module WHERE name = 'shop_core'",
        )
    };
    assert_eq!(version(&site), "17.0.1.0");

    // 1. A version bump with an upgrade script: updated, same database, new server.
    bump(
        &tree,
        "1.1",
        Some(("post-add.py", "def migrate(cr, version):\n    cr.execute(\"INSERT INTO res_partner (name) VALUES ('created by 1.1')\")\n")),
    );
    let updated = site.settled_build_after("prod", "main", first["id"].as_i64().unwrap());
    assert_eq!(updated["state"], "running", "{updated}");
    assert_eq!(
        updated["database"],
        db.as_str(),
        "production keeps its database"
    );
    assert_eq!(version(&site), "17.0.1.1");
    assert_eq!(
        site.psql(
            &db,
            "SELECT count(*) FROM res_partner WHERE name = 'created by 1.1'"
        ),
        "1"
    );
    assert!(
        updated["message"].as_str().unwrap().contains("unavailable"),
        "{updated}"
    );
    let update_log = site.cli_ok(&["build", "logs", &updated["id"].to_string(), "update.log"]);
    assert!(update_log.contains("shop_core"), "{update_log}");
    let old = site.get(&format!("/api/builds/{}", first["id"]));
    assert_eq!(
        old["state"], "done",
        "the previous build handed its database over: {old}"
    );
    let serving = updated["name"].as_str().unwrap().to_string();
    assert!(healthy(&site, &serving));

    // 2. An upgrade script that fails: database as before, previous revision serving.
    bump(
        &tree,
        "1.2",
        Some(("pre-break.py", "def migrate(cr, version):\n    cr.execute(\"UPDATE res_partner SET name = 'BROKEN'\")\n    raise RuntimeError('deliberate failure')\n")),
    );
    let failed = site.settled_build_after("prod", "main", updated["id"].as_i64().unwrap());
    assert_eq!(failed["result"], "failed", "{failed}");
    assert!(
        failed["message"].as_str().unwrap().contains("rolled back"),
        "{failed}"
    );
    assert_eq!(version(&site), "17.0.1.1");
    assert_eq!(
        site.psql(
            &db,
            "SELECT count(*) FROM res_partner WHERE name = 'BROKEN'"
        ),
        "0"
    );
    // The cause is on screen: the script's exception and module, not the registry's
    // "Failed to load registry"; and the log that failed is named.
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("RuntimeError: deliberate failure")
            && message.contains("module shop_core"),
        "{failed}"
    );
    assert_eq!(failed["failed_log"], "update.log", "{failed}");
    let log = site.cli_ok(&["build", "logs", &failed["id"].to_string(), "update.log"]);
    assert!(
        log.contains("deliberate failure"),
        "the failed update.log is kept:\n{log}"
    );
    // The branch's state is the build that serves, the failed attempt beside it.
    let branches = site.get("/api/projects/prod/branches");
    let main = &branches.as_array().unwrap()[0];
    assert_eq!(main["serving_build"]["id"], updated["id"], "{main}");
    assert_eq!(main["last_build"]["id"], failed["id"], "{main}");
    let branch = site.get("/api/projects/prod/branches/main");
    assert_eq!(branch["serving_build"]["id"], updated["id"], "{branch}");
    let listed = site.cli_ok(&["branch", "list", "prod"]);
    let line = listed.lines().find(|l| l.contains("main")).unwrap();
    assert!(
        line.contains(&format!("#{} running", updated["id"]))
            && line.contains(&format!("newer #{} done failed", failed["id"])),
        "{listed}"
    );
    let back = site.get(&format!("/api/builds/{}", updated["id"]));
    assert_eq!(back["state"], "running", "{back}");
    assert!(
        healthy(&site, &serving),
        "the previous revision serves again"
    );

    // 3. An update that succeeds but whose server does not start: the snapshot comes back.
    tree.git(&["revert", "--no-edit", "HEAD"]);
    tree.write("shop_core/standin_fail_on_start", "");
    bump(
        &tree,
        "1.3",
        Some(("post-add.py", "def migrate(cr, version):\n    cr.execute(\"INSERT INTO res_partner (name) VALUES ('created by 1.3')\")\n")),
    );
    let dead = site.settled_build_after("prod", "main", failed["id"].as_i64().unwrap());
    assert_eq!(dead["result"], "failed", "{dead}");
    assert!(
        dead["message"].as_str().unwrap().contains("did not start"),
        "{dead}"
    );
    assert_eq!(version(&site), "17.0.1.1", "the snapshot is back");
    assert_eq!(
        site.psql(
            &db,
            "SELECT count(*) FROM res_partner WHERE name = 'created by 1.3'"
        ),
        "0"
    );
    assert_eq!(
        site.psql(
            &db,
            "SELECT count(*) FROM res_partner WHERE name = 'created by 1.1'"
        ),
        "1"
    );
    assert!(healthy(&site, &serving));
    let history = site.get("/api/projects/prod/branches/main/history");
    let rollbacks = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "production.rolled_back")
        .count();
    assert_eq!(rollbacks, 2, "{history}");
}

#[test]
fn a_production_update_cut_short_by_a_restart_is_rolled_back_then_done_again() {
    let mut site = Site::start(&[]);
    let (tree, first) = production_project(&site, "cut");
    let db = first["name"].as_str().unwrap().to_string();
    // The update's script sleeps on its first run only: Slipway is stopped meanwhile. It asks
    // a listener of the test whether it is the first (it runs in the build's sandbox: no
    // file of the test is writable there, the network is).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let before = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = std::io::Write::write_all(&mut stream, if before == 0 { b"1" } else { b"0" });
        }
    });
    let script = format!(
        "import socket, time\ndef migrate(cr, version):\n    cr.execute(\"INSERT INTO res_partner (name) VALUES ('created by 1.1')\")\n    if socket.create_connection(('127.0.0.1', {port})).recv(1) == b'1':\n        time.sleep(120)\n"
    );
    let sha = bump(&tree, "1.1", Some(("post-slow.py", &script)));
    let id = site.build_of("cut", "main", &sha);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while runs.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "the update never ran");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        site.database_exists(&format!("slipway_snapshot_{id}")),
        "the update runs behind a snapshot"
    );

    site.restart();
    let updated = site.wait_build(id);
    assert_eq!(updated["state"], "running", "{updated}");
    assert_eq!(
        site.psql(
            &db,
            "SELECT latest_version FROM ir_module_module WHERE name = 'shop_core'"
        ),
        "17.0.1.1"
    );
    assert_eq!(
        site.psql(
            &db,
            "SELECT count(*) FROM res_partner WHERE name = 'created by 1.1'"
        ),
        "1",
        "the update ran once on the database as it was"
    );
    assert_eq!(
        site.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'slipway\\_%\\_update\\_%' OR datname LIKE 'slipway\\_snapshot\\_%'"
        ),
        "0",
        "no snapshot or failed copy left behind"
    );
    let history = site.get("/api/projects/cut/branches/main/history");
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "production.recovered"),
        "{history}"
    );
    assert!(healthy(&site, updated["name"].as_str().unwrap()));
}

#[test]
fn staging_is_a_neutralized_copy_and_production_is_untouched() {
    let site = Site::start(&[]);
    let (tree, prod) = production_project(&site, "stage");
    let prod_db = prod["name"].as_str().unwrap().to_string();
    site.psql(&prod_db, "INSERT INTO ir_mail_server (name, smtp_host, active) VALUES ('real', 'smtp.example.com', true)");

    tree.git(&["checkout", "-q", "-b", "staging-1"]);
    tree.push("staging-1");
    let dev =
        site.wait_build(site.build_of("stage", "staging-1", &tree.git(&["rev-parse", "HEAD"])));
    site.cli_ok(&[
        "branch",
        "set",
        "stage",
        "staging-1",
        "--stage",
        "staging",
        "--staging-behaviour",
        "new_build",
    ]);
    let staging = site.settled_build_after("stage", "staging-1", dev["id"].as_i64().unwrap());
    assert_eq!(staging["state"], "running", "{staging}");
    let db = staging["database"].as_str().unwrap();
    assert_ne!(db, prod_db);
    assert_eq!(
        site.psql(
            db,
            "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
        ),
        "true"
    );
    assert_eq!(
        site.psql(db, "SELECT count(*) FROM ir_mail_server WHERE active"),
        "0"
    );
    // Odoo's neutralization keeps only the autovacuum cron.
    let other_active_crons = "SELECT count(*) FROM ir_cron c WHERE active AND NOT EXISTS (SELECT 1 FROM ir_model_data d \
        WHERE d.model = 'ir.cron' AND d.res_id = c.id AND d.module = 'base' AND d.name = 'autovacuum_job')";
    assert_eq!(site.psql(db, other_active_crons), "0");
    assert_eq!(
        site.psql(
            db,
            "SELECT count(*) FROM res_partner WHERE name = 'shop_core partner'"
        ),
        "1",
        "production data came along"
    );
    // Its administrator's password is production's (shown to project admins), not admin.
    let admin_password = "SELECT password FROM res_users WHERE login = 'admin'";
    let hash = site.psql(db, admin_password);
    assert!(hash.starts_with("$pbkdf2-sha512$600000$"), "{hash}");
    assert_eq!(hash, site.psql(&prod_db, admin_password));
    // A copy never passes for production: Odoo's duplicate gives it a new identity.
    for key in ["database.uuid", "database.secret"] {
        let value = format!("SELECT value FROM ir_config_parameter WHERE key = '{key}'");
        let (copy, original) = (site.psql(db, &value), site.psql(&prod_db, &value));
        assert!(!copy.is_empty() && !original.is_empty(), "{key}");
        assert_ne!(copy, original, "staging kept production's {key}");
    }
    let neutralize = site.cli_ok(&[
        "build",
        "logs",
        &staging["id"].to_string(),
        "neutralize.log",
    ]);
    assert!(neutralize.contains("applied"), "{neutralize}");

    // Production is untouched.
    assert_eq!(
        site.psql(
            &prod_db,
            "SELECT count(*) FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
        ),
        "0"
    );
    assert_eq!(
        site.psql(&prod_db, "SELECT count(*) FROM ir_mail_server WHERE active"),
        "1"
    );
    assert_ne!(site.psql(&prod_db, other_active_crons), "0");
    assert!(healthy(&site, &prod_db));

    // The staging build's own login (its odoo.conf) reaches its database only: not
    // production, not the development build's, not the metadata database.
    let staging_name = staging["name"].as_str().unwrap();
    let (host, _, user, _) = site.conf_login(staging_name);
    assert_eq!(host, "127.0.0.1", "builds connect over TCP");
    assert_ne!(
        user,
        site.conf_login(&prod_db).2,
        "a role apart from production's"
    );
    site.psql_with_login(staging_name, db).unwrap();
    let dev_db = dev["database"]
        .as_str()
        .unwrap_or(dev["name"].as_str().unwrap());
    for other in [prod_db.as_str(), dev_db, "slipway", "template1"] {
        let err = site.psql_with_login(staging_name, other).unwrap_err();
        assert!(
            err.contains("permission denied for database"),
            "{other}: {err}"
        );
    }
    // and the development build's reaches neither production nor staging
    let dev_name = dev["name"].as_str().unwrap();
    site.psql_with_login(dev_name, dev_db).unwrap();
    for other in [prod_db.as_str(), db] {
        let err = site.psql_with_login(dev_name, other).unwrap_err();
        assert!(
            err.contains("permission denied for database"),
            "{other}: {err}"
        );
    }

    // A second push with "new build": a fresh copy, and the older staging database is dropped.
    tree.write("README.md", "staging change\n");
    tree.commit("staging change");
    tree.push("staging-1");
    let second = site.settled_build_after("stage", "staging-1", staging["id"].as_i64().unwrap());
    assert_eq!(second["state"], "running", "{second}");
    assert!(
        !site.database_exists(db),
        "the older staging database is dropped"
    );
}

#[test]
fn stage_moves_follow_odoo_sh_rules_and_are_in_history() {
    let site = Site::start(&[]);
    site.cli_ok(&["project", "create", "moves", "--odoo", "17.0"]);
    let tree = WorkTree::from_fixture("shop", &site.git_url("moves"));
    tree.push("main");
    tree.git(&["checkout", "-q", "-b", "other"]);
    tree.push("other");
    let path = |b: &str| format!("/api/projects/moves/branches/{b}");
    let refused = |b: &str, body: Value| {
        let (status, answer) = site.patch(&path(b), body);
        assert_eq!(status, 409, "{answer}");
        answer["error"]["message"].as_str().unwrap().to_string()
    };

    assert!(refused("main", json!({"stage": "production"})).contains("confirm"));
    assert_eq!(
        site.patch(
            &path("main"),
            json!({"stage": "production", "confirm": true})
        )
        .0,
        200
    );
    assert!(
        refused("other", json!({"stage": "production", "confirm": true}))
            .contains("production branch already")
    );
    assert!(refused("main", json!({"stage": "staging"})).contains("only move to development"));
    // A refused move changes nothing, not even the settings sent with it.
    refused(
        "main",
        json!({"stage": "staging", "settings": {"test_tags": "/shop_core"}}),
    );
    assert!(
        site.get(&path("main"))["settings"]["test_tags"].is_null(),
        "{}",
        site.get(&path("main"))
    );
    assert_eq!(
        site.patch(&path("other"), json!({"stage": "staging"})).0,
        200
    );
    assert_eq!(
        site.patch(&path("other"), json!({"stage": "development"}))
            .0,
        200
    );
    assert_eq!(
        site.patch(&path("main"), json!({"stage": "development"})).0,
        200
    );

    let history = site.get(&format!("{}/history", path("other")));
    let moves: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "stage")
        .map(|e| e["detail"]["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        moves,
        vec!["development", "staging"],
        "newest first: {history}"
    );
}

#[test]
fn a_branch_made_production_stops_its_development_builds() {
    let site = Site::start(&[]);
    site.cli_ok(&["project", "create", "promoted", "--odoo", "17.0"]);
    let tree = WorkTree::from_fixture("shop", &site.git_url("promoted"));
    tree.push("main");
    let dev = site.wait_build(site.build_of("promoted", "main", &tree.git(&["rev-parse", "HEAD"])));
    assert_eq!(dev["state"], "running", "{dev}");
    let dev_name = dev["name"].as_str().unwrap();
    assert!(healthy(&site, dev_name), "the development build serves");

    site.cli_ok(&[
        "branch",
        "set",
        "promoted",
        "main",
        "--stage",
        "production",
        "--confirm",
    ]);
    let dev_id = dev["id"].as_i64().unwrap();
    let stopped = site.get(&format!("/api/builds/{dev_id}"));
    assert_eq!(stopped["state"], "done", "{stopped}");
    assert!(
        !healthy(&site, dev_name),
        "the development build no longer serves"
    );
    assert!(
        !site.database_exists(dev_name),
        "its database is dropped as a dropped build's is"
    );
    let history = site.get("/api/projects/promoted/branches/main/history");
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "build.dropped" && e["detail"]["build"] == dev_id),
        "History says so: {history}"
    );
    let prod = site.settled_build_after("promoted", "main", dev_id);
    assert_eq!(prod["state"], "running", "{prod}");
    assert!(
        healthy(&site, prod["name"].as_str().unwrap()),
        "production serves"
    );
}

#[test]
fn merging_builds_the_target_and_a_conflict_changes_nothing() {
    let site = Site::start(&[]);
    site.cli_ok(&["project", "create", "merges", "--odoo", "17.0"]);
    let tree = WorkTree::from_fixture("shop", &site.git_url("merges"));
    tree.push("main");
    tree.git(&["checkout", "-q", "-b", "feature"]);
    tree.write("shop_core/NOTES.md", "feature work\n");
    tree.commit("feature work");
    tree.push("feature");

    let (status, merged) = site.post(
        "/api/projects/merges/branches/feature/merge",
        json!({"into": "main"}),
    );
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["result"], "merged");
    let build = site.wait_build(merged["build"].as_i64().unwrap());
    assert_eq!(build["branch"], "main");
    assert_eq!(build["revision"], merged["sha"]);
    tree.git(&["fetch", "-q", "origin"]);
    assert_eq!(
        tree.git(&["show", "origin/main:shop_core/NOTES.md"]),
        "feature work"
    );

    // Both branches change the same line: a 409 naming the file, main unchanged.
    tree.git(&["checkout", "-q", "-B", "main", "origin/main"]);
    tree.write("shop_core/NOTES.md", "main's version\n");
    tree.commit("main side");
    tree.push("main");
    tree.git(&["checkout", "-q", "feature"]);
    tree.write("shop_core/NOTES.md", "feature's version\n");
    tree.commit("feature side");
    tree.push("feature");
    let main_before = site.get("/api/projects/merges/branches/main")["head"].clone();
    let (status, conflict) = site.post(
        "/api/projects/merges/branches/feature/merge",
        json!({"into": "main"}),
    );
    assert_eq!(status, 409, "{conflict}");
    assert!(
        conflict["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shop_core/NOTES.md"),
        "{conflict}"
    );
    assert_eq!(
        site.get("/api/projects/merges/branches/main")["head"],
        main_before
    );
}

#[test]
fn trial_projects_go_back_to_development() {
    let site = Site::start(&[]);
    site.cli_ok(&["project", "create", "trial", "--odoo", "17.0", "--trial"]);
    let project = site.get("/api/projects/trial");
    assert!(!project["trial_until"].is_null());
    let tree = WorkTree::from_fixture("shop", &site.git_url("trial"));
    tree.push("main");
    let dev = site.wait_build(site.build_of("trial", "main", &tree.git(&["rev-parse", "HEAD"])));
    site.cli_ok(&[
        "branch",
        "set",
        "trial",
        "main",
        "--stage",
        "production",
        "--confirm",
    ]);
    let prod = site.settled_build_after("trial", "main", dev["id"].as_i64().unwrap());
    assert_eq!(prod["state"], "running", "{prod}");
    let schedule = || {
        site.psql(
            "slipway",
            "SELECT enabled, source->>'database' FROM backup_schedules \
             WHERE project = 'trial' AND branch = 'main'",
        )
    };
    assert_eq!(
        schedule(),
        format!("t|{}", prod["database"].as_str().unwrap()),
        "production's daily backup is scheduled on its database"
    );
    let (status, _) = site.patch(
        "/api/projects/trial",
        json!({"trial_until": "2020-01-01T00:00:00Z"}),
    );
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while site.get("/api/projects/trial/branches/main")["stage"] != "development" {
        assert!(
            Instant::now() < deadline,
            "the trial's production branch did not go back to development"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        schedule().starts_with("f|"),
        "a branch out of production is no longer backed up daily: {}",
        schedule()
    );
}

#[test]
fn a_staging_build_s_mail_is_caught_and_never_leaves() {
    let site = Site::start(&[]);
    let (tree, prod) = production_project(&site, "mails");
    site.odoo_bin(prod["name"].as_str().unwrap(), &["-i", "mail"]);
    tree.git(&["checkout", "-q", "-b", "staging-1"]);
    tree.push("staging-1");
    let dev =
        site.wait_build(site.build_of("mails", "staging-1", &tree.git(&["rev-parse", "HEAD"])));
    site.cli_ok(&["branch", "set", "mails", "staging-1", "--stage", "staging"]);
    let staging = site.settled_build_after("mails", "staging-1", dev["id"].as_i64().unwrap());
    assert_eq!(staging["state"], "running", "{staging}");
    let (id, name) = (
        staging["id"].as_i64().unwrap(),
        staging["name"].as_str().unwrap(),
    );

    let sent = site
        .build_request(reqwest::Method::POST, name, "/standin/send_mail")
        .json(&json!({"to": "customer@example.com", "subject": "Your invoice", "body": "<p>Hello <script>alert(1)</script></p>"}))
        .send()
        .unwrap();
    assert!(sent.status().is_success(), "{:?}", sent.text());

    let deadline = Instant::now() + Duration::from_secs(30);
    let mails = loop {
        let mails = site.get(&format!("/api/builds/{id}/mails"));
        if !mails.as_array().unwrap().is_empty() {
            break mails;
        }
        assert!(Instant::now() < deadline, "no mail caught");
        std::thread::sleep(Duration::from_millis(200));
    };
    let mail = &mails[0];
    assert_eq!(mail["subject"], "Your invoice", "{mail}");
    assert!(mail.to_string().contains("customer@example.com"), "{mail}");
    let seq = mail["seq"].as_u64().unwrap();
    let eml = http()
        .get(format!("{}/api/builds/{id}/mails/{seq}.eml", site.url()))
        .bearer_auth(site.token())
        .send()
        .unwrap();
    assert_eq!(eml.status(), 200);
    assert!(eml.text().unwrap().contains("Subject: Your invoice"));
    let anonymous = http()
        .get(format!("{}/api/builds/{id}/mails", site.url()))
        .send()
        .unwrap();
    assert_eq!(
        anonymous.status(),
        401,
        "mails are behind the API's authentication"
    );

    // "Update previous build" (the default): the next push keeps the staging database.
    tree.write("README.md", "next staging commit\n");
    tree.commit("next");
    tree.push("staging-1");
    let next = site.settled_build_after("mails", "staging-1", id);
    assert_eq!(next["state"], "running", "{next}");
    assert_eq!(
        next["database"], staging["database"],
        "the previous staging database is updated, not replaced"
    );
    assert_eq!(
        site.get(&format!("/api/builds/{id}"))["state"],
        "done",
        "the older build handed its database over"
    );
}

/// The company's relay: a plain SMTP server writing what it receives to `dir`; killed on drop.
struct Relay(std::process::Child);

impl Relay {
    fn start(port: u16, dir: &std::path::Path) -> Relay {
        let script = common::site::repo_root().join("tests/fixtures/smtp_sink.py");
        let child = std::process::Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the relay did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Relay(child)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn production_mail_really_leaves_through_the_configured_relay() {
    let port = common::free_port();
    let outbox = tempfile::tempdir().unwrap();
    let _relay = Relay::start(port, outbox.path());
    let site = Site::start(&["--smtp-relay", &format!("127.0.0.1:{port}")]);
    let (_tree, prod) = production_project(&site, "outbound");
    let (id, name) = (prod["id"].as_i64().unwrap(), prod["name"].as_str().unwrap());
    site.odoo_bin(name, &["-i", "mail"]);

    let sent = site
        .build_request(reqwest::Method::POST, name, "/standin/send_mail")
        .json(&json!({"to": "customer@example.com", "subject": "Your real invoice", "body": "hi"}))
        .send()
        .unwrap();
    assert!(sent.status().is_success(), "{:?}", sent.text());
    let delivered =
        std::fs::read_to_string(outbox.path().join("1.eml")).expect("the relay received the mail");
    assert!(
        delivered.contains("Subject: Your real invoice"),
        "{delivered}"
    );
    assert!(delivered.contains("customer@example.com"), "{delivered}");
    assert_eq!(
        site.get(&format!("/api/builds/{id}/mails")),
        json!([]),
        "production's mail is not caught"
    );
}

#[test]
fn a_mail_server_added_to_staging_is_switched_off_and_older_builds_mails_go_with_them() {
    let site = Site::start(&[]);
    let (tree, prod) = production_project(&site, "relay");
    site.odoo_bin(prod["name"].as_str().unwrap(), &["-i", "mail"]);
    let staging = site.push_branch(&tree, "relay", "staging-1", "notes.txt");
    site.cli_ok(&["branch", "set", "relay", "staging-1", "--stage", "staging"]);
    let staging = site.settled_build_after("relay", "staging-1", staging["id"].as_i64().unwrap());
    assert_eq!(staging["state"], "running", "{staging}");
    let database = staging["database"].as_str().unwrap().to_string();

    // Someone adds a real outgoing server to the staging database, as Odoo's settings allow.
    site.psql(
        &database,
        "INSERT INTO ir_mail_server (name, smtp_host, smtp_port, sequence, active) \
         VALUES ('company relay', 'smtp.example.com', 587, 1, true)",
    );
    tree.write("README.md", "next staging commit\n");
    tree.commit("next");
    tree.push("staging-1");
    let next = site.settled_build_after("relay", "staging-1", staging["id"].as_i64().unwrap());
    assert_eq!(next["state"], "running", "{next}");
    assert_eq!(next["database"], database.as_str());
    assert_eq!(
        site.psql(
            &database,
            "SELECT count(*) FROM ir_mail_server WHERE active"
        ),
        "0",
        "switched off before the server started"
    );
    let (id, name) = (next["id"].as_i64().unwrap(), next["name"].as_str().unwrap());
    let sent = site
        .build_request(reqwest::Method::POST, name, "/standin/send_mail")
        .json(&json!({"to": "customer@example.com", "subject": "Still caught", "body": "hi"}))
        .send()
        .unwrap();
    assert!(sent.status().is_success(), "{:?}", sent.text());
    let deadline = Instant::now() + Duration::from_secs(30);
    while site
        .get(&format!("/api/builds/{id}/mails"))
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the mail was not caught");
        std::thread::sleep(Duration::from_millis(200));
    }

    // A fresh copy replaces this staging build: its database and its mails go.
    site.cli_ok(&[
        "branch",
        "set",
        "relay",
        "staging-1",
        "--staging-behaviour",
        "new_build",
    ]);
    tree.write("README.md", "a fresh copy\n");
    tree.commit("fresh");
    tree.push("staging-1");
    let fresh = site.settled_build_after("relay", "staging-1", id);
    assert_eq!(fresh["state"], "running", "{fresh}");
    assert!(!site.database_exists(&database));
    assert_eq!(site.get(&format!("/api/builds/{id}/mails")), json!([]));
}

#[test]
fn production_is_backed_up_before_updates_and_a_backup_restores() {
    let site = Site::start(&[
        "--daily-backup-at",
        "03:30",
        "--daily-backup-tz",
        "Europe/Brussels",
    ]);
    let (tree, first) = production_project(&site, "safe");
    let db = first["name"].as_str().unwrap().to_string();
    let version = |site: &Site| {
        site.psql(
            &db,
            "SELECT latest_version FROM ir_module_module WHERE name = 'shop_core'",
        )
    };
    bump(
        &tree,
        "1.1",
        Some(("post-add.py", "def migrate(cr, version):\n    cr.execute(\"INSERT INTO res_partner (name) VALUES ('created by 1.1')\")\n")),
    );
    let updated = site.settled_build_after("safe", "main", first["id"].as_i64().unwrap());
    assert_eq!(updated["state"], "running", "{updated}");
    assert_eq!(version(&site), "17.0.1.1");

    // production is backed up daily at the local time serve was given
    assert_eq!(
        site.psql(
            "slipway",
            "SELECT time_of_day || ' ' || timezone FROM backup_schedules \
             WHERE project = 'safe' AND branch = 'main' AND enabled"
        ),
        "03:30:00 Europe/Brussels"
    );

    let backups = site.get("/api/projects/safe/branches/main/backups");
    let before = backups
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "before-update")
        .unwrap_or_else(|| panic!("no before-update backup: {backups}"))
        .clone();
    assert_eq!(before["state"], "complete", "{before}");
    assert_eq!(
        before["locations_done"].as_array().unwrap().len(),
        3,
        "three copies: {before}"
    );
    // serve runs every new backup's restore drill by itself, in the background
    let drilled = once_drilled(&site, "safe", "main", before["id"].as_str().unwrap());
    assert_eq!(drilled["verification"]["ok"], true, "{drilled}");

    let (status, manual) = site.post("/api/projects/safe/branches/main/backups", json!({}));
    assert_eq!(status, 201, "{manual}");
    assert_eq!(manual["kind"], "manual");
    let (status, verification) = site.post(
        &format!("/api/backups/{}/verify", manual["id"].as_str().unwrap()),
        json!({}),
    );
    assert_eq!(status, 200, "{verification}");
    assert_eq!(verification["ok"], true, "{verification}");

    // Restoring the backup taken before the update brings production back to 1.0.
    let (status, outcome) = site.post(
        &format!("/api/backups/{}/restore", before["id"].as_str().unwrap()),
        json!({"branch": "main"}),
    );
    assert_eq!(status, 200, "{outcome}");
    assert!(
        !outcome["safety_backup"].is_null(),
        "a before-restore backup is taken: {outcome}"
    );
    assert_eq!(version(&site), "17.0.1.0");
    assert_eq!(
        site.psql(
            &db,
            "SELECT count(*) FROM res_partner WHERE name = 'created by 1.1'"
        ),
        "0"
    );
    assert!(
        healthy(&site, updated["name"].as_str().unwrap()),
        "production serves again"
    );
    let kinds: Vec<String> = site
        .get("/api/projects/safe/branches/main/backups")
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"before-restore".to_string()), "{kinds:?}");

    // The CLI backs up a branch by name, labelled with its project, branch and revision.
    let out = site.cli_ok(&["backup", "create", "--of", "safe/main", "--json"]);
    let created: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(created["backup"]["branch"], "main", "{created}");
    assert_eq!(
        created["backup"]["source_database"],
        db.as_str(),
        "{created}"
    );
    // and its backup gets the same restore drill as the API's, from serve's worker
    let cli_made = created["backup"]["id"].as_str().unwrap();
    let drilled = once_drilled(&site, "safe", "main", cli_made);
    assert_eq!(drilled["verification"]["ok"], true, "{drilled}");

    // Point-in-time recovery: production as it was at a given moment, through the API.
    site.cli_ok(&["backup", "base-backup"]);
    site.psql(
        &db,
        "INSERT INTO res_partner (name) VALUES ('kept by pitr')",
    );
    std::thread::sleep(Duration::from_millis(1100));
    let at = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    std::thread::sleep(Duration::from_millis(1100));
    site.psql(&db, "DELETE FROM res_partner WHERE name = 'kept by pitr'");
    let (status, outcome) = site.post("/api/projects/safe/branches/main/pitr", json!({"at": at}));
    assert_eq!(status, 200, "{outcome}");
    assert!(!outcome["safety_backup"].is_null(), "{outcome}");
    assert_eq!(
        site.psql(
            &db,
            "SELECT count(*) FROM res_partner WHERE name = 'kept by pitr'"
        ),
        "1"
    );
    assert!(
        healthy(&site, updated["name"].as_str().unwrap()),
        "production serves again after point-in-time recovery"
    );
    let window = site.get("/api/projects/safe/branches/main/pitr");
    assert_eq!(window["archiving"], true, "{window}");
    assert_eq!(window["windows"].as_array().unwrap().len(), 1, "{window}");
    let (status, refused) = site.post(
        "/api/projects/safe/branches/main/pitr",
        json!({"at": "2000-01-01T00:00:00Z"}),
    );
    assert!((400..500).contains(&status), "{status} {refused}");
    assert!(
        refused
            .to_string()
            .contains("outside the point-in-time recovery window"),
        "{refused}"
    );

    // Retention on demand: a manual backup past its 7 days goes, the rest stays.
    let manual_id = manual["id"].as_str().unwrap();
    site.psql(
        "slipway",
        &format!(
            "UPDATE backups SET created_at = now() - interval '8 days' WHERE id = '{manual_id}'"
        ),
    );
    let listed = |site: &Site| -> Vec<String> {
        site.get("/api/projects/safe/branches/main/backups")
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_str().unwrap().to_string())
            .collect()
    };
    let before_prune = listed(&site);
    let (status, report) = site.post("/api/backups/prune", json!({}));
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["deleted"], json!([manual_id]), "{report}");
    let after_prune = listed(&site);
    assert_eq!(after_prune.len(), before_prune.len() - 1, "{after_prune:?}");
    assert!(!after_prune.iter().any(|id| id == manual_id));
}

/// Backup `id` of a branch once its restore drill is recorded (serve runs the drills in the
/// background; 90 s at most).
fn once_drilled(site: &Site, project: &str, branch: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let listed = site.get(&format!(
            "/api/projects/{project}/branches/{branch}/backups"
        ));
        let this = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no backup {id}: {listed}"));
        if !this["verification"].is_null() {
            return this;
        }
        assert!(Instant::now() < deadline, "no drill of backup {id}: {this}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// What a user of database `db` would notice changed: owner, comment, connectability, its
/// tables.
fn database_state(site: &Site, db: &str) -> String {
    let row = site.psql(
        "postgres",
        &format!(
            "SELECT pg_get_userbyid(datdba) || '|' || coalesce(shobj_description(oid, 'pg_database'), '') \
             || '|' || datallowconn FROM pg_database WHERE datname = '{db}'"
        ),
    );
    let tables = site.psql(
        db,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    );
    format!("{row}|{tables}")
}

/// Dumps imported into a development and a staging branch that drop, alter or comment on
/// another database (the project's production, another project's, the metadata database):
/// each is refused, and every one of those databases is as it was.
#[test]
fn imported_dumps_cannot_touch_any_other_database() {
    let site = Site::start(&[]);
    let (tree, alpha) = production_project(&site, "alpha");
    let (_, beta) = production_project(&site, "beta");
    let dev = site.push_branch(&tree, "alpha", "dev-1", "dev.txt");
    tree.git(&["checkout", "-q", "main"]);
    let staging_dev = site.push_branch(&tree, "alpha", "staging-1", "staging.txt");
    site.cli_ok(&["branch", "set", "alpha", "staging-1", "--stage", "staging"]);
    let staging =
        site.settled_build_after("alpha", "staging-1", staging_dev["id"].as_i64().unwrap());
    assert_eq!(staging["state"], "running", "{staging}");
    let victims = [
        alpha["name"].as_str().unwrap().to_string(),
        beta["name"].as_str().unwrap().to_string(),
        "slipway".to_string(),
    ];
    let before: Vec<String> = victims.iter().map(|v| database_state(&site, v)).collect();
    let dev_db = dev["name"].as_str().unwrap();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    for branch in ["dev-1", "staging-1"] {
        let url = format!("{}/api/projects/alpha/branches/{branch}/import", site.url());
        for victim in &victims {
            for statement in [
                format!("DROP DATABASE \"{victim}\" WITH (FORCE);"),
                format!("ALTER DATABASE \"{victim}\" RENAME TO pwned;"),
                format!("ALTER DATABASE \"{victim}\" WITH ALLOW_CONNECTIONS false;"),
                format!("COMMENT ON DATABASE \"{victim}\" IS 'pwned';"),
            ] {
                let dump = hostile_odoo_dump("17.0.1.3", &statement);
                let answer = http
                    .post(&url)
                    .bearer_auth(site.token())
                    .body(dump)
                    .send()
                    .unwrap();
                let status = answer.status();
                let body = answer.text().unwrap();
                assert_ne!(status, 200, "{branch}: {statement}: {body}");
                assert!(
                    body.contains("must be owner") || body.contains("permission denied"),
                    "{branch}: {statement}: {body}"
                );
            }
        }
    }
    let after: Vec<String> = victims.iter().map(|v| database_state(&site, v)).collect();
    assert_eq!(after, before, "every other database is intact");
    assert!(healthy(&site, &victims[0]));
    assert!(healthy(&site, dev_db), "the development build still serves");
}

/// A plain SQL dump that passes for an Odoo database of `base_version` (what an import or
/// the upgrade API checks first) and then runs `statement`.
fn hostile_odoo_dump(base_version: &str, statement: &str) -> String {
    format!(
        "--\n-- PostgreSQL database dump\n--\n\n\
         CREATE TABLE public.ir_module_module (id integer, name character varying, \
         state character varying, latest_version character varying);\n\n\
         COPY public.ir_module_module (id, name, state, latest_version) FROM stdin;\n\
         1\tbase\tinstalled\t{base_version}\n\\.\n\n\
         {statement}\n\n--\n-- PostgreSQL database dump complete\n--\n\n"
    )
}

/// `web.base.url` and `web.base.url.freeze` of a database.
fn base_url(site: &Site, db: &str) -> (String, String) {
    let param = |key: &str| {
        site.psql(
            db,
            &format!("SELECT value FROM ir_config_parameter WHERE key = '{key}'"),
        )
    };
    (param("web.base.url"), param("web.base.url.freeze"))
}

/// What `host` (as a browser sends it, to this Slipway) answers at `path`: status and body.
fn by_host(site: &Site, host: &str, path: &str) -> (u16, String) {
    let response = http()
        .get(format!("{}{path}", site.url()))
        .header(reqwest::header::HOST, format!("{host}:{}", site.port))
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

#[test]
fn production_keeps_one_address_and_base_url_through_updates_and_a_rollback() {
    let site = Site::start(&[]);
    let (tree, first) = production_project(&site, "addr");
    let db = first["name"].as_str().unwrap().to_string();
    let address = format!("http://addr.localhost:{}", site.port);
    let pinned = (address.clone(), "True".to_string());
    let answers = |site: &Site| by_host(site, "addr.localhost", "/web/health").0 == 200;
    assert!(answers(&site), "production answers at {address}");
    assert_eq!(base_url(&site, &db), pinned, "after the first start");
    // The branch's own address is production's too.
    assert_eq!(by_host(&site, "addr-main.localhost", "/web/health").0, 200);

    // An administrator logging in on a build's own host name (or, as before, Connect's
    // internal port) no longer moves web.base.url: it is frozen.
    site.connect(first["id"].as_i64().unwrap(), &db);
    let admin = site.get("/api/projects/addr/production/admin-password");
    let login = site
        .build_request(reqwest::Method::POST, &db, "/web/login")
        .form(&[
            ("login", admin["login"].as_str().unwrap()),
            ("password", admin["password"].as_str().unwrap()),
        ])
        .send()
        .unwrap();
    assert_eq!(login.status(), 303, "the administrator logs in");
    assert_eq!(base_url(&site, &db), pinned, "after a Connect and a login");

    bump(&tree, "1.1", None);
    let updated = site.settled_build_after("addr", "main", first["id"].as_i64().unwrap());
    assert_eq!(updated["state"], "running", "{updated}");
    assert!(answers(&site), "the same address after an update");
    assert_eq!(base_url(&site, &db), pinned, "after an update");
    let (status, page) = by_host(&site, &format!("{db}.localhost"), "/web/health");
    assert_eq!(status, 502, "{page}");
    assert!(
        page.contains(&address) && !page.contains("rebuild"),
        "a gone production build sends people to production's address: {page}"
    );

    bump(
        &tree,
        "1.2",
        Some((
            "pre-break.py",
            "def migrate(cr, version):\n    raise RuntimeError('deliberate failure')\n",
        )),
    );
    let failed = site.settled_build_after("addr", "main", updated["id"].as_i64().unwrap());
    assert_eq!(failed["result"], "failed", "{failed}");
    assert!(answers(&site), "the same address after a rollback");
    assert_eq!(
        base_url(&site, &db),
        pinned,
        "after the previous build restarted"
    );

    tree.git(&["revert", "--no-edit", "HEAD"]);
    bump(&tree, "1.3", None);
    let again = site.settled_build_after("addr", "main", failed["id"].as_i64().unwrap());
    assert_eq!(again["state"], "running", "{again}");
    assert!(answers(&site), "the same address after a second update");
    assert_eq!(base_url(&site, &db), pinned);
}

#[test]
fn a_branch_address_follows_its_newest_build_and_custom_domains_route_to_it() {
    let site = Site::start(&[]);
    let (tree, _) = site.project_with_production("dom");
    let which = "/shop_core/static/which.txt";
    tree.git(&["checkout", "-q", "-b", "feature/x"]);
    tree.write("shop_core/static/which.txt", "first");
    let sha = tree.commit("first");
    tree.push("feature/x");
    let first = site.wait_build(site.build_of("dom", "feature/x", &sha));
    assert_eq!(first["state"], "running", "{first}");
    let label = site.cli_ok(&["branch", "domains", "dom", "feature/x"]);
    let address = label.lines().next().unwrap();
    let host = address
        .strip_prefix("http://")
        .and_then(|h| h.strip_suffix(&format!(":{}", site.port)))
        .unwrap_or_else(|| panic!("{address}"))
        .to_string();
    assert!(host.starts_with("dom-feature-x-"), "{host}");
    assert_eq!(by_host(&site, &host, which), (200, "first".into()));

    tree.write("shop_core/static/which.txt", "second");
    let sha = tree.commit("second");
    tree.push("feature/x");
    let second = site.wait_build(site.build_of("dom", "feature/x", &sha));
    assert_eq!(second["state"], "running", "{second}");
    std::thread::sleep(Duration::from_millis(1100)); // the proxy's route cache
    assert_eq!(
        by_host(&site, &host, which),
        (200, "second".into()),
        "the address follows the newest build"
    );

    // A custom domain routes to the branch, and stops when removed.
    for bad in ["not a host", "10.0.0.1", "dom-main-1.localhost"] {
        let out = site.cli(&["branch", "add-domain", "dom", "feature/x", bad]);
        assert!(!out.status.success(), "{bad} taken");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a usable host name"), "{bad}: {err}");
    }
    assert_ne!(
        by_host(&site, "erp.example.test", which),
        (200, "second".into()),
        "nothing routed there yet"
    );
    site.cli_ok(&[
        "branch",
        "add-domain",
        "dom",
        "feature/x",
        "ERP.example.test",
    ]);
    assert_eq!(
        by_host(&site, "erp.example.test", which),
        (200, "second".into())
    );
    // The name Slipway's own UI and API are reached by cannot be taken from everyone.
    let own = http()
        .post(format!(
            "{}/api/projects/dom/branches/main/domains",
            site.url()
        ))
        .header(
            reqwest::header::HOST,
            format!("slipway.example.test:{}", site.port),
        )
        .bearer_auth(site.token())
        .json(&json!({"host": "slipway.example.test"}))
        .send()
        .unwrap();
    assert_eq!(own.status(), 409, "{:?}", own.text());
    let taken = site.cli(&["branch", "add-domain", "dom", "main", "erp.example.test"]);
    assert!(!taken.status.success(), "one branch per host name");
    assert!(site
        .cli_ok(&["branch", "domains", "dom", "feature/x"])
        .contains("erp.example.test"));
    site.cli_ok(&[
        "branch",
        "remove-domain",
        "dom",
        "feature/x",
        "erp.example.test",
    ]);
    let (status, body) = by_host(&site, "erp.example.test", which);
    assert!(
        status != 200 || body != "second",
        "still routed: {status} {body}"
    );
    let history = site.cli_ok(&["branch", "history", "dom", "feature/x"]);
    assert!(
        history.contains("domain.added") && history.contains("domain.removed"),
        "{history}"
    );
}
