//! The HTTP doors to projects and builds that are not `/api`: Git smart HTTP
//! (`/git/<project>.git/...`, HTTP basic auth with a token as the password; a push enqueues
//! builds, within `Platform::push_guard`'s protection and limits), the reverse proxy to build
//! servers, and "Connect" tickets that log the caller into a build as its administrator.
//!
//! A build is served only on host names of its own (middleware [`route_build_hosts`]):
//! `<build>.<domain>`, and while it is the one serving its branch, the branch's stable
//! address (`<project>.<domain>` for production, `<project>-<branch>.<domain>`) and the
//! branch's custom domains (`slipway_platform::addresses`): origins apart from the UI's and
//! `/api`'s, so a developer's page
//! opened by an admin cannot read the admin's session or CSRF token, and the UI's host-only
//! cookies never reach it. The former path route `/builds/<build>/<rest>` only redirects
//! there (307: method and body are kept for a form's POST, and nothing is cached, since the
//! target follows `--domain` and the port Slipway is reached on); it never proxies.
//!
//! Connect never uses a password: the API hands out a one-time ticket (a minute, one use,
//! kept in memory); its landing `/slipway/connect` on the build's host redeems it, and the
//! proxy asks the build's `slipway_connect` module for the administrator's session with a
//! token signed by the build's key (`slipway_proxy::open_connect_session`), whatever the
//! administrator's password is (on production, not `admin`: see
//! `Platform::production_admin_password`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, post};
use axum::Router;
use slipway_api::builds::ConnectLink;
use slipway_platform::addresses::Addressed;
use slipway_platform::builds::naming::branch_label;
use slipway_platform::builds::{Build, BuildState};
use slipway_platform::projects::Action;
use slipway_platform::stages::Stage;
use tokio::sync::Mutex;

use crate::api::{authenticate_token, Answer, ApiError, ApiResult, ApiUser};
use crate::AppState;
use slipway_git::http as git_http;
use slipway_proxy as proxy;

/// The largest push accepted (a request body of `git-receive-pack`).
const MAX_PUSH_BYTES: u64 = 2 << 30;

/// How long a Connect link works (once).
const TICKET_LIFETIME: Duration = Duration::from_secs(60);

/// How long the proxy trusts a running build's address without reading its row again.
const ROUTE_TTL: Duration = Duration::from_secs(1);

/// What host names the proxy resolved in the last [`ROUTE_TTL`]: one Odoo page is dozens of
/// requests (assets, RPCs), and each would otherwise read the build's row (and, for a branch
/// address or a custom domain, the branch's); every request of the UI under another host
/// name would look for a custom domain. A build stopped in that second answers "connection
/// refused", which the proxy reports as a 502 like any other.
#[derive(Debug, Clone, Default)]
pub(crate) struct BuildRoutes(Arc<Mutex<HashMap<String, Route>>>);

/// When a host was resolved, and the running build it stands for (`None`: no custom domain).
type Route = (Instant, Option<(Build, std::net::SocketAddr)>);

impl BuildRoutes {
    async fn get(&self, host: &str) -> Option<Option<(Build, std::net::SocketAddr)>> {
        let routes = self.0.lock().await;
        let (at, found) = routes.get(host)?;
        (at.elapsed() < ROUTE_TTL).then(|| found.clone())
    }

    /// Forgets what `host` was (a custom domain added or removed takes effect at once).
    pub(crate) async fn forget(&self, host: &str) {
        self.0.lock().await.remove(host);
    }

    async fn put(&self, host: &str, found: Option<(Build, std::net::SocketAddr)>) {
        let mut routes = self.0.lock().await;
        routes.retain(|_, (at, _)| at.elapsed() < ROUTE_TTL);
        routes.insert(host.to_string(), (Instant::now(), found));
    }
}

/// One-time Connect tickets: ticket -> (build id, issued at).
#[derive(Debug, Clone, Default)]
pub struct ConnectTickets(Arc<Mutex<HashMap<String, (i64, Instant)>>>);

impl ConnectTickets {
    async fn issue(&self, build: i64) -> String {
        let ticket = slipway_platform::people::random_secret();
        let mut map = self.0.lock().await;
        map.retain(|_, (_, at)| at.elapsed() < TICKET_LIFETIME);
        map.insert(ticket.clone(), (build, Instant::now()));
        ticket
    }

