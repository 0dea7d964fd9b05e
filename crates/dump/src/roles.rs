//! One owner role per database: its name, its password (derived, never stored), creating it,
//! dropping it with its database, and handing a copy's objects over to the copy's own role.

use std::path::Path;
use std::sync::Arc;

use slipway_secrets::SECRET_LEN;
use sqlx::PgPool;

use crate::db::ident;
use crate::error::{io_err, Result};

/// Every role Slipway makes for a database starts so; only such roles are dropped with their
/// database (never `odoo`, `postgres` or a role someone else made on an external server).
pub const ROLE_PREFIX: &str = "slipway_db_";

/// The secret every database role's password is derived from, kept in the data directory
/// (`pg-roles.key`, mode 0600): `HMAC-SHA256(secret, "pg-role:" + role)`, 32 hex digits.
#[derive(Clone)]
pub struct RoleKey {
    secret: Arc<[u8; SECRET_LEN]>,
}

impl std::fmt::Debug for RoleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoleKey(<secret>)")
    }
}

impl RoleKey {
    /// The file holding the secret in a data directory.
    pub const FILE: &'static str = "pg-roles.key";

    /// Reads the secret at `path`, or creates it (32 random bytes, mode 0600, parent folders
    /// created). Two processes creating it at once agree on one secret.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let secret = slipway_secrets::load_or_create_secret(path).map_err(io_err(path))?;
        Ok(Self::from_secret(secret))
    }

    fn from_secret(secret: [u8; SECRET_LEN]) -> Self {
        Self {
            secret: Arc::new(secret),
        }
    }

    /// The password of `role`.
    pub fn password(&self, role: &str) -> String {
        slipway_secrets::derived_password(&self.secret, &format!("pg-role:{role}"))
    }
}

/// A fresh role name, unrelated to any database name: a database keeps its role across the
/// renames that swap snapshots and restores into place.
pub(crate) fn new_role_name() -> String {
    let id: u64 = rand::random();
    format!("{ROLE_PREFIX}{id:016x}")
}

/// Creates `role` with the least a database owner needs: it logs in with its password and can
/// do nothing outside the databases it owns. (It inherits: PostgreSQL 15 gives the `public`
/// schema to `pg_database_owner`, whose rights a NOINHERIT owner would not have.) When the admin is not a superuser (an external
/// server's CREATEROLE role), it makes itself a member, as `CREATE DATABASE ... OWNER` asks.
pub(crate) async fn create_role(admin: &PgPool, key: &RoleKey, role: &str) -> Result<()> {
    let sql = format!(
        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS \
         PASSWORD '{}'",
        ident(role),
        key.password(role)
    );
    sqlx::query(&sql).execute(admin).await?;
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(admin)
            .await?;
    if !superuser {
        sqlx::query(&format!("GRANT {} TO CURRENT_USER", ident(role)))
            .execute(admin)
            .await?;
    }
    Ok(())
}

/// A new role for a new database: [`new_role_name`], created.
pub(crate) async fn make_role(admin: &PgPool, key: &RoleKey) -> Result<String> {
    let role = new_role_name();
    create_role(admin, key, &role).await?;
    Ok(role)
}

/// Drops `role` when it is one of Slipway's database roles and owns nothing any more. A role
/// still owning a database (two names swapped in flight) is kept, and so is any other role.
pub(crate) async fn drop_role_if_unused(admin: &PgPool, role: &str) -> Result<()> {
    if !role.starts_with(ROLE_PREFIX) {
        return Ok(());
    }
    let owns: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_database WHERE pg_get_userbyid(datdba) = $1)",
    )
    .bind(role)
    .fetch_one(admin)
    .await?;
    if owns {
        return Ok(());
    }
    match sqlx::query(&format!("DROP ROLE IF EXISTS {}", ident(role)))
        .execute(admin)
        .await
    {
        Ok(_) => Ok(()),
        // 2BP01: still referenced (a grant somewhere); keep it rather than fail the drop.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("2BP01") => {
            tracing::warn!(role, error = %e, "kept a database role still referenced elsewhere");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Only the owner (and the admin) may connect to `db`: `CONNECT` is revoked from `PUBLIC`.
pub(crate) async fn close_to_public(admin: &PgPool, db: &str) -> Result<()> {
    sqlx::query(&format!(
        "REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC",
        ident(db)
    ))
    .execute(admin)
    .await?;
    Ok(())
}

/// Gives every object of the copy `db` (connected to as admin by `in_copy`) owned by `from`
/// (the source's role) to `to` (the copy's role). `REASSIGN OWNED` also hands over what
/// `from` owns outside this database, the source DATABASE itself first: those are given back
/// in the same transaction, so nothing else changes owner, not even for a moment.
pub(crate) async fn hand_over(in_copy: &PgPool, db: &str, from: &str, to: &str) -> Result<()> {
    let mut tx = in_copy.begin().await?;
    let databases_of_from: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE pg_get_userbyid(datdba) = $1 AND datname <> $2",
    )
    .bind(from)
    .bind(db)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "REASSIGN OWNED BY {} TO {}",
        ident(from),
        ident(to)
    ))
    .execute(&mut *tx)
    .await?;
    for other in &databases_of_from {
        sqlx::query(&format!(
            "ALTER DATABASE {} OWNER TO {}",
            ident(other),
            ident(from)
        ))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn passwords_are_per_role_and_stable() {
        let key = RoleKey::from_secret([7; SECRET_LEN]);
        let a = key.password("slipway_db_a");
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, key.password("slipway_db_a"));
        assert_ne!(a, key.password("slipway_db_b"));
        assert_ne!(
            a,
            RoleKey::from_secret([8; SECRET_LEN]).password("slipway_db_a")
        );
    }

    #[test]
    fn role_names_are_fresh_and_marked() {
        let (a, b) = (new_role_name(), new_role_name());
        assert!(a.starts_with(ROLE_PREFIX));
        assert_ne!(a, b);
        assert!(a.len() < 63, "fits PostgreSQL's NAMEDATALEN");
    }

    #[test]
    fn the_secret_is_created_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(RoleKey::FILE);
        let first = RoleKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = RoleKey::load_or_create(&path).unwrap();
        assert_eq!(first.password("r"), again.password("r"));
        std::fs::write(&path, b"short").unwrap();
        let err = RoleKey::load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("5 bytes"), "{err}");
    }
}
