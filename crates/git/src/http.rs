//! Git smart HTTP: a CGI bridge to the real `git http-backend`.
//!
//! [`git_http_backend`] runs one `git http-backend` per request with the CGI environment it
//! expects, streams the request body to its stdin and its stdout back as the response (neither
//! is ever held whole in memory: pushes can be large). It does **no authentication**: the caller
//! checks the user first (read rights for any request, write rights when [`is_push`]), passes
//! the user's name as `REMOTE_USER`, and compares `Repo::branches()` before and after a push:
//! for `git-receive-pack`, this function returns only once git has exited, so the branches are
//! already updated when it does (the push's answer is small and held until then).
//!
//! Wiring, in the caller:
//!
//! ```text
//! route "/git/{*path}":  path_info = "/" + path
//!   project_of(path_info)                      -> else 404
//!   HTTP basic auth, token as password         -> else 401 + `WWW-Authenticate: Basic realm="Slipway"`
//!   is_push(path_info, uri.query()) && !writer -> 403
//!   receive = path_info ends with "/git-receive-pack"
//!   before  = repo.branches() if receive
//!   response = git_http_backend(root, user, req, path_info, cap).await
//!   Repo::ref_updates(before, repo.branches()) -> create branches, enqueue builds, History
//! ```
//!
//! Refusals, before git runs: a path that is not `/<project>.git/` followed by `info/refs`,
//! `git-upload-pack` or `git-receive-pack` (404; so no `..`, no other file of the repository,
//! no dumb protocol), an unknown repository (404), a wrong method (405), a push without a user
//! (403), a body over the size cap (413, from `Content-Length` at once, else as soon as the
//! streamed body goes over it, and the push then leaves no trace: git's quarantine drops it).
//! Refusals by git itself, with [`git_http_backend_guarded`]: a push breaking its
//! [`PushGuard`] (a protected branch, more branches moved or created than allowed) is refused
//! whole by a `pre-receive` hook before any ref moves, and the `git` client prints why.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Output held back (at most this much) until the whole request body went to git, so a body
/// over the cap can still be answered with a clean 413 rather than a cut connection.
const HOLD_LIMIT: usize = 1 << 20;

/// How much of a push's answer (report-status and progress: small) is held until git exits.
const PUSH_HOLD_LIMIT: usize = 8 << 20;

/// How much of a refused body is still read (and thrown away) so the client sees the 413.
const DRAIN_LIMIT: u64 = 1 << 30;

/// How long a refused body is still read.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(60);

/// How much of git's stderr is kept for the log.
const STDERR_LIMIT: usize = 64 << 10;

/// The smart HTTP endpoints of a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `GET info/refs?service=...`: the ref advertisement.
    InfoRefs,
    /// `POST git-upload-pack`: fetch and clone.
    UploadPack,
    /// `POST git-receive-pack`: push.
    ReceivePack,
}

/// `/<project>.git/<endpoint>` split into the project and the endpoint, or `None` for any other
/// path (so also for every path with `..`, `.` or empty parts).
fn parse_path(path_info: &str) -> Option<(&str, Endpoint)> {
    let rest = path_info.strip_prefix('/')?;
    let (repo, endpoint) = rest.split_once('/')?;
    let project = repo.strip_suffix(".git")?;
    crate::check_project(project).ok()?;
    let endpoint = match endpoint {
        "info/refs" => Endpoint::InfoRefs,
        "git-upload-pack" => Endpoint::UploadPack,
        "git-receive-pack" => Endpoint::ReceivePack,
        _ => return None,
    };
    Some((project, endpoint))
}

/// The project a Git HTTP path (`/<project>.git/...`, as given to [`git_http_backend`]) is
/// about, or `None` when the path is not one the bridge serves.
pub fn project_of(path_info: &str) -> Option<&str> {
    parse_path(path_info).map(|(project, _)| project)
}