    async fn redeem(&self, ticket: &str) -> Option<i64> {
        let (build, at) = self.0.lock().await.remove(ticket)?;
        (at.elapsed() < TICKET_LIFETIME).then_some(build)
    }
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/git/{repo}", any(git))
        .route("/git/{repo}/{*rest}", any(git))
        .route("/builds/{name}", any(to_build_host))
        .route("/builds/{name}/{*rest}", any(to_build_host))
        .route("/api/builds/{id}/connect", post(connect))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"Slipway\"")],
        "Authentication required: use any user name and an API token as the password\n",
    )
        .into_response()
}

async fn git(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    request: Request,
) -> Response {
    let Some(project_name) = params.get("repo").and_then(|r| r.strip_suffix(".git")) else {
        return (
            StatusCode::NOT_FOUND,
            "repositories are at /git/<project>.git\n",
        )
            .into_response();
    };
    let rest = params.get("rest").map(String::as_str).unwrap_or("");
    let (parts, body) = request.into_parts();
    let Some(token) = crate::api::token_from_parts(&parts) else {
        return unauthorized();
    };
    let Ok(user) = authenticate_token(&state, &token).await else {
        return unauthorized();
    };
    let project = match state.platform.projects.get(project_name).await {
        Ok(p) => p,
        Err(_) => return (StatusCode::NOT_FOUND, "no such repository\n").into_response(),
    };
    let api_user = ApiUser(user.clone());
    let query = parts.uri.query().unwrap_or("").to_string();
    let path_info = format!("/{project_name}.git/{rest}");
    let push = git_http::is_push(&path_info, Some(&query));
    // Reading the code is seeing the project; pushing is a developer's (any branch: the
    // refs are only known once the pack is in).
    let needed = if push { Action::Push } else { Action::View };
    let (project, role) = match api_user.access(&state, project).await {
        Ok(access) => match access.require(needed, Stage::Development) {
            Ok(()) => (access.project, access.role),
            Err(e) => return e.into_response(),
        },
        Err(e) => return e.into_response(),
    };
    let request = Request::from_parts(parts, body);
    let repos_root = state.platform.env().repos.root().to_path_buf();
    if !push || !path_info.ends_with("/git-receive-pack") {
        return git_http::git_http_backend(
            &repos_root,
            &user.login,
            request,
            &path_info,
            MAX_PUSH_BYTES,
        )
        .await;
    }
    // A push: what the branches were before tells, afterwards, what the push changed. One
    // push (or editor commit, merge, fork) of the project at a time, from the read before to
    // the recording after, or two would both see, record and build the same change.
    let repo = match state.platform.env().repos.open(&project.name).await {
        Ok(repo) => repo,
        Err(e) => return ApiError::not_found(e.to_string()).into_response(),
    };
    let _refs = state.platform.lock_refs(project.id).await;
    let before = repo.branches().await.unwrap_or_default();
    // Protected branches and the limits are checked by git itself, so nothing of a refused
    // push lands.
    let guard = match state.platform.push_guard(&project, role).await {
        Ok(guard) => guard,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let response = git_http::git_http_backend_guarded(
        &repos_root,
        &user.login,
        request,
        &path_info,
        MAX_PUSH_BYTES,
        &guard,
    )
    .await;
    // The bridge answers a receive-pack once git has exited: the refs are updated.
    let after = repo.branches().await.unwrap_or_default();
    let updates = slipway_git::Repo::ref_updates(&before, &after);
    if !updates.is_empty() {
        match state.platform.on_push(&project, &user, &updates).await {
            Ok(builds) => tracing::info!(project = %project.name, ?builds, "push: builds enqueued"),
            Err(e) => tracing::error!(project = %project.name, "push: {e}"),
        }
    }
    response
}

/// A host name reaching Slipway that may stand for a build.
enum HostName {
    /// One label under Slipway's domain: a build, a project's production or a branch.
    Label(String),
    /// Any other name (lowercase, without port): perhaps a branch's custom domain.
    Other(String),
}

impl HostName {
    /// `None` for names that never stand for a build: Slipway's domain itself, names
    /// without a dot (`localhost`) and IP addresses, which is how the UI and the API are
    /// reached.
    fn of(host: &str, domain: &str) -> Option<Self> {
        if let Some(label) = proxy::build_from_host(host, domain) {
            return Some(Self::Label(label));
        }
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let ip = name.parse::<std::net::IpAddr>().is_ok() || name.starts_with('[');
        let own = name == domain.trim_end_matches('.').to_ascii_lowercase();
        (!ip && !own && name.contains('.')).then_some(Self::Other(name))
    }

    fn key(&self) -> &str {
        match self {
            Self::Label(name) | Self::Other(name) => name,
        }
    }
}

/// The 502 page of a name that has no build serving it.
fn not_serving(name: &str, why: &str) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!doctype html><title>Build not running</title><h1>{}</h1><p>{}</p>",
            slipway_upgrade::notes::escape(name),
            slipway_upgrade::notes::escape(why)
        ),
    )
        .into_response()
}

