//! Talking to PostgreSQL: the unprivileged owner role, creating and
//! dropping databases, and connections as that role.

use std::path::PathBuf;

use slipway_pg::{Binaries, Server};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;

use crate::error::{DumpError, Result};

/// Where databases and their filestores live, and who owns them.
#[derive(Debug, Clone)]
pub struct Target {
    /// The PostgreSQL server (administered as its superuser-ish role).
    pub server: Server,
    /// PostgreSQL client programs (`psql`, `pg_dump`, `pg_restore`).
    pub binaries: Binaries,
    /// Data directory: filestores go to `<data_dir>/filestore/<db>/`.
    pub data_dir: PathBuf,
    /// The unprivileged role that owns restored databases and replays
    /// dumps. Created (LOGIN, nothing else) when missing.
    pub owner: String,
    /// Its password, for servers reached over TCP with password
    /// authentication; the embedded cluster's socket needs none.
    pub owner_password: Option<String>,
}

impl Target {
    /// The filestore directory of database `db`.
    pub fn filestore(&self, db: &str) -> PathBuf {
        self.data_dir.join("filestore").join(db)
    }

    /// A libpq/sqlx URL to `db` as `role` instead of the admin role.
    pub fn url_as(&self, db: &str, role: &str) -> String {
        with_user(
            &self.server.url(db),
            role,
            self.owner_password
                .as_deref()
                .filter(|_| role == self.owner),
        )
    }

    /// Drops database `db` (closing its connections) and its filestore; what is missing
    /// already is fine.
    pub async fn drop_database(&self, db: &str) -> Result<()> {
        let admin = self.admin().await?;
        let dropped = drop_database(&admin, db).await;
        admin.close().await;
        dropped?;
        let filestore = self.filestore(db);
        match std::fs::remove_dir_all(&filestore) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(crate::error::io_err(filestore)(e))
            }
            _ => Ok(()),
        }
    }

    /// Closes every session on `db` and waits until they are gone. For a database whose
    /// server was just stopped: its backends can outlive the process by a moment, and a
    /// template copy refuses a database anyone is connected to.
    pub async fn close_connections(&self, db: &str) -> Result<()> {
        let admin = self.admin().await?;
        let closed = sqlx::query(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(db)
        .execute(&admin)
        .await;
        admin.close().await;
        closed?;
        Ok(())
    }

    /// Creates an empty database `db` owned by the owner role (created when missing), for
    /// Odoo to install into; refused when it exists.
    pub async fn create_empty_database(&self, db: &str) -> Result<()> {
        let admin = self.admin().await?;
        let created = async {
            ensure_owner_role(&admin, &self.owner, self.owner_password.as_deref()).await?;
            if database_exists(&admin, db).await? {
                return Err(DumpError::DatabaseExists(db.to_string()));
            }
            create_database(&admin, db, &self.owner).await
        }
        .await;
        admin.close().await;
        created
    }

    /// Renames database `from` (closing its connections) and its filestore to `to`: the
    /// swap that puts a snapshot back in place without copying anything.
    pub async fn rename_database(&self, from: &str, to: &str) -> Result<()> {
        self.rename_database_only(from, to).await?;
        let (old, new) = (self.filestore(from), self.filestore(to));
        if old.exists() {
            if new.exists() {
                std::fs::remove_dir_all(&new).map_err(crate::error::io_err(new.clone()))?;
            }
            std::fs::rename(&old, &new).map_err(crate::error::io_err(old))?;
        }
        Ok(())
    }

    /// Renames database `from` to `to` (closing its connections; refused when `to` exists)
    /// and leaves every filestore alone: for callers whose files live elsewhere than
    /// [`Target::filestore`] and are moved by them (a backup restore swapping folders).
    /// Whatever fails, `from` is open to connections again afterwards.
    pub async fn rename_database_only(&self, from: &str, to: &str) -> Result<()> {
        let admin = self.admin().await?;
        let renamed = async {
            if database_exists(&admin, to).await? {
                return Err(DumpError::DatabaseExists(to.to_string()));
            }
            sqlx::query(&format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
                ident(from)
            ))
            .execute(&admin)
            .await?;
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(from)
            .execute(&admin)
            .await?;
            sqlx::query(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                ident(from),
                ident(to)
            ))
            .execute(&admin)
            .await?;
            sqlx::query(&format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
                ident(to)
            ))
            .execute(&admin)
            .await?;
            Ok(())
        }
        .await;
        if renamed.is_err() {
            // Whatever failed, `from` must not stay closed to connections.
            let reopen = format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true", ident(from));
            let _ = sqlx::query(&reopen).execute(&admin).await;
        }
        admin.close().await;
        renamed
    }

    /// Runs `sql` on database `db` as the owner role (for small fix-ups Slipway makes to the
    /// databases it manages).
    pub async fn execute_as_owner(&self, db: &str, sql: &str) -> Result<u64> {
        let pool = self.as_owner(db).await?;
        let done = sqlx::query(sql).execute(&pool).await;
        pool.close().await;
        Ok(done?.rows_affected())
    }

    /// Whether database `db` exists.
    pub async fn database_exists(&self, db: &str) -> Result<bool> {
        let admin = self.admin().await?;
        let exists = database_exists(&admin, db).await;
        admin.close().await;
        exists
    }

    /// The role owning database `db` ([`DumpError::NoDatabase`] when there is no such
    /// database): the role to act as on a database Slipway did not create.
    pub async fn database_owner(&self, db: &str) -> Result<String> {
        let admin = self.admin().await?;
        let owner = database_owner(&admin, db).await;
        admin.close().await;
        owner
    }

    /// A small connection pool to `db` as `role` (the owner role's password used when `role`
    /// is it). For work on a database as its own owner, never as the superuser.
    pub async fn connect_as(&self, db: &str, role: &str) -> Result<PgPool> {
        connect(&self.url_as(db, role)).await
    }

    /// A small pool to the server's `postgres` database as the admin role, for server-wide
    /// statements (settings, WAL switches); never for the content of an Odoo database, which
    /// is worked on as its owner.
    pub async fn admin(&self) -> Result<PgPool> {
        connect(&self.server.url("postgres")).await
    }

    /// A connection pool to `db` as its owner role (never the superuser:
    /// triggers in a restored database must not run with its rights).
    pub(crate) async fn as_owner(&self, db: &str) -> Result<PgPool> {
        connect(&self.url_as(db, &self.owner)).await
    }
}

