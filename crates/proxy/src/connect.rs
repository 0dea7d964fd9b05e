//! "Connect" without a password: Slipway signs a short-lived token with the build's key and
//! hands it to `slipway_connect`, its module that every build loads server-wide, which opens a
//! session for the database's administrator. The token's format is described once, in the
//! module's `signed_token.py` (`crates/runner/odoo/slipway_connect/`); [`connect_token`]
//! writes it.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use http_body_util::BodyExt;

use crate::{ProxyClient, ProxyError};

/// The module's route.
pub const CONNECT_PATH: &str = "/slipway/connect/session";

/// How long a token works: it goes straight from Slipway to the build, so seconds are plenty.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(30);

/// The token that opens a session on `database` under the build's `key` until `expires`
/// (Unix seconds), with `nonce` (32 hex digits) making it unique:
/// `v1.<expires>.<nonce>.<HMAC-SHA256(key, "slipway-connect.v1.<database>.<expires>.<nonce>")>`.
pub fn connect_token(key: &str, database: &str, expires: u64, nonce: &str) -> String {
    let signed = format!("slipway-connect.v1.{database}.{expires}.{nonce}");
    let signature = slipway_secrets::hmac_sha256_hex(key.as_bytes(), signed.as_bytes());
    format!("v1.{expires}.{nonce}.{signature}")
}

/// A fresh token for `database` under `key`, living [`TOKEN_LIFETIME`] from now.
pub fn fresh_connect_token(key: &str, database: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let nonce: [u8; 16] = rand::random();
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    connect_token(key, database, (now + TOKEN_LIFETIME).as_secs(), &nonce)
}

/// Opens a session for the administrator of `database` on the build's Odoo at `upstream`
/// (`POST /slipway/connect/session` with a fresh token signed by `key`) and returns the
/// `session_id` cookie's value, for the "Connect" button to hand to the browser.
pub async fn open_connect_session(
    client: &ProxyClient,
    upstream: SocketAddr,
    database: &str,
    key: &str,
) -> Result<String, ProxyError> {
    let token = fresh_connect_token(key, database);
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", &token)
        .finish();
    let request = Request::post(format!("http://{upstream}{CONNECT_PATH}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, upstream.to_string())
        .body(Body::from(body))
        .map_err(|e| ProxyError::BadAnswer {
            reason: e.to_string(),
        })?;
    let unreachable = |reason: String| ProxyError::Unreachable { upstream, reason };
    let response = tokio::time::timeout(Duration::from_secs(60), client.client.request(request))
        .await
        .map_err(|_| unreachable("no answer within 60 s".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status();
    let cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(crate::session_cookie);
    let body = http_body_util::Limited::new(response.into_body(), 1 << 20)
        .collect()
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
    let reply: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let refusal = reply
        .as_ref()
        .and_then(|r| r.get("error"))
        .and_then(|e| e.as_str());
    match (status, refusal) {
        (StatusCode::OK, _) => {}
        (StatusCode::NOT_FOUND, _) => {
            return Err(ProxyError::LoginRefused {
                message: format!(
                    "it does not serve {CONNECT_PATH}: its odoo.conf does not load slipway_connect \
                     (a server started by an older Slipway: rebuild the branch)"
                ),
            })
        }
        (_, Some(message)) => {
            return Err(ProxyError::LoginRefused {
                message: message.to_owned(),
            })
        }
        (status, None) => {
            return Err(ProxyError::Status {
                status: status.as_u16(),
            })
        }
    }
    if !reply
        .as_ref()
        .and_then(|r| r.get("uid"))
        .is_some_and(|uid| uid.is_u64())
    {
        return Err(ProxyError::BadAnswer {
            reason: "no user id in the answer".into(),
        });
    }
    cookie.ok_or_else(|| ProxyError::BadAnswer {
        reason: "no session_id cookie".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_signed_over_database_expiry_and_nonce() {
        let nonce = "00112233445566778899aabbccddeeff";
        let token = connect_token("k3y", "shop-main-1", 1_800_000_000, nonce);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts[..3], ["v1", "1800000000", nonce]);
        assert_eq!(
            parts[3],
            slipway_secrets::hmac_sha256_hex(
                b"k3y",
                b"slipway-connect.v1.shop-main-1.1800000000.00112233445566778899aabbccddeeff"
            )
        );
        assert_ne!(
            token,
            connect_token("k3y", "shop-main-2", 1_800_000_000, nonce)
        );
        assert_ne!(
            token,
            connect_token("other", "shop-main-1", 1_800_000_000, nonce)
        );
        let fresh = fresh_connect_token("k3y", "db");
        assert_ne!(fresh, fresh_connect_token("k3y", "db"), "nonces differ");
    }

    /// The module's own check (`signed_token.py`, run by python3) accepts what Rust signs, and
    /// refuses it for another database, late, or altered.
    #[test]
    fn the_module_s_python_check_accepts_our_tokens() {
        let module = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../runner/odoo/slipway_connect"
        );
        let token = fresh_connect_token("k3y", "shop-main-1");
        let script = r#"
import sys, time
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import signed_token as t
token, now = sys.argv[2], int(time.time())
def refusal(*args):
    try:
        t.verify(*args)
        return 'accepted'
    except t.Refused as e:
        return str(e)
nonce, expires = t.verify('k3y', token, 'shop-main-1', now)
seen = t.Nonces()
seen.use(nonce, expires, now)
print('ok' if len(nonce) == 32 and now < expires <= now + 30 else 'bad fields')
print(refusal('k3y', token, 'shop-main-2', now))
print(refusal('k3y', token, 'shop-main-1', expires))
print(refusal('k3y', token[:-1] + ('0' if token[-1] != '0' else '1'), 'shop-main-1', now))
print(refusal('k3y', 'v1.1.2.3', 'shop-main-1', now))
try:
    seen.use(nonce, expires, now)
except t.Refused as e:
    print(e)
"#;
        let out = std::process::Command::new("python3")
            .args(["-c", script, module, &token])
            .output()
            .expect("python3 runs");
        assert!(out.status.success(), "{out:?}");
        let lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            lines,
            [
                "ok",
                "bad signature (another key, or another database)",
                "expired token",
                "bad signature (another key, or another database)",
                "malformed token",
                "token already used",
            ]
        );
    }
}
