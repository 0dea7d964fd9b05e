//! Upgrade engines (Slipway admins only): list, add, remove.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use slipway_api::upgrade::{EngineStatus, NewUpgradeEngine};
use slipway_platform::upgrade_engines::{NewEngine, OpenUpgradeChoice};

use super::projects::parse_series;
use super::{Answer, ApiError, ApiJson, ApiResult, ApiUser};
use crate::AppState;

pub(crate) async fn list(
    State(state): State<AppState>,
    user: ApiUser,
) -> ApiResult<Answer<Vec<EngineStatus>>> {
    user.require_admin()?;
    Ok(Answer(state.platform.upgrade_engines().await?))
}

/// Adds the engine of a series; fetching OpenUpgrade from PyPI and making the virtualenv can
/// take a minute, the answer waits for them.
pub(crate) async fn add(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<NewUpgradeEngine>,
) -> ApiResult<(StatusCode, Answer<EngineStatus>)> {
    user.require_admin()?;
    let openupgrade = match (body.openupgrade, body.openupgrade_dir) {
        (Some(_), Some(_)) => return Err(ApiError::invalid(
            "give either openupgrade (a version from PyPI) or openupgrade_dir (a folder), not both",
        )),
        (None, Some(dir)) => OpenUpgradeChoice::Folder(dir.into()),
        (version, None) => OpenUpgradeChoice::Pypi { version },
    };
    let new = NewEngine {
        series: parse_series(&body.series)?,
        openupgrade,
        upgrade_util: body.upgrade_util.map(Into::into),
    };
    let status = state.platform.add_upgrade_engine(&new).await?;
    Ok((StatusCode::CREATED, Answer(status)))
}

pub(crate) async fn remove(
    State(state): State<AppState>,
    user: ApiUser,
    Path(series): Path<String>,
) -> ApiResult<StatusCode> {
    user.require_admin()?;
    state
        .platform
        .remove_upgrade_engine(&parse_series(&series)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
