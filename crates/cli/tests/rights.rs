//! Odoo.sh's rights, enforced by the API for each role and stage (not only hidden in the
//! UI), and the web UI's session: cookie sign-in, CSRF header on changes.

mod common;

use common::site::Site;
use reqwest::blocking::Client;
use serde_json::{json, Value};

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn status_of(site: &Site, token: &str, method: &str, path: &str, body: Option<Value>) -> u16 {
    let url = format!("{}{path}", site.url());
    let request = match method {
        "GET" => client().get(url),
        "POST" => client().post(url),
        "PATCH" => client().patch(url),
        _ => unreachable!(),
    };
    let request = request.bearer_auth(token);
    let request = match body {
        Some(b) => request.json(&b),
        None => request,
    };
    request.send().unwrap().status().as_u16()
}

/// Project `rights` with a running build on each stage: production `main`, staging `qa`,
/// development `feature`; returns them in that order.
fn three_stages(site: &Site) -> (Value, Value, Value) {
    let (tree, prod) = site.project_with_production("rights");
    let dev = site.push_branch(&tree, "rights", "feature", "NOTES.md");
    let staging_dev = site.push_branch(&tree, "rights", "qa", "QA.md");
    site.cli_ok(&["branch", "set", "rights", "qa", "--stage", "staging"]);
    let staging = site.settled_build_after("rights", "qa", staging_dev["id"].as_i64().unwrap());
    assert_eq!(staging["stage"], "staging", "{staging}");
    (prod, staging, dev)
}

#[test]
fn roles_reach_only_the_stages_odoo_sh_gives_them() {
    let site = Site::start(&[]);
    let (prod, staging, dev) = three_stages(&site);

    let tester = site.member(Some("rights"), "tess", "tester");
    let listed = site.cli_ok(&["project", "members", "rights"]);
    assert!(
        listed.contains("tess") && listed.contains("tester"),
        "{listed}"
    );
    let developer = site.member(Some("rights"), "dave", "developer");
    let logs = |build: &Value| format!("/api/builds/{}/logs", build["id"]);

    // Testers: staging and development databases and their tools, nothing of production.
    assert_eq!(status_of(&site, &tester, "GET", &logs(&prod), None), 403);
    assert_eq!(status_of(&site, &tester, "GET", &logs(&staging), None), 200);
    assert_eq!(status_of(&site, &tester, "GET", &logs(&dev), None), 200);
    let connect = |b: &Value| format!("/api/builds/{}/connect", b["id"]);
    assert_eq!(
        status_of(&site, &tester, "POST", &connect(&prod), None),
        403
    );
    assert_eq!(
        status_of(
            &site,
            &tester,
            "POST",
            "/api/projects/rights/branches/feature/rebuild",
            None
        ),
        403
    );
    assert_eq!(
        status_of(
            &site,
            &tester,
            "PATCH",
            "/api/projects/rights/branches/feature",
            Some(json!({"stage": "staging"}))
        ),
        403
    );

    // Developers: every tool of development builds, no staging or production database.
    assert_eq!(
        status_of(&site, &developer, "GET", &logs(&staging), None),
        403
    );
    assert_eq!(status_of(&site, &developer, "GET", &logs(&prod), None), 403);
    assert_eq!(status_of(&site, &developer, "GET", &logs(&dev), None), 200);
    assert_eq!(
        status_of(&site, &developer, "POST", &connect(&staging), None),
        403
    );
    assert_eq!(
        status_of(
            &site,
            &developer,
            "PATCH",
            "/api/projects/rights/branches/feature",
            Some(json!({"stage": "production", "confirm": true}))
        ),
        403
    );
    assert_eq!(
        status_of(
            &site,
            &developer,
            "POST",
            "/api/projects/rights/branches/main/rebuild",
            None
        ),
        403
    );
    assert_eq!(
        status_of(
            &site,
            &developer,
            "POST",
            "/api/projects/rights/branches/feature/rebuild",
            None
        ),
        202
    );
    // Everyone sees the project and its branches.
    for token in [&tester, &developer] {
        assert_eq!(
            status_of(&site, token, "GET", "/api/projects/rights/branches", None),
            200
        );
    }
    // Only admins change collaborators.
    let response = client()
        .put(format!("{}/api/projects/rights/members", site.url()))
        .bearer_auth(&developer)
        .json(&json!([{"login": "dave", "role": "admin"}]))
        .send()
        .unwrap();
    assert_eq!(response.status(), 403);
    // Pruning deletes every project's old backups: Slipway's admins only.
    assert_eq!(
        status_of(&site, &developer, "POST", "/api/backups/prune", None),
        403
    );
    // The CLI changes roles too: the tester becomes a developer, then leaves.
    site.cli_ok(&["project", "member", "rights", "tess", "developer"]);
    assert_eq!(
        status_of(
            &site,
            &tester,
            "POST",
            "/api/projects/rights/branches/feature/rebuild",
            None
        ),
        202
    );
    site.cli_ok(&["project", "member", "rights", "tess", "--remove"]);
    assert_eq!(
        status_of(&site, &tester, "GET", "/api/projects/rights", None),
        404
    );
}

