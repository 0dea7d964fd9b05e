//! Git-driven development builds, end to end: a real `git push` to `slipway serve` becomes a
//! running, tested Odoo build (on the Odoo stand-in, or a real Odoo with
//! `SLIPWAY_TEST_ODOO_SRC`).

mod common;

use std::time::Duration;

use common::site::{on_standin, Site, WorkTree};
use serde_json::{json, Value};

fn project(site: &Site, name: &str, series: &str) -> WorkTree {
    site.cli_ok(&["project", "create", name, "--odoo", series]);
    WorkTree::from_fixture("shop", &site.git_url(name))
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[test]
fn a_push_becomes_a_running_tested_build_reachable_through_the_proxy() {
    let site = Site::start(&[]);
    let tree = project(&site, "shop", "17.0");
    let head = tree.git(&["rev-parse", "HEAD"]);
    tree.push("main");

    let id = site.build_of("shop", "main", &head);
    let build = site.wait_build(id);
    assert_eq!(build["state"], "running", "{build}");
    assert_eq!(build["result"], "success", "{build}");
    assert_eq!(build["template_hit"], false);
    let name = build["name"].as_str().unwrap().to_string();
    assert_eq!(name, format!("shop-main-{id}"));

    // The tests ran, in install.log, and every log is listed.
    let logs = site.get(&format!("/api/builds/{id}/logs"));
    let names: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    for log in ["pip.log", "install.log", "odoo.log"] {
        assert!(names.contains(&log), "{log} missing from {names:?}");
    }
    let install = site.cli_ok(&["build", "logs", &id.to_string(), "install.log"]);
    assert!(install.contains("shop_report"), "{install}");
    assert!(
        install.contains("Starting"),
        "tests should have run:\n{install}"
    );

    // A Range request gets part of a log.
    let partial = http()
        .get(format!("{}/api/builds/{id}/logs/install.log", site.url()))
        .bearer_auth(site.token())
        .header("Range", "bytes=0-9")
        .send()
        .unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(partial.bytes().unwrap().len(), 10);

    // The build answers on its own host name, which the API gives with the port Slipway
    // was reached on.
    let origin = format!("http://{name}.localhost:{}", site.port);
    assert_eq!(build["url"], format!("{origin}/"), "{build}");
    let health = site
        .build_request(reqwest::Method::GET, &name, "/web/health")
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);

    // The path route only redirects there, whatever the method, and never reaches the build
    // (whose pages would otherwise run on the UI's origin).
    let forwarded = || {
        site.get(&format!("/api/builds/{id}/monitor"))["http_requests"]
            .as_u64()
            .unwrap()
    };
    let before = forwarded();
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let by_path = http()
            .request(
                method.clone(),
                format!("{}/builds/{name}/web/health?probe=path%20route", site.url()),
            )
            .send()
            .unwrap();
        assert_eq!(by_path.status(), 307, "{method}");
        assert_eq!(
            by_path.headers()["location"],
            format!("{origin}/web/health?probe=path%20route").as_str(),
            "{method}"
        );
    }
    let root = http()
        .get(format!("{}/builds/{name}", site.url()))
        .send()
        .unwrap();
    assert_eq!(root.headers()["location"], format!("{origin}/").as_str());
    assert_eq!(forwarded(), before, "the path route reached the build");
    site.build_request(reqwest::Method::GET, &name, "/web/health")
        .send()
        .unwrap();
    assert_eq!(forwarded(), before + 1, "a request by host name is counted");

    // Connect: a one-time link that logs in as the administrator.
    let (cookie, path) = site.connect(id, &name);
    let page = site
        .build_request(reqwest::Method::GET, &name, "/web")
        .header("Cookie", cookie)
        .send()
        .unwrap();
    // Without a session, Odoo (and the stand-in) redirect /web to the login page.
    assert_eq!(page.status(), 200, "the session cookie logs in");
    let page = page.text().unwrap();
    if on_standin() {
        assert!(page.contains("Logged in as admin"), "{page}");
    }
    let reused = site
        .build_request(reqwest::Method::GET, &name, &path)
        .send()
        .unwrap();
    assert_eq!(reused.status(), 403, "a Connect link works once");

    // History: the push, with its commit and author.
    let history = site.get("/api/projects/shop/branches/main/history");
    let push = history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "push")
        .unwrap();
    assert_eq!(push["detail"]["commits"][0]["author"], "Jane Dev");
    assert_eq!(push["detail"]["commits"][0]["summary"], "initial modules");

    // A push that changes no module: the database is a template copy, not an install.
    tree.write("README.md", "docs only\n");
    let second = tree.commit("docs");
    tree.push("main");
    let id2 = site.build_of("shop", "main", &second);
    let build2 = site.wait_build(id2);
    assert_eq!(build2["state"], "running", "{build2}");
    assert_eq!(build2["template_hit"], true, "{build2}");
    let install2 = site.cli_ok(&["build", "logs", &id2.to_string(), "install.log"]);
    assert!(install2.contains("Template cache hit"), "{install2}");
}

