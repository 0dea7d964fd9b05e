//! Who is calling: `Authorization: Bearer <token>` (or HTTP basic with the token as the
//! password, as Git clients send it), checked against the tokens' digests; or the web UI's
//! session cookie, with its CSRF header. [`Access`] applies Odoo.sh's rights
//! ([`allowed_in`]: the project's settings over [`allowed`](slipway_platform::projects::allowed)) to what the caller asks.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use base64::Engine;
use slipway_platform::people::User;
use slipway_platform::projects::{allowed_in, Action, Project, Role};
use slipway_platform::stages::Stage;
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::AppState;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct ApiUser(pub User);

/// The token in an `Authorization` header: bearer, or the password of basic.
pub(crate) fn token_from(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    // Authentication schemes are case-insensitive (RFC 9110 §11.1): `bearer` is `Bearer`.
    let (scheme, credentials) = value.trim_start().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("Bearer") {
        return Some(credentials.trim().to_string());
    }
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials.trim())
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
                "unknown, revoked or expired token: use a live one, or make a new one with `slipway token create` or on your profile page",
            )
        })
}

/// The session cookie of the web UI.
pub(crate) const SESSION_COOKIE: &str = "slipway_session";

/// The header a cookie session must echo its CSRF token in, on state-changing requests.
pub(crate) const CSRF_HEADER: &str = "x-slipway-csrf";

/// The value of cookie `name` in the request, if any.
pub(crate) fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
}

/// Whether a request with this method changes something (and so needs the CSRF header
/// when it comes from a cookie session).
fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    /// A bearer (or basic) token, or else the UI's session cookie; a cookie session's
    /// state-changing requests must carry `X-Slipway-CSRF` with the session's CSRF token
    /// (a token in a header cannot be sent by another site, a cookie can).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = token_from(parts) {
            return authenticate_token(state, &token).await.map(ApiUser);
        }
        let Some(session) = cookie(parts, SESSION_COOKIE) else {
            return Err(unauthenticated(
                "missing token: send `Authorization: Bearer <token>` or sign in",
            ));
        };
        let (user, csrf) = state
            .platform
            .people
            .session(&session)
            .await?
            .ok_or_else(|| unauthenticated("your session has ended; sign in again"))?;
        if changes_state(&parts.method) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !bool::from(sent.as_bytes().ct_eq(csrf.as_bytes())) {
                return Err(ApiError::forbidden(
                    "missing or wrong X-Slipway-CSRF header: reload the page",
                ));
            }
        }
        Ok(ApiUser(user))
    }
}

/// A caller's standing in a project.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    /// The project.
    pub project: Project,
    /// The caller's role in it (Slipway administrators are admins everywhere).
    pub role: Role,
}

impl Access {
    /// Refuses what the role may not do on `stage` ([`allowed_in`]).
    pub(crate) fn require(&self, action: Action, stage: Stage) -> Result<(), ApiError> {
        if allowed_in(&self.project.settings, self.role, action, stage) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "as {} of {}, you cannot do this on a {stage} branch ({})",
                self.role.as_str(),
                self.project.name,
                action_words(action)
            )))
        }
    }
}

fn action_words(action: Action) -> &'static str {
    match action {
        Action::View => "see it",
        Action::Push => "push",
        Action::Rebuild => "rebuild, stop or keep builds",
        Action::Logs => "read logs",
        Action::Connect => "connect to the database",
        Action::Shell => "open a shell",
        Action::Mails => "read caught mails",
        Action::Monitor => "monitor the server",
        Action::Browse => "browse the code",
        Action::Edit => "commit from the editor",
        Action::Backups => "use backups",
        Action::Settings => "change settings",
        Action::MoveStage => "move branches",
        Action::Merge => "merge branches",
        Action::ManageProject => "manage the project",
        Action::Upgrade => "upgrade the database",
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

    /// The caller's role in `project`; a project they are not a member of does not exist
    /// for them (404).
    pub(crate) async fn access(
        &self,
        state: &AppState,
        project: Project,
    ) -> Result<Access, ApiError> {
        if self.0.is_admin {
            return Ok(Access {
                project,
                role: Role::Admin,
            });
        }
        match state.platform.projects.role(project.id, self.0.id).await? {
            Some(role) => Ok(Access { project, role }),
            None => Err(ApiError::not_found(format!(
                "no project named {:?}",
                project.name
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::builder().uri("/api/me");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let p = parts(&[("cookie", "theme=dark; slipway_session=sls_abc; x=y")]);
        assert_eq!(cookie(&p, SESSION_COOKIE).as_deref(), Some("sls_abc"));
        let p = parts(&[("cookie", "a=1"), ("cookie", "slipway_session=sls_2")]);
        assert_eq!(cookie(&p, SESSION_COOKIE).as_deref(), Some("sls_2"));
        assert_eq!(
            cookie(&parts(&[("cookie", "xslipway_session=no")]), SESSION_COOKIE),
            None
        );
        assert_eq!(cookie(&parts(&[]), SESSION_COOKIE), None);
    }

    #[test]
    fn only_reads_go_without_the_csrf_header() {
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(!changes_state(&m));
        }
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(changes_state(&m));
        }
    }

    #[test]
    fn tokens_come_as_bearer_or_as_the_basic_password() {
        assert_eq!(
            token_from(&parts(&[("authorization", "Bearer slw_x")])).as_deref(),
            Some("slw_x")
        );
        // "git:slw_y" in base64, as Git sends it.
        assert_eq!(
            token_from(&parts(&[("authorization", "Basic Z2l0OnNsd195")])).as_deref(),
            Some("slw_y")
        );
        assert_eq!(token_from(&parts(&[])), None);
    }

    #[test]
    fn schemes_are_read_in_any_case() {
        for header in ["bearer slw_x", "BEARER slw_x", "Bearer  slw_x"] {
            assert_eq!(
                token_from(&parts(&[("authorization", header)])).as_deref(),
                Some("slw_x"),
                "{header}"
            );
        }
        assert_eq!(
            token_from(&parts(&[("authorization", "basic Z2l0OnNsd195")])).as_deref(),
            Some("slw_y")
        );
        assert_eq!(
            token_from(&parts(&[("authorization", "Digest slw_x")])),
            None
        );
    }
}
