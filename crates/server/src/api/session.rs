//! Signing in to the web UI: a token given once becomes a session cookie (HttpOnly,
//! SameSite=Strict), and the UI learns the session's CSRF token to echo in
//! `X-Slipway-CSRF`.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use slipway_api::people::{PasswordChange, Session, SignIn};
use slipway_platform::sessions::SESSION_DAYS;
use slipway_platform::throttle::{Attempt, LockedOut};

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
    parts: Parts,
    ApiJson(body): ApiJson<SignIn>,
) -> ApiResult<Response> {
    let user = match (&body.token, &body.login, &body.password) {
        (Some(token), _, _) => authenticate_token(&state, token.trim()).await?,
        (None, Some(login), Some(password)) => {
            let attempt = Attempt {
                login: login.clone(),
                address: parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(addr)| addr.ip()),
            };
            sign_in_with_password(&state, &attempt, password).await?
        }
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

/// Checks a login's password under the sign-in throttle: refused with 429 while the login or
/// the address is locked out, each recent failure delaying the answer, and at most a few
/// Argon2 checks at once.
async fn sign_in_with_password(
    state: &AppState,
    attempt: &Attempt,
    password: &str,
) -> Result<slipway_platform::people::User, ApiError> {
    let throttle = &state.sign_in_throttle;
    let delay = throttle
        .admit(attempt, Instant::now())
        .map_err(locked_out)?;
    tokio::time::sleep(delay).await;
    let user = {
        let _turn = state
            .password_checks
            .acquire()
            .await
            .map_err(ApiError::internal)?;
        state
            .platform
            .people
            .authenticate_password(attempt.login.trim(), password)
            .await?
    };
    match user {
        Some(user) => {
            throttle.succeeded(attempt);
            Ok(user)
        }
        None => {
            if throttle.failed(attempt, Instant::now()) {
                tracing::warn!(login = %attempt.login, address = ?attempt.address, "sign-ins of this login locked out after repeated failures");
            }
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "wrong login or password (or no password set: `slipway user passwd LOGIN`)",
            ))
        }
    }
}

fn locked_out(refused: LockedOut) -> ApiError {
    let minutes = refused.retry_after.as_secs().div_ceil(60).max(1);
    let who = if refused.login {
        "this login"
    } else {
        "your address"
    };
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "locked_out",
        format!(
            "too many failed sign-ins for {who}: try again in {minutes} minute{}, or sign in with an API token",
            if minutes == 1 { "" } else { "s" }
        ),
    )
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
/// themselves. Every web session of that user ends, but the one making the change.
pub(crate) async fn set_password(
    State(state): State<AppState>,
    user: ApiUser,
    axum::extract::Path(login): axum::extract::Path<String>,
    parts: Parts,
    ApiJson(body): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    let own = user.0.login == login;
    if !own {
        user.require_admin()?;
    }
    let current = cookie(&parts, SESSION_COOKIE).filter(|_| own);
    state
        .platform
        .people
        .set_password(&login, &body.password, current.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