#[test]
fn bad_pushes_fail_their_own_build_and_nothing_else() {
    let site = Site::start(&[]);
    let tree = project(&site, "acme", "17.0");
    tree.push("main");
    let good = site.build_of("acme", "main", &tree.git(&["rev-parse", "HEAD"]));
    assert_eq!(site.wait_build(good)["state"], "running");

    // A failing test.
    tree.git(&["checkout", "-q", "-b", "failing-test"]);
    tree.write(
        "shop_sale/tests/test_broken.py",
        "from odoo.tests import TransactionCase\n\n\nclass TestBroken(TransactionCase):\n    def test_fails(self):\n        self.assertEqual(1, 2, 'deliberately broken')\n",
    );
    tree.write(
        "shop_sale/tests/__init__.py",
        "from . import test_shop_sale\nfrom . import test_broken\n",
    );
    let sha = tree.commit("a failing test");
    tree.push("failing-test");
    let failed = site.wait_build(site.build_of("acme", "failing-test", &sha));
    // red, but serving: the modules are installed, and one connects to see why (Odoo.sh's way)
    assert_eq!(failed["state"], "running", "{failed}");
    assert_eq!(failed["result"], "failed", "{failed}");
    // Odoo's own count of the tests, and the first failure with its assertion
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.starts_with("tests failed: 1 failed, 0 error(s) of ")
            && message.contains("test_fails")
            && message.contains("AssertionError: 1 != 2 : deliberately broken"),
        "{failed}"
    );
    assert_eq!(failed["tests"]["failed"], 1, "{failed}");
    assert_eq!(failed["tests"]["errors"], 0, "{failed}");
    let run = failed["tests"]["run"].as_u64().unwrap();
    assert!(run >= 2, "{failed}");
    assert_eq!(failed["failed_log"], "install.log", "{failed}");
    let counts = format!("1 failed, 0 error(s) of {run} tests");
    let id = failed["id"].to_string();
    let shown = site.cli_ok(&["build", "show", &id]);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("tests") && l.ends_with(&counts)),
        "{shown}"
    );
    let shown: Value =
        serde_json::from_str(&site.cli_ok(&["build", "show", &id, "--json"])).unwrap();
    assert_eq!(
        shown["tests"],
        json!({"failed": 1, "errors": 0, "run": run})
    );
    let listed = site.cli_ok(&["build", "list", "acme", "--branch", "failing-test"]);
    assert!(listed.contains(&counts), "{listed}");
    let health = site
        .build_request(
            reqwest::Method::GET,
            failed["name"].as_str().unwrap(),
            "/web/health",
        )
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);
    // and its database is no template: the next build of the same modules tests again
    tree.write("README.md", "a change outside the modules\n");
    let again = tree.commit("no module changed");
    tree.push("failing-test");
    let retested = site.wait_build(site.build_of("acme", "failing-test", &again));
    assert_eq!(retested["template_hit"], false, "{retested}");
    assert_eq!(retested["result"], "failed", "{retested}");

    // Tests that import a package the build lacks: the import error is the cause, not a test.
    tree.git(&["checkout", "-q", "main"]);
    tree.git(&["checkout", "-q", "-b", "missing-test-package"]);
    tree.write(
        "shop_sale/tests/test_helper.py",
        "from odoo_test_helper import FakeModelLoader\n",
    );
    tree.write(
        "shop_sale/tests/__init__.py",
        "from . import test_shop_sale\nfrom . import test_helper\n",
    );
    let sha = tree.commit("tests needing odoo_test_helper");
    tree.push("missing-test-package");
    let missing = site.wait_build(site.build_of("acme", "missing-test-package", &sha));
    assert_eq!(missing["result"], "failed", "{missing}");
    let message = missing["message"].as_str().unwrap();
    assert!(
        message
            .contains("ModuleNotFoundError: No module named 'odoo_test_helper' (module shop_sale;"),
        "{missing}"
    );
    assert_eq!(missing["failed_log"], "install.log", "{missing}");

    // A broken manifest.
    tree.git(&["checkout", "-q", "main"]);
    tree.git(&["checkout", "-q", "-b", "broken-manifest"]);
    tree.write(
        "shop_stock/__manifest__.py",
        "{'name': 'shop_stock', 'depends': ['shop_core',\n",
    );
    let sha = tree.commit("oops");
    tree.push("broken-manifest");
    let broken = site.wait_build(site.build_of("acme", "broken-manifest", &sha));
    assert_eq!(broken["result"], "failed", "{broken}");
    assert!(
        broken["message"].as_str().unwrap().contains("manifest"),
        "{broken}"
    );
    assert!(
        !site.database_exists(broken["name"].as_str().unwrap()),
        "a failed build keeps no database"
    );
    let log = site.cli_ok(&["build", "logs", &broken["id"].to_string(), "build.log"]);
    assert!(
        log.contains("FAILED") && log.contains("shop_stock/__manifest__.py"),
        "the reason is in the build's logs:\n{log}"
    );

    // Requirements pip cannot satisfy.
    tree.git(&["checkout", "-q", "main"]);
    tree.git(&["checkout", "-q", "-b", "bad-requirements"]);
    tree.write("requirements.txt", "slipway-no-such-package-xyz==1.0\n");
    let sha = tree.commit("a requirement that does not exist");
    tree.push("bad-requirements");
    let pip = site.wait_build(site.build_of("acme", "bad-requirements", &sha));
    assert_eq!(pip["result"], "failed", "{pip}");
    assert!(
        pip["message"].as_str().unwrap().contains("pip.log"),
        "{pip}"
    );

    // The good build kept running through all of it.
    let main = site.get(&format!("/api/builds/{good}"));
    assert_eq!(main["state"], "running", "{main}");
    let name = main["name"].as_str().unwrap();
    let health = site
        .build_request(reqwest::Method::GET, name, "/web/health")
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[test]
fn a_series_without_runtime_fails_saying_what_to_do() {
    let site = Site::start(&[]);
    let tree = project(&site, "old", "16.0");
    tree.push("main");
    let build = site.wait_build(site.build_of("old", "main", &tree.git(&["rev-parse", "HEAD"])));
    assert_eq!(build["result"], "failed");
    let message = build["message"].as_str().unwrap();
    assert!(message.contains("slipway odoo add 16.0"), "{message}");
}

