//! No known password on production, and Connect without any: end to end with `slipway serve`
//! and real pushes (on the Odoo stand-in, or a real Odoo with `SLIPWAY_TEST_ODOO_SRC`).

mod common;

use common::site::{on_standin, Site};
use serde_json::{json, Value};

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Odoo's JSON-RPC login on the build at `host`: the user id, or Odoo's error.
fn authenticate(site: &Site, host: &str, db: &str, password: &str) -> Result<u64, Value> {
    let reply: Value = http()
        .post(format!("{}/web/session/authenticate", site.url()))
        .header("Host", host)
        .json(&json!({"jsonrpc": "2.0", "method": "call",
            "params": {"db": db, "login": "admin", "password": password}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    reply["result"]["uid"].as_u64().ok_or(reply)
}

/// A value of the build's odoo.conf.
fn conf_value(site: &Site, build: &str, key: &str) -> String {
    let conf = std::fs::read_to_string(
        site.data
            .path()
            .join("builds")
            .join(build)
            .join("odoo.conf"),
    )
    .unwrap();
    conf.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("{key} in {conf}"))
}

#[test]
fn production_has_a_password_of_its_own_and_connect_needs_none() {
    let site = Site::start(&[]);
    let (_tree, prod) = site.project_with_production("vault");
    let (id, name) = (prod["id"].as_i64().unwrap(), prod["name"].as_str().unwrap());
    let db = prod["database"].as_str().unwrap_or(name).to_string();
    let host = format!("{name}.localhost:{}", site.port);

    // Anyone on the Internet reaches production's host: Odoo's admin/admin does not work.
    let refused = authenticate(&site, &host, &db, "admin").unwrap_err();
    assert!(refused["error"].is_object(), "{refused}");

    // Project admins see the password Slipway gave it (API and CLI); it logs in.
    let shown = site.get("/api/projects/vault/production/admin-password");
    assert_eq!(shown["login"], "admin");
    let password = shown["password"].as_str().unwrap().to_string();
    assert_ne!(password, "admin");
    assert!(authenticate(&site, &host, &db, &password).is_ok());
    let printed = site.cli_ok(&["project", "admin-password", "vault"]);
    assert!(printed.contains(&password), "{printed}");
    let history = site.get("/api/projects/vault/branches/main/history");
    let shown: Vec<&Value> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "admin_password.shown")
        .collect();
    assert_eq!(shown.len(), 2, "who saw it is in History: {history}");
    assert_eq!(shown[0]["detail"]["login"], "admin");

    // Developers and testers do not.
    for (login, role) in [("dev", "developer"), ("tess", "tester")] {
        let token = site.member(Some("vault"), login, role);
        let response = http()
            .get(format!(
                "{}/api/projects/vault/production/admin-password",
                site.url()
            ))
            .bearer_auth(token)
            .send()
            .unwrap();
        assert_eq!(response.status(), 403, "{role}");
    }

    // The customer changes the password in Odoo: Connect still logs in, with none.
    site.psql(
        &db,
        "UPDATE res_users SET password = 'known only to the customer' WHERE login = 'admin'",
    );
    assert!(authenticate(&site, &host, &db, &password).is_err());
    // `/web` on the build's host with a session cookie, as the browser opens it.
    let open_web = |cookie: &str| {
        site.build_request(reqwest::Method::GET, name, "/web")
            .header("Cookie", cookie)
            .send()
            .unwrap()
    };
    let (cookie, _) = site.connect(id, name);
    let page = open_web(&cookie);
    assert_eq!(page.status(), 200, "the session cookie logs in");
    if on_standin() {
        let page = page.text().unwrap();
        assert!(page.contains("Logged in as admin"), "{page}");
    }

    // Slipway's module comes first on the addons path: no branch's module stands in for it.
    let addons = conf_value(&site, name, "addons_path");
    let first = addons.split(',').next().unwrap();
    assert!(
        first == "/opt/slipway/addons" || first.ends_with("/odoo-addons"),
        "{addons}"
    );

    // The module's route is on the public host: forged, expired and reused tokens open
    // nothing.
    let key = conf_value(&site, name, "slipway_connect_key");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let nonce = format!("{:032x}", rand::random::<u128>());
    let post_token = |token: &str| {
        http()
            .post(format!("{}/slipway/connect/session", site.url()))
            .header("Host", &host)
            .form(&[("token", token)])
            .send()
            .unwrap()
    };
    for token in [
        slipway_proxy::connect_token("a guess", &db, now + 20, &nonce),
        slipway_proxy::connect_token(&key, &db, now - 1, &nonce),
        slipway_proxy::connect_token(&key, "another_db", now + 20, &nonce),
    ] {
        let response = post_token(&token);
        assert_eq!(response.status(), 403, "{token}");
        // Real Odoo gives every visitor an anonymous session cookie: it must log nobody in.
        if let Some(cookie) = response.headers().get("set-cookie") {
            let cookie = cookie.to_str().unwrap().split(';').next().unwrap();
            let page = open_web(cookie);
            assert!(page.status().is_redirection(), "{token}: {}", page.status());
        }
    }
    let token = slipway_proxy::connect_token(&key, &db, now + 20, &nonce);
    assert_eq!(post_token(&token).status(), 200);
    assert_eq!(post_token(&token).status(), 403, "a token works once");
}
