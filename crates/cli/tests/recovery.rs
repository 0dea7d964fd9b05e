//! Crash recovery with the real binary: `slipway serve` killed with SIGKILL mid-install, then
//! started again; a running production whose database disappears.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::site::{on_standin, Site, WorkTree};

/// The processes whose command line mentions `needle` (as `pgrep -f` would), but for
/// PostgreSQL's backends (their titles name the database they serve).
fn processes_naming(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .chars()
            .all(|c| c.is_ascii_digit())
        {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) && !text.starts_with("postgres:") {
            found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "still waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A push whose install sleeps (the stand-in's `standin_sleep`), `serve` killed during it and
/// started again: the build is built again and runs, its logs keep both runs and say why, and
/// nothing of the first run outlived it.
fn an_install_cut_short_by_a_crash_is_built_again(serve_args: &[&str]) {
    if !on_standin() {
        return; // the slow install is a hook of the stand-in
    }
    let mut site = Site::start(serve_args);
    site.cli_ok(&["project", "create", "slow", "--odoo", "17.0"]);
    let tree = WorkTree::from_fixture("shop", &site.git_url("slow"));
    let manifest = tree.path().join("shop_core/__manifest__.py");
    let text = read(&manifest).replacen('{', "{\n    'standin_sleep': 10,", 1);
    std::fs::write(&manifest, text).unwrap();
    let head = tree.commit("a slow install");
    tree.push("main");
    let id = site.build_of("slow", "main", &head);
    let name = format!("slow-main-{id}");
    let logs = site.data.path().join("builds").join(&name).join("logs");
    wait_for(
        "the install to be under way",
        Duration::from_secs(120),
        || read(&logs.join("install.log")).contains("(standin_sleep)"),
    );

    site.crash();
    // the install dies with Slipway (its sandbox, or the kernel's parent-death signal), at
    // once: not at its next log line, when its pipe to Slipway breaks (a real Odoo's logging
    // would not even stop there)
    wait_for(
        "the install to die with serve",
        Duration::from_secs(4),
        || processes_naming(&name).is_empty(),
    );
    assert!(
        site.database_exists(&name),
        "the half-made database is there"
    );

    site.start_again();
    let build = site.wait_build(id);
    assert_eq!(build["state"], "running", "{build}");
    let message = build["message"].as_str().unwrap_or_default();
    assert!(!message.contains("already exists"), "{build}");
    let build_log = read(&logs.join("build.log"));
    assert!(
        build_log.contains("interrupted by a restart of Slipway during step install"),
        "{build_log}"
    );
    assert_eq!(
        build_log.matches("step: checkout").count(),
        2,
        "both runs are in build.log:\n{build_log}"
    );
    assert_eq!(
        read(&logs.join("install.log"))
            .matches("(standin_sleep)")
            .count(),
        2,
        "install.log keeps the run cut short"
    );
    // its server runs; no install of it does any more
    let installs: Vec<String> = processes_naming(&name)
        .into_iter()
        .filter(|p| p.contains("--stop-after-init"))
        .collect();
    assert!(installs.is_empty(), "{installs:#?}");
}

#[test]
fn an_install_cut_short_by_a_crash_is_built_again_in_its_sandbox() {
    an_install_cut_short_by_a_crash_is_built_again(&[]);
}

#[test]
fn an_install_cut_short_by_a_crash_is_built_again_without_sandbox() {
    an_install_cut_short_by_a_crash_is_built_again(&["--no-sandbox"]);
}

/// Production's edges: an import refused without showing the server's paths, a backup
/// refused by name when production holds a table its owner cannot read, and a production whose
/// database was dropped shown failed, in its History too.
#[test]
fn a_production_whose_database_was_dropped_is_shown_failed_and_in_its_history() {
    let site = Site::start(&[]);
    let (_tree, prod) = site.project_with_production("lost");
    let id = prod["id"].as_i64().unwrap();
    let database = prod["database"].as_str().unwrap().to_string();
    assert!(site.database_exists(&database));
    let http = reqwest::blocking::Client::new();
    let branch = format!("{}/api/projects/lost/branches/main", site.url());

    // an API error about a file of the server names the file, not where the server keeps it
    let refused = http
        .post(format!("{branch}/import"))
        .bearer_auth(site.token())
        .body(b"just some notes, not a dump\n".to_vec())
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("not a database dump"), "{body}");
    let data_dir = site.data.path().display().to_string();
    assert!(!message.contains(&data_dir), "{message}");
    assert!(!message.contains("/backups/"), "{message}");

    // a table made by the superuser, which production's own role cannot read
    site.psql(&database, "CREATE TABLE secret_notes (note text)");
    let refused = http
        .post(format!("{branch}/backups"))
        .bearer_auth(site.token())
        .json(&serde_json::json!({}))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 409);
    let body: serde_json::Value = refused.json().unwrap();
    assert_eq!(body["error"]["code"], "conflict", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("table public.secret_notes") && message.contains("OWNER TO"),
        "{message}"
    );
    let listed = site.get("/api/projects/lost/branches/main/backups");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["state"] != "running" && b["state"] != "failed"),
        "nothing half-written: {listed}"
    );
    site.psql(&database, "DROP TABLE secret_notes");

    site.psql(
        "postgres",
        &format!("DROP DATABASE \"{database}\" WITH (FORCE)"),
    );
    let mut build = prod;
    wait_for("the build to be failed", Duration::from_secs(30), || {
        build = site.get(&format!("/api/builds/{id}"));
        build["result"] == "failed"
    });
    assert_eq!(build["state"], "done", "{build}");
    let message = build["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("database {database} no longer exists")),
        "{message}"
    );
    let history = site.get("/api/projects/lost/branches/main/history");
    let told = history.as_array().unwrap().iter().any(|e| {
        e["kind"] == "build.failed"
            && e["detail"]["build"] == id
            && e["detail"]["message"]
                .as_str()
                .unwrap()
                .contains("no longer exists")
    });
    assert!(told, "{history}");
}
