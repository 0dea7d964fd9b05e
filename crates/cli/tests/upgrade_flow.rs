//! The upgrade platform end to end: the real `slipway serve` with its worker, a real Odoo 16
//! dump taken to 17.0 with the fixture scripts, over HTTP as clients use it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::upgrade_api::{
    odoo_dump, platform, platform_for, platform_with, repo_file, Platform, CONTRACT,
};
use common::{free_port, slipway, slipway_ok, spawn_serve_with, terminate, wait_healthy};
use serde_json::Value;

#[test]
fn a_real_odoo_16_dump_is_upgraded_to_17() {
    let p = platform(&repo_file("tests/fixtures/upgrade-scripts"));
    let (id, key) = p.submit(&odoo_dump("v16_base.zip"), "test");
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "done", "{request}");
    assert_eq!(request["database_version"], "16.0");
    assert!(request["postgresql"].as_str().unwrap().starts_with("15."));
    assert_eq!(request["filestore"], true);
    assert!(request["processed_at"].is_string());
    assert_eq!(request["customer_message"], Value::Null);

    let archive = p.get(request["upgraded_dump_url"].as_str().unwrap());
    assert_eq!(archive.status(), 200);
    let upgraded = p.data.path().join("upgraded.zip");
    std::fs::write(&upgraded, archive.bytes().unwrap()).unwrap();
    let inspected: Value = serde_json::from_str(&slipway_ok(
        p.data.path(),
        &["dump", "inspect", upgraded.to_str().unwrap(), "--json"],
    ))
    .unwrap();
    assert_eq!(inspected["format"], "odoo-zip");
    assert_eq!(inspected["odoo_version"], "17.0");
    assert_eq!(inspected["modules"]["base"], "17.0.1.3");
    assert_eq!(inspected["modules"]["web"], "17.0.1.0");
    assert_eq!(
        inspected["database_uuid"], request["database_uuid"],
        "same database"
    );

    let sql = p
        .get(request["upgraded_sql_url"].as_str().unwrap())
        .text()
        .unwrap();
    assert!(
        sql.contains("upgrade.source_version\t16.0.1.3"),
        "pre script ran with the old version"
    );
    assert!(
        sql.contains("database.is_neutralized\ttrue"),
        "test requests come back neutralized"
    );
    let original = p
        .get(request["original_sql_url"].as_str().unwrap())
        .text()
        .unwrap();
    assert!(!original.contains("upgrade.source_version"));

    let notes = p
        .get(request["notes_url"].as_str().unwrap())
        .text()
        .unwrap();
    for step in [
        "Check the installed modules against Odoo 17.0",
        "Upgrade to 17.0 with OpenUpgrade",
        "Verify with a stock Odoo 17.0",
        "answered GET /web/login with 200",
        "base: 16.0.1.3 -&gt; 17.0.1.3",
        "web_kanban_gauge 16.0.1.0: merged into web",
        "Not dropping the column … × 1",
    ] {
        assert!(
            notes.contains(step),
            "{step:?} missing from the notes: {notes}"
        );
    }
    assert!(
        !notes.contains(p.data.path().to_str().unwrap()),
        "the notes show the server's folders: {notes}"
    );
    // The log beside the notes: Odoo's own lines, the standard scripts run in Odoo's order.
    let log_url = request["notes_url"]
        .as_str()
        .unwrap()
        .replace("/notes", "/log");
    let log = p.get(&log_url).text().unwrap();
    let order: Vec<usize> = [
        "pre-10-record-source-version",
        "post-10-partner-complete-name",
        "end-10-drop-compiled-assets",
    ]
    .iter()
    .map(|script| {
        log.find(script)
            .unwrap_or_else(|| panic!("{script} did not run: {log}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(log.contains("openupgrade_framework"), "{log}");
}

#[test]
fn engine_list_says_why_an_engine_is_not_ready_and_remove_forgets_it() {
    let p = platform(&repo_file("tests/fixtures/upgrade-scripts"));
    let cli = |args: &[&str]| {
        let mut all = vec!["--server", p.base.as_str()];
        all.extend_from_slice(args);
        slipway_ok(p.data.path(), &all)
    };
    let openupgrade = p.engines[0].openupgrade_dir();
    cli(&[
        "upgrade",
        "engine",
        "add",
        "16.0",
        "--openupgrade-dir",
        openupgrade.to_str().unwrap(),
    ]);
    let listed = cli(&["upgrade", "engine", "list"]);
    assert!(listed.contains("NOT READY"), "{listed}");
    assert!(
        listed.contains("not ready: no Odoo 16.0 runtime is registered: add one with `slipway odoo add 16.0 --source DIR`"),
        "{listed}"
    );
    let json: Value = serde_json::from_str(&cli(&["upgrade", "engine", "list", "--json"])).unwrap();
    let ready: Vec<(&str, bool)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["series"].as_str().unwrap(), e["ready"].as_bool().unwrap()))
        .collect();
    assert_eq!(ready, [("16.0", false), ("17.0", true)], "{json}");
    assert!(
        json[1]["python"].as_str().unwrap().contains("upgrade-17-0"),
        "{json}"
    );

    let created = p.call(
        "create",
        &[
            ("contract", CONTRACT),
            ("email", "ops@example.com"),
            ("target", "16.0"),
            ("aim", "test"),
            ("filename", "db.dump"),
        ],
    );
    assert_eq!(
        created["failures"][0]["expected"],
        serde_json::json!(["17.0"]),
        "{created}"
    );

    assert!(cli(&["upgrade", "engine", "remove", "16.0"]).contains("removed"));
    let listed = cli(&["upgrade", "engine", "list"]);
    assert!(!listed.contains("16.0"), "{listed}");
    let again = slipway(
        p.data.path(),
        &["--server", &p.base, "upgrade", "engine", "remove", "16.0"],
    );
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("no upgrade engine for 16.0"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn a_production_request_comes_back_exact() {
    let p = platform(&repo_file("tests/fixtures/upgrade-scripts"));
    let (id, key) = p.submit(&odoo_dump("v16_base.zip"), "production");
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "done", "{request}");
    let sql = p
        .get(request["upgraded_sql_url"].as_str().unwrap())
        .text()
        .unwrap();
    assert!(!sql.contains("database.is_neutralized"));
}

#[test]
fn a_failing_script_fails_the_request_with_a_readable_message() {
    let scripts = tempfile::tempdir().unwrap();
    let dir = scripts.path().join("17.0/base/0.0.0");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("pre-boom.py"),
        "def migrate(cr, version):\n    cr.execute(\"UPDATE res_partner SET name = name || '!'\")\n    1 / 0\n",
    )
    .unwrap();
    let p = platform(scripts.path());
    let (id, key) = p.submit(&odoo_dump("v16_base.zip"), "test");
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "failed", "{request}");
    let message = request["customer_message"].as_str().unwrap();
    assert!(message.contains("pre-boom.py"), "{message}");
    assert!(message.contains("ZeroDivisionError"), "{message}");
    assert_eq!(scratch_databases(&p), "0", "nothing is left behind");
    let upgraded = p.get(request["upgraded_dump_url"].as_str().unwrap());
    assert_eq!(upgraded.status(), 404);
    let notes = p
        .get(request["notes_url"].as_str().unwrap())
        .text()
        .unwrap();
    assert!(notes.contains("Failed"), "{notes}");
}

