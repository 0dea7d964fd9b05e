//! Limits with clear refusals (issue 16): builds per push and per project, disk per project,
//! refused by git itself at `git push` (the client prints why) and by the API for forks and
//! rebuilds; production is never refused.

mod common;

use common::site::{Site, WorkTree};
use serde_json::{json, Value};

/// `git push origin <refspecs>` from the tree: whether it passed, and git's stderr.
fn push(tree: &WorkTree, refspecs: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("git")
        .current_dir(tree.path())
        .args(["push", "origin"])
        .args(refspecs)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `git push origin <refspecs>`, which Slipway must refuse: the push fails, git reports the
/// refs `[remote rejected]`, and its stderr (what the user reads) says each of `says`.
fn push_refused(tree: &WorkTree, refspecs: &[&str], says: &[&str]) {
    let (pushed, err) = push(tree, refspecs);
    assert!(!pushed, "the push of {refspecs:?} went through: {err}");
    for said in says.iter().chain(&["[remote rejected]"]) {
        assert!(err.contains(said), "git does not say {said:?}: {err}");
    }
}

/// The names of a project's branches, sorted.
fn branch_names(site: &Site, project: &str) -> Vec<String> {
    let branches = site.get(&format!("/api/projects/{project}/branches"));
    let mut names: Vec<String> = branches
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn build_count(site: &Site, project: &str) -> usize {
    let builds = site.get(&format!("/api/projects/{project}/builds"));
    builds.as_array().unwrap().len()
}

/// A fork of `branch` into `name` through the API: its status and answer.
fn fork(site: &Site, project: &str, branch: &str, name: &str) -> (u16, Value) {
    site.post(
        &format!("/api/projects/{project}/branches/{branch}/fork"),
        json!({ "name": name }),
    )
}

#[test]
fn a_push_of_more_branches_than_one_push_may_build_is_refused_whole() {
    let site = Site::start(&["--max-builds-per-push", "3"]);
    site.cli_ok(&["project", "create", "burst", "--odoo", "17.0"]);
    let tree = WorkTree::from_fixture("shop", &site.git_url("burst"));

    // The push of issue 16: 100 branches at once.
    let hundred: Vec<String> = (0..100).map(|n| format!("HEAD:mirror-{n}")).collect();
    let hundred: Vec<&str> = hundred.iter().map(String::as_str).collect();
    push_refused(
        &tree,
        &hundred,
        &["remote: slipway: this push creates or updates 100 branches"],
    );

    // One more than the limit.
    push_refused(
        &tree,
        &["HEAD:a", "HEAD:b", "HEAD:c", "HEAD:d"],
        &[
            "remote: slipway: this push creates or updates 4 branches",
            "at most 3",
            "--max-builds-per-push",
            "Push fewer branches at once",
        ],
    );
    assert_eq!(branch_names(&site, "burst"), Vec::<String>::new());
    assert_eq!(build_count(&site, "burst"), 0);
    let repo = site.data.path().join("git/burst.git");
    let refs = std::process::Command::new("git")
        .args(["--git-dir", repo.to_str().unwrap(), "for-each-ref"])
        .output()
        .unwrap();
    assert!(refs.stdout.is_empty(), "{refs:?}");

    let (pushed, err) = push(&tree, &["HEAD:a", "HEAD:b", "HEAD:c"]);
    assert!(pushed, "{err}");
    assert_eq!(branch_names(&site, "burst"), ["a", "b", "c"]);
    assert_eq!(build_count(&site, "burst"), 3);
}

#[test]
fn a_project_at_its_builds_limit_gets_no_new_branch_but_its_branches_still_build() {
    let site = Site::start(&["--max-builds-per-project", "2"]);
    site.cli_ok(&["project", "create", "full", "--odoo", "17.0"]);
    let tree = WorkTree::from_fixture("shop", &site.git_url("full"));
    let (pushed, err) = push(&tree, &["HEAD:main", "HEAD:feature"]);
    assert!(pushed, "{err}");

    // Two builds held: a third branch is refused, by git and by the API.
    push_refused(
        &tree,
        &["HEAD:third"],
        &[
            "remote: slipway: this push creates 1 new branch",
            "project full holds 2 builds",
            "its limit of 2 (slipway serve --max-builds-per-project)",
            "existing branches still build",
        ],
    );
    assert_eq!(branch_names(&site, "full"), ["feature", "main"]);
    let (status, answer) = fork(&site, "full", "main", "forked");
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "build_limit", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("project full holds 2 builds"),
        "{answer}"
    );
    assert_eq!(branch_names(&site, "full"), ["feature", "main"]);

    // An existing branch still builds its new commits.
    tree.write("NOTES.md", "more work\n");
    let sha = tree.commit("more work on feature");
    let (pushed, err) = push(&tree, &["HEAD:feature"]);
    assert!(pushed, "{err}");
    let build = site.wait_build(site.build_of("full", "feature", &sha));
    assert_eq!(build["state"], "running", "{build}");
}

#[test]
fn a_project_over_its_disk_limit_builds_no_new_branch_but_production_still_updates() {
    let site = Site::start(&["--max-project-disk", "1KiB"]);
    let (tree, prod) = site.project_with_production("disk");

    // Production's database alone is over 1 KiB: a new branch is refused, naming both.
    push_refused(
        &tree,
        &["HEAD:feature"],
        &[
            "remote: slipway: this push creates 1 new branch: project disk uses ",
            "of disk (its databases and filestores), over its limit of 1.0 KiB",
            "--max-project-disk",
            "production is never refused",
        ],
    );
    assert_eq!(branch_names(&site, "disk"), ["main"]);
    let (status, answer) = fork(&site, "disk", "main", "forked");
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "disk_limit", "{answer}");

    // Production updates all the same, pushed or rebuilt.
    tree.write("NOTES.md", "a production fix\n");
    let sha = tree.commit("production fix");
    let (pushed, err) = push(&tree, &["HEAD:main"]);
    assert!(pushed, "{err}");
    let update = site.wait_build(site.build_of("disk", "main", &sha));
    assert_eq!(update["state"], "running", "{update}");
    assert_eq!(update["stage"], "production", "{update}");
    assert!(update["id"].as_i64() > prod["id"].as_i64());
    let (status, answer) = site.post("/api/projects/disk/branches/main/rebuild", json!({}));
    assert_eq!(status, 202, "{answer}");
}
