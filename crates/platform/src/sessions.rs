//! Web UI sessions, opened by signing in with an API token.
//!
//! The session id (the cookie's value) is 128 random bits shown once, to the browser; the
//! database keeps its SHA-256, as for tokens. Each session has its own CSRF token, which
//! the UI sends back in a header on state-changing requests. Sessions last
//! [`SESSION_DAYS`] days from their last use.

use crate::error::Result;
use crate::people::{random_secret, People, User};
use crate::upgrade::keys::key_digest;

/// A session ends this many days after its last use.
pub const SESSION_DAYS: i32 = 7;

/// A session just opened: its id (for the cookie) and its CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie value (shown once).
    pub id: String,
    /// The value `X-Slipway-CSRF` must carry.
    pub csrf: String,
}

impl People {
    /// Opens a session for `user_id`.
    pub async fn open_session(&self, user_id: i64) -> Result<NewSession> {
        let session = NewSession {
            id: format!("sls_{}", random_secret()),
            csrf: random_secret(),
        };
        sqlx::query(
            "INSERT INTO ui_sessions (digest, user_id, csrf, expires_at) \
             VALUES ($1, $2, $3, now() + make_interval(days => $4))",
        )
        .bind(key_digest(&session.id))
        .bind(user_id)
        .bind(&session.csrf)
        .bind(SESSION_DAYS)
        .execute(self.pool())
        .await?;
        Ok(session)
    }

    /// The user of a live session and its CSRF token; extends the session.
    pub async fn session(&self, id: &str) -> Result<Option<(User, String)>> {
        if !id.starts_with("sls_") {
            return Ok(None);
        }
        let row: Option<(i64, String)> = sqlx::query_as(
            "UPDATE ui_sessions SET last_seen_at = now(), \
                    expires_at = now() + make_interval(days => $2) \
             WHERE digest = $1 AND expires_at > now() RETURNING user_id, csrf",
        )
        .bind(key_digest(id))
        .bind(SESSION_DAYS)
        .fetch_optional(self.pool())
        .await?;
        let Some((user_id, csrf)) = row else {
            return Ok(None);
        };
        Ok(self.by_id(user_id).await?.map(|u| (u, csrf)))
    }

    /// Ends a session (signing out); unknown ids are ignored.
    pub async fn close_session(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM ui_sessions WHERE digest = $1 OR expires_at < now()")
            .bind(key_digest(id))
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
