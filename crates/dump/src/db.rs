//! Talking to PostgreSQL: creating and dropping databases, each with its own owner role, and
//! connections as that role.

use std::path::{Path, PathBuf};

use slipway_pg::{Binaries, Server};
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::error::{DumpError, Result};
use crate::roles::{self, RoleKey};

/// Where databases and their filestores live, and how their roles log in.
#[derive(Debug, Clone)]
pub struct Target {
    /// The PostgreSQL server (administered as its superuser-ish role).
    pub server: Server,
    /// PostgreSQL client programs (`psql`, `pg_dump`, `pg_restore`).
    pub binaries: Binaries,
    /// Data directory: filestores go to `<data_dir>/filestore/<db>/`.
    pub data_dir: PathBuf,
    /// Derives the password of every database's owner role.
    pub roles: RoleKey,
}

/// How a build (or a tool) logs in to one database as its owner role, over TCP.
#[derive(Clone, PartialEq, Eq)]
pub struct DbCredentials {
    /// Host name or address (127.0.0.1 for the embedded cluster).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The database's owner role.
    pub user: String,
    /// Its password.
    pub password: String,
    /// The database.
    pub database: String,
}

impl std::fmt::Debug for DbCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbCredentials")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .field("database", &self.database)
            .finish()
    }
}

impl Target {
    /// A target on `server` whose role passwords derive from `<data_dir>/pg-roles.key`
    /// (created, 0600, on first use).
    pub fn new(server: Server, binaries: Binaries, data_dir: &Path) -> Result<Self> {
        let roles = RoleKey::load_or_create(&data_dir.join(RoleKey::FILE))?;
        Ok(Self {
            server,
            binaries,
            data_dir: data_dir.to_path_buf(),
            roles,
        })
    }

    /// The filestore directory of database `db`.
    pub fn filestore(&self, db: &str) -> PathBuf {
        self.data_dir.join("filestore").join(db)
    }

    /// A libpq/sqlx URL to `db` as `role`: with its derived password when Slipway made it
    /// ([`crate::ROLE_PREFIX`]); the admin's URL when `role` is the admin (a database the
    /// admin made itself); else with no password, so that libpq and sqlx take it from
    /// `PGPASSWORD` or `~/.pgpass` (a database someone else made, worked on by `slipway db`
    /// or `slipway dump`).
    pub fn url_as(&self, db: &str, role: &str) -> String {
        if self.server.admin_user().as_deref() == Some(role) {
            return self.server.url(db);
        }
        let password = role
            .starts_with(roles::ROLE_PREFIX)
            .then(|| self.roles.password(role));
        with_user(&self.server.url(db), role, password.as_deref())
    }

    /// A libpq/sqlx URL to `db` as its owner role.
    pub async fn owner_url(&self, db: &str) -> Result<String> {
        let owner = self.database_owner(db).await?;
        Ok(self.url_as(db, &owner))
    }

    /// How to log in to `db` as its owner role over TCP: what a build writes in its
    /// odoo.conf, and all it can reach.
    pub async fn credentials(&self, db: &str) -> Result<DbCredentials> {
        let user = self.database_owner(db).await?;
        let (host, port) = self.tcp_address();
        Ok(DbCredentials {
            host,
            port,
            password: self.roles.password(&user),
            user,
            database: db.to_string(),
        })
    }

    /// The server's host and port over TCP.
    fn tcp_address(&self) -> (String, u16) {
        match &self.server {
            Server::Embedded(c) => ("127.0.0.1".to_string(), c.port),
            Server::External(_) => {
                let url = self.server.url("postgres");
                let authority = url
                    .trim_start_matches("postgresql://")
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let host_port = authority.rsplit('@').next().unwrap_or_default();
                match host_port.rsplit_once(':') {
                    Some((h, p)) => (h.to_string(), p.parse().unwrap_or(5432)),
                    None => (host_port.to_string(), 5432),
                }
            }
        }
    }

    /// Checks that the admin role may do what Slipway does: create databases and their roles.
    pub async fn check_admin_rights(&self) -> Result<()> {
        let admin = self.admin().await?;
        let rights: (String, bool, bool, bool) = sqlx::query_as(
            "SELECT current_user::text, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles \
             WHERE rolname = current_user",
        )
        .fetch_one(&admin)
        .await?;
        admin.close().await;
        let (role, superuser, createdb, createrole) = rights;
        if superuser || (createdb && createrole) {
            return Ok(());
        }
        let missing: Vec<&str> = [(createdb, "CREATEDB"), (createrole, "CREATEROLE")]
            .into_iter()
            .filter(|(has, _)| !has)
            .map(|(_, name)| name)
            .collect();
        Err(DumpError::AdminRights {
            role,
            missing: missing.join(" and "),
        })
    }