/// Whether a request is (part of) a push: `git-receive-pack`, or its ref advertisement
/// `info/refs?service=git-receive-pack`. The caller requires write rights for these and reads
/// the branches before and after the `git-receive-pack` POST.
pub fn is_push(path_info: &str, query: Option<&str>) -> bool {
    if path_info.ends_with("/git-receive-pack") {
        return true;
    }
    path_info.ends_with("/info/refs")
        && query.is_some_and(|query| {
            form_urlencoded::parse(query.as_bytes())
                .any(|(key, value)| key == "service" && value == "git-receive-pack")
        })
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", message.into()),
    )
        .into_response()
}

/// Serves one Git smart HTTP request for the repositories under `repos_root`, through `git
/// http-backend`, as `remote_user`. `path_info` is the part of the URL path after the mount
/// point, percent-decoded: `/<project>.git/info/refs`. Request bodies over `max_body_bytes`
/// are refused with 413.
pub async fn git_http_backend(
    repos_root: &Path,
    remote_user: &str,
    req: Request,
    path_info: &str,
    max_body_bytes: u64,
) -> Response {
    serve(
        repos_root,
        remote_user,
        req,
        path_info,
        max_body_bytes,
        None,
    )
    .await
}

/// Branches a pusher may not update, and why (one part of a [`PushGuard`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtectedBranches {
    /// Branch names (`main`), never patterns.
    pub names: Vec<String>,
    /// One sentence for the pusher: who may update them and what to do instead.
    pub reason: String,
}

/// A cap on how many branches one push may move, and what to tell a pusher over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchCap {
    /// The most branches allowed.
    pub max: usize,
    /// Why, and what to do instead: printed after the count, as `remote: slipway: ...`.
    pub reason: String,
}

/// What a push may do, checked by git itself in a `pre-receive` hook of Slipway's own (the
/// repositories' own hooks stay disabled) before any ref moves: a push breaking any rule is
/// refused whole, nothing of it is applied, and the `git` client prints why (`remote: slipway:
/// main is protected: ...`, then `! [remote rejected]`). Deleting a branch counts against no
/// cap (it builds nothing), only against protection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushGuard {
    /// Branches this pusher may not update nor delete.
    pub protected: ProtectedBranches,
    /// The most branches one push may create or update.
    pub max_branches: Option<BranchCap>,
    /// The most branches one push may create.
    pub max_new_branches: Option<BranchCap>,
}

impl PushGuard {
    /// Whether the guard has anything to check.
    pub fn is_active(&self) -> bool {
        !self.protected.names.is_empty()
            || self.max_branches.is_some()
            || self.max_new_branches.is_some()
    }
}

/// [`git_http_backend`], with pushes checked against `guard` before any ref moves.
pub async fn git_http_backend_guarded(
    repos_root: &Path,
    remote_user: &str,
    req: Request,
    path_info: &str,
    max_body_bytes: u64,
    guard: &PushGuard,
) -> Response {
    let guard = guard.is_active().then_some(guard);
    serve(
        repos_root,
        remote_user,
        req,
        path_info,
        max_body_bytes,
        guard,
    )
    .await
}

/// The `pre-receive` hook that applies a [`PushGuard`]: its rules come in the environment,
/// so one script serves every push. `printf`, not `echo`: reasons are never interpreted.
const GUARD_HOOK: &str = r#"#!/bin/sh
# Slipway's push guard, written by Slipway (a repository's own hooks never run). Refuses the
# whole push when it updates or deletes a branch listed in SLIPWAY_PROTECTED_BRANCHES (one per
# line), creates or updates more than SLIPWAY_MAX_BRANCHES branches, or creates more than
# SLIPWAY_MAX_NEW_BRANCHES; each refusal is printed with its reason.
refused=0
moved=0
created=0
while read -r old new ref; do
  branch=${ref#refs/heads/}
  [ "$branch" = "$ref" ] && continue
  if printf '%s\n' "$SLIPWAY_PROTECTED_BRANCHES" | grep -qxF -e "$branch"; then
    printf 'slipway: %s is protected: %s\n' "$branch" "$SLIPWAY_PROTECTED_REASON" >&2
    refused=1
  fi
  case $new in *[!0]*) ;; *) continue ;; esac
  moved=$((moved + 1))
  case $old in *[!0]*) ;; *) created=$((created + 1)) ;; esac