#[test]
fn a_step_without_its_engine_fails_the_request_at_once_naming_it() {
    // 16.0 -> 18.0 goes through 17.0, whose engine this server does not have.
    let scripts = tempfile::tempdir().unwrap();
    let p = platform_for(scripts.path(), "18.0");
    let (id, key) = p.submit(&odoo_dump("v16_base.zip"), "test");
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "failed", "{request}");
    let message = request["customer_message"].as_str().unwrap();
    assert!(
        message.contains("no ready upgrade engine for 17.0")
            && message.contains("slipway upgrade engine add 17.0"),
        "{message}"
    );
}

#[test]
fn a_file_that_is_not_a_dump_fails_clearly() {
    let p = platform(&repo_file("tests/fixtures/upgrade-scripts"));
    let fake = p.data.path().join("holiday.dump");
    std::fs::write(&fake, b"\x89PNG\r\n\x1a\n not a database at all").unwrap();
    let (id, key) = p.submit(&fake, "test");
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "failed");
    let message = request["customer_message"].as_str().unwrap();
    assert!(message.contains("not a dump"), "{message}");
}

/// The first JSON document the client logged for `operation`.
fn client_output(log: &str, operation: &str) -> Value {
    let mut stream = serde_json::Deserializer::from_str(log).into_iter::<Value>();
    std::iter::from_fn(|| stream.next()?.ok())
        .find(|doc| doc["operation"] == operation)
        .unwrap_or_else(|| panic!("no {operation} output in {log}"))
}

