//! The reverse proxy in front of builds' Odoo servers (on 127.0.0.1).
//!
//! [`forward`] streams one request to a build and its answer back (HTTP/1.1; bodies never held
//! in memory). It never hands a build a credential of Slipway's: `Authorization` and Slipway's
//! cookies (`slipway_*`) are taken out of requests, and a build's `Set-Cookie` is kept to its
//! own host (no `Domain`, no `slipway_*` name). It forwards the way Odoo's `proxy_mode` expects: `X-Forwarded-For` (the client appended),
//! `X-Forwarded-Host` and `X-Forwarded-Proto` set by us (whatever the client sent), hop-by-hop
//! headers dropped both ways, the client's `Host` passed on, a `Location` pointing at the
//! upstream rewritten to the public address, and `Connection: upgrade` requests (Odoo 17's
//! `/websocket` bus) spliced through once the build answers 101. A build that does not answer
//! gets a 502 page naming it.
//!
//! A build is only ever served at the root of its own host name, `<build>.<domain>`: an
//! origin of its own, apart from Slipway's UI and API, so that a developer's page cannot read
//! anything of Slipway's with its visitor's cookies. [`build_from_host`] picks the build out
//! of such a host name, [`build_origin`] makes one.
//!
//! [`open_connect_session`] opens a session for a build's administrator, without any password,
//! for the "Connect" button: a token signed with the build's key ([`connect_token`], seconds
//! long) goes to `slipway_connect`, Slipway's module every build loads server-wide, whose
//! `signed_token.py` describes the format.
//!
//! Built on hyper-util's legacy client rather than reqwest: it takes axum's request body as is
//! (same `http-body` 1 types, so streaming needs no adapter), adds no headers and follows no
//! redirects of its own, and exposes hyper's upgrade API that WebSocket passthrough needs.
//!
//! ## Design notes
//!
//! The streaming HTTP/1.1 reverse proxy to builds' Odoo servers (hyper-util's client):
//! `X-Forwarded-*` for Odoo's `proxy_mode`, hop-by-hop headers dropped, `Location` rewritten to the
//! public host, WebSocket upgrades spliced, a 502 page naming a build that does not answer;
//! `open_connect_session` opens the administrator's session for "Connect" with a signed token;
//! `build_from_host` reads `<build>.<domain>` and `build_origin` writes it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

mod connect;

pub use connect::{
    connect_token, fresh_connect_token, open_connect_session, CONNECT_PATH, TOKEN_LIFETIME,
};

/// Why [`open_connect_session`] got no session.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The build's server did not answer.
    #[error(
        "the build's Odoo server at {upstream} did not answer: {reason}; is the build running?"
    )]
    Unreachable {
        /// Its address.
        upstream: SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// Odoo answered with an HTTP error.
    #[error("the build's Odoo server answered HTTP {status} to Connect")]
    Status {
        /// The status code.
        status: u16,
    },
    /// The build refused the session (its answer says why: a bad or expired token, no
    /// `slipway_connect` loaded).
    #[error("the build's Odoo server refused to open the administrator's session: {message}")]
    LoginRefused {
        /// The build's reason.
        message: String,
    },
    /// The build's answer is not a session's, or sets no `session_id` cookie.
    #[error("unexpected answer from the build's Odoo server to Connect: {reason}")]
    BadAnswer {
        /// What was wrong with it.
        reason: String,
    },
}

/// A connection pool to builds' servers, shared by every proxied request; it also counts the
/// requests each build was sent (the Monitor's HTTP chart).
#[derive(Debug, Clone)]
pub struct ProxyClient {
    client: Client<HttpConnector, Body>,
    scheme: &'static str,
    requests: Arc<Mutex<HashMap<String, u64>>>,
}

impl Default for ProxyClient {
    fn default() -> Self {
        Self::new()
    }
}

