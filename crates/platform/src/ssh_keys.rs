//! People's SSH public keys, which log them in to builds over SSH (`ssh <build>@host`).
//!
//! A key is one OpenSSH public key line (`<algorithm> <base64> [comment]`, as in
//! `~/.ssh/id_ed25519.pub`), checked by parsing it; anything else is refused with a sentence
//! naming what was wrong. A key belongs to one person: its SHA-256 fingerprint, as
//! `ssh-keygen -l` prints it, is unique, so a login by key finds exactly one user.

use chrono::{DateTime, Utc};
use russh::keys::ssh_key::HashAlg;
use russh::keys::PublicKey;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::builds::{Build, BuildState};
use crate::error::{PlatformError, Result};
use crate::people::User;
use crate::service::Platform;

/// A registered public key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct SshKey {
    /// Id.
    pub id: i64,
    /// Its owner.
    pub user_id: i64,
    /// What its owner calls it (the key's comment when they gave no name).
    pub name: String,
    /// `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`...
    pub algorithm: String,
    /// `SHA256:<base64>`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The public key line.
    pub public_key: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last opened an SSH session.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Why a text is not a public key Slipway accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    /// Nothing was sent.
    #[error("the public key is empty; send the content of your ~/.ssh/id_ed25519.pub")]
    Empty,
    /// More than one key line.
    #[error("the text holds {0} lines; add one public key at a time")]
    SeveralLines(usize),
    /// A private key was sent.
    #[error(
        "this is a PRIVATE key: keep it secret (and consider it leaked); send the .pub file \
         next to it instead"
    )]
    PrivateKey,
    /// `command="..."`, `from=...` and the like before the key.
    #[error("authorized_keys options before the key (such as command= or from=) are not supported; send the key alone")]
    Options,
    /// Anything else.
    #[error(
        "not an OpenSSH public key ({0}); send a line such as \"ssh-ed25519 AAAA... you@laptop\""
    )]
    NotAKey(String),
}

/// Parses one OpenSSH public key line (surrounding blank space and lines allowed).
pub fn parse_public_key(text: &str) -> std::result::Result<PublicKey, KeyProblem> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = match lines.as_slice() {
        [] => return Err(KeyProblem::Empty),
        [line] => *line,
        [first, ..] if first.starts_with("-----BEGIN") => return Err(KeyProblem::PrivateKey),
        _ => return Err(KeyProblem::SeveralLines(lines.len())),
    };
    if line.starts_with("-----BEGIN") {
        return Err(KeyProblem::PrivateKey);
    }
    match PublicKey::from_openssh(line) {
        Ok(key) => Ok(key),
        Err(_) if has_options(line) => Err(KeyProblem::Options),
        Err(e) => Err(KeyProblem::NotAKey(e.to_string())),
    }
}

/// Whether a public key follows something else on the line (authorized_keys options).
fn has_options(line: &str) -> bool {
    line.char_indices()
        .filter(|(_, c)| c.is_whitespace())
        .any(|(at, _)| PublicKey::from_openssh(line[at..].trim_start()).is_ok())
}

/// A key's SHA-256 fingerprint as OpenSSH prints it (`SHA256:<base64 without padding>`).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

const KEY_COLUMNS: &str =
    "id, user_id, name, algorithm, fingerprint, public_key, created_at, last_used_at";

/// The keys in the metadata database.
#[derive(Debug, Clone)]
pub struct SshKeys {
    pool: PgPool,
}

impl SshKeys {
    /// The store behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// A user's keys, oldest first.
    pub async fn of_user(&self, user_id: i64) -> Result<Vec<SshKey>> {
        let keys = sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM ssh_keys WHERE user_id = $1 ORDER BY id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(keys)
    }

