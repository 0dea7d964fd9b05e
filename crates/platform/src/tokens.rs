//! A user's API tokens: made with a label and an optional expiry, listed with their last use,
//! revoked at once. The secret is shown once, at creation; only its SHA-256 is kept
//! ([`People::authenticate`] compares digests, and refuses revoked and expired tokens).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use slipway_secrets::key_digest;

use crate::error::{PlatformError, Result};
use crate::people::{generate_token, People};

/// The longest label a token may have.
const MAX_LABEL_CHARS: usize = 100;

/// The longest lifetime a token may be given, in days (ten years).
pub const MAX_TOKEN_DAYS: u32 = 3650;

/// One of a user's tokens, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ApiToken {
    /// Id (what `revoke` takes).
    pub id: i64,
    /// What it is for (`ci`, `laptop`); the first token of a user is `first`.
    pub label: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last authenticated a request (to the minute); never when `None`.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working; never when `None`.
    pub expires_at: Option<DateTime<Utc>>,
}

/// When a token made now with a lifetime of `days` expires: `None` for no expiry, an error
/// for a lifetime of 0 or past [`MAX_TOKEN_DAYS`].
pub fn expiry(now: DateTime<Utc>, days: Option<u32>) -> Result<Option<DateTime<Utc>>> {
    match days {
        None => Ok(None),
        Some(0) => Err(PlatformError::Invalid(
            "a token must live at least one day; leave the expiry out for a token that does not expire"
                .into(),
        )),
        Some(days) if days > MAX_TOKEN_DAYS => Err(PlatformError::Invalid(format!(
            "a token lives at most {MAX_TOKEN_DAYS} days; leave the expiry out for a token that does not expire"
        ))),
        Some(days) => Ok(Some(now + Duration::days(i64::from(days)))),
    }
}

fn check_label(label: &str) -> Result<()> {
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
        return Err(PlatformError::Invalid(format!(
            "a token's label is at most {MAX_LABEL_CHARS} characters, without control characters"
        )));
    }
    Ok(())
}

const TOKEN_COLUMNS: &str = "id, label, created_at, last_used_at, expires_at";

impl People {
    /// Makes a token for `user_id`, living `days` days (for ever when `None`); returns it and
    /// its secret, in clear this once.
    pub async fn create_token(
        &self,
        user_id: i64,
        label: &str,
        days: Option<u32>,
    ) -> Result<(ApiToken, String)> {
        check_label(label)?;
        let expires_at = expiry(Utc::now(), days)?;
        let secret = generate_token();
        let token = sqlx::query_as(&format!(
            "INSERT INTO api_tokens (user_id, label, digest, expires_at) VALUES ($1, $2, $3, $4) \
             RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(user_id)
        .bind(label)
        .bind(key_digest(&secret))
        .bind(expires_at)
        .fetch_one(self.pool())
        .await?;
        Ok((token, secret))
    }

    /// The live tokens of `user_id` (not revoked; expired ones included, to be seen and
    /// revoked), oldest first.
    pub async fn tokens(&self, user_id: i64) -> Result<Vec<ApiToken>> {
        let tokens = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL \
             ORDER BY id"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        Ok(tokens)
    }

    /// Revokes token `id` of `user_id`: the next request with it is refused. A token of
    /// someone else, or one revoked already, is not found.
    pub async fn revoke_token(&self, user_id: i64, id: i64) -> Result<()> {
        let revoked = sqlx::query(
            "UPDATE api_tokens SET revoked_at = now() \
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(user_id)
        .execute(self.pool())
        .await?;
        if revoked.rows_affected() == 0 {
            return Err(PlatformError::NotFound(format!(
                "you have no token #{id} (see `slipway token list`)"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_are_counted_in_days_within_bounds() {
        let now = Utc::now();
        assert_eq!(expiry(now, None).unwrap(), None);
        assert_eq!(
            expiry(now, Some(30)).unwrap(),
            Some(now + Duration::days(30))
        );
        assert!(expiry(now, Some(0)).is_err());
        assert!(expiry(now, Some(MAX_TOKEN_DAYS + 1)).is_err());
    }

    #[test]
    fn labels_are_short_lines() {
        assert!(check_label("ci").is_ok());
        assert!(check_label("").is_ok());
        assert!(check_label("a\nb").is_err());
        assert!(check_label(&"x".repeat(MAX_LABEL_CHARS + 1)).is_err());
    }
}