#[test]
fn build_addresses_carry_the_port_and_only_builds_that_served_have_one() {
    let site = Site::start(&[]);
    let origin = |name: &str| format!("http://{name}.localhost:{}", site.port);

    // A running build: `build show` and Connect give its whole address, port included,
    // so the link works pasted anywhere, not only from the UI.
    let tree = project(&site, "shop", "17.0");
    tree.push("main");
    let id = site.build_of("shop", "main", &tree.git(&["rev-parse", "HEAD"]));
    let running = site.wait_build(id);
    assert_eq!(running["state"], "running", "{running}");
    let name = running["name"].as_str().unwrap();
    let shown = site.cli_ok(&["build", "show", &id.to_string()]);
    let url_line = shown
        .lines()
        .find(|l| l.starts_with("url"))
        .unwrap_or_else(|| panic!("no url in:\n{shown}"));
    assert_eq!(
        url_line.split_whitespace().collect::<Vec<_>>(),
        ["url", &format!("{}/", origin(name))],
        "{shown}"
    );
    let (status, link) = site.post(&format!("/api/builds/{id}/connect"), json!({}));
    assert_eq!(status, 200, "{link}");
    let link = link["url"].as_str().unwrap();
    let path = link
        .strip_prefix(&origin(name))
        .unwrap_or_else(|| panic!("{link} is not on {}", origin(name)));
    assert!(path.starts_with("/slipway/connect?ticket="), "{link}");
    let landing = site
        .build_request(reqwest::Method::GET, name, path)
        .send()
        .unwrap();
    assert_eq!(landing.status(), 303, "the link as given lands");

    // A build that failed before its server came up has no address: none in the API, the
    // JSON or the text of `build show`.
    let old = project(&site, "old", "16.0");
    old.push("main");
    let id = site.build_of("old", "main", &old.git(&["rev-parse", "HEAD"]));
    let failed = site.wait_build(id);
    assert_eq!(failed["result"], "failed", "{failed}");
    assert!(failed.get("url").is_none(), "{failed}");
    let json: Value =
        serde_json::from_str(&site.cli_ok(&["build", "show", &id.to_string(), "--json"])).unwrap();
    assert_eq!(json["id"], id, "{json}");
    assert!(json.get("url").is_none(), "{json}");
    let shown = site.cli_ok(&["build", "show", &id.to_string()]);
    assert!(shown.contains("failed"), "{shown}");
    assert!(!shown.contains("url") && !shown.contains("http"), "{shown}");

    // A build that served and was then stopped keeps its address (it says there why it is
    // down, and a rebuild brings it back).
    site.cli_ok(&["build", "stop", &running["id"].to_string()]);
    let stopped = site.get(&format!("/api/builds/{}", running["id"]));
    assert_ne!(stopped["state"], "running", "{stopped}");
    assert_eq!(stopped["url"], format!("{}/", origin(name)), "{stopped}");
}

