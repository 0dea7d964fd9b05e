//! Signing in to the web UI: a token given once becomes a session cookie (HttpOnly,
//! SameSite=Strict), and the UI learns the session's CSRF token to echo in
//! `X-Slipway-CSRF`.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use slipway_api::people::{PasswordChange, Session, SignIn};
use slipway_platform::sessions::SESSION_DAYS;

use super::auth::{authenticate_token, cookie, SESSION_COOKIE};
use super::{Answer, ApiJson};
use super::{ApiError, ApiResult, ApiUser};
use crate::AppState;

fn set_cookie(value: &str, max_age: i64) -> HeaderValue {
    let cookie =
        format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static(""))
}

/// `POST /api/session` `{"token": "slw_..."}` or `{"login", "password"}`: opens a session
/// (cookie) and answers the user and the CSRF token.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignIn>,
) -> ApiResult<Response> {
    let user = match (&body.token, &body.login, &body.password) {
        (Some(token), _, _) => authenticate_token(&state, token.trim()).await?,
        (None, Some(login), Some(password)) => state
            .platform
            .people
            .authenticate_password(login.trim(), password)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "wrong login or password (or no password set: `slipway user passwd LOGIN`)",
                )
            })?,
        _ => {
            return Err(ApiError::invalid(
                "send {\"token\"} or {\"login\", \"password\"}",
            ))
        }
    };
    let session = state.platform.people.open_session(user.id).await?;
    let mut response = (
        StatusCode::CREATED,
        Answer(Session {
            user,
            csrf: session.csrf,
            sandbox_warning: sandbox_warning(&state),
        }),
    )
        .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&session.id, i64::from(SESSION_DAYS) * 86400),
    );
    Ok(response)
}

/// `GET /api/session`: who is signed in, and the CSRF token of their session (`null` when
/// the caller used a bearer token).
pub(crate) async fn current(
    State(state): State<AppState>,
    parts: Parts,
) -> ApiResult<Answer<Session>> {
    let session = cookie(&parts, SESSION_COOKIE).ok_or_else(|| {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "not signed in")
    })?;
    let (user, csrf) = state
        .platform
        .people
        .session(&session)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "your session has ended; sign in again",
            )
        })?;
    Ok(Answer(Session {
        user,
        csrf,
        sandbox_warning: sandbox_warning(&state),
    }))
}

/// What the UI warns about when builds' code is not confined.
fn sandbox_warning(state: &AppState) -> Option<String> {
    use slipway_platform::builds::pipeline::SandboxPolicy;
    match &state.platform.env().sandbox {
        SandboxPolicy::On(_) => None,
        SandboxPolicy::Off => Some(
            "Builds run without a sandbox (serve --no-sandbox): their code runs with \
             Slipway's own rights and can read every secret on this server."
                .into(),
        ),
        SandboxPolicy::Unavailable(reason) => Some(format!("Builds cannot start: {reason}")),
    }
}

/// `DELETE /api/session`: signs out (the CSRF header is required, as for any change).
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    _user: ApiUser,
    parts: Parts,
) -> ApiResult<Response> {
    if let Some(session) = cookie(&parts, SESSION_COOKIE) {
        state.platform.people.close_session(&session).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie("", 0));
    Ok(response)
}

/// `PUT /api/users/{login}/password` `{"password"}`: Slipway admins for anyone, users for
/// themselves.
pub(crate) async fn set_password(
    State(state): State<AppState>,
    user: ApiUser,
    axum::extract::Path(login): axum::extract::Path<String>,
    ApiJson(body): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    if user.0.login != login {
        user.require_admin()?;
    }
    state
        .platform
        .people
        .set_password(&login, &body.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
