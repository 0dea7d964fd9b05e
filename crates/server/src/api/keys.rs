//! The caller's SSH public keys: `GET|POST /api/me/keys`, `DELETE /api/me/keys/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use slipway_api::people::{NewSshKey, SshKey};

use super::{Answer, ApiJson, ApiResult, ApiUser};
use crate::AppState;

pub(crate) async fn list(
    State(state): State<AppState>,
    user: ApiUser,
) -> ApiResult<Answer<Vec<SshKey>>> {
    Ok(Answer(state.platform.ssh_keys.of_user(user.0.id).await?))
}

/// Registers a key: 400 when it is not one OpenSSH public key, 409 when it is registered
/// already.
pub(crate) async fn add(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<NewSshKey>,
) -> ApiResult<(StatusCode, Answer<SshKey>)> {
    let key = (state.platform.ssh_keys)
        .add(user.0.id, &body.name, &body.public_key)
        .await?;
    tracing::info!(user = %user.0.login, fingerprint = %key.fingerprint, "SSH key added");
    Ok((StatusCode::CREATED, Answer(key)))
}

pub(crate) async fn remove(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state.platform.ssh_keys.remove(user.0.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