#[test]
fn deleting_a_branch_stops_its_builds_and_drops_their_databases() {
    let site = Site::start(&[]);
    let tree = project(&site, "gone", "17.0");
    tree.git(&["checkout", "-q", "-b", "feature"]);
    tree.push("feature");
    let id = site.build_of("gone", "feature", &tree.git(&["rev-parse", "HEAD"]));
    let build = site.wait_build(id);
    assert_eq!(build["state"], "running");
    let name = build["name"].as_str().unwrap().to_string();
    assert!(site.database_exists(&name));

    tree.push(":feature");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let build = site.get(&format!("/api/builds/{id}"));
        if build["state"] == "done" && !build["db_dropped_at"].is_null() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{build}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!site.database_exists(&name));
    let branches = site.get("/api/projects/gone/branches");
    assert!(
        branches
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["name"] != "feature"),
        "{branches}"
    );
}

/// Pushes `tree`'s `branch` to the one build worker until it is installing, slowly: builds
/// enqueued meanwhile stay pending. Returns the slow build's id.
fn occupy_the_build_worker(site: &Site, tree: &WorkTree, project: &str) -> i64 {
    tree.git(&["checkout", "-q", "-b", "slow"]);
    tree.write("shop_core/__init__.py", "import time\ntime.sleep(300)\n");
    let sha = tree.commit("a slow install");
    tree.push("slow");
    let id = site.build_of(project, "slow", &sha);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while site.get(&format!("/api/builds/{id}"))["step"] != "install+tests" {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow install did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    id
}

/// The branch's builds of `sha`.
fn builds_of_revision(site: &Site, project: &str, branch: &str, sha: &str) -> Vec<Value> {
    let builds = site.get(&format!("/api/projects/{project}/builds?branch={branch}"));
    builds
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["revision"] == sha)
        .cloned()
        .collect()
}

