//! A branch's addresses: its stable one under Slipway's domain and the custom domains an
//! admin gives it (`slipway_platform::addresses`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use slipway_api::projects::{AddDomainRequest, BranchAddresses, CustomDomain};
use slipway_platform::branches::Branch;
use slipway_platform::builds::naming::branch_label;
use slipway_platform::projects::Action;
use slipway_platform::stages::Stage;

use super::projects::branch_for;
use super::{Answer, ApiError, ApiJson, ApiResult, ApiUser};
use crate::AppState;

/// `GET /api/projects/{p}/branches/{b}/domains` (whoever sees the project).
pub(crate) async fn list(
    State(state): State<AppState>,
    user: ApiUser,
    Path((project, branch)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Answer<BranchAddresses>> {
    let (access, branch) = branch_for(&state, &user, &project, &branch).await?;
    access.require(Action::View, branch.stage)?;
    Ok(Answer(addresses(&state, &branch, &headers).await?))
}

async fn addresses(
    state: &AppState,
    branch: &Branch,
    headers: &HeaderMap,
) -> ApiResult<BranchAddresses> {
    let label = if branch.stage == Stage::Production {
        branch.project.clone()
    } else {
        branch_label(&branch.project, &branch.name)
    };
    Ok(BranchAddresses {
        address: state.build_origin(&label, headers),
        domains: state.platform.domains(branch).await?,
    })
}

/// `POST /api/projects/{p}/branches/{b}/domains` (`{"host"}`, project admins): 201 with the
/// domain; 400 for a name that is not a host name, 409 for one in use, including the name
/// Slipway itself was reached by (a project admin must not take the UI's host from everyone).
pub(crate) async fn add(
    State(state): State<AppState>,
    user: ApiUser,
    Path((project, branch)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AddDomainRequest>,
) -> ApiResult<(StatusCode, Answer<CustomDomain>)> {
    let (access, branch) = branch_for(&state, &user, &project, &branch).await?;
    access.require(Action::ManageProject, branch.stage)?;
    let ui_host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name))
        .unwrap_or("")
        .trim_end_matches('.');
    if body
        .host
        .trim()
        .trim_end_matches('.')
        .eq_ignore_ascii_case(ui_host)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("{ui_host} is where Slipway itself is reached; choose another name"),
        ));
    }
    let added = state
        .platform
        .add_domain(&branch, &body.host, &user.0.login)
        .await?;
    state.build_routes.forget(&added.host).await;
    Ok((StatusCode::CREATED, Answer(added)))
}

/// `DELETE /api/projects/{p}/branches/{b}/domains/{host}` (project admins): 204; 404 when the
/// branch has no such domain.
pub(crate) async fn remove(
    State(state): State<AppState>,
    user: ApiUser,
    Path((project, branch, host)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let (access, branch) = branch_for(&state, &user, &project, &branch).await?;
    access.require(Action::ManageProject, branch.stage)?;
    state
        .platform
        .remove_domain(&branch, &host, &user.0.login)
        .await?;
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    state.build_routes.forget(&host).await;
    Ok(StatusCode::NO_CONTENT)
}