done
if [ -n "$SLIPWAY_MAX_BRANCHES" ] && [ "$moved" -gt "$SLIPWAY_MAX_BRANCHES" ]; then
  printf 'slipway: this push creates or updates %s branches: %s\n' "$moved" "$SLIPWAY_MAX_BRANCHES_REASON" >&2
  refused=1
fi
if [ -n "$SLIPWAY_MAX_NEW_BRANCHES" ] && [ "$created" -gt "$SLIPWAY_MAX_NEW_BRANCHES" ]; then
  new_branches="$created new branches"
  [ "$created" -eq 1 ] && new_branches="1 new branch"
  printf 'slipway: this push creates %s: %s\n' "$new_branches" "$SLIPWAY_MAX_NEW_BRANCHES_REASON" >&2
  refused=1
fi
exit $refused
"#;

/// Writes the guard hook under `repos_root/.hooks` (a name no project can have) when it is
/// missing or differs, atomically; returns its folder.
async fn guard_hooks_dir(repos_root: &Path) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::path::absolute(repos_root.join(".hooks"))?;
    let hook = dir.join("pre-receive");
    if tokio::fs::read_to_string(&hook).await.ok().as_deref() == Some(GUARD_HOOK) {
        return Ok(dir);
    }
    tokio::fs::create_dir_all(&dir).await?;
    let fresh = dir.join(format!(".pre-receive.{}", std::process::id()));
    tokio::fs::write(&fresh, GUARD_HOOK).await?;
    tokio::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755)).await?;
    tokio::fs::rename(&fresh, &hook).await?;
    Ok(dir)
}

