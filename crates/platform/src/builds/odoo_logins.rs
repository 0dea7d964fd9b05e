//! Logins into builds' Odoo that no one has to know: the key each build's `slipway_connect`
//! checks Connect's tokens with, and the administrator's password of production databases
//! Slipway creates.
//!
//! Both derive from one server secret (`<data-dir>/odoo-logins.key`, made on first use) and
//! are never stored: a build's key is written into its odoo.conf at each start; production's
//! password is set, hashed, in the new database, and shown again to the project's admins by
//! deriving it once more. Deriving rather than storing it encrypted keeps nothing new in the
//! metadata database (nor in its backups) and needs no key management beyond the file the
//! database roles already rely on the same way; the price is that it cannot be rotated by
//! Slipway (an admin changes it in Odoo, and then Slipway's copy is stale: the answer says
//! so).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use slipway_secrets::{derived_password, load_or_create_secret, SECRET_LEN};

use crate::error::{PlatformError, Result};

/// The secret builds' Connect keys and production's admin passwords derive from.
#[derive(Clone)]
pub struct OdooLogins {
    path: PathBuf,
    secret: Arc<OnceLock<[u8; SECRET_LEN]>>,
}

impl std::fmt::Debug for OdooLogins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OdooLogins({})", self.path.display())
    }
}

impl OdooLogins {
    /// Logins derived from the secret at `path`, read (or made) on first use.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            secret: Arc::default(),
        }
    }

    fn secret(&self) -> Result<[u8; SECRET_LEN]> {
        if let Some(secret) = self.secret.get() {
            return Ok(*secret);
        }
        let loaded = load_or_create_secret(&self.path).map_err(|source| PlatformError::Io {
            context: format!("reading the secret of Odoo logins {}", self.path.display()),
            source,
        })?;
        Ok(*self.secret.get_or_init(|| loaded))
    }

    /// The key build `build_id`'s `slipway_connect` checks Connect's tokens with.
    pub fn connect_key(&self, build_id: i64) -> Result<String> {
        Ok(derived_password(
            &self.secret()?,
            &format!("odoo-connect:build:{build_id}"),
        ))
    }

    /// The password of the administrator (`base.user_admin`) of the production database
    /// Slipway creates for project `project_id` (its staging copies have it too).
    pub fn production_admin_password(&self, project_id: i64) -> Result<String> {
        Ok(derived_password(
            &self.secret()?,
            &format!("odoo-admin:project:{project_id}"),
        ))
    }
}

/// Sets the password of `base.user_admin` (uid 2 where that record is missing) to `hash`
/// (Odoo's stored format): the SQL, run as the database's own role.
pub(super) fn set_admin_password_sql(hash: &str) -> String {
    // The hash is passlib's format: `$`, digits, letters, `.` and `/` only.
    debug_assert!(hash
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "$./-".contains(c)));
    format!(
        "UPDATE res_users SET password = '{hash}' WHERE id = COALESCE((SELECT res_id FROM \
         ir_model_data WHERE module = 'base' AND name = 'user_admin' AND model = 'res.users'), 2)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_passwords_are_derived_apart_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let logins = OdooLogins::new(dir.path().join("odoo-logins.key"));
        let key = logins.connect_key(7).unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(key, logins.connect_key(8).unwrap());
        let password = logins.production_admin_password(7).unwrap();
        assert_ne!(password, key);
        assert_ne!(password, "admin");
        let again = OdooLogins::new(dir.path().join("odoo-logins.key"));
        assert_eq!(again.production_admin_password(7).unwrap(), password);
        assert_eq!(again.connect_key(7).unwrap(), key);
        let elsewhere = tempfile::tempdir().unwrap();
        let other = OdooLogins::new(elsewhere.path().join("odoo-logins.key"));
        assert_ne!(other.production_admin_password(7).unwrap(), password);
    }
}