/// Replaces the user (and password) of a `postgresql://` URL.
pub(crate) fn with_user(url: &str, user: &str, password: Option<&str>) -> String {
    let Some(rest) = url.strip_prefix("postgresql://") else {
        return url.to_string();
    };
    let host_start = match rest.find('/') {
        Some(slash) => rest[..slash].rfind('@').map_or(0, |at| at + 1),
        None => rest.rfind('@').map_or(0, |at| at + 1),
    };
    let userinfo = match password {
        Some(p) => format!("{}:{}@", encode(user), encode(p)),
        None => format!("{}@", encode(user)),
    };
    format!("postgresql://{userinfo}{}", &rest[host_start..])
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) async fn connect(url: &str) -> Result<PgPool> {
    use sqlx::ConnectOptions;
    // long statements (a template copy, a neutralization) are expected here,
    // not worth a sqlx "slow statement" warning on the user's terminal
    let options = url
        .parse::<sqlx::postgres::PgConnectOptions>()?
        .disable_statement_logging();
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .map_err(DumpError::from)
}

/// `"name"` with inner quotes doubled: a PostgreSQL identifier for SQL built by hand.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Makes sure `role` exists and cannot do anything a dump must not do:
/// no superuser, no role creation, no server-side files or programs.
pub(crate) async fn ensure_owner_role(
    admin: &PgPool,
    role: &str,
    password: Option<&str>,
) -> Result<()> {
    let row = sqlx::query(
        "SELECT rolsuper, rolcreaterole, rolreplication, rolbypassrls, \
         pg_has_role(oid, 'pg_execute_server_program', 'MEMBER') \
         OR pg_has_role(oid, 'pg_read_server_files', 'MEMBER') \
         OR pg_has_role(oid, 'pg_write_server_files', 'MEMBER') AS files \
         FROM pg_roles WHERE rolname = $1",
    )
    .bind(role)
    .fetch_optional(admin)
    .await?;
    match row {
        None => {
            let mut sql = format!(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION",
                ident(role)
            );
            if let Some(p) = password {
                sql.push_str(&format!(" PASSWORD '{}'", p.replace('\'', "''")));
            }
            match sqlx::query(&sql).execute(admin).await {
                Ok(_) => Ok(()),
                // created meanwhile by a concurrent restore: check it as found
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42710") => {
                    Box::pin(ensure_owner_role(admin, role, password)).await
                }
                Err(e) => Err(e.into()),
            }
        }
        Some(row) => {
            let flags = [
                "rolsuper",
                "rolcreaterole",
                "rolreplication",
                "rolbypassrls",
                "files",
            ];
            let set: Vec<&str> = flags
                .into_iter()
                .filter(|f| row.try_get::<bool, _>(*f).unwrap_or(true))
                .collect();
            if set.is_empty() {
                Ok(())
            } else {
                Err(DumpError::PrivilegedRole {
                    role: role.to_string(),
                    privileges: set.join(", "),
                })
            }
        }
    }
}

pub(crate) async fn database_exists(admin: &PgPool, name: &str) -> Result<bool> {
    let found = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(admin)
        .await?;
    Ok(found.is_some())
}

/// The role owning database `name`.
pub(crate) async fn database_owner(admin: &PgPool, name: &str) -> Result<String> {
    sqlx::query_scalar("SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(admin)
        .await?
        .ok_or_else(|| DumpError::NoDatabase(name.to_string()))
}

/// An empty database as Odoo creates one (UTF8, C collation, template0).
pub(crate) async fn create_database(admin: &PgPool, name: &str, owner: &str) -> Result<()> {
    let sql = format!(
        "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C'",
        ident(name),
        ident(owner)
    );
    sqlx::query(&sql).execute(admin).await?;
    Ok(())
}

pub(crate) async fn drop_database(admin: &PgPool, name: &str) -> Result<()> {
    sqlx::query(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        ident(name)
    ))
    .execute(admin)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_is_swapped_in_socket_and_tcp_urls() {
        assert_eq!(
            with_user(
                "postgresql://postgres@localhost/db?host=/run/pg&port=5432",
                "odoo",
                None
            ),
            "postgresql://odoo@localhost/db?host=/run/pg&port=5432"
        );
        assert_eq!(
            with_user(
                "postgresql://admin:secret@db.example:5432/x",
                "odoo",
                Some("p@ss")
            ),
            "postgresql://odoo:p%40ss@db.example:5432/x"
        );
        assert_eq!(
            with_user("postgresql://db.example/x", "odoo", None),
            "postgresql://odoo@db.example/x"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }
}
