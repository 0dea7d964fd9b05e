//! Git smart HTTP with the real git client against `git http-backend` behind a real port.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Path as UrlPath, Request, State};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use slipway_git::http::{git_http_backend, git_http_backend_guarded, BranchCap, PushGuard};
use slipway_git::Repos;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone)]
struct Bridge {
    root: PathBuf,
    max_body_bytes: u64,
    /// The branches read right after each push's `git_http_backend` returned, as the lead's
    /// push hook reads them.
    after_push: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
}

async fn as_tester(
    State(bridge): State<Bridge>,
    UrlPath(path): UrlPath<String>,
    req: Request,
) -> Response {
    let path_info = format!("/{path}");
    let receive = path_info.ends_with("/git-receive-pack");
    let response = git_http_backend(
        &bridge.root,
        "tester",
        req,
        &path_info,
        bridge.max_body_bytes,
    )
    .await;
    if receive {
        let repo = Repos::new(bridge.root.clone()).open("shop").await.unwrap();
        let branches = repo.branches().await.unwrap();
        bridge.after_push.lock().unwrap().push(branches);
    }
    response
}

async fn anonymous(
    State(bridge): State<Bridge>,
    UrlPath(path): UrlPath<String>,
    req: Request,
) -> Response {
    git_http_backend(
        &bridge.root,
        "",
        req,
        &format!("/{path}"),
        bridge.max_body_bytes,
    )
    .await
}

/// The guard of `/guarded/`: `main` protected, at most 3 branches moved and 2 created per push.
fn test_guard() -> PushGuard {
    PushGuard {
        protected: slipway_git::http::ProtectedBranches {
            names: vec!["main".into()],
            reason: "ask an admin".into(),
        },
        max_branches: Some(BranchCap {
            max: 3,
            reason: "at most 3 per push".into(),
        }),
        max_new_branches: Some(BranchCap {
            max: 2,
            reason: "room for 2 more; a \\backslash stays 100% literal".into(),
        }),
    }
}

async fn guarded(
    State(bridge): State<Bridge>,
    UrlPath(path): UrlPath<String>,
    req: Request,
) -> Response {
    git_http_backend_guarded(
        &bridge.root,
        "tester",
        req,
        &format!("/{path}"),
        bridge.max_body_bytes,
        &test_guard(),
    )
    .await
}

struct Server {
    _tmp: tempfile::TempDir,
    repos: Repos,
    addr: SocketAddr,
    scratch: PathBuf,
    after_push: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
}

/// A test router (no auth) serving `<tmp>/git` with a project `shop`.
async fn server(max_body_bytes: u64) -> Server {
    let tmp = tempfile::tempdir().unwrap();
    let repos = Repos::new(tmp.path().join("git"));
    repos.create("shop").await.unwrap();
    let after_push = Arc::new(Mutex::new(Vec::new()));
    let bridge = Bridge {
        root: repos.root().to_owned(),
        max_body_bytes,
        after_push: after_push.clone(),
    };
    let app = Router::new()
        .route("/git/{*path}", any(as_tester))
        .route("/anon/{*path}", any(anonymous))
        .route("/guarded/{*path}", any(guarded))
        .with_state(bridge);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    Server {
        _tmp: tmp,
        repos,
        addr,
        scratch,
        after_push,
    }
}

impl Server {
    /// The branches the push hook saw after the last push.
    fn last_push_snapshot(&self) -> BTreeMap<String, String> {
        self.after_push.lock().unwrap().last().cloned().unwrap()
    }

    fn url(&self, repo: &str) -> String {
        format!("http://{}/git/{repo}", self.addr)
    }
}

/// Runs the real git client in `dir`, isolated from the machine's configuration.
fn git_output(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args([
            "-c",
            "user.name=Ada",
            "-c",
            "user.email=ada@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .unwrap()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_output(dir, args);
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `git` run on a blocking thread (the server runs on this test's runtime).
async fn git_async(dir: &Path, args: &[&str]) -> String {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        git(&dir, &args)
    })
    .await
    .unwrap()
}

async fn git_async_output(dir: &Path, args: &[&str]) -> Output {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        git_output(&dir, &args)
    })
    .await
    .unwrap()
}

