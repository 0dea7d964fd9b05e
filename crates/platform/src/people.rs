//! Users and their API tokens.
//!
//! A token is shown once, when created; the database keeps only its SHA-256, so a leaked
//! metadata database leaks no usable token. Tokens look like `slw_<32 base64url chars>` so
//! that secret scanners and people recognise them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::error::{PlatformError, Result};
use slipway_secrets::key_digest;

/// A person (or a robot) using Slipway.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Login: lowercase letters, digits, `.`, `_`, `-`.
    pub login: String,
    /// Display name.
    pub name: String,
    /// Email, if given.
    pub email: Option<String>,
    /// Whether the user administers Slipway itself (runtimes, users).
    pub is_admin: bool,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

/// What a new user needs.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login.
    pub login: String,
    /// Display name (the login when empty).
    pub name: String,
    /// Email.
    pub email: Option<String>,
    /// Administrator of Slipway.
    pub is_admin: bool,
}

/// Users and tokens in the metadata database.
#[derive(Debug, Clone)]
pub struct People {
    pool: PgPool,
}

const USER_COLUMNS: &str = "id, login, name, email, is_admin, created_at";

/// Whether `login` is acceptable: what the `users.login` CHECK constraint says, checked first
/// so that the user gets a sentence instead of a constraint name.
pub fn valid_login(login: &str) -> bool {
    let mut chars = login.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && login.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// A new random token.
pub(crate) fn generate_token() -> String {
    format!("slw_{}", random_secret())
}

/// 128 random bits, URL-safe (for tokens, tickets, passwords).
pub fn random_secret() -> String {
    slipway_secrets::generate_key()
        .trim_end_matches('=')
        .to_string()
}

impl People {
    /// The store behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// One user by id.
    pub async fn by_id(&self, id: i64) -> Result<Option<User>> {
        let user = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(user)
    }

    /// One user by login.
    pub async fn by_login(&self, login: &str) -> Result<Option<User>> {
        let user = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE login = $1"
        ))
        .bind(login)
        .fetch_optional(&self.pool)
        .await?;
        Ok(user)
    }

    /// How many users exist (the first `serve` creates one when there are none).
    pub async fn count(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// Creates a user and a first token for them; returns both (the token in clear, once).
    pub async fn create(&self, new: &NewUser) -> Result<(User, String)> {
        if !valid_login(&new.login) {
            return Err(PlatformError::Invalid(format!(
                "login {:?} is not allowed: use lowercase letters, digits, '.', '_' or '-' (at most 63, starting with a letter or digit)",
                new.login
            )));
        }
        let name = if new.name.is_empty() {
            &new.login
        } else {
            &new.name
        };
        let mut tx = self.pool.begin().await?;
        let user: Option<User> = sqlx::query_as(&format!(
            "INSERT INTO users (login, name, email, is_admin) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (login) DO NOTHING RETURNING {USER_COLUMNS}"
        ))
        .bind(&new.login)
        .bind(name)
        .bind(&new.email)
        .bind(new.is_admin)
        .fetch_optional(&mut *tx)
        .await?;
        let user = user.ok_or_else(|| {
            PlatformError::Conflict(format!("a user with login {:?} exists already", new.login))
        })?;
        let token = generate_token();
        sqlx::query("INSERT INTO api_tokens (user_id, label, digest) VALUES ($1, 'first', $2)")
            .bind(user.id)
            .bind(key_digest(&token))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((user, token))
    }

    /// The user a token belongs to, if it is a live token. The lookup is by the token's
    /// SHA-256: what is compared is a digest, so timing says nothing about the token.
    pub async fn authenticate(&self, token: &str) -> Result<Option<User>> {
        if !token.starts_with("slw_") {
            return Ok(None);
        }
        // `last_used_at` is written at most once a minute per token: every API call and UI
        // poll authenticates, and a row write on each would be WAL and dead tuples for a
        // timestamp nobody reads to the second.
        let user = sqlx::query_as(&format!(
            "WITH token AS (SELECT id, user_id, last_used_at FROM api_tokens \
                            WHERE digest = $1 AND revoked_at IS NULL \
                            AND (expires_at IS NULL OR expires_at > now())), \
                  touched AS (UPDATE api_tokens SET last_used_at = now() \
                              WHERE id = (SELECT id FROM token WHERE last_used_at IS NULL \
                                          OR last_used_at < now() - interval '1 minute')) \
             SELECT {USER_COLUMNS} FROM users WHERE id = (SELECT user_id FROM token)"
        ))
        .bind(key_digest(token))
        .fetch_optional(&self.pool)
        .await?;
        Ok(user)
    }

    /// Every user.
    pub async fn list(&self) -> Result<Vec<User>> {
        let users = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY login"))
            .fetch_all(&self.pool)
            .await?;
        Ok(users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_simple_lowercase_words() {
        assert!(valid_login("admin"));
        assert!(valid_login("jane.doe-2"));
        assert!(!valid_login(""));
        assert!(!valid_login("Admin"));
        assert!(!valid_login("-x"));
        assert!(!valid_login("a b"));
        assert!(!valid_login(&"a".repeat(64)));
    }

    #[test]
    fn tokens_are_prefixed_and_random() {
        let (a, b) = (generate_token(), generate_token());
        assert!(a.starts_with("slw_") && a.len() == 26, "{a}");
        assert_ne!(a, b);
    }
}