#[test]
fn the_odoo_upgrade_client_from_pypi_works_unchanged() {
    // The client only knows targets up to 13.0; offer 13.0 (an engine on a stand-in saying
    // it is 13.0) so it can ask for it.
    let scripts = tempfile::tempdir().unwrap();
    let p = platform_for(scripts.path(), "13.0");
    let dump = odoo_dump("v16_base.zip");
    let out = std::process::Command::new("python3")
        .arg(repo_file("tests/fixtures/odoo_upgrade_py3.py"))
        .args([
            "all",
            "-v",
            "--contract",
            CONTRACT,
            "--email",
            "ops@example.com",
        ])
        .args(["--target", "13.0", "--aim", "test", "--url", &p.base])
        .arg("--dbdump")
        .arg(&dump)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "odoo-upgrade failed: {log}");
    let created = client_output(&log, "create");
    assert_eq!(created["http_status"]["code"], 200);
    let request = &created["upgrade_response"]["request"];
    let (id, key) = (request["id"].to_string(), request["key"].as_str().unwrap());
    assert_eq!(client_output(&log, "upload")["http_status"]["code"], 200);
    assert_eq!(client_output(&log, "process")["http_status"]["code"], 200);
    let status = client_output(&log, "status");
    assert_eq!(
        status["upgrade_response"]["request"]["filename"],
        "v16_base.zip"
    );
    assert_eq!(
        status["upgrade_response"]["request"]["filesize"],
        "482.46 Kb"
    );

    // 16.0 cannot go "up" to 13.0: the request fails and says why.
    let done = p.wait_finished(&id, key);
    assert_eq!(done["state"], "failed");
    assert!(done["customer_message"]
        .as_str()
        .unwrap()
        .contains("already Odoo 16.0"));
}

#[test]
fn a_bad_client_call_gets_a_client_error() {
    let p = platform(&repo_file("tests/fixtures/upgrade-scripts"));
    let out = std::process::Command::new("python3")
        .arg(repo_file("tests/fixtures/odoo_upgrade_py3.py"))
        .args([
            "status",
            "-v",
            "--key",
            "wrong",
            "--request",
            "1",
            "--url",
            &p.base,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "ERROR_HTTP_4xx");
    let log = String::from_utf8_lossy(&out.stderr);
    let status = client_output(&log, "status");
    assert_eq!(
        status["upgrade_response"]["failures"][0]["reason"],
        "KEY:INVALID"
    );
}

#[test]
fn a_restart_during_processing_resumes_the_request() {
    let scripts = tempfile::tempdir().unwrap();
    let dir = scripts.path().join("17.0/base/0.0.0");
    std::fs::create_dir_all(&dir).unwrap();
    // Slow enough to be caught in progress; says each run to a listener of the test (the
    // script runs in a sandbox: no file of the test is writable there, the network is).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listening = listener.local_addr().unwrap().port();
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            drop(stream);
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    std::fs::write(
        dir.join("pre-slow.py"),
        format!(
            "import socket, time\n\ndef migrate(cr, version):\n    socket.create_connection(('127.0.0.1', {listening})).close()\n    time.sleep(4)\n"
        ),
    )
    .unwrap();
    let mut p = platform(scripts.path());
    let (id, key) = p.submit(&odoo_dump("v16_base.zip"), "production");
    let deadline = Instant::now() + Duration::from_secs(60);
    while runs.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the slow script never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        terminate(&mut p.child).success(),
        "clean shutdown mid-request"
    );

    let port = free_port();
    let sftp = format!("127.0.0.1:{}", free_port());
    p.child = spawn_serve_with(
        p.data.path(),
        port,
        &[],
        &[
            "--upgrade-scripts",
            scripts.path().to_str().unwrap(),
            "--sftp-listen",
            &sftp,
        ],
    );
    wait_healthy(port, &mut p.child);
    p.base = format!("http://127.0.0.1:{port}");
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "done", "{request}");
    assert_eq!(
        runs.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "ran again from the start"
    );
}