async fn serve(
    repos_root: &Path,
    remote_user: &str,
    req: Request,
    path_info: &str,
    max_body_bytes: u64,
    guard: Option<&PushGuard>,
) -> Response {
    let Some((project, endpoint)) = parse_path(path_info) else {
        return plain(StatusCode::NOT_FOUND, "not a Git repository URL");
    };
    let method_ok = match endpoint {
        Endpoint::InfoRefs => matches!(*req.method(), Method::GET | Method::HEAD),
        Endpoint::UploadPack | Endpoint::ReceivePack => req.method() == Method::POST,
    };
    if !method_ok {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here");
    }
    let repo = repos_root.join(format!("{project}.git"));
    if tokio::fs::metadata(repo.join("HEAD")).await.is_err() {
        return plain(
            StatusCode::NOT_FOUND,
            format!("repository {project}.git not found"),
        );
    }
    let query = req.uri().query().unwrap_or("").to_owned();
    let remote_user = remote_user.trim();
    if is_push(path_info, Some(&query)) && remote_user.is_empty() {
        return plain(StatusCode::FORBIDDEN, "pushing needs a user");
    }
    let content_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if content_length.is_some_and(|len| len > max_body_bytes) {
        tokio::spawn(drain(req.into_body().into_data_stream()));
        return too_large(max_body_bytes);
    }

    let root = std::path::absolute(repos_root).unwrap_or_else(|_| repos_root.to_owned());
    let mut cmd = crate::git_command();
    cmd.arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("PATH_INFO", path_info)
        .env("REQUEST_METHOD", req.method().as_str())
        .env("QUERY_STRING", &query)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let headers = req.headers();
    let text = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(value) = text(header::CONTENT_TYPE) {
        cmd.env("CONTENT_TYPE", value);
    }
    if let Some(len) = content_length {
        cmd.env("CONTENT_LENGTH", len.to_string());
    }
    if let Some(value) = text(header::CONTENT_ENCODING) {
        cmd.env("HTTP_CONTENT_ENCODING", value);
    }
    if let Some(value) = text(HeaderName::from_static("git-protocol")) {
        cmd.env("GIT_PROTOCOL", value);
    }
    if !remote_user.is_empty() && !remote_user.chars().any(char::is_control) {
        cmd.env("REMOTE_USER", remote_user);
    }
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        cmd.env("REMOTE_ADDR", addr.ip().to_string());
    }
    if let (Some(guard), Endpoint::ReceivePack) = (guard, endpoint) {
        let hooks = match guard_hooks_dir(repos_root).await {
            Ok(hooks) => hooks,
            Err(e) => {
                tracing::error!(error = %e, "cannot write the push guard hook");
                return plain(StatusCode::INTERNAL_SERVER_ERROR, "pushes are unavailable");
            }
        };
        // Configuration from the environment outranks the repository's own `core.hooksPath`.
        cmd.env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "core.hooksPath")
            .env("GIT_CONFIG_VALUE_0", hooks)
            .env(
                "SLIPWAY_PROTECTED_BRANCHES",
                guard.protected.names.join("\n"),
            )
            .env("SLIPWAY_PROTECTED_REASON", &guard.protected.reason);
        for (cap, name) in [
            (&guard.max_branches, "SLIPWAY_MAX_BRANCHES"),
            (&guard.max_new_branches, "SLIPWAY_MAX_NEW_BRANCHES"),
        ] {
            if let Some(cap) = cap {
                cmd.env(name, cap.max.to_string())
                    .env(format!("{name}_REASON"), &cap.reason);
            }
        }
    }

    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            tracing::error!(error = %e, "cannot start git http-backend");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "git is not available");
        }
    };
    let (Some(stdin), Some(mut stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "git pipes missing");
    };

    // The child is waited for (and killed when asked) by a task of its own.
    let kill = Arc::new(Notify::new());
    let log_path = path_info.to_owned();
    tokio::spawn(log_stderr(stderr, log_path.clone()));
    let supervisor_kill = kill.clone();
    let (exited_tx, exited_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::select! {
            status = child.wait() => {
                if let Ok(status) = status {
                    if !status.success() {
                        tracing::debug!(path = %log_path, %status, "git http-backend failed");
                    }
                }
            }
            () = supervisor_kill.notified() => {
                let _ = child.kill().await;
            }
        }
        let _ = exited_tx.send(());
    });

    let mut feeder = Feeder::Running(tokio::spawn(feed(
        req.into_body(),
        stdin,
        max_body_bytes,
        kill.clone(),
    )));

    // Read git's CGI head, holding the response until the body went in (or output piles up).
    // A push's whole (small) answer is held until git exits, so that when this function
    // returns, the branches are updated and the caller's "after" snapshot is right.
    let whole = endpoint == Endpoint::ReceivePack;
    let mut held = Vec::new();
    let mut eof = false;
    let mut head = None;
    loop {
        if head.is_none() {
            match parse_cgi_head(&held) {
                Ok(Some(parsed)) => head = Some(parsed),
                Ok(None) => {}
                Err(reason) => {
                    kill.notify_one();
                    tracing::error!(
                        path = path_info,
                        reason,
                        "bad CGI output from git http-backend"
                    );
                    return plain(StatusCode::BAD_GATEWAY, "git http-backend misbehaved");
                }
            }
        }
        let fed = matches!(feeder, Feeder::Done(_));
        if let Feeder::Done(Feed::TooLarge) = feeder {
            return too_large(max_body_bytes);
        }
        let hold = if whole { PUSH_HOLD_LIMIT } else { HOLD_LIMIT };
        if eof || (head.is_some() && ((fed && !whole) || held.len() > hold)) {
            break;
        }
        tokio::select! {
            result = feeder.wait(), if !fed => feeder = Feeder::Done(result),
            read = read_some(&mut stdout, &mut held) => eof = read == 0,
        }
    }
    let Some((status, headers, body_start)) = head else {
        kill.notify_one();
        tracing::error!(
            path = path_info,
            "git http-backend ended without a response"
        );
        return plain(StatusCode::BAD_GATEWAY, "git http-backend gave no response");
    };
    if whole {
        if eof {
            let _ = exited_rx.await;
        } else {
            tracing::warn!(
                path = path_info,
                "push answer over {PUSH_HOLD_LIMIT} bytes: streamed before git finished"
            );
        }
    }
    let rest = Bytes::from(held.split_off(body_start));
    let first = futures_util::stream::iter((!rest.is_empty()).then_some(Ok(rest)));
    let tail = tokio_util::io::ReaderStream::new(stdout);
    // A body that went over the cap after the response started: cut the response.
    let verdict = futures_util::stream::once(async move {
        match feeder.wait().await {
            Feed::TooLarge => Some(Err(std::io::Error::other("request body over the limit"))),
            _ => None,
        }
    })
    .filter_map(std::future::ready);
    let mut response = Response::new(Body::from_stream(first.chain(tail).chain(verdict)));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn too_large(max_body_bytes: u64) -> Response {
    plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "push larger than the server's limit of {} MiB: push fewer commits at once, or raise the limit",
            max_body_bytes >> 20
        ),
    )
}

