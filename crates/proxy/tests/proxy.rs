//! The reverse proxy against a real upstream: a small axum app on a free port standing for a
//! build's Odoo server.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use slipway_proxy::{
    connect_token, forward, open_connect_session, ProxyClient, ProxyError, CONNECT_PATH,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn echo(req: Request) -> Json<Value> {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let mut headers = BTreeMap::new();
    for (name, value) in req.headers() {
        headers
            .entry(name.to_string())
            .or_insert_with(Vec::new)
            .push(value.to_str().unwrap_or("?").to_owned());
    }
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap();
    Json(json!({
        "method": method,
        "uri": uri,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
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
    let stream =
        futures_util::stream::iter((0..320).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    Response::new(Body::from_stream(stream))
}

async fn redirect_absolute(State(me): State<SocketAddr>) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            format!("http://{me}/web/login?redirect=%2Fodoo"),
        )],
    )
        .into_response()
}

async fn redirect_relative() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/web")]).into_response()
}

async fn upgrade(mut req: Request) -> Response {
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut io = TokioIo::new(upgraded);
        let mut buf = [0u8; 1024];
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        .body(Body::empty())
        .unwrap()
}

/// `slipway_connect`'s route, as the module answers: a session for a token signed with `k3y`
/// for `shop-b1`, else 403 and the reason.
async fn connect_session(body: String) -> Response {
    let token = body.strip_prefix("token=").unwrap_or("");
    let parts: Vec<&str> = token.split('.').collect();
    let good = parts.len() == 4
        && parts[1]
            .parse()
            .is_ok_and(|expires| connect_token("k3y", "shop-b1", expires, parts[2]) == token);
    if !good {
        let refusal = json!({"error": "bad signature (another key, or another database)"});
        return (StatusCode::FORBIDDEN, Json(refusal)).into_response();
    }
    (
        [
            (header::SET_COOKIE, "frontend_lang=en_US; Path=/"),
            (
                header::SET_COOKIE,
                "session_id=s3ss10n; Expires=Sun, 21 Nov 2027 08:00:00 GMT; Max-Age=604800; HttpOnly; Path=/",
            ),
        ],
        Json(json!({"uid": 2, "login": "admin", "db": "shop-b1"})),
    )
        .into_response()
}

/// The stand-in upstream, listening on a free port.
async fn upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/echo", any(echo))
        .route("/count", post(count))
        .route("/big", get(big))
        .route("/redirect-absolute", get(redirect_absolute))
        .route("/redirect-relative", get(redirect_relative))
        .route("/websocket", get(upgrade))
        .route(CONNECT_PATH, post(connect_session))
        .with_state(addr);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[derive(Clone)]
struct Front {
    client: ProxyClient,
    upstream: SocketAddr,
}

async fn by_host(State(front): State<Front>, req: Request) -> Response {
    forward(&front.client, front.upstream, "b1", req).await
}

/// Slipway's side: every request to `upstream`, as for the host name `b1.<domain>`.
async fn front(upstream: SocketAddr) -> SocketAddr {
    let state = Front {
        client: ProxyClient::new(),
        upstream,
    };
    let app = Router::new().fallback(by_host).with_state(state);
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

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn forwards_method_path_query_body_cookies_and_forwarded_headers() {
    let front = front(upstream().await).await;
    let response = http()
        .patch(format!("http://{front}/echo?a=1&b=%20x"))
        .header("host", "b1.slipway.test:8080")
        .header("cookie", "session_id=abc; tz=UTC")
        .header("x-custom", "kept")
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .header("connection", "keep-alive, x-private")
        .header("x-private", "dropped")
        .header("keep-alive", "timeout=5")
        .body("the body")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["method"], "PATCH");
    assert_eq!(seen["uri"], "/echo?a=1&b=%20x");
    assert_eq!(seen["body"], "the body");
    let headers = &seen["headers"];
    assert_eq!(headers["host"], json!(["b1.slipway.test:8080"]));
    assert_eq!(headers["cookie"], json!(["session_id=abc; tz=UTC"]));
    assert_eq!(headers["x-custom"], json!(["kept"]));
    assert_eq!(
        headers["x-forwarded-for"],
        json!(["203.0.113.7, 127.0.0.1"])
    );
    assert_eq!(headers["x-forwarded-host"], json!(["b1.slipway.test:8080"]));
    assert_eq!(headers["x-forwarded-proto"], json!(["http"]));
    assert!(headers.get("x-private").is_none(), "{headers}");
    assert!(headers.get("keep-alive").is_none(), "{headers}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_the_upstream_points_at_the_public_host() {
    let front = front(upstream().await).await;
    let response = http()
        .get(format!("http://{front}/redirect-absolute"))
        .header("host", "b1.slipway.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "http://b1.slipway.test/web/login?redirect=%2Fodoo"
    );
    let response = http()
        .get(format!("http://{front}/redirect-relative"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/web");
}

#[tokio::test(flavor = "multi_thread")]
async fn large_bodies_stream_both_ways() {
    let front = front(upstream().await).await;
    let size = 20usize << 20;
    let chunks = futures_util::stream::iter((0..size / (64 << 10)).map(|_| {
        Ok::<_, std::io::Error>(hyper::body::Frame::data(Bytes::from(vec![7u8; 64 << 10])))
    }));
    let started = std::time::Instant::now();
    let counted = http()
        .post(format!("http://{front}/count"))
        .body(reqwest::Body::wrap(http_body_util::StreamBody::new(chunks)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(counted, size.to_string());
    let response = http()
        .get(format!("http://{front}/big"))
        .send()
        .await
        .unwrap();
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), 320 * (64 << 10));
    eprintln!(
        "20 MiB up and 20 MiB down through the proxy: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_upgrades_pass_through() {
    let front = front(upstream().await).await;
    let mut stream = tokio::net::TcpStream::connect(front).await.unwrap();
    stream
        .write_all(
            b"GET /websocket HTTP/1.1\r\nHost: b1.slipway.test\r\nConnection: Upgrade\r\n\
              Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "{head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    for message in [&b"ping"[..], &b"a longer frame of bytes"[..]] {
        stream.write_all(message).await.unwrap();
        let mut back = vec![0u8; message.len()];
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(back, message);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_build_that_does_not_answer_is_a_502_naming_it() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let front = front(closed).await;
    let response = http()
        .get(format!("http://{front}/web"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("Build b1 is not answering"), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_returns_the_session_cookie_of_a_signed_token() {
    let up = upstream().await;
    let client = ProxyClient::new();
    let session = open_connect_session(&client, up, "shop-b1", "k3y")
        .await
        .unwrap();
    assert_eq!(session, "s3ss10n");

    for (db, key) in [("shop-b1", "wrong"), ("shop-b2", "k3y")] {
        let err = open_connect_session(&client, up, db, key)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProxyError::LoginRefused { ref message } if message.starts_with("bad signature")),
            "{err}"
        );
    }

    // A build whose Odoo does not load slipway_connect: the error says what to do.
    let without_module = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = without_module.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(without_module, Router::new()).await });
    let err = open_connect_session(&client, addr, "shop-b1", "k3y")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rebuild the branch"), "{err}");

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let err = open_connect_session(&client, closed, "shop-b1", "k3y")
        .await
        .unwrap_err();
    assert!(matches!(err, ProxyError::Unreachable { .. }), "{err}");
}