fn commit(work: &Path, file: &str, contents: &[u8], message: &str) -> String {
    std::fs::write(work.join(file), contents).unwrap();
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", message]);
    git(work, &["rev-parse", "HEAD"])
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    let mut urandom = std::fs::File::open("/dev/urandom").unwrap();
    std::io::Read::read_exact(&mut urandom, &mut data).unwrap();
    data
}

#[tokio::test(flavor = "multi_thread")]
async fn clone_push_force_push_delete_and_clone_again() {
    let s = server(1 << 30).await;
    let url = s.url("shop.git");
    git_async(&s.scratch, &["clone", "-q", &url, "work"]).await;
    let work = s.scratch.join("work");

    let first = commit(&work, "a.txt", b"one\n", "first");
    git_async(&work, &["push", "-q", "origin", "main"]).await;
    // When the bridge returns, the push is done: the hook's snapshot already has the branch.
    assert_eq!(s.last_push_snapshot().get("main"), Some(&first));
    git(&work, &["checkout", "-q", "-b", "feature"]);
    let feature = commit(&work, "b.txt", b"feature\n", "feature work");
    git_async(&work, &["push", "-q", "origin", "feature"]).await;
    git(&work, &["checkout", "-q", "-b", "b", &first]);
    git_async(&work, &["push", "-q", "origin", "b"]).await;

    let repo = s.repos.open("shop").await.unwrap();
    let branches = repo.branches().await.unwrap();
    assert_eq!(branches["main"], first);
    assert_eq!(branches["feature"], feature);
    assert_eq!(branches["b"], first);

    // A force push rewrites main.
    git(&work, &["checkout", "-q", "main"]);
    git(&work, &["commit", "-q", "--amend", "-m", "first, amended"]);
    let amended = git(&work, &["rev-parse", "HEAD"]);
    let refused = git_async_output(&work, &["push", "-q", "origin", "main"]).await;
    assert!(
        !refused.status.success(),
        "a non-fast-forward needs --force"
    );
    git_async(&work, &["push", "-q", "--force", "origin", "main"]).await;
    assert_eq!(s.last_push_snapshot().get("main"), Some(&amended));

    // Deleting a branch.
    git_async(&work, &["push", "-q", "origin", ":b"]).await;
    assert!(!s.last_push_snapshot().contains_key("b"));

    let after = repo.branches().await.unwrap();
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(after["main"], amended);
    assert_eq!(after["feature"], feature);
    let updates = slipway_git::Repo::ref_updates(&branches, &after);
    assert_eq!(updates.len(), 2, "{updates:?}");

    // A fresh clone sees exactly what was pushed.
    git_async(&s.scratch, &["clone", "-q", &url, "again"]).await;
    let again = s.scratch.join("again");
    let remote = git(
        &again,
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/remotes/origin/",
        ],
    );
    assert_eq!(
        remote,
        format!(
            "refs/remotes/origin/HEAD {amended}\nrefs/remotes/origin/feature {feature}\n\
             refs/remotes/origin/main {amended}"
        )
    );
    assert_eq!(std::fs::read(again.join("a.txt")).unwrap(), b"one\n");
    git(&again, &["fsck", "--strict", "--no-progress"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_breaking_its_guard_is_refused_whole_by_git_with_the_reason() {
    let s = server(1 << 30).await;
    let open = s.url("shop.git");
    let guarded = open.replace("/git/", "/guarded/");
    git_async(&s.scratch, &["clone", "-q", &open, "work"]).await;
    let work = s.scratch.join("work");
    let first = commit(&work, "a.txt", b"one\n", "first");
    git_async(
        &work,
        &["push", "-q", "origin", "main", "main:old1", "main:old2"],
    )
    .await;
    git(&work, &["remote", "add", "guarded", &guarded]);
    let repo = s.repos.open("shop").await.unwrap();
    let before = repo.branches().await.unwrap();
    let second = commit(&work, "a.txt", b"two\n", "second");

    // Three new branches: over the two allowed; nothing lands.
    let out = git_async_output(&work, &["push", "guarded", "HEAD:n1", "HEAD:n2", "HEAD:n3"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("remote: slipway: this push creates 3 new branches: room for 2 more; a \\backslash stays 100% literal")
            && err.contains("[remote rejected]"),
        "{err}"
    );
    assert_eq!(repo.branches().await.unwrap(), before);

    // Four branches moved (two new): over the three per push; nothing lands.
    let out = git_async_output(
        &work,
        &[
            "push",
            "guarded",
            "HEAD:old1",
            "HEAD:old2",
            "HEAD:n1",
            "HEAD:n2",
        ],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(
            "remote: slipway: this push creates or updates 4 branches: at most 3 per push"
        ),
        "{err}"
    );
    assert!(!err.contains("new branches"), "{err}");
    assert_eq!(repo.branches().await.unwrap(), before);

    // A protected branch, even alone and even deleted.
    for refspec in ["HEAD:main", ":main"] {
        let out = git_async_output(&work, &["push", "guarded", refspec]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains("remote: slipway: main is protected: ask an admin"),
            "{err}"
        );
    }
    assert_eq!(repo.branches().await.unwrap(), before);

    // Within the caps, and deletions counting against none: accepted.
    git_async(
        &work,
        &[
            "push",
            "-q",
            "guarded",
            "HEAD:old1",
            "HEAD:n1",
            "HEAD:n2",
            ":old2",
        ],
    )
    .await;
    let after = repo.branches().await.unwrap();
    assert_eq!(after["main"], first);
    assert_eq!(after["old1"], second);
    assert_eq!(after["n1"], second);
    assert_eq!(after["n2"], second);
    assert!(!after.contains_key("old2"), "{after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_of_20_mb_streams() {
    let s = server(1 << 30).await;
    let url = s.url("shop.git");
    git_async(&s.scratch, &["clone", "-q", &url, "work"]).await;
    let work = s.scratch.join("work");
    let data = random_bytes(20 << 20);
    let head = commit(&work, "blob.bin", &data, "20 MB of noise");

    let started = Instant::now();
    git_async(&work, &["push", "-q", "origin", "main"]).await;
    let pushed = started.elapsed();
    let started = Instant::now();
    git_async(&s.scratch, &["clone", "-q", &url, "again"]).await;
    let cloned = started.elapsed();
    eprintln!("20 MB push: {pushed:?}, clone: {cloned:?}");

    let again = s.scratch.join("again");
    assert_eq!(git(&again, &["rev-parse", "HEAD"]), head);
    assert!(std::fs::read(again.join("blob.bin")).unwrap() == data);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_over_the_size_cap_is_refused_and_leaves_nothing() {
    let s = server(1 << 20).await;
    let url = s.url("shop.git");
    git_async(&s.scratch, &["clone", "-q", &url, "work"]).await;
    let work = s.scratch.join("work");
    commit(&work, "small.txt", b"small\n", "small");
    git_async(&work, &["push", "-q", "origin", "main"]).await;
    let repo = s.repos.open("shop").await.unwrap();
    let before = repo.branches().await.unwrap();
    let objects_before = count_files(&repo.path.join("objects"));

    commit(&work, "big.bin", &random_bytes(4 << 20), "too big");
    let out = git_async_output(&work, &["push", "origin", "main"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("413"), "{stderr}");
    assert_eq!(repo.branches().await.unwrap(), before);
    // The incoming objects were quarantined and dropped.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(count_files(&repo.path.join("objects")), objects_before);

    // A declared Content-Length over the cap is refused before git runs.
    let response = reqwest::Client::new()
        .post(format!("{url}/git-receive-pack"))
        .header("content-type", "application/x-git-receive-pack-request")
        .body(vec![0u8; 2 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

fn count_files(dir: &Path) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            count += count_files(&entry.path());
        } else {
            count += 1;
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_repository_is_404() {
    let s = server(1 << 30).await;
    let response = reqwest::get(format!(
        "{}/info/refs?service=git-upload-pack",
        s.url("nope.git")
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 404);
    let out = git_async_output(&s.scratch, &["clone", "-q", &s.url("nope.git"), "x"]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Only the smart endpoints are served, not the repository's files.
    let response = reqwest::get(format!("{}/config", s.url("shop.git")))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // The ref advertisement of an existing repository is served.
    let response = reqwest::get(format!(
        "{}/info/refs?service=git-upload-pack",
        s.url("shop.git")
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-git-upload-pack-advertisement"
    );
}

/// Sends a raw request line (no client-side path normalization) and returns the status line.
async fn raw_get(addr: SocketAddr, target: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    assert!(!text.contains("root:"), "{text}");
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn path_traversal_is_refused() {
    let s = server(1 << 30).await;
    for target in [
        "/git/../../etc/passwd",
        "/git/../../etc",
        "/git/shop.git/../../../../etc/passwd",
        "/git/%2e%2e/%2e%2e/etc/passwd",
        "/git/shop.git/info/refs/../../config",
        "/git/..%2fshop.git/info/refs?service=git-upload-pack",
    ] {
        let status = raw_get(s.addr, target).await;
        assert!(status.starts_with("HTTP/1.1 404"), "{target}: {status}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_without_a_user_is_refused() {
    let s = server(1 << 30).await;
    let url = format!("http://{}/anon/shop.git", s.addr);
    git_async(&s.scratch, &["clone", "-q", &url, "work"]).await;
    let work = s.scratch.join("work");
    commit(&work, "a.txt", b"a", "a");
    let out = git_async_output(&work, &["push", "origin", "main"]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s
        .repos
        .open("shop")
        .await
        .unwrap()
        .branches()
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protocol_v2_fetch_with_a_gzipped_request_body_works() {
    let s = server(1 << 30).await;
    let url = s.url("shop.git");
    git_async(&s.scratch, &["clone", "-q", &url, "work"]).await;
    let work = s.scratch.join("work");
    // 40 branches on 40 commits: the clone's want list is over 1 KiB, which git gzips.
    let mut refspecs = Vec::new();
    for i in 0..40 {
        let sha = commit(
            &work,
            "n.txt",
            format!("{i}\n").as_bytes(),
            &format!("commit {i}"),
        );
        refspecs.push(format!("{sha}:refs/heads/many-{i:02}"));
    }
    let mut args = vec!["push", "-q", "origin"];
    args.extend(refspecs.iter().map(String::as_str));
    git_async(&work, &args).await;

    let scratch = s.scratch.clone();
    let url_clone = url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("git")
            .current_dir(&scratch)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TRACE_CURL", "1")
            .env("GIT_TRACE_CURL_NO_DATA", "1")
            .env("GIT_TRACE_PACKET", "1")
            .args(["-c", "protocol.version=2"])
            .args(["clone", "-q", "--mirror", &url_clone, "mirror.git"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{trace}");
    assert!(
        trace.contains("Content-Encoding: gzip"),
        "the request was not gzipped"
    );
    // `Git-Protocol: version=2` reached git as GIT_PROTOCOL: the server answered in v2.
    assert!(trace.contains("git< version 2"), "not protocol v2");
    let mirror = s.scratch.join("mirror.git");
    let refs = git(
        &mirror,
        &[
            "for-each-ref",
            "--format=%(objectname):%(refname)",
            "refs/heads/many-*",
        ],
    );
    assert_eq!(refs.lines().collect::<Vec<_>>(), refspecs);
}