impl ProxyClient {
    /// A client announcing `X-Forwarded-Proto: http` (see [`ProxyClient::https`]).
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self {
            client,
            scheme: "http",
            requests: Arc::default(),
        }
    }

    /// How many requests were forwarded to `build` since Slipway started.
    pub fn requests_to(&self, build: &str) -> u64 {
        let counts = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(build).copied().unwrap_or(0)
    }

    fn count_request(&self, build: &str) {
        let mut counts = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        match counts.get_mut(build) {
            Some(n) => *n += 1,
            None => {
                counts.insert(build.to_string(), 1);
            }
        }
    }

    /// The scheme clients reach Slipway with (`http`, or `https` after [`ProxyClient::https`]).
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// Announces `X-Forwarded-Proto: https` (Slipway is reached through TLS), so Odoo builds
    /// `https://` URLs.
    pub fn https(mut self) -> Self {
        self.scheme = "https";
        self
    }
}

/// Headers that only concern one connection (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers and those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Cookies whose name starts with this are Slipway's own (the web UI's session): they never
/// reach a build, and a build cannot set them.
pub const SLIPWAY_COOKIE_PREFIX: &str = "slipway_";

/// Takes Slipway's credentials out of a request for a build: `Authorization` and
/// `Proxy-Authorization` (an API token sent to the wrong place), and Slipway's cookies. A
/// build runs a developer's code, which must never see a credential of whoever visits it.
fn strip_credentials(headers: &mut HeaderMap) {
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::PROXY_AUTHORIZATION);
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && !is_slipway_cookie(pair))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(header::COOKIE, value);
        }
    }
}

/// Whether a `name=value` cookie (or a `Set-Cookie` line) is one of Slipway's.
fn is_slipway_cookie(pair: &str) -> bool {
    let name = pair.split('=').next().unwrap_or("").trim();
    name.len() >= SLIPWAY_COOKIE_PREFIX.len()
        && name[..SLIPWAY_COOKIE_PREFIX.len()].eq_ignore_ascii_case(SLIPWAY_COOKIE_PREFIX)
}

/// Keeps a build's cookies on its own host: a `Set-Cookie` with a `Domain` attribute would
/// reach every build (and the UI) under the parent domain, so the attribute is dropped and the
/// cookie becomes host-only; one named like Slipway's is dropped whole.
fn confine_set_cookies(headers: &mut HeaderMap) {
    let lines: Vec<String> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|line| !is_slipway_cookie(line))
        .map(host_only)
        .collect();
    headers.remove(header::SET_COOKIE);
    for line in lines {
        if let Ok(value) = HeaderValue::from_str(&line) {
            headers.append(header::SET_COOKIE, value);
        }
    }
}

