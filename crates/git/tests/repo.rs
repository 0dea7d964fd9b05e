//! `slipway-git` against the real `git`: repositories filled by real pushes from a clone.

use std::path::{Path, PathBuf};
use std::process::Command;

use slipway_git::{Error, MergeOutcome, Repo, Repos, Signature};

/// Runs git in `dir` (a working clone) and returns its trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args([
            "-c",
            "user.name=Ada Lovelace",
            "-c",
            "user.email=ada@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

struct World {
    _tmp: tempfile::TempDir,
    repos: Repos,
    repo: Repo,
    work: PathBuf,
}

/// A project `shop` and a clone of it in `work/`.
async fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let repos = Repos::new(tmp.path().join("git"));
    let repo = repos.create("shop").await.unwrap();
    let work = tmp.path().join("work");
    git(
        tmp.path(),
        &["clone", "-q", repo.path.to_str().unwrap(), "work"],
    );
    World {
        _tmp: tmp,
        repos,
        repo,
        work,
    }
}

fn write(dir: &Path, path: &str, contents: &str) {
    let file = dir.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, contents).unwrap();
}

/// Commits everything in `work` with `message` and returns the commit id.
fn commit(work: &Path, message: &str) -> String {
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", message]);
    git(work, &["rev-parse", "HEAD"])
}

