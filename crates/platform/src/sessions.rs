//! Web UI sessions, opened by signing in with an API token.
//!
//! The session id (the cookie's value) is 128 random bits shown once, to the browser; the
//! database keeps its SHA-256, as for tokens. Each session has its own CSRF token, which
//! the UI sends back in a header on state-changing requests. Sessions last
//! [`SESSION_DAYS`] days from their last use.

use crate::error::{PlatformError, Result};
use crate::people::{random_secret, People, User};
use slipway_secrets::key_digest;

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

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Whether `password` is long enough; `Invalid` with the sentence to show otherwise.
pub fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PlatformError::Invalid(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PlatformError::Invalid(format!("cannot hash this password: {e}")))
}

/// An Argon2id hash of a random password with the default cost, made once: what an unknown
/// login's password is checked against.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        hash_password(&crate::people::random_secret()).unwrap_or_else(|_| {
            // Unreachable with a random ASCII password; an unparsable hash only skips the work.
            String::new()
        })
    })
}

fn verify_password(stored: &str, password: &str) -> bool {
    use argon2::password_hash::phc::PasswordHash;
    use argon2::password_hash::PasswordVerifier;
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

impl People {
    /// Sets (or replaces) the password of `login` (Argon2id; only the hash is stored) and ends
    /// every web session of theirs but `keep` (the session that changed it, if theirs): a
    /// password changed because it leaked must shut out whoever used it.
    pub async fn set_password(
        &self,
        login: &str,
        password: &str,
        keep: Option<&str>,
    ) -> Result<()> {
        check_password(password)?;
        let owned = password.to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&owned))
            .await
            .map_err(|e| PlatformError::Invalid(format!("hashing failed: {e}")))??;
        let mut tx = self.pool().begin().await?;
        let user: Option<(i64,)> =
            sqlx::query_as("UPDATE users SET password_hash = $2 WHERE login = $1 RETURNING id")
                .bind(login)
                .bind(hash)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((user_id,)) = user else {
            return Err(PlatformError::NotFound(format!(
                "no user with login {login:?}"
            )));
        };
        sqlx::query("DELETE FROM ui_sessions WHERE user_id = $1 AND digest IS DISTINCT FROM $2")
            .bind(user_id)
            .bind(keep.map(key_digest))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user whose login and password these are, if any (a user without a password
    /// never matches).
    pub async fn authenticate_password(&self, login: &str, password: &str) -> Result<Option<User>> {
        let row: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT id, password_hash FROM users WHERE login = $1")
                .bind(login)
                .fetch_optional(self.pool())
                .await?;
        // An unknown login (or one without a password) is checked against a hash of the same
        // cost all the same, so the answer takes as long and does not tell which logins exist.
        let (id, stored) = match row {
            Some((id, Some(stored))) => (Some(id), Some(stored)),
            _ => (None, None),
        };
        let given = password.to_string();
        let ok = tokio::task::spawn_blocking(move || match &stored {
            Some(stored) => verify_password(stored, &given),
            None => verify_password(decoy_hash(), &given),
        })
        .await
        .unwrap_or(false);
        match id {
            Some(id) if ok => self.by_id(id).await,
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_stored_as_argon2id_and_verified() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse batterY"));
        assert!(!verify_password("not a hash", "x"));
    }

    #[test]
    fn an_unknown_login_costs_a_verification_of_the_same_cost() {
        use argon2::password_hash::phc::PasswordHash;
        let real = hash_password("correct horse battery").unwrap();
        let decoy = PasswordHash::new(decoy_hash()).expect("the decoy is a real hash");
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(decoy.algorithm, real.algorithm);
        assert_eq!(decoy.params, real.params);
        assert!(!verify_password(decoy_hash(), ""));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_password("short").is_err());
        assert!(check_password("ten chars!").is_ok());
    }
}
