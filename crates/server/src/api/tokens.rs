//! The caller's API tokens: `GET|POST /api/me/tokens`, `DELETE /api/me/tokens/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use slipway_api::people::{ApiToken, CreatedToken, NewToken};

use super::{Answer, ApiJson, ApiResult, ApiUser};
use crate::AppState;

/// `GET /api/me/tokens`: the caller's tokens (not revoked), oldest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    user: ApiUser,
) -> ApiResult<Answer<Vec<ApiToken>>> {
    Ok(Answer(state.platform.people.tokens(user.0.id).await?))
}

/// `POST /api/me/tokens` `{"label", "expires_in_days"}`: a new token, its secret shown once.
pub(crate) async fn create(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Answer<CreatedToken>)> {
    let (token, secret) = state
        .platform
        .people
        .create_token(user.0.id, &body.label, body.expires_in_days)
        .await?;
    tracing::info!(user = %user.0.login, token = token.id, "API token created");
    Ok((StatusCode::CREATED, Answer(CreatedToken { token, secret })))
}

/// `DELETE /api/me/tokens/{id}`: revokes one of the caller's tokens, at once.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state.platform.people.revoke_token(user.0.id, id).await?;
    tracing::info!(user = %user.0.login, token = id, "API token revoked");
    Ok(StatusCode::NO_CONTENT)
}