/// `sftp -b` as the request's user with `identity`, in `dir`; returns the output on success.
fn sftp_batch(port: u64, user: &str, identity: &Path, dir: &Path, commands: &str) -> String {
    let batch = dir.join("batch");
    std::fs::write(&batch, commands).unwrap();
    let out = std::process::Command::new("sftp")
        .arg("-b")
        .arg(&batch)
        .args(["-F", "/dev/null", "-P", &port.to_string()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-i"])
        .arg(identity)
        .arg(format!("{user}@127.0.0.1"))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sftp {commands:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_dump_sent_and_fetched_over_sftp_is_upgraded() {
    let p = platform(&repo_file("tests/fixtures/upgrade-scripts"));
    let home = tempfile::tempdir().unwrap();
    let identity = home.path().join("id_ed25519");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&identity)
        .status()
        .unwrap();
    assert!(keygen.success());
    let (id, key) = p.create("prod.zip", "production");
    let keys = reqwest::blocking::multipart::Form::new()
        .file("ssh_keys", identity.with_extension("pub"))
        .unwrap();
    let access: Value = p
        .http
        .post(format!("{}/database/v1/request_sftp_access", p.base))
        .query(&[("key", &key), ("request", &id)])
        .multipart(keys)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(access["failures"], serde_json::json!([]), "{access}");
    let port = access["request"]["sftp_port"].as_u64().unwrap();
    let user = access["request"]["sftp_user"].as_str().unwrap().to_string();
    assert_eq!(access["request"]["shared_file"], "prod.zip");

    std::fs::copy(odoo_dump("v16_base.zip"), home.path().join("prod.zip")).unwrap();
    sftp_batch(
        port,
        &user,
        &identity,
        home.path(),
        "put prod.zip prod.zip\n",
    );
    let processed = p.call("process", &[("key", &key), ("request", &id)]);
    assert_eq!(processed["request"]["state"], "pending", "{processed}");
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "done", "{request}");

    sftp_batch(
        port,
        &user,
        &identity,
        home.path(),
        "get upgraded_prod.zip\n",
    );
    let by_sftp = std::fs::read(home.path().join("upgraded_prod.zip")).unwrap();
    let by_http = p
        .get(request["upgraded_dump_url"].as_str().unwrap())
        .bytes()
        .unwrap();
    assert_eq!(
        by_sftp,
        by_http.as_ref(),
        "the same upgraded dump both ways"
    );
}

#[test]
fn custom_modules_sent_with_the_request_have_their_scripts_run() {
    let p = platform(&repo_file("tests/fixtures/upgrade-scripts"));
    let data = p.data.path();
    // A 16.0 database with a custom module installed: the real fixture plus x_custom.
    let v16 = odoo_dump("v16_base.zip");
    slipway_ok(
        data,
        &[
            "dump",
            "restore",
            v16.to_str().unwrap(),
            "--database",
            "src",
        ],
    );
    slipway_ok(
        data,
        &["pg", "psql", "src", "--", "-v", "ON_ERROR_STOP=1", "-c",
          "INSERT INTO ir_module_module (name, state, latest_version) VALUES ('x_custom', 'installed', '16.0.1.0'); \
           INSERT INTO ir_module_module_dependency (module_id, name) \
           SELECT id, 'base' FROM ir_module_module WHERE name = 'x_custom'"],
    );
    let dump = data.join("with_custom.dump");
    slipway_ok(
        data,
        &[
            "dump",
            "create",
            "--database",
            "src",
            "--format",
            "custom",
            "-o",
            dump.to_str().unwrap(),
        ],
    );

    // The custom code for 17.0: version 1.1 with a post script for it, zipped in a folder.
    let src = tempfile::tempdir().unwrap();
    let module = src.path().join("custom-addons/x_custom");
    std::fs::create_dir_all(module.join("migrations/1.1")).unwrap();
    std::fs::write(
        module.join("__manifest__.py"),
        "{'name': 'X', 'version': '1.1', 'depends': ['base']}\n",
    )
    .unwrap();
    std::fs::write(module.join("__init__.py"), "").unwrap();
    std::fs::write(
        module.join("migrations/1.1/post-mark.py"),
        "def migrate(cr, version):\n    cr.execute(\"INSERT INTO ir_config_parameter (key, value) VALUES ('x_custom.migrated_from', %s)\", [version])\n",
    )
    .unwrap();
    let zip = src.path().join("modules.zip");
    let zipped = std::process::Command::new("python3")
        .args([
            "-c",
            "import shutil, sys; shutil.make_archive(sys.argv[1], 'zip', sys.argv[2])",
        ])
        .arg(src.path().join("modules"))
        .arg(src.path().join("custom-addons/.."))
        .status()
        .unwrap();
    assert!(zipped.success());

    let (id, key) = p.submit_with_modules(&dump, &zip, "production");
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "done", "{request}");

    let sql = p
        .get(request["upgraded_sql_url"].as_str().unwrap())
        .text()
        .unwrap();
    assert!(
        sql.contains("x_custom.migrated_from\t16.0.1.0"),
        "custom script ran with the old version"
    );
    let upgraded = data.join("upgraded.dump");
    std::fs::write(
        &upgraded,
        p.get(request["upgraded_dump_url"].as_str().unwrap())
            .bytes()
            .unwrap(),
    )
    .unwrap();
    let inspected: Value = serde_json::from_str(&slipway_ok(
        data,
        &["dump", "inspect", upgraded.to_str().unwrap(), "--json"],
    ))
    .unwrap();
    assert_eq!(inspected["format"], "pg-custom");
    assert_eq!(inspected["modules"]["x_custom"], "17.0.1.1");
    assert_eq!(inspected["modules"]["base"], "17.0.1.3");
    let modules = p.get(request["modules_url"].as_str().unwrap());
    assert_eq!(
        modules.bytes().unwrap().as_ref(),
        std::fs::read(&zip).unwrap()
    );
}

#[test]
fn skip_test_delivers_the_upgraded_dump() {
    let p = platform(&repo_file("tests/fixtures/upgrade-scripts"));
    let (id, key) = p.create("v16.zip", "production");
    p.send("upload", &id, &key, &odoo_dump("v16_base.zip"));
    let skipped = p.call("skip_test", &[("key", &key), ("request", &id)]);
    assert_eq!(skipped["failures"], serde_json::json!([]), "{skipped}");
    p.call("process", &[("key", &key), ("request", &id)]);
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "delivered", "{request}");
    assert_eq!(
        p.get(request["upgraded_dump_url"].as_str().unwrap())
            .status(),
        200
    );
    let again = p.call("skip_test", &[("key", &key), ("request", &id)]);
    assert_eq!(again["failures"][0]["reason"], "STATE:INVALID");
}

