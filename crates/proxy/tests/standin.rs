//! The proxy and "Connect" against the Odoo stand-in (`tests/fixtures/odoo-standin`, NOT
//! Odoo) serving a real database on the test PostgreSQL cluster.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use slipway_proxy::{connect_token, forward, open_connect_session, ProxyClient, ProxyError};
use slipway_testkit::TestDb;

fn standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/odoo-standin")
}

/// The addons folder holding Slipway's `slipway_connect` module.
fn slipway_addons() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../runner/odoo")
}

/// The build's key, in its odoo.conf.
const KEY: &str = "0123456789abcdef0123456789abcdef";

/// Runs SQL as the cluster's superuser.
fn psql(url: &str, sql: &str) {
    let out = std::process::Command::new(slipway_testkit::binaries().tool("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A login role and its database, dropped at the end.
struct Role {
    admin_url: String,
    name: String,
    db: String,
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = std::process::Command::new(slipway_testkit::binaries().tool("psql"))
            .args(["-X", "-q", "-d", &self.admin_url, "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE); DROP ROLE IF EXISTS {};",
                self.db, self.name
            ))
            .output();
    }
}

#[derive(Clone)]
struct Front {
    client: ProxyClient,
    upstream: SocketAddr,
}

async fn by_host(State(front): State<Front>, req: Request) -> Response {
    forward(&front.client, front.upstream, "b1", req).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_odoo_standin_through_the_proxy_and_connect() {
    if !standin().join("odoo-bin").exists() {
        eprintln!("no odoo-standin: skipped");
        return;
    }
    let testdb = TestDb::new().await;
    let admin_url = testdb.server().url("postgres");
    // `postgresql://user:password@127.0.0.1:PORT/db` (or `...?host=DIR&port=PORT`)
    let port = match admin_url.split_once("port=") {
        Some((_, rest)) => rest.split('&').next().unwrap().to_owned(),
        None => {
            let authority = admin_url.rsplit_once('@').unwrap().1;
            let host_port = authority.split('/').next().unwrap();
            host_port.rsplit_once(':').unwrap().1.to_owned()
        }
    };
    let name = format!("odoo_px{:08x}", rand::random::<u32>());
    let role = Role {
        admin_url: admin_url.clone(),
        db: format!("{name}_db"),
        name: name.clone(),
    };
    psql(
        &admin_url,
        &format!("CREATE ROLE {name} LOGIN CREATEDB PASSWORD 'pw'"),
    );

    let data = tempfile::tempdir().unwrap();
    let http_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let http_port_text = http_port.to_string();
    let conf = data.path().join("odoo.conf");
    std::fs::write(
        &conf,
        format!(
            "[options]\nserver_wide_modules = base,web,slipway_connect\nslipway_connect_key = {KEY}\n"
        ),
    )
    .unwrap();
    let addons = format!(
        "{},{}",
        slipway_addons().display(),
        standin().join("addons").display()
    );
    let mut odoo = tokio::process::Command::new("python3")
        .arg(standin().join("odoo-bin"))
        .arg("-c")
        .arg(&conf)
        .args(["--addons-path", &addons])
        .args(["-d", &role.db, "-i", "base", "--without-demo=all"])
        .args([
            "--db_host",
            "127.0.0.1",
            "--db_port",
            &port,
            "-r",
            &name,
            "-w",
            "pw",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .args([
            "--http-interface",
            "127.0.0.1",
            "--http-port",
            &http_port_text,
        ])
        .args(["--proxy-mode", "--logfile", "/dev/null"])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let upstream: SocketAddr = format!("127.0.0.1:{http_port}").parse().unwrap();

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Ok(r) = http
            .get(format!("http://{upstream}/web/health"))
            .send()
            .await
        {
            if r.status() == 200 {
                break;
            }
        }
        if let Ok(Some(status)) = odoo.try_wait() {
            panic!("the stand-in exited: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the stand-in did not start"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let state = Front {
        client: ProxyClient::new(),
        upstream,
    };
    let app = Router::new().fallback(by_host).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    let host = "b1.slipway.test";
    // Not logged in: the stand-in sends the browser to its login page.
    let response = http
        .get(format!("http://{front}/web"))
        .header("host", host)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/web/login");

    // "Connect": a session as the build's administrator, usable through the proxy, whatever
    // the administrator's password is.
    psql(
        &testdb.server().url(&role.db),
        "UPDATE res_users SET password = 'changed by the customer' WHERE login = 'admin'",
    );
    let session = open_connect_session(&state.client, upstream, &role.db, KEY)
        .await
        .unwrap();
    let page = http
        .get(format!("http://{front}/web"))
        .header("host", host)
        .header("cookie", format!("session_id={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    assert!(text.contains("Logged in as admin"), "{text}");

    // The login form through the proxy: cookie and redirect come back.
    let response = http
        .post(format!("http://{front}/web/login"))
        .header("host", host)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("login=admin&password=changed+by+the+customer")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/web");
    assert!(response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("session_id="));

    let err = open_connect_session(&state.client, upstream, &role.db, "another build's key")
        .await
        .unwrap_err();
    assert!(matches!(err, ProxyError::LoginRefused { .. }), "{err}");

    // The module's route is public (through the build's host name): only Slipway's tokens
    // open a session, and each once.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let nonce = format!("{:032x}", rand::random::<u128>());
    let post_token = |token: String| {
        http.post(format!("http://{front}/slipway/connect/session"))
            .header("host", "b1.slipway.test")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    for (token, refusal) in [
        (
            connect_token("forged", &role.db, now + 20, &nonce),
            "bad signature",
        ),
        (
            connect_token(KEY, &role.db, now - 1, &nonce),
            "expired token",
        ),
        (
            connect_token(KEY, &role.db, now + 3600, &nonce),
            "token lives longer than",
        ),
        ("v1.garbage".to_string(), "malformed token"),
    ] {
        let response = post_token(token).await.unwrap();
        assert_eq!(response.status(), 403);
        assert!(response.headers().get("set-cookie").is_none());
        let text = response.text().await.unwrap();
        assert!(text.contains(refusal), "{refusal}: {text}");
    }
    let token = connect_token(KEY, &role.db, now + 20, &nonce);
    assert_eq!(post_token(token.clone()).await.unwrap().status(), 200);
    let again = post_token(token).await.unwrap();
    assert_eq!(again.status(), 403);
    assert!(again.text().await.unwrap().contains("already used"));

    odoo.kill().await.unwrap();
    let response = http
        .get(format!("http://{front}/web"))
        .header("host", host)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    drop(role);
}
