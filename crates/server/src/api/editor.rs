//! The web editor's routes: a build's checkout, read; one file committed to its branch.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_api::builds::{Committed, Entry, FileCommit, FileContent};
use slipway_platform::editor::FileEdit;
use slipway_platform::projects::Action;

use super::builds::build_for;
use super::projects::project_for;
use super::{Answer, ApiJson};
use super::{ApiResult, ApiUser};
use crate::AppState;

#[derive(Deserialize)]
pub(crate) struct PathQuery {
    #[serde(default)]
    path: String,
}

/// `GET /api/builds/{id}/files?path=<folder>`: `[{"name", "dir", "size"}]`.
pub(crate) async fn list(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<i64>,
    Query(q): Query<PathQuery>,
) -> ApiResult<Answer<Vec<Entry>>> {
    let build = build_for(&state, &user, id, Action::Browse).await?;
    Ok(Answer(state.platform.list_checkout(&build, &q.path).await?))
}

/// `GET /api/builds/{id}/files/content?path=<file>`: `{"path", "content"}`.
pub(crate) async fn content(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<i64>,
    Query(q): Query<PathQuery>,
) -> ApiResult<Answer<FileContent>> {
    let build = build_for(&state, &user, id, Action::Browse).await?;
    let content = state.platform.read_checkout_file(&build, &q.path).await?;
    Ok(Answer(FileContent {
        path: q.path,
        content,
    }))
}

/// `POST /api/builds/{id}/files` `{"path", "content", "message"}`: commits the file on the
/// build's branch (on the build's revision, which must still be the branch's head: 409 once
/// the branch moved on) and builds it: `{"sha", "build"}`.
pub(crate) async fn commit(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<FileCommit>,
) -> ApiResult<(StatusCode, Answer<Committed>)> {
    let build = build_for(&state, &user, id, Action::Browse).await?;
    let access = project_for(&state, &user, &build.project).await?;
    let branch = state
        .platform
        .branches
        .get(access.project.id, &build.branch)
        .await?;
    access.require(Action::Edit, branch.stage)?;
    let (sha, new_build) = state
        .platform
        .commit_from_editor(
            &access.project,
            &branch,
            &build,
            &FileEdit {
                path: &body.path,
                content: &body.content,
                message: &body.message,
            },
            &user.0,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Answer(Committed {
            sha,
            build: new_build,
        }),
    ))
}