/// A `Set-Cookie` line without its `Domain` attribute.
fn host_only(line: &str) -> String {
    line.split(';')
        .filter(|attribute| {
            let name = attribute.split('=').next().unwrap_or("").trim();
            !name.eq_ignore_ascii_case("domain")
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// Whether the request asks to switch protocols (`Connection: upgrade` and an `Upgrade`).
fn wants_upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    if connection_upgrade {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// Rewrites a `Location` from the build: an absolute URL at the upstream address (or at
/// `public` itself) becomes one at `public` (`scheme://host`). Anything else (other sites,
/// paths) is kept.
fn rewrite_location(location: &str, upstream: SocketAddr, public: &str) -> String {
    for scheme in ["http://", "https://"] {
        let Some(rest) = location.strip_prefix(scheme) else {
            continue;
        };
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let port = upstream.port();
        let is_upstream = authority == upstream.to_string()
            || authority.eq_ignore_ascii_case(&format!("localhost:{port}"))
            || authority == format!("127.0.0.1:{port}");
        let public_host = public.split_once("://").map_or(public, |(_, host)| host);
        if is_upstream || authority.eq_ignore_ascii_case(public_host) {
            return format!("{public}{path}");
        }
        return location.to_owned();
    }
    location.to_owned()
}

/// The 502 page of a build that does not answer.
fn bad_gateway(build: &str) -> Response {
    let name: String = build
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Build {name} is not answering</title></head>\n\
         <body><h1>Build {name} is not answering</h1>\n\
         <p>Its Odoo server is starting, stopped or crashed. Wait a moment and reload, or look at the \
         build's logs in Slipway.</p></body></html>\n"
    );
    (
        StatusCode::BAD_GATEWAY,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}

/// Forwards `req` to the Odoo server of build `build` at `upstream` and streams its answer
/// back, path and query unchanged (a build owns every path of its host).
pub async fn forward(
    client: &ProxyClient,
    upstream: SocketAddr,
    build: &str,
    mut req: Request,
) -> Response {
    client.count_request(build);
    let client_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let public_host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| upstream.to_string());
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let Ok(uri) = format!("http://{upstream}{path}").parse::<Uri>() else {
        return (StatusCode::BAD_REQUEST, "bad request path").into_response();
    };
    let upgrade = wants_upgrade(req.headers());
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));

    let (mut parts, body) = req.into_parts();
    parts.uri = uri;
    parts.version = axum::http::Version::HTTP_11;
    let headers = &mut parts.headers;
    strip_hop_by_hop(headers);
    strip_credentials(headers);
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
    if !headers.contains_key(header::HOST) {
        if let Ok(host) = HeaderValue::from_str(&public_host) {
            headers.insert(header::HOST, host);
        }
    }
    if let Some(ip) = client_ip {
        let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(earlier) if !earlier.trim().is_empty() => format!("{}, {ip}", earlier.trim()),
            _ => ip.to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
            headers.insert("x-forwarded-for", value);
        }
    }
    if let Ok(value) = HeaderValue::from_str(&public_host) {
        headers.insert("x-forwarded-host", value);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static(client.scheme));

    let mut response = match client
        .client
        .request(Request::from_parts(parts, body))
        .await
    {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(build, %upstream, error = %e, "build not answering");
            return bad_gateway(build);
        }
    };

    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return bad_gateway(build);
        };
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        let build_name = build.to_owned();
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, upstream_upgrade) {
                Ok((client_io, upstream_io)) => {
                    let mut client_io = TokioIo::new(client_io);
                    let mut upstream_io = TokioIo::new(upstream_io);
                    let _ = tokio::io::copy_bidirectional(&mut client_io, &mut upstream_io).await;
                }
                Err(e) => {
                    tracing::debug!(build = %build_name, error = %e, "upgrade failed");
                }
            }
        });
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }

    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    confine_set_cookies(&mut parts.headers);
    if let Some(location) = parts
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        let public = format!("{}://{public_host}", client.scheme);
        let rewritten = rewrite_location(location, upstream, &public);
        if let Ok(value) = HeaderValue::from_str(&rewritten) {
            parts.headers.insert(header::LOCATION, value);
        }
    }
    Response::from_parts(parts, Body::new(body))
}

/// The value of a `Set-Cookie: session_id=...` header.
pub(crate) fn session_cookie(set_cookie: &str) -> Option<String> {
    let pair = set_cookie.split(';').next()?.trim();
    let (name, value) = pair.split_once('=')?;
    (name.trim() == "session_id" && !value.is_empty()).then(|| value.trim().to_owned())
}

/// The build named by a `Host` header under `domain`: `b1.slipway.example:8080` under
/// `slipway.example` is `b1`. The port and a final `.` are ignored; host names are
/// case-insensitive (RFC 4343), so the label comes back in lower case, as build names are
/// written. `None` for the domain itself, other domains, IP literals, and nested names
/// (`a.b1.slipway.example`).
pub fn build_from_host(host: &str, domain: &str) -> Option<String> {
    let host = match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => {
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            name
        }
        Some(_) => return None,
        None => host,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let domain = domain.trim().trim_end_matches('.');
    if domain.is_empty() || host.len() <= domain.len() + 1 {
        return None;
    }
    let (label, rest) = host.split_at(host.len() - domain.len());
    if !rest.eq_ignore_ascii_case(domain) {
        return None;
    }
    let label = label.strip_suffix('.')?;
    is_build_label(label).then(|| label.to_ascii_lowercase())
}

