//! Every `/api` route answers a body it cannot read in the documented error shape, never as
//! axum's plain text: a client (the CLI, a script) always finds `error.code` and
//! `error.message`.

mod common;

use common::common_state;
use serde_json::Value;
use slipway_platform::people::NewUser;
use slipway_platform::Metadata;
use slipway_testkit::TestDb;

/// A server on a fresh metadata database, and an administrator's token.
async fn server() -> (TestDb, String, String) {
    let db = TestDb::new().await;
    let metadata = Metadata::open_url(db.url()).await.unwrap();
    let state = common_state(metadata, &common::test_config(&std::env::temp_dir()));
    let admin = NewUser {
        login: "admin".into(),
        name: String::new(),
        email: None,
        is_admin: true,
    };
    let (_, token) = state.platform.people.create(&admin).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(slipway_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    (db, format!("http://{addr}"), token)
}

async fn post_raw(
    base: &str,
    token: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("{path} answered {status} with a body that is not JSON ({e}): {text}")
    });
    (status, body)
}

#[tokio::test]
async fn a_malformed_json_body_gets_the_json_error_shape() {
    let (_db, base, token) = server().await;
    let json = "application/json";
    for path in [
        "/api/projects",
        "/api/users",
        "/api/runtimes",
        "/api/session",
    ] {
        let (status, body) = post_raw(&base, &token, path, json, "{\"name\": ").await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid", "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("request body"), "{path}: {message}");
    }
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_or_type_names_what_is_wrong() {
    let (_db, base, token) = server().await;
    let (status, body) = post_raw(
        &base,
        &token,
        "/api/projects",
        "application/json",
        r#"{"name": 5}"#,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("name"),
        "{body}"
    );

    let (status, body) = post_raw(&base, &token, "/api/projects", "text/plain", "{}").await;
    assert_eq!(status, 415, "{body}");
    assert_eq!(body["error"]["code"], "invalid");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{body}"
    );
}

#[tokio::test]
async fn a_nul_byte_in_a_path_or_query_is_a_400_naming_it() {
    let (_db, base, token) = server().await;
    let client = reqwest::Client::new();
    for path in [
        "/api/projects/shop%00",
        "/api/projects/shop/branches/ma%00in",
        "/api/builds/1/logs/build%00.log",
        "/api/projects?filter=%00",
    ] {
        let response = client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("NUL"),
            "{path}: {body}"
        );
    }
    // A request with a lower-case scheme is still authenticated.
    let response = client
        .get(format!("{base}/api/me"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}
