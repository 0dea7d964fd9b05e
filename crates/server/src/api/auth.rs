//! Who is calling: `Authorization: Bearer <token>` (or HTTP basic with the token as the
//! password, as Git clients send it), checked against the tokens' digests.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use base64::Engine;
use slipway_platform::people::User;
use slipway_platform::projects::{Project, Role};

use super::ApiError;
use crate::AppState;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct ApiUser(pub User);

/// The token in an `Authorization` header: bearer, or the password of basic.
pub(crate) fn token_from(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_string());
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_string())
}

/// The user a token belongs to.
pub(crate) async fn authenticate_token(state: &AppState, token: &str) -> Result<User, ApiError> {
    state
        .platform
        .people
        .authenticate(token)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "unknown or revoked token; create one with `slipway user create` or `slipway token create`",
            )
        })
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = token_from(parts).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "missing token: send `Authorization: Bearer <token>`",
            )
        })?;
        authenticate_token(state, &token).await.map(ApiUser)
    }
}

impl ApiUser {
    /// Refuses callers who are not Slipway administrators.
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.is_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "only Slipway administrators can do this",
            ))
        }
    }

    /// Refuses callers with less than `role` in `project` (Slipway admins have every right).
    pub(crate) async fn require_role(
        &self,
        state: &AppState,
        project: &Project,
        role: Role,
    ) -> Result<(), ApiError> {
        if self.0.is_admin {
            return Ok(());
        }
        match state.platform.projects.role(project.id, self.0.id).await? {
            Some(have) if have >= role => Ok(()),
            Some(have) => Err(ApiError::forbidden(format!(
                "your role in {} is {}; this needs {}",
                project.name,
                have.as_str(),
                role.as_str()
            ))),
            None => Err(ApiError::not_found(format!(
                "no project named {:?}",
                project.name
            ))),
        }
    }
}