async fn read_some(stdout: &mut (impl AsyncRead + Unpin), held: &mut Vec<u8>) -> usize {
    let mut buf = [0u8; 16 << 10];
    match stdout.read(&mut buf).await {
        Ok(n) => {
            held.extend_from_slice(&buf[..n]);
            n
        }
        Err(_) => 0,
    }
}

async fn log_stderr(mut stderr: impl AsyncRead + Unpin, path: String) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8 << 10];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if kept.len() < STDERR_LIMIT {
            kept.extend_from_slice(&buf[..n.min(STDERR_LIMIT - kept.len())]);
        }
    }
    let text = String::from_utf8_lossy(&kept);
    if !text.trim().is_empty() {
        tracing::warn!(path = %path, stderr = %text.trim(), "git http-backend");
    }
}

/// How feeding the request body to git ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// The whole body went in.
    Complete,
    /// The body went over the cap; git was killed.
    TooLarge,
    /// The client's body failed (disconnect); git was killed.
    ClientGone,
    /// git stopped reading (it answers on its own).
    GitClosed,
}

enum Feeder {
    Running(JoinHandle<Feed>),
    Done(Feed),
}

impl Feeder {
    async fn wait(&mut self) -> Feed {
        match self {
            Feeder::Done(feed) => *feed,
            Feeder::Running(handle) => {
                let feed = handle.await.unwrap_or(Feed::ClientGone);
                *self = Feeder::Done(feed);
                feed
            }
        }
    }
}

async fn feed(
    body: Body,
    mut stdin: tokio::process::ChildStdin,
    max_body_bytes: u64,
    kill: Arc<Notify>,
) -> Feed {
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            kill.notify_one();
            return Feed::ClientGone;
        };
        total += chunk.len() as u64;
        if total > max_body_bytes {
            kill.notify_one();
            tokio::spawn(drain(stream));
            return Feed::TooLarge;
        }
        if stdin.write_all(&chunk).await.is_err() {
            return Feed::GitClosed;
        }
    }
    // Dropping stdin closes it: git sees the end of the body.
    Feed::Complete
}

/// Reads and discards what is left of a refused request body (at most [`DRAIN_LIMIT`] bytes
/// for at most [`DRAIN_TIME`]), so the client, still sending, reads our 413 instead of a reset
/// connection.
async fn drain(mut stream: axum::body::BodyDataStream) {
    let mut total = 0u64;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(chunk)) = stream.next().await {
            total += chunk.len() as u64;
            if total > DRAIN_LIMIT {
                break;
            }
        }
    })
    .await;
}

