//! Builds: list, show, stop, keep, and their logs (with `Range`, or followed live as
//! Server-Sent Events).

use std::convert::Infallible;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use slipway_api::builds::{Build, BuildView, KeepRequest, LogFile, Stage};
use slipway_platform::projects::Action;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::projects::project_for;
use super::{Answer, ApiError, ApiJson, ApiResult, ApiUser};
use crate::AppState;

/// The logs a build may have.
pub(crate) const LOG_NAMES: &[&str] = &[
    "build.log",
    "pip.log",
    "install.log",
    "odoo.log",
    "update.log",
    "upgrade.log",
    "neutralize.log",
];

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    branch: Option<String>,
    limit: Option<i64>,
}

pub(crate) async fn list_builds(
    State(state): State<AppState>,
    user: ApiUser,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Answer<Vec<Build>>> {
    let project = project_for(&state, &user, &name).await?.project;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let builds = match q.branch {
        Some(branch) => {
            let branch = state.platform.branches.get(project.id, &branch).await?;
            state.platform.builds.of_branch(branch.id, limit).await?
        }
        None => state.platform.builds.of_project(project.id, limit).await?,
    };
    Ok(Answer(builds))
}

/// The build `id` if the caller may do `action` on it (on its stage: a build's stage is
/// the kind of data its database holds).
pub(crate) async fn build_for(
    state: &AppState,
    user: &ApiUser,
    id: i64,
    action: Action,
) -> ApiResult<Build> {
    let build = state.platform.builds.get(id).await?;
    let access = project_for(state, user, &build.project).await?;
    access.require(action, build.stage)?;
    Ok(build)
}

pub(crate) async fn get_build(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<i64>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Answer<BuildView>> {
    let build = build_for(&state, &user, id, Action::View).await?;
    Ok(Answer(BuildView {
        url: build
            .has_served()
            .then(|| format!("{}/", state.build_origin(&build.name, &headers))),
        ssh: ssh_command(&state, &build, &headers),
        build,
    }))
}

/// How to log in to `build` over SSH: its name as the user, the host this request reached.
fn ssh_command(state: &AppState, build: &Build, headers: &axum::http::HeaderMap) -> Option<String> {
    let port = state.ssh_port?;
    if build.state != slipway_platform::builds::BuildState::Running {
        return None;
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(host_without_port)
        .unwrap_or("localhost");
    Some(format!("ssh -p {port} {}@{host}", build.name))
}

/// `example.com` of `example.com:8400`, `[::1]` of `[::1]:8400`.
fn host_without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && !port.contains(']') => name,
        _ => host,
    }
}

pub(crate) async fn stop_build(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<i64>,
) -> ApiResult<Answer<Build>> {
    let build = build_for(&state, &user, id, Action::Rebuild).await?;
    if build.stage == Stage::Production {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "production",
            "the production build cannot be stopped from here; move the branch to development first",
        ));
    }
    state
        .platform
        .stop_build(&build, &format!("stopped by {}", user.0.login))
        .await?;
    Ok(Answer(state.platform.builds.get(id).await?))
}

pub(crate) async fn keep_build(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<i64>,
    body: Option<ApiJson<KeepRequest>>,
) -> ApiResult<Answer<Build>> {
    build_for(&state, &user, id, Action::Rebuild).await?;
    let keep = body.map(|ApiJson(b)| b.keep).unwrap_or(true);
    state.platform.builds.set_keep(id, keep).await?;
    Ok(Answer(state.platform.builds.get(id).await?))
}

