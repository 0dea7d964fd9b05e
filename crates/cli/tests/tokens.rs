//! API tokens over their life: made with a label and an expiry, listed with their last use,
//! refused once revoked or expired; a password change ends the user's other web sessions.

mod common;

use common::site::Site;
use reqwest::blocking::Client;
use serde_json::{json, Value};

/// `GET /api/me` with `token`: the status and the error message, if any.
fn me_with(site: &Site, token: &str) -> (u16, String) {
    let response = Client::new()
        .get(format!("{}/api/me", site.url()))
        .bearer_auth(token)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap_or(Value::Null);
    let message = body["error"]["message"].as_str().unwrap_or("").to_string();
    (status, message)
}

#[test]
fn a_token_lives_until_revoked_or_expired() {
    let site = Site::start(&[]);
    let created = site.cli_ok(&[
        "token",
        "create",
        "--label",
        "ci",
        "--expires-in-days",
        "30",
        "--json",
    ]);
    let created: Value = serde_json::from_str(&created).unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    let id = created["token"]["id"].as_i64().unwrap();
    assert_eq!(created["token"]["label"], "ci");
    assert!(created["token"]["expires_at"].is_string(), "{created}");
    assert_eq!(me_with(&site, &secret).0, 200);

    // Listed, with its last use, and without its secret.
    let listed = site.cli_ok(&["token", "list"]);
    let line = listed
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&id.to_string()))
        .unwrap_or_else(|| panic!("token #{id} not listed: {listed}"));
    assert!(line.contains("ci"), "{line}");
    assert!(!line.contains("never  "), "its use is not shown: {line}");
    assert!(!listed.contains(&secret), "{listed}");

    // Revoked: refused at once, saying why.
    site.cli_ok(&["token", "revoke", &id.to_string()]);
    let (status, message) = me_with(&site, &secret);
    assert_eq!(status, 401);
    assert!(message.contains("revoked"), "{message}");
    let listed = site.cli_ok(&["token", "list", "--json"]);
    assert!(!listed.contains(&format!("\"id\":{id},")), "{listed}");
    // Revoking it again, or someone else's, is not found.
    let again = site.cli(&["token", "revoke", &id.to_string()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no token"));

    // Expired: a token past its expiry authenticates no more.
    let created = site.cli_ok(&["token", "create", "--expires-in-days", "1", "--json"]);
    let created: Value = serde_json::from_str(&created).unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert_eq!(me_with(&site, &secret).0, 200);
    site.psql(
        "slipway",
        &format!(
            "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = {}",
            created["token"]["id"]
        ),
    );
    assert_eq!(me_with(&site, &secret).0, 401);

    // Bad lifetimes are refused, naming the bounds.
    let refused = site.cli(&["token", "create", "--expires-in-days", "0"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("at least one day"));
}

/// Signs in with a login and a password; returns the session cookie and its CSRF token.
fn sign_in(site: &Site, login: &str, password: &str) -> (String, String) {
    let response = Client::new()
        .post(format!("{}/api/session", site.url()))
        .json(&json!({"login": login, "password": password}))
        .send()
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let body: Value = response.json().unwrap();
    (cookie, body["csrf"].as_str().unwrap().to_string())
}

fn session_status(site: &Site, cookie: &str) -> u16 {
    Client::new()
        .get(format!("{}/api/session", site.url()))
        .header("cookie", cookie)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn a_password_change_ends_the_other_sessions() {
    let site = Site::start(&[]);
    let (status, body) = site.post("/api/users", json!({"login": "ann"}));
    assert_eq!(status, 201, "{body}");
    let ann_token = body["token"].as_str().unwrap().to_string();
    let set = Client::new()
        .put(format!("{}/api/users/ann/password", site.url()))
        .bearer_auth(&ann_token)
        .json(&json!({"password": "first password"}))
        .send()
        .unwrap();
    assert_eq!(set.status().as_u16(), 204);
    let (laptop, csrf) = sign_in(&site, "ann", "first password");
    let (stolen, _) = sign_in(&site, "ann", "first password");
    assert_eq!(session_status(&site, &stolen), 200);

    // Ann changes her password from her laptop: the other session ends, hers goes on.
    let changed = Client::new()
        .put(format!("{}/api/users/ann/password", site.url()))
        .header("cookie", &laptop)
        .header("x-slipway-csrf", &csrf)
        .json(&json!({"password": "second password"}))
        .send()
        .unwrap();
    assert_eq!(changed.status().as_u16(), 204);
    assert_eq!(session_status(&site, &stolen), 401);
    assert_eq!(session_status(&site, &laptop), 200);

    // An admin resets it: every session of hers ends.
    let reset = Client::new()
        .put(format!("{}/api/users/ann/password", site.url()))
        .bearer_auth(site.token())
        .json(&json!({"password": "third password"}))
        .send()
        .unwrap();
    assert_eq!(reset.status().as_u16(), 204);
    assert_eq!(session_status(&site, &laptop), 401);
}

/// `POST /api/session` with a login and a password: the status and the error's code.
fn password_sign_in(site: &Site, login: &str, password: &str) -> (u16, String) {
    let response = Client::new()
        .post(format!("{}/api/session", site.url()))
        .json(&json!({"login": login, "password": password}))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap_or(Value::Null);
    (
        status,
        body["error"]["message"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn repeated_failed_sign_ins_lock_the_login_out() {
    let site = Site::start(&["--login-failures", "3", "--login-lockout", "5"]);
    let (status, body) = site.post("/api/users", json!({"login": "ann"}));
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let set = Client::new()
        .put(format!("{}/api/users/ann/password", site.url()))
        .bearer_auth(&token)
        .json(&json!({"password": "the right one"}))
        .send()
        .unwrap();
    assert_eq!(set.status().as_u16(), 204);
    for _ in 0..3 {
        assert_eq!(password_sign_in(&site, "ann", "a guess, wrong").0, 401);
    }
    // Locked: even the right password is refused, saying for how long.
    let (status, message) = password_sign_in(&site, "ann", "the right one");
    assert_eq!(status, 429, "{message}");
    assert!(
        message.contains("too many failed sign-ins for this login")
            && message.contains("5 minutes"),
        "{message}"
    );
    // Another login is not locked out, and a token still signs ann in.
    assert_eq!(password_sign_in(&site, "bob", "whatever it is").0, 401);
    let by_token = Client::new()
        .post(format!("{}/api/session", site.url()))
        .json(&json!({"token": token}))
        .send()
        .unwrap();
    assert!(by_token.status().is_success());
}