/// The branch's push events, oldest first.
fn pushes(site: &Site, project: &str, branch: &str) -> Vec<Value> {
    let history = site.get(&format!(
        "/api/projects/{project}/branches/{branch}/history"
    ));
    let mut pushes: Vec<Value> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "push")
        .cloned()
        .collect();
    pushes.reverse();
    pushes
}

fn shas(push: &Value) -> Vec<String> {
    push["detail"]["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sha"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn racing_pushes_leave_the_newest_build() {
    let site = Site::start(&["--build-workers", "1"]);
    let left = project(&site, "race", "17.0");
    let right = WorkTree::from_fixture("shop", &site.git_url("race"));
    let slow = occupy_the_build_worker(&site, &left, "race");
    left.git(&["checkout", "-q", "-b", "left", "main"]);
    right.git(&["checkout", "-q", "-b", "right"]);

    // Two rounds of two pushes from two clones, started together.
    let mut heads: Vec<(&str, Vec<String>)> = vec![("left", vec![]), ("right", vec![])];
    for round in 1..=2 {
        let sides = [(&left, "left"), (&right, "right")];
        for (i, (tree, branch)) in sides.iter().enumerate() {
            tree.write(&format!("{branch}.txt"), &format!("round {round}\n"));
            heads[i]
                .1
                .push(tree.commit(&format!("{branch}: round {round}")));
        }
        let start = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for (tree, branch) in sides {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    tree.push(branch);
                });
            }
        });
    }

    for (branch, heads) in &heads {
        // Every head got exactly one build; the older, still pending when the newer push
        // came, was superseded without ever starting.
        let builds: Vec<Value> = heads
            .iter()
            .map(|sha| {
                let found = builds_of_revision(&site, "race", branch, sha);
                assert_eq!(found.len(), 1, "{branch}@{sha}: {found:?}");
                found[0].clone()
            })
            .collect();
        let (older, newer) = (&builds[0], &builds[1]);
        assert_eq!(older["state"], "done", "{older}");
        assert_eq!(older["result"], "killed", "{older}");
        assert_eq!(
            older["message"],
            format!("superseded by build #{}", newer["id"]),
            "{older}"
        );
        assert!(older["started_at"].is_null(), "{older}");
        assert_eq!(newer["state"], "pending", "{newer}");

        // History: one push per push, each recording its own commits once.
        let pushes = pushes(&site, "race", branch);
        let news: Vec<&str> = pushes
            .iter()
            .map(|p| p["detail"]["new"].as_str().unwrap())
            .collect();
        assert_eq!(news, [heads[0].as_str(), heads[1].as_str()], "{pushes:?}");
        assert_eq!(pushes[1]["detail"]["old"], heads[0].as_str());
        assert_eq!(shas(&pushes[1]), [heads[1].clone()], "{pushes:?}");
        let first = shas(&pushes[0]);
        assert_eq!(first[0], heads[0], "{pushes:?}");
        assert!(!first.contains(&heads[1]), "{pushes:?}");
    }

    // Once the worker is free, the newest build of each branch runs.
    site.cli_ok(&["build", "stop", &slow.to_string()]);
    for (branch, heads) in &heads {
        let newest = builds_of_revision(&site, "race", branch, &heads[1]);
        let newest = site.wait_build(newest[0]["id"].as_i64().unwrap());
        assert_eq!(newest["state"], "running", "{newest}");
    }
}