/// Middleware of per-build routes mounted from elsewhere (the mails): the caller must be
/// able to see build `{id}` (the second segment after `/api/builds/`).
pub(crate) async fn require_build_reader(
    State(state): State<AppState>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let id = request
        .uri()
        .path()
        .strip_prefix("/api/builds/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|id| id.parse::<i64>().ok());
    let (mut parts, body) = request.into_parts();
    let user = match <ApiUser as axum::extract::FromRequestParts<AppState>>::from_request_parts(
        &mut parts, &state,
    )
    .await
    {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    let Some(id) = id else {
        return ApiError::not_found("no such build").into_response();
    };
    if let Err(e) = build_for(&state, &user, id, Action::Mails).await {
        return e.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

fn log_path(state: &AppState, build: &Build, name: &str) -> ApiResult<PathBuf> {
    if !LOG_NAMES.contains(&name) {
        return Err(ApiError::not_found(format!(
            "no log named {name:?}; logs are {}",
            LOG_NAMES.join(", ")
        )));
    }
    Ok(state.platform.env().logs_dir(&build.name).join(name))
}

pub(crate) async fn list_logs(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<i64>,
) -> ApiResult<Answer<Vec<LogFile>>> {
    let build = build_for(&state, &user, id, Action::Logs).await?;
    let mut logs = Vec::new();
    for name in LOG_NAMES {
        let path = log_path(&state, &build, name)?;
        if let Ok(meta) = std::fs::metadata(&path) {
            logs.push(LogFile {
                name: name.to_string(),
                size: meta.len(),
            });
        }
    }
    Ok(Answer(logs))
}

#[derive(Deserialize)]
pub(crate) struct LogQuery {
    #[serde(default)]
    follow: Option<String>,
}

/// A log, whole or by `Range`; with `?follow=1`, its lines as Server-Sent Events (`line`
/// events, from the start, then as they are written), ending after 5 minutes.
pub(crate) async fn log(
    State(state): State<AppState>,
    user: ApiUser,
    Path((id, name)): Path<(i64, String)>,
    Query(q): Query<LogQuery>,
    request: Request,
) -> ApiResult<Response> {
    let build = build_for(&state, &user, id, Action::Logs).await?;
    let path = log_path(&state, &build, &name)?;
    let follow = matches!(q.follow.as_deref(), Some("1" | "true" | "yes"));
    if follow {
        return Ok(Sse::new(follow_lines(path, state.log_follow_for))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    if !path.is_file() {
        return Err(ApiError::not_found(format!(
            "build #{id} has no {name} (yet)"
        )));
    }
    Ok(crate::files::serve_file(path, "text/plain; charset=utf-8", None, request).await)
}

/// The lines of `path` as they come, for `duration`; then an `end` event.
fn follow_lines(
    path: PathBuf,
    duration: Duration,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream::stream! {
        let deadline = tokio::time::Instant::now() + duration;
        let mut offset = 0u64;
        let mut pending = String::new();
        while tokio::time::Instant::now() < deadline {
            match read_from(&path, offset).await {
                Some(bytes) if !bytes.is_empty() => {
                    offset += bytes.len() as u64;
                    pending.push_str(&String::from_utf8_lossy(&bytes));
                    while let Some(end) = pending.find('\n') {
                        let line: String = pending.drain(..=end).collect();
                        yield Ok(Event::default().event("line").data(line.trim_end_matches('\n')));
                    }
                }
                _ => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
        yield Ok(Event::default().event("end").data(format!("followed for {}s; reconnect to go on", duration.as_secs())));
    }
}

async fn read_from(path: &std::path::Path, offset: u64) -> Option<Vec<u8>> {
    let mut file = tokio::fs::File::open(path).await.ok()?;
    file.seek(SeekFrom::Start(offset)).await.ok()?;
    let mut buf = Vec::new();
    file.take(1 << 20).read_to_end(&mut buf).await.ok()?;
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::host_without_port;

    #[test]
    fn the_ssh_host_is_the_request_s_host_without_its_port() {
        assert_eq!(host_without_port("slipway.example:8400"), "slipway.example");
        assert_eq!(host_without_port("slipway.example"), "slipway.example");
        assert_eq!(host_without_port("[::1]:8400"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
    }
}