/// A request to one of a build's tools: what it is, method, path, JSON body.
type Tool = (&'static str, &'static str, String, Option<Value>);

/// The tools of `build` and of its branch that read or change its data: the editor (read and
/// commit), caught mails, monitor, the dump download, backups and point-in-time recovery.
fn tools_of(build: &Value) -> Vec<Tool> {
    let id = &build["id"];
    let branch = format!(
        "/api/projects/rights/branches/{}",
        build["branch"].as_str().unwrap()
    );
    let commit = json!({"path": "README.md", "content": "changed\n", "message": "edit"});
    vec![
        (
            "editor list",
            "GET",
            format!("/api/builds/{id}/files"),
            None,
        ),
        (
            "editor read",
            "GET",
            format!("/api/builds/{id}/files/content?path=README.md"),
            None,
        ),
        (
            "editor commit",
            "POST",
            format!("/api/builds/{id}/files"),
            Some(commit),
        ),
        ("mails", "GET", format!("/api/builds/{id}/mails"), None),
        ("monitor", "GET", format!("/api/builds/{id}/monitor"), None),
        (
            "dump",
            "GET",
            format!("/api/builds/{id}/dump?format=sql-gz"),
            None,
        ),
        ("backups", "GET", format!("{branch}/backups"), None),
        ("backup now", "POST", format!("{branch}/backups"), None),
        ("pitr window", "GET", format!("{branch}/pitr"), None),
    ]
}

/// The tools of a backup of branch `branch` (`backup` is its id).
fn tools_of_backup(backup: &str, branch: &str) -> Vec<Tool> {
    vec![
        (
            "backup download",
            "GET",
            format!("/api/backups/{backup}/download"),
            None,
        ),
        (
            "backup verify",
            "POST",
            format!("/api/backups/{backup}/verify"),
            None,
        ),
        (
            "backup restore",
            "POST",
            format!("/api/backups/{backup}/restore"),
            Some(json!({"branch": branch})),
        ),
    ]
}

