//! Large bodies stream through the Git bridge and the proxy without being held in memory: the
//! process's peak resident memory barely moves while 64 MiB go through each.
//!
//! One test in its own binary, so nothing else allocates in this process meanwhile.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Request, State};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use futures_util::StreamExt;
use slipway_git::http::git_http_backend;
use slipway_git::Repos;
use slipway_proxy::{forward, ProxyClient};

const SIZE: u64 = 64 << 20;

/// (current resident memory, peak since the last reset), in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak and returns the current resident memory (KiB).
fn reset_peak() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    memory().0
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "user.name=Ada", "-c", "user.email=ada@example.com"])
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

async fn git_http(
    State(root): State<std::path::PathBuf>,
    UrlPath(path): UrlPath<String>,
    req: Request,
) -> Response {
    git_http_backend(&root, "tester", req, &format!("/{path}"), u64::MAX).await
}

async fn count(req: Request) -> String {
    let mut stream = req.into_body().into_data_stream();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        total += chunk.unwrap().len();
    }
    total.to_string()
}

async fn big() -> Response {
    let chunk = Bytes::from(vec![b'x'; 64 << 10]);
    let chunks = (SIZE / (64 << 10)) as usize;
    let stream = futures_util::stream::iter(
        (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );
    Response::new(Body::from_stream(stream))
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn large_pushes_and_proxied_bodies_are_streamed_not_buffered() {
    // Git: push and clone back 64 MiB of random data.
    let tmp = tempfile::tempdir().unwrap();
    let repos = Repos::new(tmp.path().join("git"));
    repos.create("shop").await.unwrap();
    let addr = serve(
        Router::new()
            .route("/git/{*path}", any(git_http))
            .with_state(repos.root().to_owned()),
    )
    .await;
    let url = format!("http://{addr}/git/shop.git");
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    let mut urandom = std::io::Read::take(std::fs::File::open("/dev/urandom").unwrap(), SIZE);
    let mut file = std::fs::File::create(work.join("noise.bin")).unwrap();
    std::io::copy(&mut urandom, &mut file).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "noise"]);
    let head = git(&work, &["rev-parse", "HEAD"]);

    let base = reset_peak();
    let (dir, push_url) = (work.clone(), url.clone());
    tokio::task::spawn_blocking(move || git(&dir, &["push", "-q", &push_url, "main"]))
        .await
        .unwrap();
    let (dir, clone_url) = (tmp.path().to_owned(), url.clone());
    tokio::task::spawn_blocking(move || git(&dir, &["clone", "-q", &clone_url, "again"]))
        .await
        .unwrap();
    let git_growth = memory().1.saturating_sub(base);
    assert_eq!(git(&tmp.path().join("again"), &["rev-parse", "HEAD"]), head);

    // Proxy: 64 MiB up and 64 MiB down.
    let upstream = serve(
        Router::new()
            .route("/count", post(count))
            .route("/big", get(big)),
    )
    .await;
    let client = ProxyClient::new();
    let front = serve(Router::new().fallback(move |req: Request| {
        let client = client.clone();
        async move { forward(&client, upstream, "b1", req).await }
    }))
    .await;
    let http = reqwest::Client::new();
    let base = reset_peak();
    let frames = futures_util::stream::iter((0..SIZE / (64 << 10)).map(|_| {
        Ok::<_, std::io::Error>(hyper::body::Frame::data(Bytes::from(vec![1u8; 64 << 10])))
    }));
    let counted = http
        .post(format!("http://{front}/count"))
        .body(reqwest::Body::wrap(http_body_util::StreamBody::new(frames)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(counted, SIZE.to_string());
    let mut response = http
        .get(format!("http://{front}/big"))
        .send()
        .await
        .unwrap();
    let mut received = 0u64;
    while let Some(chunk) = response.chunk().await.unwrap() {
        received += chunk.len() as u64;
    }
    assert_eq!(received, SIZE);
    let proxy_growth = memory().1.saturating_sub(base);

    eprintln!(
        "peak memory growth: git push + clone of 64 MiB {git_growth} KiB, proxy 64 MiB each way {proxy_growth} KiB"
    );
    assert!(git_growth < 16 << 10, "git bridge grew by {git_growth} KiB");
    assert!(proxy_growth < 16 << 10, "proxy grew by {proxy_growth} KiB");
}