fn make_executable(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn ada() -> Signature {
    Signature {
        name: "Slipway Merger".into(),
        email: "merge@slipway.test".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn create_open_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let repos = Repos::new(tmp.path().join("git"));
    let repo = repos.create("shop").await.unwrap();
    assert_eq!(repo.path, tmp.path().join("git/shop.git"));
    assert!(repo.branches().await.unwrap().is_empty());
    assert!(matches!(
        repos.create("shop").await,
        Err(Error::AlreadyExists { .. })
    ));
    for bad in ["../evil", "Shop", "", "a/b", "-x"] {
        assert!(
            matches!(repos.create(bad).await, Err(Error::Invalid { .. })),
            "{bad}"
        );
        assert!(matches!(repos.open(bad).await, Err(Error::Invalid { .. })));
    }
    // The repository is configured for hostile pushes over HTTP.
    let config = std::fs::read_to_string(repo.path.join("config")).unwrap();
    assert!(config.contains("receivepack = true"), "{config}");
    assert!(config.contains("fsckObjects = true"), "{config}");
    assert!(config.contains("hooksPath"), "{config}");
    assert_eq!(
        std::fs::read_dir(repo.path.join("hooks")).unwrap().count(),
        0
    );
    assert_eq!(
        std::fs::read_to_string(repo.path.join("HEAD")).unwrap(),
        "ref: refs/heads/main\n"
    );

    repos.open("shop").await.unwrap();
    repos.delete("shop").await.unwrap();
    assert!(matches!(
        repos.open("shop").await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        repos.delete("shop").await,
        Err(Error::NotFound { .. })
    ));
    // Nothing left behind, not even temporary folders.
    assert_eq!(std::fs::read_dir(repos.root()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn branches_and_commits_follow_pushes() {
    let w = world().await;
    write(&w.work, "a.txt", "1");
    let first = commit(&w.work, "First commit");
    write(&w.work, "a.txt", "2");
    let second = commit(&w.work, "Second commit\n\nWith a body.");
    git(&w.work, &["push", "-q", "origin", "main"]);
    git(
        &w.work,
        &["push", "-q", "origin", "main:refs/heads/feature/x"],
    );
    git(&w.work, &["push", "-q", "origin", "main:refs/tags/v1"]);

    let branches = w.repo.branches().await.unwrap();
    assert_eq!(
        branches.into_iter().collect::<Vec<_>>(),
        vec![
            ("feature/x".to_owned(), second.clone()),
            ("main".to_owned(), second.clone())
        ]
    );

    let all = w.repo.commits(&second, None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.sha.as_str()).collect::<Vec<_>>(),
        vec![second.as_str(), first.as_str()]
    );
    assert_eq!(all[0].summary, "Second commit");
    assert_eq!(all[0].author_name, "Ada Lovelace");
    assert_eq!(all[0].author_email, "ada@example.com");
    assert!(
        all[0].date.len() >= 20 && all[0].date.as_bytes()[10] == b'T',
        "{}",
        all[0].date
    );

    let since = w.repo.commits(&second, Some(&first), 10).await.unwrap();
    assert_eq!(since.len(), 1);
    assert_eq!(since[0].sha, second);
    assert_eq!(w.repo.commits(&second, None, 1).await.unwrap().len(), 1);
    assert!(w.repo.commits(&second, None, 0).await.unwrap().is_empty());
    assert!(w
        .repo
        .commits("main", Some("main"), 5)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        w.repo.commits("--all", None, 5).await,
        Err(Error::Invalid { .. })
    ));

    w.repo.delete_branch("feature/x").await.unwrap();
    assert_eq!(
        w.repo.branches().await.unwrap().keys().collect::<Vec<_>>(),
        vec!["main"]
    );
    assert!(matches!(
        w.repo.delete_branch("feature/x").await,
        Err(Error::NotFound { .. })
    ));
    let _ = w.repos;
}

#[tokio::test(flavor = "multi_thread")]
async fn export_writes_the_tree_safely() {
    let w = world().await;
    write(&w.work, "addons/sale_x/__manifest__.py", "{'name': 'X'}");
    write(&w.work, "run.sh", "#!/bin/sh\n");
    make_executable(&w.work.join("run.sh"));
    std::os::unix::fs::symlink("addons/sale_x", w.work.join("inside")).unwrap();
    std::os::unix::fs::symlink("../../../../etc/passwd", w.work.join("escape")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", w.work.join("absolute")).unwrap();
    git(&w.work, &["add", "-A"]);
    // A submodule (gitlink) entry: exported as an empty folder at most.
    let sub = "1234567890123456789012345678901234567890";
    git(
        &w.work,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{sub},vendor/lib"),
        ],
    );
    let head = commit(&w.work, "tree");
    git(&w.work, &["push", "-q", "origin", "main"]);

    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("checkout");
    w.repo.export(&head, &dest).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("addons/sale_x/__manifest__.py")).unwrap(),
        "{'name': 'X'}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dest.join("run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o100, 0o100);
    assert_eq!(
        std::fs::read_link(dest.join("inside")).unwrap(),
        Path::new("addons/sale_x")
    );
    assert!(dest.join("inside/__manifest__.py").exists());
    assert!(std::fs::symlink_metadata(dest.join("escape")).is_err());
    assert!(std::fs::symlink_metadata(dest.join("absolute")).is_err());
    assert!(!dest.join("vendor/lib/anything").exists());
    assert!(!dest.join("pax_global_header").exists());

    assert!(matches!(
        w.repo
            .export("0000000000000000000000000000000000000000", &dest)
            .await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn merge_clean_up_to_date_and_conflict() {
    let w = world().await;
    write(&w.work, "shared.txt", "line\n");
    let base = commit(&w.work, "base");
    git(&w.work, &["push", "-q", "origin", "main"]);
    git(&w.work, &["checkout", "-q", "-b", "dev"]);
    write(&w.work, "dev.txt", "dev work\n");
    let dev = commit(&w.work, "dev work");
    git(&w.work, &["push", "-q", "origin", "dev"]);
    git(&w.work, &["checkout", "-q", "main"]);
    write(&w.work, "main.txt", "main work\n");
    write(&w.work, "shared.txt", "main\n");
    let main = commit(&w.work, "main work");
    git(&w.work, &["push", "-q", "origin", "main"]);

    let outcome = w.repo.merge("dev", "main", &ada()).await.unwrap();
    let MergeOutcome::Merged { sha } = outcome else {
        panic!("{outcome:?}")
    };
    let heads = w.repo.branches().await.unwrap();
    assert_eq!(heads["main"], sha);
    assert_eq!(heads["dev"], dev);
    git(&w.work, &["fetch", "-q", "origin"]);
    assert_eq!(
        git(&w.work, &["log", "-1", "--format=%P", &sha]),
        format!("{main} {dev}")
    );
    assert_eq!(
        git(&w.work, &["log", "-1", "--format=%an <%ae>|%s", &sha]),
        "Slipway Merger <merge@slipway.test>|Merge branch 'dev' into main"
    );
    let merged = w.repo.read_file(&sha, "dev.txt").await.unwrap();
    assert_eq!(merged.as_deref(), Some(&b"dev work\n"[..]));
    assert!(w.repo.read_file(&sha, "main.txt").await.unwrap().is_some());

    // Merging again changes nothing.
    assert_eq!(
        w.repo.merge("dev", "main", &ada()).await.unwrap(),
        MergeOutcome::UpToDate
    );

    // Both sides change the same line: a conflict, and no branch moves.
    git(&w.work, &["checkout", "-q", "-b", "left", &base]);
    write(&w.work, "shared.txt", "left\n");
    write(&w.work, "dev.txt", "left adds dev.txt too\n");
    commit(&w.work, "left");
    git(&w.work, &["push", "-q", "origin", "left"]);
    let before = w.repo.branches().await.unwrap();
    write(&w.work, "other.txt", "x");
    git(&w.work, &["checkout", "-q", "-f", "main"]);
    let outcome = w.repo.merge("left", "main", &ada()).await.unwrap();
    assert_eq!(
        outcome,
        MergeOutcome::Conflict {
            paths: vec!["dev.txt".into(), "shared.txt".into()]
        }
    );
    assert_eq!(w.repo.branches().await.unwrap(), before);

    assert!(matches!(
        w.repo.merge("nope", "main", &ada()).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn commit_file_and_read_file() {
    let w = world().await;
    write(&w.work, "addons/x/run.sh", "old\n");
    make_executable(&w.work.join("addons/x/run.sh"));
    let head = commit(&w.work, "base");
    git(&w.work, &["push", "-q", "origin", "main"]);

    // A new file in a new folder.
    let first = w
        .repo
        .commit_file(
            "main",
            "addons/y/new.py",
            b"print(1)\n",
            "Add new.py",
            &ada(),
            &head,
        )
        .await
        .unwrap();
    assert_ne!(first, head);
    assert_eq!(w.repo.branches().await.unwrap()["main"], first);
    assert_eq!(
        w.repo.read_file(&first, "addons/y/new.py").await.unwrap(),
        Some(b"print(1)\n".to_vec())
    );
    assert_eq!(
        w.repo.read_file(&first, "addons/x/run.sh").await.unwrap(),
        Some(b"old\n".to_vec())
    );

    // An existing executable keeps its mode.
    let second = w
        .repo
        .commit_file(
            "main",
            "addons/x/run.sh",
            b"new\n",
            "Edit run.sh",
            &ada(),
            &first,
        )
        .await
        .unwrap();
    git(&w.work, &["pull", "-q", "--ff-only", "origin", "main"]);
    assert_eq!(
        git(&w.work, &["ls-tree", "HEAD", "addons/x/run.sh"])
            .split(' ')
            .next(),
        Some("100755")
    );
    assert_eq!(
        git(&w.work, &["log", "-1", "--format=%P|%s"]),
        format!("{first}|Edit run.sh")
    );

    // Saving identical contents makes no commit.
    let same = w
        .repo
        .commit_file("main", "addons/x/run.sh", b"new\n", "noop", &ada(), &second)
        .await
        .unwrap();
    assert_eq!(same, second);

    // A stale editor: the branch moved since it was read.
    let err = w
        .repo
        .commit_file("main", "a.txt", b"x", "stale", &ada(), &first)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TargetMoved { .. }), "{err}");
    assert_eq!(w.repo.branches().await.unwrap()["main"], second);

    // Bad paths are refused before git sees them; a folder cannot be overwritten.
    for bad in ["../x", "/etc/passwd", ".git/config", "a//b"] {
        assert!(matches!(
            w.repo
                .commit_file("main", bad, b"x", "m", &ada(), &second)
                .await,
            Err(Error::Invalid { .. })
        ));
    }
    assert!(matches!(
        w.repo
            .commit_file("main", "addons/x", b"x", "m", &ada(), &second)
            .await,
        Err(Error::Invalid { .. })
    ));

    // read_file: missing file or a folder is None, an unknown commit is NotFound.
    assert_eq!(w.repo.read_file(&second, "nope").await.unwrap(), None);
    assert_eq!(w.repo.read_file(&second, "addons").await.unwrap(), None);
    assert!(matches!(
        w.repo
            .read_file("1111111111111111111111111111111111111111", "a")
            .await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_is_a_new_branch_at_the_same_commit_and_never_overwrites_one() {
    let w = world().await;
    write(&w.work, "README.md", "fork me\n");
    let head = commit(&w.work, "base");
    git(&w.work, &["push", "-q", "origin", "main"]);
    assert_eq!(
        w.repo.create_branch("feature-x", "main").await.unwrap(),
        head
    );
    assert_eq!(w.repo.branch_head("feature-x").await.unwrap(), head);
    assert!(matches!(
        w.repo.create_branch("feature-x", "main").await,
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        w.repo.create_branch("main", &head).await,
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        w.repo.create_branch("--force", "main").await,
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        w.repo.create_branch("other", "no-such-branch").await,
        Err(Error::NotFound { .. }) | Err(Error::Invalid { .. })
    ));
}
