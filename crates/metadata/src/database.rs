//! The metadata database `slipway`: where projects, builds, jobs and events live.

use slipway_pg::Server;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

use crate::error::{Error, Result};

/// The name of the metadata database on the server.
pub const METADATA_DB: &str = "slipway";

/// The schema migrations, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A connection pool to an up-to-date metadata database.
#[derive(Debug, Clone)]
pub struct Metadata {
    pool: PgPool,
}

impl Metadata {
    /// Opens the `slipway` database on `server`, creating it when missing, and applies the
    /// embedded schema migrations.
    pub async fn open(server: &Server) -> Result<Self> {
        create_database_if_missing(server, METADATA_DB).await?;
        Self::open_url(&server.url(METADATA_DB)).await
    }

    /// Opens an existing database given by URL and applies the migrations (tests use a fresh
    /// database per test this way).
    pub async fn open_url(url: &str) -> Result<Self> {
        let pool = connect(url, 10).await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for the domain modules' queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The server's version, e.g. `15.18` (without the packager's suffix such as
    /// ` (Debian 15.18-0+deb12u1)`).
    pub async fn server_version(&self) -> Result<String> {
        let (version,): (String,) = sqlx::query_as("SHOW server_version")
            .fetch_one(&self.pool)
            .await?;
        Ok(version
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string())
    }
}

async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    // One plain connection first: a pool retries until its timeout, while an unreachable
    // server should be reported at once.
    use sqlx::Connection;
    let probe = sqlx::postgres::PgConnection::connect(url)
        .await
        .map_err(|source| Error::Connect {
            target: redact(url),
            source,
        })?;
    probe.close().await?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(|source| Error::Connect {
            target: redact(url),
            source,
        })
}

/// `CREATE DATABASE` unless it exists. Two processes racing here is fine: the loser's
/// "already exists" is not an error.
pub async fn create_database_if_missing(server: &Server, name: &str) -> Result<()> {
    let admin = connect(&server.url("postgres"), 1).await?;
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&admin)
        .await?;
    if exists.is_none() {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        if let Err(e) = sqlx::query(&sql).execute(&admin).await {
            let duplicate = e
                .as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|code| code == "42P04");
            if !duplicate {
                return Err(e.into());
            }
        }
        tracing::info!(database = name, "created database");
    }
    admin.close().await;
    Ok(())
}

/// A URL without its password, fit for an error message or a log line.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://me:s3cret@db:5432/x"),
            "postgres://me@db:5432/x"
        );
        assert_eq!(
            redact("postgresql://me@/x?host=/r"),
            "postgresql://me@/x?host=/r"
        );
    }
}
