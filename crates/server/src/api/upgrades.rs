//! A branch's Upgrade tab: `GET` its state (targets offered, the current upgrade, its step and
//! log tail, upgrade mode's end), `POST {"target"}` to start an upgrade, `DELETE` to cancel
//! one under way or close upgrade mode. Project admins only ([`Action::Upgrade`]); the
//! workflow is the platform's ([`slipway_platform::branch_upgrades`]), the shapes
//! [`slipway_api::upgrade`].

use axum::extract::{Path, State};
use axum::http::StatusCode;

use slipway_api::upgrade::{StartUpgrade, UpgradeOverview};
use slipway_platform::projects::Action;

use super::projects::branch_for;
use super::{Answer, ApiJson, ApiResult, ApiUser};
use crate::AppState;

pub(crate) async fn status(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<Answer<UpgradeOverview>> {
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    access.require(Action::Upgrade, branch.stage)?;
    Ok(Answer(state.platform.upgrade_overview(&branch).await?))
}

pub(crate) async fn start(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
    ApiJson(body): ApiJson<StartUpgrade>,
) -> ApiResult<(StatusCode, Answer<UpgradeOverview>)> {
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    access.require(Action::Upgrade, branch.stage)?;
    let overview = state
        .platform
        .start_upgrade(&branch, &body.target, &user.0)
        .await?;
    Ok((StatusCode::ACCEPTED, Answer(overview)))
}

pub(crate) async fn cancel(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<Answer<UpgradeOverview>> {
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    access.require(Action::Upgrade, branch.stage)?;
    Ok(Answer(
        state
            .platform
            .cancel_upgrade(&branch, &user.0.login)
            .await?,
    ))
}