#[test]
fn a_modules_zip_escaping_its_folder_fails_the_request_and_writes_nothing_outside() {
    let p = platform(&repo_file("tests/fixtures/upgrade-scripts"));
    let zip = p.data.path().join("evil.zip");
    let made = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], 'w'); \
             z.writestr('../../escaped.py', 'x = 1'); z.close()",
        ])
        .arg(&zip)
        .status()
        .unwrap();
    assert!(made.success());
    let (id, key) = p.submit_with_modules(&odoo_dump("v16_base.zip"), &zip, "production");
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "failed", "{request}");
    let message = request["customer_message"].as_str().unwrap();
    assert!(
        message.contains("custom modules zip was refused"),
        "{message}"
    );
    assert!(!p.data.path().join("upgrade/escaped.py").exists());
    assert!(!p.data.path().join("escaped.py").exists());
}

/// A dump sent to the upgrade API that drops, alters or comments on platform databases (the
/// metadata database `slipway`, the server's `postgres`): the request fails and they are as
/// they were.
#[test]
fn a_dump_aimed_at_platform_databases_fails_and_changes_nothing() {
    let p = platform(&repo_file("tests/fixtures/upgrade-scripts"));
    let state = |db: &str| {
        let url = slipway_pg_url(p.data.path(), "postgres");
        let out = std::process::Command::new("psql")
            .args(["-X", "-At", &url, "-c"])
            .arg(format!(
                "SELECT pg_get_userbyid(datdba) || '|' || coalesce(shobj_description(oid, 'pg_database'), '') \
                 || '|' || datallowconn FROM pg_database WHERE datname = '{db}'"
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let before = (state("slipway"), state("postgres"));
    for statement in [
        "DROP DATABASE slipway WITH (FORCE);",
        "ALTER DATABASE slipway RENAME TO pwned;",
        "ALTER DATABASE postgres WITH ALLOW_CONNECTIONS false;",
        "COMMENT ON DATABASE slipway IS 'pwned';",
    ] {
        let dump = p.data.path().join("evil.sql");
        std::fs::write(
            &dump,
            format!(
                "--\n-- PostgreSQL database dump\n--\n\n\
                 CREATE TABLE public.ir_module_module (id integer, name character varying, \
                 state character varying, latest_version character varying);\n\n\
                 COPY public.ir_module_module (id, name, state, latest_version) FROM stdin;\n\
                 1\tbase\tinstalled\t16.0.1.3\n\\.\n\n\
                 {statement}\n\n--\n-- PostgreSQL database dump complete\n--\n\n"
            ),
        )
        .unwrap();
        let (id, key) = p.submit(&dump, "test");
        let request = p.wait_finished(&id, &key);
        assert_eq!(request["state"], "failed", "{statement}: {request}");
        let message = request["customer_message"].as_str().unwrap_or_default();
        assert!(
            message.contains("must be owner") || message.contains("permission denied"),
            "refused for touching another database, not for the dump's shape: {statement}: {request}"
        );
        assert_eq!((state("slipway"), state("postgres")), before, "{statement}");
    }
}

/// The admin URL of a data directory's embedded cluster (its `postgres.json`).
fn slipway_pg_url(data: &Path, db: &str) -> String {
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("postgres.json")).unwrap())
            .unwrap();
    format!(
        "postgresql://postgres:{}@127.0.0.1:{}/{db}",
        state["password"].as_str().unwrap(),
        state["port"]
    )
}

/// A customer's migration script goes after Slipway's secrets and the platform's databases;
/// it writes what it got into the database it upgrades, which comes back to the customer.
#[test]
fn a_custom_modules_script_gets_none_of_slipways_secrets_and_the_request_completes() {
    let p = platform(&repo_file("tests/fixtures/upgrade-scripts"));
    let data = p.data.path();
    slipway_ok(
        data,
        &[
            "dump",
            "restore",
            odoo_dump("v16_base.zip").to_str().unwrap(),
            "--database",
            "src",
        ],
    );
    slipway_ok(
        data,
        &["pg", "psql", "src", "--", "-v", "ON_ERROR_STOP=1", "-c",
          "INSERT INTO ir_module_module (name, state, latest_version) VALUES ('x_custom', 'installed', '16.0.1.0'); \
           INSERT INTO ir_module_module_dependency (module_id, name) \
           SELECT id, 'base' FROM ir_module_module WHERE name = 'x_custom'"],
    );
    let dump = data.join("with_custom.dump");
    slipway_ok(
        data,
        &[
            "dump",
            "create",
            "--database",
            "src",
            "--format",
            "custom",
            "-o",
            dump.to_str().unwrap(),
        ],
    );
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("postgres.json")).unwrap())
            .unwrap();
    let script = format!(
        r#"import os
DATA, SOCKET, PORT, PID = {data:?}, {socket:?}, {port}, {pid}

def attempt(name, fn):
    try:
        return '%s: GOT %r' % (name, fn())
    except BaseException as e:
        return '%s: DENIED %s' % (name, type(e).__name__)

def read(path):
    return lambda: open(path, 'rb').read()[:40]

def migrate(cr, version):
    import psycopg2
    found = [
        attempt('postgres.json', read(DATA + '/postgres.json')),
        attempt('cli-token', read(DATA + '/cli-token')),
        attempt('smtp secret', read(DATA + '/smtp/secret')),
        attempt('builds', lambda: os.listdir(DATA + '/builds')),
        attempt('backup repository', lambda: os.listdir(DATA + '/backups')),
        attempt('upgrade requests', lambda: os.listdir(DATA + '/upgrade')),
        attempt('/etc/shadow', read('/etc/shadow')),
        attempt('socket as postgres', lambda: psycopg2.connect(host=SOCKET, port=PORT, user='postgres', dbname='postgres', connect_timeout=5).server_version),
        attempt('signal slipway', lambda: os.kill(PID, 0)),
    ]
    cr.execute("INSERT INTO ir_config_parameter (key, value) VALUES ('x_custom.probe', %s)", [' | '.join(found)])
"#,
        data = data.display().to_string(),
        socket = state["socket_dir"].as_str().unwrap(),
        port = state["port"].as_u64().unwrap(),
        pid = p.child.id(),
    );
    let src = tempfile::tempdir().unwrap();
    let module = src.path().join("custom-addons/x_custom");
    std::fs::create_dir_all(module.join("migrations/1.1")).unwrap();
    std::fs::write(
        module.join("__manifest__.py"),
        "{'name': 'X', 'version': '1.1', 'depends': ['base']}\n",
    )
    .unwrap();
    std::fs::write(module.join("__init__.py"), "").unwrap();
    std::fs::write(module.join("migrations/1.1/post-probe.py"), script).unwrap();
    let zip = src.path().join("modules.zip");
    let zipped = std::process::Command::new("python3")
        .args([
            "-c",
            "import shutil, sys; shutil.make_archive(sys.argv[1], 'zip', sys.argv[2])",
        ])
        .arg(src.path().join("modules"))
        .arg(src.path().join("custom-addons/.."))
        .status()
        .unwrap();
    assert!(zipped.success());

    let (id, key) = p.submit_with_modules(&dump, &zip, "production");
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "done", "{request}");
    let sql = p
        .get(request["upgraded_sql_url"].as_str().unwrap())
        .text()
        .unwrap();
    let probe = sql
        .lines()
        .find(|l| l.contains("x_custom.probe"))
        .unwrap_or_else(|| panic!("the script did not run"));
    for name in [
        "postgres.json",
        "cli-token",
        "smtp secret",
        "builds",
        "backup repository",
        "upgrade requests",
        "/etc/shadow",
        "socket as postgres",
        "signal slipway",
    ] {
        assert!(
            probe.contains(&format!("{name}: DENIED")),
            "{name} was not refused: {probe}"
        );
    }
}

