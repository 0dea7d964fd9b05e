//! Users, sign-in, passwords and SSH keys: `/api/me`, `/api/me/keys`, `/api/users`, `/api/session`,
//! `/api/users/{login}/password`.

use serde::{Deserialize, Serialize};

/// A user as every route shows one (`GET /api/me`, `GET /api/users`...).
pub use slipway_platform::people::User;

/// `POST /api/users`: a new user (Slipway admins only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUserRequest {
    /// Login: lowercase letters, digits, `.`, `_`, `-`.
    pub login: String,
    /// Display name (the login when empty).
    #[serde(default)]
    pub name: String,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether they administer Slipway itself.
    #[serde(default)]
    pub admin: bool,
}

/// The answer to `POST /api/users`: the user and their first API token, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedUser {
    /// The user.
    pub user: User,
    /// Their token (`slw_...`).
    pub token: String,
}

/// `POST /api/session`: a token, or a login and a password.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    /// An API token.
    #[serde(default)]
    pub token: Option<String>,
    /// A login, with `password`.
    #[serde(default)]
    pub login: Option<String>,
    /// The password of `login`.
    #[serde(default)]
    pub password: Option<String>,
}

/// The answer to `POST /api/session` and `GET /api/session`: who is signed in, and the CSRF
/// token the web UI echoes in `X-Slipway-CSRF`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The user.
    pub user: User,
    /// The session's CSRF token.
    pub csrf: String,
    /// Set when builds' code does not run in a sandbox (`serve --no-sandbox`) or cannot
    /// (what is missing): the UI shows it as a warning on every page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_warning: Option<String>,
}

/// `PUT /api/users/{login}/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChange {
    /// The new password (at least 10 characters).
    pub password: String,
}

/// One of the caller's API tokens, without its secret (`GET /api/me/tokens`).
pub use slipway_platform::tokens::ApiToken;

/// `POST /api/me/tokens`: a new token for the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    /// What it is for (`ci`, `laptop`).
    #[serde(default)]
    pub label: String,
    /// Days it lives (1 to 3650); it never expires when left out.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// The answer to `POST /api/me/tokens`: the token, and its secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedToken {
    /// The token.
    pub token: ApiToken,
    /// Its secret (`slw_...`), for `Authorization: Bearer`.
    pub secret: String,
}

/// A registered SSH public key (`GET /api/me/keys`).
pub use slipway_platform::ssh_keys::SshKey;

/// `POST /api/me/keys`: a public key to log in to builds over SSH with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSshKey {
    /// What to call it (the key's comment when empty).
    #[serde(default)]
    pub name: String,
    /// One OpenSSH public key line, as in `~/.ssh/id_ed25519.pub`.
    pub public_key: String,
}
