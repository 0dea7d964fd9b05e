//! Per-build SMTP credentials, derived from one server secret so nothing per build is stored.
//!
//! Build `<id>` logs in as `build-<id>` with the first 32 hex digits of
//! `HMAC-SHA256(secret, "smtp:build:<id>")`. Whoever knows a build's password can only post
//! mail into that build's mailbox; the secret never leaves the server.

use std::path::Path;
use std::sync::Arc;

use slipway_secrets::derived_password;
pub use slipway_secrets::SECRET_LEN;
use subtle::ConstantTimeEq;

use crate::error::{MailError, Result};

/// The SMTP login of one build, as written into its `odoo.conf`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpLogin {
    /// `build-<id>`.
    pub user: String,
    /// 32 lowercase hex digits.
    pub password: String,
}

impl std::fmt::Debug for SmtpLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpLogin")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Derives and checks the SMTP credentials of builds.
#[derive(Clone)]
pub struct BuildCredentials {
    secret: Arc<[u8; SECRET_LEN]>,
}

impl std::fmt::Debug for BuildCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BuildCredentials(<secret>)")
    }
}

impl BuildCredentials {
    /// Credentials derived from `secret` (see [`load_or_create_secret`]).
    pub fn new(secret: [u8; SECRET_LEN]) -> Self {
        Self {
            secret: Arc::new(secret),
        }
    }

    /// The login build `build_id` uses.
    pub fn credentials_for(&self, build_id: i64) -> SmtpLogin {
        SmtpLogin {
            user: format!("build-{build_id}"),
            password: self.password(build_id),
        }
    }

    /// The build a login belongs to, or `None` when the user is not `build-<id>` or the
    /// password is wrong. The password is compared in constant time.
    pub fn authenticate(&self, user: &str, password: &str) -> Option<i64> {
        let build_id = parse_user(user)?;
        let expected = self.password(build_id);
        bool::from(expected.as_bytes().ct_eq(password.as_bytes())).then_some(build_id)
    }

    fn password(&self, build_id: i64) -> String {
        // HMAC accepts keys of any length: `new_from_slice` cannot fail.
        derived_password(&self.secret, &format!("smtp:build:{build_id}"))
    }
}

/// `build-<id>` with `<id>` a positive decimal number without sign or leading zero.
fn parse_user(user: &str) -> Option<i64> {
    let digits = user.strip_prefix("build-")?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    canonical.then(|| digits.parse().ok()).flatten()
}

/// Reads the secret at `path`, or creates it (32 random bytes, mode 0600, parent folders
/// created) when it does not exist. Two processes creating it at once agree on one secret.
pub fn load_or_create_secret(path: &Path) -> Result<[u8; SECRET_LEN]> {
    slipway_secrets::load_or_create_secret(path).map_err(MailError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn credentials() -> BuildCredentials {
        BuildCredentials::new([7; SECRET_LEN])
    }

    #[test]
    fn a_builds_own_login_authenticates_as_that_build() {
        let creds = credentials();
        let login = creds.credentials_for(42);
        assert_eq!(login.user, "build-42");
        assert_eq!(login.password.len(), 32);
        assert!(login.password.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(creds.authenticate(&login.user, &login.password), Some(42));
    }

    #[test]
    fn another_builds_password_or_another_secret_is_refused() {
        let creds = credentials();
        let other = creds.credentials_for(43);
        assert_eq!(creds.authenticate("build-42", &other.password), None);
        let foreign = BuildCredentials::new([8; SECRET_LEN]).credentials_for(42);
        assert_eq!(creds.authenticate("build-42", &foreign.password), None);
        assert_eq!(creds.authenticate("build-42", ""), None);
    }

    #[test]
    fn only_canonical_user_names_are_accepted() {
        let creds = credentials();
        let password = creds.credentials_for(42).password;
        for user in [
            "build-042",
            "build-+42",
            "build-",
            "Build-42",
            "42",
            "build-42 ",
            "build--42",
        ] {
            assert_eq!(creds.authenticate(user, &password), None, "{user}");
        }
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let login = credentials().credentials_for(1);
        assert!(!format!("{login:?}").contains(&login.password));
        assert!(!format!("{:?}", credentials()).contains('7'));
    }

    #[test]
    fn the_secret_is_created_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smtp/secret");
        let first = load_or_create_secret(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create_secret(&path).unwrap(), first);
    }

    #[test]
    fn a_secret_of_the_wrong_length_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, b"short").unwrap();
        let error = load_or_create_secret(&path).unwrap_err().to_string();
        assert!(
            error.contains("secret") && error.contains("holds 5 bytes"),
            "{error}"
        );
    }
}