/// The answer to opening a shell on `build` as a WebSocket: 101 when it opens.
fn shell_status(site: &Site, token: &str, build: &Value) -> u16 {
    client()
        .get(format!("{}/api/builds/{}/shell", site.url(), build["id"]))
        .bearer_auth(token)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn assert_refused(site: &Site, token: &str, who: &str, tools: &[Tool]) {
    for (what, method, path, body) in tools {
        let status = status_of(site, token, method, path, body.clone());
        assert_eq!(status, 403, "{who}: {what} ({method} {path})");
    }
}

/// A manual backup of branch `branch` taken by the admin; its id.
fn backup_of(site: &Site, branch: &str) -> String {
    let (status, record) = site.post(
        &format!("/api/projects/rights/branches/{branch}/backups"),
        Value::Null,
    );
    assert_eq!(status, 201, "{record}");
    record["id"].as_str().unwrap().to_string()
}

#[test]
fn a_builds_tools_are_refused_to_roles_without_its_stage() {
    let site = Site::start(&[]);
    let (prod, staging, dev) = three_stages(&site);
    let tester = site.member(Some("rights"), "tess", "tester");
    let developer = site.member(Some("rights"), "dave", "developer");
    let prod_backup = backup_of(&site, "main");
    let staging_backup = backup_of(&site, "qa");

    // Developers: nothing of staging's or production's data.
    for (build, backup) in [(&staging, &staging_backup), (&prod, &prod_backup)] {
        let who = format!("developer on {}", build["stage"].as_str().unwrap());
        assert_refused(&site, &developer, &who, &tools_of(build));
        let branch = build["branch"].as_str().unwrap();
        assert_refused(&site, &developer, &who, &tools_of_backup(backup, branch));
        assert_eq!(shell_status(&site, &developer, build), 403, "{who}: shell");
    }
    // Testers: nothing of production's.
    assert_refused(&site, &tester, "tester on production", &tools_of(&prod));
    assert_refused(
        &site,
        &tester,
        "tester on production",
        &tools_of_backup(&prod_backup, "main"),
    );
    assert_eq!(shell_status(&site, &tester, &prod), 403, "tester: shell");

    // The same requests work where the role reaches: they are refused for the role, not
    // for their form.
    for (token, build) in [(&tester, &staging), (&developer, &dev)] {
        for (what, method, path, body) in tools_of(build) {
            if method == "GET" {
                let status = status_of(&site, token, method, &path, body);
                assert_eq!(status, 200, "{what} of {}", build["stage"]);
            }
        }
        assert_eq!(
            shell_status(&site, token, build),
            101,
            "shell on {}",
            build["stage"]
        );
    }
    let download = format!("/api/backups/{staging_backup}/download");
    assert_eq!(status_of(&site, &tester, "GET", &download, None), 200);
}

#[test]
fn nobody_commits_from_the_editor_on_production() {
    let site = Site::start(&[]);
    let (prod, _, _) = three_stages(&site);
    let tester = site.member(Some("rights"), "tess", "tester");
    let developer = site.member(Some("rights"), "dave", "developer");
    let head = |site: &Site| site.get("/api/projects/rights/branches/main")["head"].clone();
    let before = head(&site);
    let commit = json!({"path": "README.md", "content": "hotfix\n", "message": "hotfix"});
    let path = format!("/api/builds/{}/files", prod["id"]);
    for (who, token) in [
        ("admin", site.token()),
        ("tester", tester),
        ("developer", developer),
    ] {
        let response = client()
            .post(format!("{}{path}", site.url()))
            .bearer_auth(&token)
            .json(&commit)
            .send()
            .unwrap();
        assert_eq!(response.status(), 403, "{who}");
        if who == "admin" {
            let body = response.text().unwrap();
            assert!(body.contains("commit from the editor"), "{body}");
        }
    }
    assert_eq!(head(&site), before, "production's branch did not move");
}

#[test]
fn a_ui_session_needs_its_csrf_header_to_change_anything() {
    let site = Site::start(&[]);
    site.cli_ok(&["project", "create", "csrf", "--odoo", "17.0"]);
    let bad = client()
        .post(format!("{}/api/session", site.url()))
        .json(&json!({"token": "slw_not-a-token"}))
        .send()
        .unwrap();
    assert_eq!(bad.status(), 401);
    let response = client()
        .post(format!("{}/api/session", site.url()))
        .json(&json!({"token": site.token()}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 201);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // Host-only: a cookie with a Domain would also go to every `<build>.<domain>`.
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_string();
    let csrf = response.json::<Value>().unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_string();

    // Reading with the cookie alone works.
    let me = client()
        .get(format!("{}/api/me", site.url()))
        .header("cookie", &session)
        .send()
        .unwrap();
    assert_eq!(me.status(), 200);
    // Changing without the header, or with a wrong one, is refused.
    let members = json!([{"login": "admin", "role": "admin"}]);
    let put = |csrf: Option<&str>| {
        let mut request = client()
            .put(format!("{}/api/projects/csrf/members", site.url()))
            .header("cookie", &session)
            .json(&members);
        if let Some(c) = csrf {
            request = request.header("x-slipway-csrf", c);
        }
        request.send().unwrap().status().as_u16()
    };
    assert_eq!(put(None), 403);
    assert_eq!(put(Some("forged")), 403);
    assert_eq!(put(Some(&csrf)), 200);
    // A bearer token needs no CSRF header.
    let bearer = client()
        .put(format!("{}/api/projects/csrf/members", site.url()))
        .bearer_auth(site.token())
        .json(&members)
        .send()
        .unwrap();
    assert_eq!(bearer.status(), 200);
    // Signing out ends the session.
    let out = client()
        .delete(format!("{}/api/session", site.url()))
        .header("cookie", &session)
        .header("x-slipway-csrf", &csrf)
        .send()
        .unwrap();
    assert_eq!(out.status(), 204);
    let me = client()
        .get(format!("{}/api/me", site.url()))
        .header("cookie", &session)
        .send()
        .unwrap();
    assert_eq!(me.status(), 401);

    // A password set from the CLI signs in too; a wrong one does not.
    let sign_in = |password: &str| {
        client()
            .post(format!("{}/api/session", site.url()))
            .json(&json!({"login": "admin", "password": password}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(sign_in("a long enough secret"), 401, "no password yet");
    let mut passwd = std::process::Command::new(common::slipway_bin())
        .arg("--data-dir")
        .arg(site.data.path())
        .args(["--server", &site.url(), "user", "passwd", "admin"])
        .env_remove("SLIPWAY_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    passwd
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough secret\n")
        .unwrap();
    assert!(passwd.wait().unwrap().success());
    assert_eq!(sign_in("a long enough secret"), 201);
    assert_eq!(sign_in("a long enough secreT"), 401);
    let response = client()
        .put(format!("{}/api/users/admin/password", site.url()))
        .bearer_auth(site.token())
        .json(&json!({"password": "short"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = response.text().unwrap();
    assert!(body.contains("at least 10 characters"), "{body}");
}

/// Runs `git` in `dir`; returns whether it succeeded and what it printed on stderr.
fn git_in(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Dave Dev")
        .env("GIT_AUTHOR_EMAIL", "dave@example.com")
        .env("GIT_COMMITTER_NAME", "Dave Dev")
        .env("GIT_COMMITTER_EMAIL", "dave@example.com")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn only_admins_push_or_move_into_staging_and_production_unless_staging_is_opened() {
    let site = Site::start(&[]);
    let (prod, staging, _dev) = three_stages(&site);
    let developer = site.member(Some("rights"), "dave", "developer");
    let work = tempfile::tempdir().unwrap();
    let url = site.git_url("rights").replace(&site.token(), &developer);
    let (cloned, err) = git_in(work.path(), &["clone", "-q", &url, "repo"]);
    assert!(cloned, "{err}");
    let repo = work.path().join("repo");
    std::fs::write(repo.join("DAVE.md"), "a developer's change\n").unwrap();
    git_in(&repo, &["add", "DAVE.md"]);
    assert!(git_in(&repo, &["commit", "-qm", "dave's change"]).0);

    // Production and staging: git refuses the push and prints why; nothing moved.
    for (branch, build) in [("main", &prod), ("qa", &staging)] {
        let refspec = format!("+HEAD:{branch}");
        let (pushed, err) = git_in(&repo, &["push", "origin", &refspec]);
        assert!(!pushed, "a developer pushed to {branch}");
        assert!(
            err.contains(&format!("remote: slipway: {branch} is protected"))
                && err.contains("[remote rejected]")
                && err.contains("ask a project admin to merge it"),
            "{err}"
        );
        let heads = site.get("/api/projects/rights/branches");
        let head = heads
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == branch)
            .unwrap()["head"]
            .clone();
        assert_eq!(head, build["revision"], "{branch} moved: {heads}");
    }
    // A development branch of their own: accepted.
    let (pushed, err) = git_in(&repo, &["push", "-q", "origin", "HEAD:dave-fix"]);
    assert!(pushed, "{err}");
    // Moves and merges into staging: an admin's decision.
    let into_staging = Some(json!({"stage": "staging"}));
    let move_path = "/api/projects/rights/branches/dave-fix";
    assert_eq!(
        status_of(&site, &developer, "PATCH", move_path, into_staging.clone()),
        403
    );
    let merge = Some(json!({"into": "qa"}));
    let merge_path = "/api/projects/rights/branches/dave-fix/merge";
    assert_eq!(
        status_of(&site, &developer, "POST", merge_path, merge.clone()),
        403
    );

    // The project opens staging to its developers: staging, never production.
    let (status, body) = site.patch(
        "/api/projects/rights",
        json!({"settings": {"developers_may_stage": true}}),
    );
    assert_eq!(status, 200, "{body}");
    let (pushed, err) = git_in(&repo, &["push", "-q", "origin", "+HEAD:qa"]);
    assert!(pushed, "{err}");
    let (pushed, err) = git_in(&repo, &["push", "origin", "+HEAD:main"]);
    assert!(!pushed && err.contains("main is protected"), "{err}");
    assert_eq!(
        status_of(&site, &developer, "PATCH", move_path, into_staging),
        200
    );
}