/// The running build `host` stands for, and its server's address; `Ok(None)` for a name
/// that is no custom domain (the UI's); a 502 page when the name has no build serving.
async fn build_for_host(
    state: &AppState,
    host: &HostName,
    headers: &HeaderMap,
) -> Result<Option<(Build, std::net::SocketAddr)>, Response> {
    if let Some(found) = state.build_routes.get(host.key()).await {
        return Ok(found);
    }
    let addressed = match host {
        HostName::Label(label) => state.platform.addressed_by_label(label).await,
        HostName::Other(name) => state.platform.addressed_by_domain(name).await,
    };
    let addressed = match (addressed, host) {
        (Ok(Some(addressed)), _) => addressed,
        (Ok(None), HostName::Other(_)) => {
            state.build_routes.put(host.key(), None).await;
            return Ok(None);
        }
        (Ok(None), HostName::Label(label)) => return Err(not_serving(label, "no such build")),
        (Err(e), _) => return Err(ApiError::from(e).into_response()),
    };
    let build = match addressed {
        Addressed::Build(build) => build,
        Addressed::Branch {
            serving: Some(build),
            ..
        } => build,
        Addressed::Branch {
            branch,
            serving: None,
        } => {
            let why = format!(
                "no build of branch {} serves right now; its latest build says why",
                branch.name
            );
            return Err(not_serving(host.key(), &why));
        }
    };
    match (build.state, build.http_port) {
        (BuildState::Running, Some(port)) => {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port as u16));
            let found = Some((build, addr));
            state.build_routes.put(host.key(), found.clone()).await;
            Ok(found)
        }
        (build_state, _) => {
            let why = gone_build_advice(state, &build, build_state, headers);
            Err(not_serving(host.key(), &why))
        }
    }
}

/// What to tell someone who reached a build that no longer runs: where its branch is
/// served (production never needs a rebuild: its address follows the serving build).
fn gone_build_advice(
    state: &AppState,
    build: &Build,
    build_state: BuildState,
    headers: &HeaderMap,
) -> String {
    if build.stage == Stage::Production {
        let address = state.build_origin(&build.project, headers);
        format!("this build is {build_state}: production is served by a newer build, at {address}")
    } else {
        let address = state.build_origin(&branch_label(&build.project, &build.branch), headers);
        format!(
            "this build is {build_state}; the branch's latest build is at {address}, \
             or rebuild the branch to get this one back"
        )
    }
}

/// `/builds/<build>/<rest>?<query>`: a 307 to `<rest>?<query>` on the build's own host name
/// (see the module's docs); a 404 when `<build>` cannot be a build's name.
async fn to_build_host(State(state): State<AppState>, request: Request) -> Response {
    let uri = request.uri();
    let path_and_query = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    match build_host_target(path_and_query) {
        Some((build, rest)) => {
            let origin = state.build_origin(&build, request.headers());
            Redirect::temporary(&format!("{origin}{rest}")).into_response()
        }
        None => ApiError::not_found(
            "no such build: builds are at http://<build>.<domain>/, their own host name",
        )
        .into_response(),
    }
}