    /// Registers `public_key` (one OpenSSH line) for `user_id`, named `name` (the key's
    /// comment, else its algorithm, when empty). Invalid when it is not one public key,
    /// Conflict when that key (same fingerprint) is registered already, by anyone.
    pub async fn add(&self, user_id: i64, name: &str, public_key: &str) -> Result<SshKey> {
        let key =
            parse_public_key(public_key).map_err(|p| PlatformError::Invalid(p.to_string()))?;
        let comment = key.comment().as_str_lossy().trim();
        let name = match name.trim() {
            "" if !comment.is_empty() => comment.to_string(),
            "" => format!("{} key", key.algorithm().as_str()),
            given => given.to_string(),
        };
        let fingerprint = fingerprint(&key);
        let line = key
            .to_openssh()
            .map_err(|e| PlatformError::Invalid(format!("cannot write the key back: {e}")))?;
        let added: Option<SshKey> = sqlx::query_as(&format!(
            "INSERT INTO ssh_keys (user_id, name, algorithm, fingerprint, public_key) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (fingerprint) DO NOTHING \
             RETURNING {KEY_COLUMNS}"
        ))
        .bind(user_id)
        .bind(&name)
        .bind(key.algorithm().as_str())
        .bind(&fingerprint)
        .bind(&line)
        .fetch_optional(&self.pool)
        .await?;
        added.ok_or_else(|| {
            PlatformError::Conflict(format!(
                "the key {fingerprint} is registered already; each key belongs to one person"
            ))
        })
    }

    /// Removes key `id` of `user_id`; NotFound when they have no such key.
    pub async fn remove(&self, user_id: i64, id: i64) -> Result<()> {
        let removed = sqlx::query("DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if removed == 0 {
            return Err(PlatformError::NotFound(format!(
                "you have no SSH key #{id}"
            )));
        }
        Ok(())
    }

    /// The user `key` belongs to, if it is registered.
    pub async fn owner(&self, key: &PublicKey) -> Result<Option<User>> {
        let user = sqlx::query_as(
            "SELECT u.id, u.login, u.name, u.email, u.is_admin, u.created_at \
             FROM ssh_keys k JOIN users u ON u.id = k.user_id WHERE k.fingerprint = $1",
        )
        .bind(fingerprint(key))
        .fetch_optional(&self.pool)
        .await?;
        Ok(user)
    }

    /// Notes that `key` just opened a session.
    pub async fn touch(&self, key: &PublicKey) -> Result<()> {
        sqlx::query("UPDATE ssh_keys SET last_used_at = now() WHERE fingerprint = $1")
            .bind(fingerprint(key))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl Platform {
    /// Who logs in to build `build_name` with `key`, and the build: the key's owner when they
    /// may open a shell there ([`Platform::may_open_shell`]) and it is running. `None` for
    /// an unknown key, an unknown build, a missing right or a build not running alike, so
    /// that a refusal tells nobody which builds exist.
    pub async fn ssh_login(
        &self,
        key: &PublicKey,
        build_name: &str,
    ) -> Result<Option<(User, Build)>> {
        let Some(user) = self.ssh_keys.owner(key).await? else {
            return Ok(None);
        };
        let Some(build) = self.builds.by_name(build_name).await? else {
            return Ok(None);
        };
        if build.state != BuildState::Running || !self.may_open_shell(&user, &build).await? {
            return Ok(None);
        }
        Ok(Some((user, build)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH4A75NwZI6tg5Vnq/1Y0Bak0CyuNAS0hZAHzkJh0/9V";

    #[test]
    fn one_key_line_is_accepted_with_blank_space_around() {
        let key = parse_public_key(&format!("\n  {ED25519} ana@laptop \n\n")).unwrap();
        assert_eq!(key.comment().as_str_lossy(), "ana@laptop");
        assert!(fingerprint(&key).starts_with("SHA256:"));
        assert!(
            !fingerprint(&key).ends_with('='),
            "OpenSSH prints no padding"
        );
    }

    #[test]
    fn anything_else_is_refused_saying_what_it_is() {
        for (text, problem) in [
            ("  \n", KeyProblem::Empty),
            (
                &format!("{ED25519}\n{ED25519}") as &str,
                KeyProblem::SeveralLines(2),
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----",
                KeyProblem::PrivateKey,
            ),
            (
                &format!("command=\"/bin/sh\" {ED25519}"),
                KeyProblem::Options,
            ),
        ] {
            assert_eq!(parse_public_key(text).unwrap_err(), problem, "{text}");
        }
        let garbage = parse_public_key("ssh-ed25519 AAAA-not-base64").unwrap_err();
        assert!(matches!(garbage, KeyProblem::NotAKey(_)), "{garbage}");
        assert!(garbage.to_string().contains("not an OpenSSH public key"));
    }
}