/// Whether `label` can name a build in a host name: one DNS label of letters, digits and
/// `-` (in any case), not starting with `-`, at most 63 long.
pub fn is_build_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Where build `build` is reached: `scheme://<build>.<domain>[:port]`, without a final `/`.
/// Builds are served by the listener that serves Slipway, so the port is the one of
/// `request_host` (the `Host` a request to Slipway came with), left out when it is the
/// scheme's default (80 for `http`, 443 for `https`) or when there is none.
pub fn build_origin(scheme: &str, build: &str, domain: &str, request_host: Option<&str>) -> String {
    let domain = domain.trim().trim_end_matches('.');
    let default_port = if scheme == "https" { 443 } else { 80 };
    match request_host.and_then(port_of_host) {
        Some(port) if port != default_port => format!("{scheme}://{build}.{domain}:{port}"),
        _ => format!("{scheme}://{build}.{domain}"),
    }
}

/// The port of a `Host` header value: `8069` of `localhost:8069` or `[::1]:8069`; `None`
/// without one (or with one that is not a port number).
fn port_of_host(host: &str) -> Option<u16> {
    let (name, port) = host.trim().rsplit_once(':')?;
    if name.contains(':') && !(name.starts_with('[') && name.ends_with(']')) {
        return None; // a bare IPv6 address: its colons are not a port
    }
    port.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slipway_credentials_never_reach_a_build() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer slw_x"),
        );
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("session_id=odoo1; slipway_session=sls_y; frontend_lang=en"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("Slipway_Session=sls_z"),
        );
        strip_credentials(&mut headers);
        assert!(headers.get(header::AUTHORIZATION).is_none());
        assert_eq!(
            headers.get_all(header::COOKIE).iter().collect::<Vec<_>>(),
            ["session_id=odoo1; frontend_lang=en"]
        );
        let mut only_ours = HeaderMap::new();
        only_ours.insert(
            header::COOKIE,
            HeaderValue::from_static("slipway_session=sls_y"),
        );
        strip_credentials(&mut only_ours);
        assert!(only_ours.get(header::COOKIE).is_none());
    }

    #[test]
    fn a_builds_cookies_stay_on_its_host() {
        let mut headers = HeaderMap::new();
        for line in [
            "session_id=abc; Domain=.slipway.example; Path=/; HttpOnly",
            "slipway_session=evil; Path=/",
            "tz=UTC; Path=/",
        ] {
            headers.append(header::SET_COOKIE, HeaderValue::from_static(line));
        }
        confine_set_cookies(&mut headers);
        assert_eq!(
            headers
                .get_all(header::SET_COOKIE)
                .iter()
                .collect::<Vec<_>>(),
            ["session_id=abc; Path=/; HttpOnly", "tz=UTC; Path=/"]
        );
    }

    #[test]
    fn builds_from_hosts() {
        let d = "slipway.example";
        assert_eq!(
            build_from_host("b1.slipway.example", d).as_deref(),
            Some("b1")
        );
        assert_eq!(
            build_from_host("b1.slipway.example:8080", d).as_deref(),
            Some("b1")
        );
        assert_eq!(
            build_from_host("b1.slipway.example.", d).as_deref(),
            Some("b1")
        );
        assert_eq!(
            build_from_host("b1.slipway.example.:443", d).as_deref(),
            Some("b1")
        );
        assert_eq!(
            build_from_host("B1.Slipway.EXAMPLE", d).as_deref(),
            Some("b1")
        );
        assert_eq!(
            build_from_host("shop-17-0-dev.slipway.example", d).as_deref(),
            Some("shop-17-0-dev")
        );
        assert_eq!(
            build_from_host("b1.slipway.example", "slipway.example.").as_deref(),
            Some("b1")
        );
        for bad in [
            "slipway.example",
            "slipway.example:80",
            ".slipway.example",
            "a.b1.slipway.example",
            "b1.other.example",
            "b1.evilslipway.example",
            "b1slipway.example",
            "b1.slipway.example.evil",
            "b1.slipway.example:",
            "b1.slipway.example:x",
            "[::1]:8080",
            "::1",
            "-b1.slipway.example",
            "b_1.slipway.example",
            "",
        ] {
            assert_eq!(build_from_host(bad, d), None, "{bad}");
        }
        assert_eq!(build_from_host("b1.", ""), None);
    }

    #[test]
    fn build_origins_carry_the_port_slipway_was_reached_on() {
        let origin = |host| build_origin("http", "shop-main-7", "localhost", host);
        assert_eq!(
            origin(Some("localhost:8069")),
            "http://shop-main-7.localhost:8069"
        );
        assert_eq!(
            origin(Some("127.0.0.1:8400")),
            "http://shop-main-7.localhost:8400"
        );
        assert_eq!(
            origin(Some("[::1]:8400")),
            "http://shop-main-7.localhost:8400"
        );
        assert_eq!(origin(Some("localhost:80")), "http://shop-main-7.localhost");
        assert_eq!(origin(Some("localhost")), "http://shop-main-7.localhost");
        assert_eq!(origin(None), "http://shop-main-7.localhost");
        for odd in ["::1", "localhost:", "localhost:x", "localhost:99999"] {
            assert_eq!(origin(Some(odd)), "http://shop-main-7.localhost", "{odd}");
        }
        assert_eq!(
            build_origin(
                "https",
                "b1",
                "slipway.example.",
                Some("slipway.example:443")
            ),
            "https://b1.slipway.example"
        );
        assert_eq!(
            build_origin(
                "https",
                "b1",
                "slipway.example",
                Some("slipway.example:8443")
            ),
            "https://b1.slipway.example:8443"
        );
    }

    #[test]
    fn locations() {
        let up: SocketAddr = "127.0.0.1:8069".parse().unwrap();
        let public = "https://b1.slipway.example";
        let rw = |loc| rewrite_location(loc, up, public);
        assert_eq!(
            rw("http://127.0.0.1:8069/web/login"),
            "https://b1.slipway.example/web/login"
        );
        assert_eq!(rw("http://localhost:8069"), "https://b1.slipway.example/");
        assert_eq!(
            rw("http://127.0.0.1:8069?x=1"),
            "https://b1.slipway.example/?x=1"
        );
        assert_eq!(
            rw("http://b1.slipway.example/odoo"),
            "https://b1.slipway.example/odoo"
        );
        assert_eq!(rw("/web"), "/web");
        assert_eq!(rw("web/login"), "web/login");
        assert_eq!(rw("//evil.example/x"), "//evil.example/x");
        assert_eq!(rw("https://www.odoo.com/x"), "https://www.odoo.com/x");
        assert_eq!(rw("http://127.0.0.1:9999/x"), "http://127.0.0.1:9999/x");
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("secret"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert(header::COOKIE, HeaderValue::from_static("session_id=abc"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[header::COOKIE], "session_id=abc");
    }

    #[test]
    fn upgrades_detected() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(wants_upgrade(&headers), None);
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert_eq!(wants_upgrade(&headers).unwrap(), "websocket");
    }

    #[test]
    fn session_cookies() {
        assert_eq!(
            session_cookie(
                "session_id=abc123; Expires=Sat, 21 Nov 2026 08:00:00 GMT; HttpOnly; Path=/"
            ),
            Some("abc123".into())
        );
        assert_eq!(session_cookie("frontend_lang=en_US; Path=/"), None);
        assert_eq!(session_cookie("session_id=; Path=/"), None);
    }

    #[test]
    fn bad_gateway_escapes_the_name() {
        let response = bad_gateway("<b>");
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    }
}
