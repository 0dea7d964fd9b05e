//! The health check, served for real over TCP.

mod common;

use common::common_state;

use serde_json::Value;
use slipway_platform::Metadata;
use slipway_server::{serve, ServerConfig};
use slipway_testkit::TestDb;

fn config() -> ServerConfig {
    common::test_config(&std::env::temp_dir())
}

#[tokio::test]
async fn healthz_reports_ok_and_the_postgres_version() {
    let db = TestDb::new().await;
    let metadata = Metadata::open_url(db.url()).await.unwrap();
    let expected = metadata.server_version().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = common_state(metadata, &config());
    let server = tokio::spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));

    let response = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "postgres": expected})
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn healthz_is_unavailable_when_postgres_is_gone() {
    let db = TestDb::new().await;
    let metadata = Metadata::open_url(db.url()).await.unwrap();
    let app = slipway_server::router(common_state(metadata.clone(), &config()));
    metadata.pool().close().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let response = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert!(body["error"].as_str().unwrap().contains("closed"), "{body}");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_head_is_cut_off() {
    let db = TestDb::new().await;
    let metadata = Metadata::open_url(db.url()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut state = common_state(metadata, &config());
    state.header_read_timeout = std::time::Duration::from_millis(500);
    tokio::spawn(serve(listener, state, std::future::pending()));

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        slow.read_to_end(&mut rest),
    )
    .await;
    assert!(
        closed.is_ok(),
        "a half-sent request head kept its connection"
    );
    // The server still answers whole requests.
    let response = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

/// Sends `head` then `chunks` of a body, `pause` apart, on a raw connection; returns what the
/// server answered before closing it, and when the answer ended.
async fn send_slowly(
    addr: std::net::SocketAddr,
    head: String,
    chunks: &[&[u8]],
    pause: std::time::Duration,
) -> (String, std::time::Instant) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        tokio::time::sleep(pause).await;
        client.write_all(chunk).await.unwrap();
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        client.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "the connection stayed open");
    (
        String::from_utf8_lossy(&answer).into_owned(),
        std::time::Instant::now(),
    )
}

#[tokio::test]
async fn a_stalled_request_body_is_answered_408_but_a_slow_steady_one_goes_through() {
    let db = TestDb::new().await;
    let metadata = Metadata::open_url(db.url()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let idle = std::time::Duration::from_secs(1);
    let config = ServerConfig {
        body_idle_timeout: idle,
        ..config()
    };
    tokio::spawn(serve(
        listener,
        common_state(metadata, &config),
        std::future::pending(),
    ));
    let body = format!("{{\"x\": \"{}\"}}", "a".repeat(90));
    let head = |len: usize| {
        format!(
            "POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {len}\r\n\r\n"
        )
    };

    // Half the body, then nothing: a 408 once the body was idle for a second, and the
    // connection closed.
    let half = &body.as_bytes()[..body.len() / 2];
    let sent = std::time::Instant::now();
    let (answer, ended) = send_slowly(addr, head(body.len()), &[half], Default::default()).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("nothing came for 1 s"), "{answer}");
    let waited = ended - sent;
    assert!(
        waited >= idle && waited < idle * 8,
        "answered after {waited:?}"
    );

    // The whole body in ten pieces 400 ms apart (4 s in all, never 1 s idle): read whole,
    // and answered by its route (400: neither a token nor a password).
    let pieces: Vec<&[u8]> = body.as_bytes().chunks(body.len() / 10 + 1).collect();
    let mut head = head(body.len());
    head = head.replace("Host: x\r\n", "Host: x\r\nConnection: close\r\n");
    let (answer, _) = send_slowly(addr, head, &pieces, idle * 2 / 5).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("send {\\\"token\\\"}"), "{answer}");
}