/// The scratch databases processing left on the server's cluster (none, once a request ended).
fn scratch_databases(p: &Platform) -> String {
    slipway_ok(
        p.data.path(),
        &[
            "pg",
            "psql",
            "postgres",
            "--",
            "-tAc",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'slipway_upgrade_%'",
        ],
    )
    .trim()
    .to_string()
}

/// A zip of files (`path in zip`, text), as `upload_modules` takes custom modules.
fn zip_of(path: &Path, files: &[(&str, &str)]) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, text) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn a_16_database_goes_to_18_in_two_steps_through_the_api_with_curl() {
    let scripts = tempfile::tempdir().unwrap();
    let p = platform_with(scripts.path(), &["17.0", "18.0"]);
    let api = format!("{}/database/v1", p.base);
    let created = slipway_testkit::curl_json(&[
        &format!("{api}/create"),
        "--data-urlencode",
        &format!("contract={CONTRACT}"),
        "-d",
        "aim=test",
        "-d",
        "target=18.0",
        "-d",
        "email=ops@example.com",
        "-d",
        "filename=v16_base.zip",
    ]);
    assert_eq!(created["failures"], serde_json::json!([]), "{created}");
    let id = created["request"]["id"].to_string();
    let key = created["request"]["key"].as_str().unwrap().to_string();
    let (key_arg, id_arg) = (format!("key={key}"), format!("request={id}"));
    let query = ["--url-query", &key_arg, "--url-query", &id_arg];
    let dump = odoo_dump("v16_base.zip");
    let upload = [
        &format!("{api}/upload"),
        "-X",
        "POST",
        "-H",
        "Content-Type: application/octet-stream",
        "-T",
        dump.to_str().unwrap(),
    ];
    let uploaded = slipway_testkit::curl_json(&[&upload[..], &query[..]].concat());
    assert_eq!(uploaded["failures"], serde_json::json!([]), "{uploaded}");
    let form = ["--data-urlencode", &key_arg, "--data-urlencode", &id_arg];
    let (process, status) = (format!("{api}/process"), format!("{api}/status"));
    let processed = slipway_testkit::curl_json(&[&[process.as_str()][..], &form[..]].concat());
    assert_eq!(processed["request"]["state"], "pending", "{processed}");
    let deadline = Instant::now() + Duration::from_secs(240);
    let request = loop {
        let answer = slipway_testkit::curl_json(&[&[status.as_str()][..], &form[..]].concat());
        let state = answer["request"]["state"].as_str().unwrap().to_string();
        if !["pending", "progress"].contains(&state.as_str()) {
            break answer["request"].clone();
        }
        assert!(Instant::now() < deadline, "still {state}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(request["state"], "done", "{request}");

    let notes = p
        .get(request["notes_url"].as_str().unwrap())
        .text()
        .unwrap();
    let at = |text: &str| {
        notes
            .find(text)
            .unwrap_or_else(|| panic!("{text:?} missing from the notes: {notes}"))
    };
    // One major version at a time, each by its own engine, then one verification.
    assert!(
        at("Check the installed modules against Odoo 17.0")
            < at("Upgrade to 17.0 with OpenUpgrade")
    );
    assert!(
        at("Upgrade to 17.0 with OpenUpgrade")
            < at("Check the installed modules against Odoo 18.0")
    );
    assert!(at("Upgrade to 18.0 with OpenUpgrade") < at("Verify with a stock Odoo 18.0"));
    at("base: 16.0.1.3 -&gt; 18.0.1.3");
    at("web_kanban_gauge 16.0.1.0: merged into web");
    assert!(!notes.contains("Verify with a stock Odoo 17.0"), "{notes}");

    let upgraded = p.data.path().join("upgraded.zip");
    let fetched = std::process::Command::new("curl")
        .args(["-sS", "--fail", "-o"])
        .arg(&upgraded)
        .arg(request["upgraded_dump_url"].as_str().unwrap())
        .status()
        .unwrap();
    assert!(fetched.success());
    let inspected: Value = serde_json::from_str(&slipway_ok(
        p.data.path(),
        &["dump", "inspect", upgraded.to_str().unwrap(), "--json"],
    ))
    .unwrap();
    assert_eq!(inspected["odoo_version"], "18.0");
    assert!(
        inspected["modules"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v.as_str().unwrap().starts_with("18.0.")),
        "{inspected}"
    );
    assert_eq!(scratch_databases(&p), "0");
}

#[test]
fn a_module_the_target_lacks_fails_early_with_the_advice_which_gets_it_through() {
    let scripts = tempfile::tempdir().unwrap();
    let p = platform(scripts.path());
    // This engine's OpenUpgrade knows nothing of web_kanban_gauge, which Odoo 17 lacks.
    std::fs::write(
        p.engines[0]
            .openupgrade_dir()
            .join("openupgrade_scripts/apriori.py"),
        "renamed_modules = {}\nmerged_modules = {}\n",
    )
    .unwrap();
    let (id, key) = p.submit(&odoo_dump("v16_base.zip"), "test");
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "failed", "{request}");
    let message = request["customer_message"].as_str().unwrap();
    for part in [
        "web_kanban_gauge",
        "add an empty module with a manifest",
        "upload_modules",
        "remove it after the upgrade",
    ] {
        assert!(message.contains(part), "{part:?} missing: {message}");
    }
    let notes = p
        .get(request["notes_url"].as_str().unwrap())
        .text()
        .unwrap();
    assert!(
        !notes.contains("Upgrade to 17.0 with OpenUpgrade"),
        "no Odoo ran: {notes}"
    );
    assert_eq!(scratch_databases(&p), "0");

    // The advice, followed: an empty module of that name sent with the request.
    let modules = p.data.path().join("placeholder.zip");
    zip_of(
        &modules,
        &[
            (
                "web_kanban_gauge/__manifest__.py",
                "{'name': 'Empty placeholder', 'version': '1.0', 'depends': ['web']}\n",
            ),
            ("web_kanban_gauge/__init__.py", ""),
        ],
    );
    let (id, key) = p.submit_with_modules(&odoo_dump("v16_base.zip"), &modules, "test");
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "done", "{request}");
    let notes = p
        .get(request["notes_url"].as_str().unwrap())
        .text()
        .unwrap();
    assert!(
        notes.contains("web_kanban_gauge (custom): 16.0.1.0 -&gt; 17.0.1.0"),
        "{notes}"
    );
}

