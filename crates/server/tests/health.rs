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