/// Parses the CGI response head at the start of `output`: `Ok(None)` while incomplete, else the
/// status (`Status:` line, 200 without one), the other headers and where the body starts.
fn parse_cgi_head(output: &[u8]) -> Result<Option<(StatusCode, HeaderMap, usize)>, &'static str> {
    let (head_len, body_start) = match find_head_end(output) {
        Some(found) => found,
        None if output.len() > 64 << 10 => return Err("response head longer than 64 KiB"),
        None => return Ok(None),
    };
    let head = std::str::from_utf8(&output[..head_len]).map_err(|_| "head is not UTF-8")?;
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or("header line without ':'")?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split(' ').next().unwrap_or_default();
            status = code
                .parse::<u16>()
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
                .ok_or("bad Status line")?;
        } else {
            let name =
                HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| "bad header name")?;
            let value = HeaderValue::from_str(value).map_err(|_| "bad header value")?;
            headers.append(name, value);
        }
    }
    Ok(Some((status, headers, body_start)))
}

/// Where the head ends: (head length, body start), for `\r\n\r\n` or `\n\n`.
fn find_head_end(output: &[u8]) -> Option<(usize, usize)> {
    let crlf = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    let lf = output
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("/shop.git/info/refs"),
            Some(("shop", Endpoint::InfoRefs))
        );
        assert_eq!(
            parse_path("/shop.git/git-upload-pack"),
            Some(("shop", Endpoint::UploadPack))
        );
        assert_eq!(
            parse_path("/a-1.git/git-receive-pack"),
            Some(("a-1", Endpoint::ReceivePack))
        );
        for bad in [
            "",
            "/",
            "/shop.git",
            "/shop.git/",
            "/shop/info/refs",
            "shop.git/info/refs",
            "/../../etc/passwd",
            "/../shop.git/info/refs",
            "/shop.git/../../etc/passwd",
            "/shop.git/config",
            "/shop.git/HEAD",
            "/shop.git/objects/info/packs",
            "/shop.git/info/refs/../../config",
            "/Shop.git/info/refs",
            "/.git/info/refs",
            "//shop.git/info/refs",
            "/a/b.git/info/refs",
        ] {
            assert_eq!(parse_path(bad), None, "{bad}");
        }
        assert_eq!(project_of("/shop.git/info/refs"), Some("shop"));
        assert_eq!(project_of("/x"), None);
    }

    #[test]
    fn pushes() {
        assert!(is_push("/shop.git/git-receive-pack", None));
        assert!(is_push(
            "/shop.git/info/refs",
            Some("service=git-receive-pack")
        ));
        assert!(is_push(
            "/shop.git/info/refs",
            Some("service=git-upload-pack&service=git-receive-pack")
        ));
        assert!(is_push(
            "/shop.git/info/refs",
            Some("service=git%2Dreceive%2Dpack")
        ));
        assert!(!is_push(
            "/shop.git/info/refs",
            Some("service=git-upload-pack")
        ));
        assert!(!is_push("/shop.git/info/refs", None));
        assert!(!is_push("/shop.git/git-upload-pack", None));
    }

    #[test]
    fn cgi_heads() {
        let out = b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope";
        let (status, headers, start) = parse_cgi_head(out).unwrap().unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers["content-type"], "text/plain");
        assert!(!headers.contains_key("status"));
        assert_eq!(&out[start..], b"nope");

        let out = b"Content-Type: application/x-git-upload-pack-result\n\nPACK";
        let (status, headers, start) = parse_cgi_head(out).unwrap().unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers.len(), 1);
        assert_eq!(&out[start..], b"PACK");

        assert_eq!(parse_cgi_head(b"Content-Type: x\r\n").unwrap(), None);
        assert!(parse_cgi_head(b"garbage\r\n\r\n").is_err());
        assert!(parse_cgi_head(b"Status: abc\r\n\r\n").is_err());
        assert!(parse_cgi_head(&vec![b'a'; 70 << 10]).is_err());
    }
}