/// The build and the path (with its query) on the build's host that `/builds/<build>/...`
/// stands for: `/builds/b1/web?x` is `b1` and `/web?x`; `/builds/b1` is `b1` and `/`. The
/// rest is kept as sent (still percent-encoded). `None` unless `<build>` is a host name label.
fn build_host_target(path_and_query: &str) -> Option<(String, String)> {
    let after = path_and_query.strip_prefix("/builds/")?;
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let (build, rest) = after.split_at(end);
    if !proxy::is_build_label(build) {
        return None;
    }
    let rest = match rest {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    Some((build.to_ascii_lowercase(), rest))
}

/// Middleware: requests for a build's name, a branch's or production's address, or a
/// custom domain, go to the build's server, all of them (Odoo owns every path there), except
/// the Connect landing `/slipway/connect`.
pub(crate) async fn route_build_hosts(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let Some(host) = HostName::of(&host, &state.domain) else {
        return next.run(request).await;
    };
    // a new production build's own name is under maintenance before it runs
    if let Some(why) = state.platform.under_maintenance(host.key()) {
        return maintenance_page(&why);
    }
    let (build, upstream) = match build_for_host(&state, &host, request.headers()).await {
        Ok(Some(found)) => found,
        Ok(None) => return next.run(request).await,
        Err(response) => return response,
    };
    // production's address (or a custom domain) reaches the build being upgraded
    if let Some(why) = state.platform.under_maintenance(&build.name) {
        return maintenance_page(&why);
    }
    if request.uri().path() == "/slipway/connect" {
        return land_connect(&state, &build, upstream, request).await;
    }
    proxy::forward(&state.proxy, upstream, &build.name, request).await
}

/// The page a production being upgraded answers with: 503 (it is temporary; crawlers and
/// monitors retry), never cached.
fn maintenance_page(why: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::RETRY_AFTER, "60"),
        ],
        format!(
            "<!doctype html><title>Upgrade under way</title><h1>Upgrade under way</h1><p>{}</p>",
            slipway_upgrade::notes::escape(why)
        ),
    )
        .into_response()
}

/// `POST /api/builds/{id}/connect`: a one-time link (valid a minute) that opens the build
/// logged in as its administrator.
async fn connect(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<Answer<ConnectLink>> {
    let build = crate::api::build_for(&state, &user, id, Action::Connect).await?;
    if build.state != BuildState::Running {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_running",
            format!("build #{id} is {}", build.state),
        ));
    }
    let ticket = state.connect_tickets.issue(id).await;
    Ok(Answer(ConnectLink {
        url: format!(
            "{}/slipway/connect?ticket={ticket}",
            state.build_origin(&build.name, &headers)
        ),
        expires_in: TICKET_LIFETIME.as_secs(),
    }))
}

async fn land_connect(
    state: &AppState,
    build: &Build,
    upstream: std::net::SocketAddr,
    request: Request,
) -> Response {
    let ticket = request.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "ticket")
            .map(|(_, v)| v.into_owned())
    });
    let valid = match ticket {
        Some(t) => state.connect_tickets.redeem(&t).await == Some(build.id),
        None => false,
    };
    if !valid {
        return (
            StatusCode::FORBIDDEN,
            "This Connect link is invalid or expired; ask Slipway for a new one.\n",
        )
            .into_response();
    }
    let database = build.database.clone().unwrap_or_else(|| build.name.clone());
    let key = match state.platform.connect_key(build) {
        Ok(key) => key,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match proxy::open_connect_session(&state.proxy, upstream, &database, &key).await {
        Ok(session) => {
            let mut response = Redirect::to("/web").into_response();
            let cookie = format!("session_id={session}; Path=/; HttpOnly; SameSite=Lax");
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("Connect failed: {e}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_route_stands_for_the_same_path_on_the_builds_host() {
        let target = |p| build_host_target(p).map(|(b, rest)| format!("{b} {rest}"));
        assert_eq!(
            target("/builds/shop-main-7/web/health?probe=1").as_deref(),
            Some("shop-main-7 /web/health?probe=1")
        );
        assert_eq!(target("/builds/b1").as_deref(), Some("b1 /"));
        assert_eq!(target("/builds/b1/").as_deref(), Some("b1 /"));
        assert_eq!(
            target("/builds/b1?debug=1").as_deref(),
            Some("b1 /?debug=1")
        );
        assert_eq!(target("/builds/B1/web").as_deref(), Some("b1 /web"));
        assert_eq!(
            target("/builds/b1/a%20b/%2e%2e?x=%26").as_deref(),
            Some("b1 /a%20b/%2e%2e?x=%26")
        );
        // Nothing that could put another host into the redirect.
        for bad in [
            "/builds/",
            "/builds/evil.example%23",
            "/builds/evil.example/x",
            "/builds/user@evil.example",
            "/builds/-b1/web",
            "/builds/b%31/web",
            "/other/b1",
        ] {
            assert_eq!(build_host_target(bad), None, "{bad}");
        }
    }
}