    /// Readies the server for Slipway, at every start: the admin role may create databases
    /// and roles ([`DumpError::AdminRights`] otherwise), the metadata database `metadata_db`
    /// and `template1` are closed to `PUBLIC` (`postgres` stays open: Odoo's `odoo-bin`
    /// connects there at start, `odoo/service/db.py::_create_empty_database`), and every database still owned by the one shared role of older
    /// Slipways, `legacy_role` (`odoo`), is given a role of its own. Returns the databases
    /// so adopted.
    pub async fn prepare_server(
        &self,
        metadata_db: &str,
        legacy_role: &str,
    ) -> Result<Vec<String>> {
        self.check_admin_rights().await?;
        let admin = self.admin().await?;
        let prepared = async {
            // template1 too: nobody's work is there (CREATE DATABASE needs no CONNECT on it)
            for db in [metadata_db, "template1"] {
                if database_exists(&admin, db).await? {
                    roles::close_to_public(&admin, db).await?;
                }
            }
            let legacy: Vec<String> = sqlx::query_scalar(
                "SELECT datname::text FROM pg_database WHERE pg_get_userbyid(datdba) = $1 \
                 AND datallowconn ORDER BY datname",
            )
            .bind(legacy_role)
            .fetch_all(&admin)
            .await?;
            for db in &legacy {
                let role = roles::make_role(&admin, &self.roles).await?;
                let in_db = connect(&self.server.url(db)).await?;
                let handed = roles::hand_over(&in_db, db, legacy_role, &role).await;
                in_db.close().await;
                handed?;
                roles::close_to_public(&admin, db).await?;
                tracing::info!(database = %db, role = %role, "gave a database of the shared role {legacy_role} a role of its own");
            }
            Ok(legacy)
        }
        .await;
        admin.close().await;
        prepared
    }

    /// Gives database `db` and everything in it to the role owning database `like`, and drops
    /// `db`'s own role: a database swapped into another's place (a snapshot after a failed
    /// update, a restored backup) keeps the login of the one it replaces, which running
    /// builds' odoo.conf hold.
    pub async fn take_role_of(&self, db: &str, like: &str) -> Result<()> {
        let admin = self.admin().await?;
        let taken = async {
            let (from, to) = (
                database_owner(&admin, db).await?,
                database_owner(&admin, like).await?,
            );
            if from == to {
                return Ok(());
            }
            let in_db = connect(&self.server.url(db)).await?;
            let handed = roles::hand_over(&in_db, db, &from, &to).await;
            in_db.close().await;
            handed?;
            roles::drop_role_if_unused(&admin, &from).await
        }
        .await;
        admin.close().await;
        taken
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

    /// The bytes PostgreSQL holds for `databases` (`pg_database_size`), in one query; a name
    /// with no database, or one the admin role may not connect to, counts nothing.
    /// Filestores are not counted (see [`Self::filestore`]).
    pub async fn databases_size(&self, databases: &[String]) -> Result<u64> {
        if databases.is_empty() {
            return Ok(0);
        }
        let admin = self.admin().await?;
        let size: Result<(i64,)> = sqlx::query_as(
            "SELECT coalesce(sum(CASE WHEN has_database_privilege(oid, 'CONNECT') \
             THEN pg_database_size(oid) ELSE 0 END), 0)::bigint \
             FROM pg_database WHERE datname = ANY($1)",
        )
        .bind(databases)
        .fetch_one(&admin)
        .await
        .map_err(Into::into);
        admin.close().await;
        Ok(size?.0.max(0) as u64)
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

    /// Creates an empty database `db` owned by a new role of its own, for Odoo to install
    /// into; refused when it exists. Returns the role.
    pub async fn create_empty_database(&self, db: &str) -> Result<String> {
        let admin = self.admin().await?;
        let created = async {
            if database_exists(&admin, db).await? {
                return Err(DumpError::DatabaseExists(db.to_string()));
            }
            create_database(&admin, &self.roles, db).await
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

    /// Runs `sql` on database `db` as its owner role (for small fix-ups Slipway makes to the
    /// databases it manages).
    pub async fn execute_as_owner(&self, db: &str, sql: &str) -> Result<u64> {
        let pool = self.as_owner(db).await?;
        let done = sqlx::query(sql).execute(&pool).await;
        pool.close().await;
        Ok(done?.rows_affected())
    }

    /// The names of every database of the server (one query, for checks of many at once).
    pub async fn database_names(&self) -> Result<std::collections::BTreeSet<String>> {
        let admin = self.admin().await?;
        let names: std::result::Result<Vec<String>, sqlx::Error> =
            sqlx::query_scalar("SELECT datname::text FROM pg_database")
                .fetch_all(&admin)
                .await;
        admin.close().await;
        Ok(names?.into_iter().collect())
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

    /// A small connection pool to `db` as `role` (with its derived password). For work on a
    /// database as its own owner, never as the superuser.
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
    pub async fn connect_as_owner(&self, db: &str) -> Result<PgPool> {
        connect(&self.owner_url(db).await?).await
    }

    pub(crate) async fn as_owner(&self, db: &str) -> Result<PgPool> {
        self.connect_as_owner(db).await
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

/// An empty database as Odoo creates one (UTF8, C collation, template0), owned by a new role
/// of its own, closed to everyone else. Returns the role; on failure the role is dropped.
pub(crate) async fn create_database(admin: &PgPool, key: &RoleKey, name: &str) -> Result<String> {
    let role = roles::make_role(admin, key).await?;
    let sql = format!(
        "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C'",
        ident(name),
        ident(&role)
    );
    let created = async {
        sqlx::query(&sql).execute(admin).await?;
        roles::close_to_public(admin, name).await
    }
    .await;
    if let Err(e) = created {
        let _ = drop_database(admin, name).await;
        let _ = roles::drop_role_if_unused(admin, &role).await;
        return Err(e);
    }
    Ok(role)
}

/// Drops database `name` and, when it was the last thing it owned, its role.
pub(crate) async fn drop_database(admin: &PgPool, name: &str) -> Result<()> {
    let owner = match database_owner(admin, name).await {
        Ok(owner) => Some(owner),
        Err(DumpError::NoDatabase(_)) => None,
        Err(e) => return Err(e),
    };
    sqlx::query(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        ident(name)
    ))
    .execute(admin)
    .await?;
    if let Some(owner) = owner {
        roles::drop_role_if_unused(admin, &owner).await?;
    }
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
