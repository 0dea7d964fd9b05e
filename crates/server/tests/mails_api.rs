//! `GET /api/builds/{id}/mails...` on a real bound server, over a store filled through the
//! store's own API (the SMTP side has its own tests).

use std::net::SocketAddr;

use serde_json::Value;
use slipway_mail::MailStore;

const QUOTATION: &[u8] = include_bytes!("../../mail/tests/fixtures/quotation.eml");

/// A server with only the mail routes, over a fresh store holding build 7's quotation.
async fn server() -> (SocketAddr, MailStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = MailStore::new(dir.path());
    store
        .store(
            7,
            "odoobot@example.com",
            &["alice@example.com".to_owned()],
            QUOTATION,
        )
        .unwrap();
    let app = slipway_server::mails::router::<MailStore>().with_state(store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, store, dir)
}

async fn get(addr: SocketAddr, path: &str) -> reqwest::Response {
    reqwest::get(format!("http://{addr}{path}")).await.unwrap()
}

#[tokio::test]
async fn the_list_shows_each_mail_newest_first() {
    let (addr, store, _dir) = server().await;
    store
        .store(
            7,
            "",
            &["b@example.com".to_owned()],
            b"Subject: second\r\n\r\nx\r\n",
        )
        .unwrap();
    let response = get(addr, "/api/builds/7/mails").await;
    assert_eq!(response.status(), 200);
    let list: Value = response.json().await.unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["subject"], "second");
    assert_eq!(list[1]["subject"], "Quotation S00001 — été");
    assert_eq!(list[1]["seq"], 1);
    assert_eq!(
        list[1]["envelope_to"],
        serde_json::json!(["alice@example.com"])
    );
    let names: Vec<_> = list[1]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["name"])
        .collect();
    assert_eq!(
        names,
        ["logo.png", "S00001.pdf"],
        "the inline logo is listed too"
    );
    assert_eq!(list[1]["has_html"], true);

    let empty: Value = get(addr, "/api/builds/8/mails").await.json().await.unwrap();
    assert_eq!(empty, serde_json::json!([]));
}

#[tokio::test]
async fn one_mail_has_headers_text_and_attachments_but_never_raw_html() {
    let (addr, _store, _dir) = server().await;
    let response = get(addr, "/api/builds/7/mails/1").await;
    assert_eq!(response.status(), 200);
    let mail: Value = response.json().await.unwrap();
    assert_eq!(mail["subject"], "Quotation S00001 — été");
    assert!(mail["text"]
        .as_str()
        .unwrap()
        .contains("quotation is attached"));
    let headers = mail["headers"].as_array().unwrap();
    assert!(headers.iter().any(|h| h["name"] == "Message-ID"));
    assert_eq!(mail["attachments"][1]["content_type"], "application/pdf");
    assert_eq!(mail["attachments"][1]["size"], 19);
    assert!(mail.get("html").is_none());
}

#[tokio::test]
async fn the_eml_is_the_bytes_received_as_a_download() {
    let (addr, _store, _dir) = server().await;
    let response = get(addr, "/api/builds/7/mails/1.eml").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "message/rfc822");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"build-7-mail-1.eml\""
    );
    assert_eq!(response.bytes().await.unwrap(), QUOTATION);
}

#[tokio::test]
async fn the_html_view_is_sanitized_and_sent_under_a_strict_policy() {
    let (addr, _store, _dir) = server().await;
    let response = get(addr, "/api/builds/7/mails/1/html").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'; img-src data:; style-src 'unsafe-inline'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = response.text().await.unwrap();
    assert!(html.contains("Hello <b>Alice</b>"), "{html}");
    for gone in ["<script", "onerror", "javascript:", "tracker.example"] {
        assert!(!html.contains(gone), "{gone} in {html}");
    }
}

#[tokio::test]
async fn unknown_mails_and_bad_ids_are_404_in_the_api_error_shape() {
    let (addr, _store, _dir) = server().await;
    for path in [
        "/api/builds/7/mails/2",
        "/api/builds/7/mails/2.eml",
        "/api/builds/7/mails/2/html",
        "/api/builds/8/mails/1",
        "/api/builds/seven/mails",
        "/api/builds/7/mails/one",
    ] {
        let response = get(addr, path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
        assert!(
            body["error"]["message"].as_str().unwrap().len() > 5,
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_dropped_build_has_no_mails_left() {
    let (addr, store, _dir) = server().await;
    store.drop_build(7).unwrap();
    let list: Value = get(addr, "/api/builds/7/mails").await.json().await.unwrap();
    assert_eq!(list, serde_json::json!([]));
    assert_eq!(get(addr, "/api/builds/7/mails/1.eml").await.status(), 404);
}
