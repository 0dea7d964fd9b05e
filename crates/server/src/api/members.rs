//! A project's collaborators and their roles.

use axum::extract::{Path, State};
use slipway_api::projects::{Member, MemberEntry, Role, Stage};
use slipway_platform::projects::Action;

use super::projects::project_for;
use super::{Answer, ApiJson};
use super::{ApiError, ApiResult, ApiUser};
use crate::AppState;

/// `GET /api/projects/{p}/members`: `[{"user_id", "login", "name", "role"}]`.
pub(crate) async fn list(
    State(state): State<AppState>,
    user: ApiUser,
    Path(name): Path<String>,
) -> ApiResult<Answer<Vec<Member>>> {
    let access = project_for(&state, &user, &name).await?;
    Ok(Answer(
        state.platform.projects.members(access.project.id).await?,
    ))
}

/// `PUT /api/projects/{p}/members` `[{"login", "role"}]`: replaces the member list (project
/// admins only; at least one admin must remain). Unknown logins or roles refuse the whole
/// list.
pub(crate) async fn replace(
    State(state): State<AppState>,
    user: ApiUser,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Vec<MemberEntry>>,
) -> ApiResult<Answer<Vec<Member>>> {
    let access = project_for(&state, &user, &name).await?;
    access.require(Action::ManageProject, Stage::Production)?;
    let mut members = Vec::new();
    for m in &body {
        let role = Role::parse(&m.role).ok_or_else(|| {
            ApiError::invalid(format!(
                "{:?} is not a role (admin, developer, tester)",
                m.role
            ))
        })?;
        let found = state
            .platform
            .people
            .by_login(&m.login)
            .await?
            .ok_or_else(|| ApiError::invalid(format!("no user with login {:?}", m.login)))?;
        members.push((found.id, role));
    }
    state
        .platform
        .projects
        .set_members(access.project.id, &members)
        .await?;
    Ok(Answer(
        state.platform.projects.members(access.project.id).await?,
    ))
}