#[test]
fn a_result_the_target_odoo_cannot_serve_fails_verification() {
    let scripts = tempfile::tempdir().unwrap();
    let p = platform(scripts.path());
    // A custom module that makes the server refuse to start (as one raising at start would).
    let modules = p.data.path().join("broken.zip");
    zip_of(
        &modules,
        &[
            (
                "x_broken/__manifest__.py",
                "{'name': 'Breaks the server', 'version': '1.0', 'depends': ['base']}\n",
            ),
            ("x_broken/__init__.py", ""),
            ("x_broken/standin_fail_on_start", ""),
        ],
    );
    let restored = slipway(
        p.data.path(),
        &[
            "dump",
            "restore",
            odoo_dump("v16_base.zip").to_str().unwrap(),
            "--database",
            "src",
        ],
    );
    assert!(restored.status.success());
    slipway_ok(
        p.data.path(),
        &["pg", "psql", "src", "--", "-v", "ON_ERROR_STOP=1", "-c",
          "INSERT INTO ir_module_module (name, state, latest_version) VALUES ('x_broken', 'installed', '16.0.1.0')"],
    );
    let dump = p.data.path().join("with_broken.dump");
    slipway_ok(
        p.data.path(),
        &[
            "dump",
            "create",
            "--database",
            "src",
            "--format",
            "custom",
            "-o",
            dump.to_str().unwrap(),
        ],
    );
    let (id, key) = p.submit_with_modules(&dump, &modules, "test");
    let request = p.wait_finished(&id, &key);
    assert_eq!(request["state"], "failed", "{request}");
    let message = request["customer_message"].as_str().unwrap();
    assert!(
        message.contains("Odoo 17.0 does not start on the upgraded database"),
        "{message}"
    );
    let upgraded = p.get(request["upgraded_dump_url"].as_str().unwrap());
    assert_eq!(upgraded.status(), 404, "nothing is delivered");
    assert_eq!(scratch_databases(&p), "0");
}
