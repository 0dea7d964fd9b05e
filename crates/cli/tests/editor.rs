//! The web editor's API: a file committed from a build's checkout goes on the branch only
//! while that build is of the branch's head, so an older build never undoes newer pushes.

mod common;

use common::site::{Site, WorkTree};
use serde_json::{json, Value};

fn head_of(site: &Site, branch: &str) -> Value {
    site.get(&format!("/api/projects/edits/branches/{branch}"))["head"].clone()
}

fn commit_from(site: &Site, build: i64, content: &str) -> (u16, Value) {
    let edit =
        json!({"path": "README.md", "content": content, "message": "README from the editor"});
    site.post(&format!("/api/builds/{build}/files"), edit)
}

#[test]
fn an_edit_from_a_build_the_branch_moved_past_is_refused() {
    let site = Site::start(&[]);
    site.cli_ok(&["project", "create", "edits", "--odoo", "17.0"]);
    let tree = WorkTree::from_fixture("shop", &site.git_url("edits"));
    tree.push("main");
    let older = site.build_of("edits", "main", &tree.git(&["rev-parse", "HEAD"]));
    tree.write("NOTES.md", "pushed after the first build\n");
    let pushed = tree.commit("notes");
    tree.push("main");
    let newest = site.build_of("edits", "main", &pushed);

    let (status, refused) = commit_from(&site, older, "from the older build\n");
    assert_eq!(status, 409, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("main moved since build #{older}"))
            && message.contains("open the newest build"),
        "{message}"
    );
    assert_eq!(
        head_of(&site, "main"),
        json!(pushed),
        "the push stays the head"
    );

    let (status, committed) = commit_from(&site, newest, "from the newest build\n");
    assert_eq!(status, 201, "{committed}");
    assert_eq!(head_of(&site, "main"), committed["sha"]);
    let build = site.get(&format!("/api/builds/{}", committed["build"]));
    assert_eq!(build["revision"], committed["sha"], "{build}");
}