#[test]
fn logs_follow_as_server_sent_events_and_end_by_themselves() {
    let site = Site::start(&[]);
    let tree = project(&site, "tail", "17.0");
    tree.push("main");
    let id = site.build_of("tail", "main", &tree.git(&["rev-parse", "HEAD"]));
    site.wait_build(id);
    let started = std::time::Instant::now();
    let body = http()
        .get(format!(
            "{}/api/builds/{id}/logs/odoo.log?follow=1",
            site.url()
        ))
        .bearer_auth(site.token())
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the stream lasts its time"
    );
    assert!(body.contains("event: line"), "{body}");
    assert!(body.contains("event: end"), "{body}");
}

#[test]
fn running_builds_come_back_after_a_restart() {
    let mut site = Site::start(&[]);
    let tree = project(&site, "again", "17.0");
    tree.push("main");
    let id = site.build_of("again", "main", &tree.git(&["rev-parse", "HEAD"]));
    let name = site.wait_build(id)["name"].as_str().unwrap().to_string();
    site.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ok = site
            .build_request(reqwest::Method::GET, &name, "/web/health")
            .send()
            .map(|r| r.status() == 200)
            .unwrap_or(false);
        if ok {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "build {name} did not come back"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn api_refuses_strangers_and_names_the_problem() {
    let site = Site::start(&[]);
    let anonymous = http()
        .get(format!("{}/api/projects", site.url()))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");

    // A second user sees no project they are not a member of, and cannot push to it.
    site.cli_ok(&["project", "create", "private", "--odoo", "17.0"]);
    let created = site.cli_ok(&["user", "create", "bob", "--json"]);
    let bob: Value = serde_json::from_str(&created).unwrap();
    let token = bob["token"].as_str().unwrap();
    let projects: Value = http()
        .get(format!("{}/api/projects", site.url()))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(projects, json!([]));
    let tree = WorkTree::from_fixture(
        "shop",
        &format!("http://bob:{token}@127.0.0.1:{}/git/private.git", site.port),
    );
    let out = std::process::Command::new("git")
        .current_dir(tree.path())
        .args(["push", "-q", "origin", "main"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "bob must not push to a project he is not in"
    );

    let bad = site.cli(&["project", "create", "Bad Name", "--odoo", "17.0"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("lowercase"));
}

#[test]
fn the_scheduler_stops_surplus_builds_and_drops_old_development_databases() {
    let site = Site::start(&[]);
    let tree = project(&site, "limits", "17.0");
    let (status, answer) = site.patch(
        "/api/projects/limits",
        json!({"settings": {"max_running_dev_builds": 1, "dev_database_days": 3}}),
    );
    assert_eq!(status, 200, "{answer}");
    tree.push("main");
    let first = site.wait_build(site.build_of("limits", "main", &tree.git(&["rev-parse", "HEAD"])));
    tree.git(&["checkout", "-q", "-b", "second"]);
    tree.push("second");
    let second =
        site.wait_build(site.build_of("limits", "second", &tree.git(&["rev-parse", "HEAD"])));
    assert_eq!(second["state"], "running");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while site.get(&format!("/api/builds/{}", first["id"]))["state"] != "stopped" {
        assert!(
            std::time::Instant::now() < deadline,
            "the older build was not stopped"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        site.database_exists(first["name"].as_str().unwrap()),
        "stopped, not dropped"
    );

    // A lifetime of 0 days: the scheduler drops the development databases.
    let (status, _) = site.patch(
        "/api/projects/limits",
        json!({"settings": {"max_running_dev_builds": 1, "dev_database_days": 0}}),
    );
    assert_eq!(status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for build in [&first, &second] {
        while site.get(&format!("/api/builds/{}", build["id"]))["db_dropped_at"].is_null() {
            assert!(
                std::time::Instant::now() < deadline,
                "build {} kept its database",
                build["id"]
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        assert!(!site.database_exists(build["name"].as_str().unwrap()));
    }
}

/// Waits (30 s at most) until build `id` is in `state`.
fn wait_state(site: &Site, id: &Value, state: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let build = site.get(&format!("/api/builds/{id}"));
        if build["state"] == state {
            return build;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "build {id} never became {state}: {build}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_kept_build_outlives_the_running_limit_while_older_unkept_ones_stop() {
    let site = Site::start(&[]);
    let tree = project(&site, "kept", "17.0");
    let (status, answer) = site.patch(
        "/api/projects/kept",
        json!({"settings": {"max_running_dev_builds": 1}}),
    );
    assert_eq!(status, 200, "{answer}");
    tree.push("main");
    let kept = site.wait_build(site.build_of("kept", "main", &tree.git(&["rev-parse", "HEAD"])));
    assert_eq!(kept["state"], "running", "{kept}");
    let id = kept["id"].to_string();
    let out = site.cli_ok(&["build", "keep", &id, "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["keep"], true);

    // The kept build is the oldest: were it counted, it would be the one stopped.
    let second = site.push_branch(&tree, "kept", "second", "second.txt");
    let third = site.push_branch(&tree, "kept", "third", "third.txt");
    wait_state(&site, &second["id"], "stopped");
    let name = kept["name"].as_str().unwrap();
    let health = site
        .build_request(reqwest::Method::GET, name, "/web/health")
        .send()
        .unwrap();
    assert_eq!(health.status(), 200, "the kept build still answers");
    assert_eq!(site.get(&format!("/api/builds/{id}"))["state"], "running");

    // No longer kept: it counts again, and as the oldest it is stopped.
    let out = site.cli_ok(&["build", "keep", &id, "--off"]);
    assert!(out.contains("no longer kept"), "{out}");
    wait_state(&site, &kept["id"], "stopped");
    assert_eq!(
        site.get(&format!("/api/builds/{}", third["id"]))["state"],
        "running"
    );
}

#[test]
fn warnings_rebuilds_and_kills_show_in_the_build_s_state_and_result() {
    let site = Site::start(&[]);
    let tree = project(&site, "states", "17.0");

    // WARNING lines but no ERROR, tests passing: result `warning` (the stand-in warns on
    // request; a real Odoo has no such switch).
    let warns = on_standin();
    if warns {
        let manifest =
            std::fs::read_to_string(tree.path().join("shop_sale/__manifest__.py")).unwrap();
        tree.write(
            "shop_sale/__manifest__.py",
            &manifest.replace(
                "'installable': True,",
                "'installable': True,\n    'standin_warning': True,",
            ),
        );
    } else {
        eprintln!("skipped: the `warning` result needs the stand-in's `standin_warning` hook");
    }
    let sha = tree.commit(if warns {
        "a module that warns"
    } else {
        "no warning"
    });
    tree.push("main");
    let warned = site.wait_build(site.build_of("states", "main", &sha));
    assert_eq!(warned["state"], "running", "{warned}");
    if warns {
        assert_eq!(warned["result"], "warning", "{warned}");
    }

    // Rebuild: a new build of the same revision.
    let out = site.cli_ok(&["branch", "rebuild", "states", "main", "--json"]);
    let rebuilt: Value = serde_json::from_str(&out).unwrap();
    let again = site.wait_build(rebuilt["id"].as_i64().unwrap());
    assert_eq!(again["trigger"], "rebuild");
    assert_eq!(again["revision"], sha.as_str());
    assert_eq!(again["state"], "running", "{again}");

    // Modules to install as a list: only those (and their dependencies) are installed.
    site.cli_ok(&["branch", "set", "states", "main", "--install", "shop_core"]);
    let out = site.cli_ok(&["branch", "rebuild", "states", "main", "--json"]);
    let listed = site.wait_build(
        serde_json::from_str::<Value>(&out).unwrap()["id"]
            .as_i64()
            .unwrap(),
    );
    assert_eq!(listed["state"], "running", "{listed}");
    let installed = |module: &str| {
        site.psql(
            listed["name"].as_str().unwrap(),
            &format!("SELECT count(*) FROM ir_module_module WHERE name = '{module}' AND state = 'installed'"),
        )
    };
    assert_eq!(installed("shop_core"), "1");
    assert_eq!(installed("shop_sale"), "0");
    site.cli_ok(&["branch", "set", "states", "main", "--install", "own"]);

    // A build killed mid-way (its install is slow): killed, its database dropped.
    tree.git(&["checkout", "-q", "-b", "slow"]);
    tree.write("shop_core/__init__.py", "import time\ntime.sleep(60)\n");
    let sha = tree.commit("a slow install");
    tree.push("slow");
    let id = site.build_of("states", "slow", &sha);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while site.get(&format!("/api/builds/{id}"))["step"] != "install+tests" {
        assert!(
            std::time::Instant::now() < deadline,
            "the install did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    site.cli_ok(&["build", "stop", &id.to_string()]);
    let killed = site.wait_build(id);
    assert_eq!(killed["state"], "done", "{killed}");
    assert_eq!(killed["result"], "killed", "{killed}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while site.database_exists(killed["name"].as_str().unwrap()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the killed build's database stayed"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // The branch's other builds are unaffected.
    assert_eq!(
        site.get(&format!("/api/builds/{}", rebuilt["id"]))["state"],
        "running"
    );
}

#[test]
fn a_development_builds_mail_is_caught_and_never_sent() {
    let site = Site::start(&[]);
    let tree = project(&site, "mailer", "17.0");
    tree.write(
        "shop_mail/__manifest__.py",
        "{'name': 'Shop mail', 'version': '17.0.1.0', 'depends': ['mail'], 'license': 'LGPL-3'}\n",
    );
    tree.write("shop_mail/__init__.py", "");
    let head = tree.commit("shop_mail: sends mail");
    tree.push("main");
    let id = site.build_of("mailer", "main", &head);
    let build = site.wait_build(id);
    assert_eq!(build["state"], "running", "{build}");
    let name = build["name"].as_str().unwrap();
    if !on_standin() {
        eprintln!("skipped: sending a mail needs the stand-in's `/standin/send_mail` hook");
        return;
    }

    let sent: Value = site
        .build_request(reqwest::Method::POST, name, "/standin/send_mail")
        .json(&json!({"to": "customer@example.com", "subject": "Your order", "body": "Thanks"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(sent["state"], "sent", "the catcher accepted it: {sent}");
    let mails = site.get(&format!("/api/builds/{id}/mails"));
    assert_eq!(mails[0]["subject"], "Your order", "{mails}");
    assert_eq!(
        mails[0]["envelope_to"],
        json!(["customer@example.com"]),
        "{mails}"
    );
}

#[test]
fn deleting_a_branch_while_it_builds_kills_the_build_and_drops_its_database() {
    let site = Site::start(&[]);
    let tree = project(&site, "midway", "17.0");
    tree.git(&["checkout", "-q", "-b", "slow"]);
    tree.write("shop_core/__init__.py", "import time\ntime.sleep(60)\n");
    let sha = tree.commit("a slow install");
    tree.push("slow");
    let id = site.build_of("midway", "slow", &sha);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while site.get(&format!("/api/builds/{id}"))["step"] != "install+tests" {
        assert!(
            std::time::Instant::now() < deadline,
            "the install did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let name = site.get(&format!("/api/builds/{id}"))["name"]
        .as_str()
        .unwrap()
        .to_string();

    tree.push(":slow");
    let killed = site.wait_build(id);
    assert_eq!(killed["state"], "done", "{killed}");
    assert_eq!(killed["result"], "killed", "{killed}");
    // The pipeline's own ending (its Odoo process cut off, its database gone) comes later
    // and must not turn the kill into a failure.
    std::thread::sleep(Duration::from_secs(4));
    let settled = site.get(&format!("/api/builds/{id}"));
    assert_eq!(settled["result"], "killed", "{settled}");
    assert!(!site.database_exists(&name));
}
