//! `slipway db clone`: the fastest faithful copy of a database and its
//! filestore. `CREATE DATABASE ... TEMPLATE` (a file-level copy) when the
//! source has no other connection, else a parallel directory-format
//! dump and restore; the filestore by hardlinks (files are
//! content-addressed and never modified in place).
//!
//! A running Odoo always has connections open on its database: its pool keeps
//! them for ten minutes after a request, and the cron thread borrows one every
//! minute. [`IdleSessions::Close`] ends the idle ones so that a live production
//! is still copied by template; Odoo's pool finds them closed when it next
//! borrows them (`cnx.reset()` fails) and opens new ones.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::process::Command;

use crate::db::{connect, database_exists, database_owner, drop_database, ident, Target};
use crate::error::{io_err, DumpError, Result};
use crate::inspect::tool_failure;
use crate::restore::blocking;
use crate::roles;

/// Which way the database was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClonePath {
    /// `CREATE DATABASE ... TEMPLATE`: the source was held without
    /// connections for `held`.
    Template,
    /// `pg_dump -Fd -j` + `pg_restore -j`: the source stayed available.
    DumpRestore,
}

/// What to do with other sessions idle on the source before a template copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleSessions {
    /// Leave them: any other session on the source sends the copy down the
    /// dump and restore path (for databases whose clients may not reconnect,
    /// such as someone's `psql`).
    Keep,
    /// End the sessions that are idle outside a transaction (a connection
    /// pool's, such as Odoo's), so a live database is still copied by
    /// template; a session in a transaction or running a query is never
    /// touched and still sends the copy down the dump and restore path.
    Close,
}

/// What a clone did.
#[derive(Debug, Clone, Serialize)]
pub struct CloneReport {
    /// Source database.
    pub source: String,
    /// New database.
    pub target: String,
    /// How it was copied.
    pub path: ClonePath,
    /// How long the source could take no connection (template path).
    #[serde(serialize_with = "secs")]
    pub held: Duration,
    /// Filestore files linked (or copied across file systems).
    pub filestore_files: u64,
    /// Wall time.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Copies database `src` to a new database `dst`, and its filestore;
/// `idle` says whether sessions idle on `src` may be closed for a template copy.
/// The copy gets a role of its own, owning every object inside it; `src` and its objects
/// keep theirs.
pub async fn clone_database(
    target: &Target,
    src: &str,
    dst: &str,
    jobs: u32,
    idle: IdleSessions,
) -> Result<CloneReport> {
    let started = Instant::now();
    let admin = target.admin().await?;
    if !database_exists(&admin, src).await? {
        return Err(DumpError::NoDatabase(src.to_string()));
    }
    if database_exists(&admin, dst).await? {
        return Err(DumpError::DatabaseExists(dst.to_string()));
    }
    let dst_files = target.filestore(dst);
    if dst_files.exists() {
        return Err(DumpError::FilestoreExists(dst_files));
    }
    let source_role = database_owner(&admin, src).await?;
    let role = roles::make_role(&admin, &target.roles).await?;
    let roles = Roles {
        source: &source_role,
        copy: &role,
    };
    let result = copy_both(target, &admin, src, dst, roles, jobs, idle).await;
    match result {
        Ok((path, held, files)) => Ok(CloneReport {
            source: src.into(),
            target: dst.into(),
            path,
            held,
            filestore_files: files,
            elapsed: started.elapsed(),
        }),
        Err(e) => {
            let _ = drop_database(&admin, dst).await;
            let _ = roles::drop_role_if_unused(&admin, &role).await;
            let _ = std::fs::remove_dir_all(&dst_files);
            Err(e)
        }
    }
}

/// The roles of a copy: the source's, which owns the objects a template copy brings, and the
/// copy's own.
#[derive(Clone, Copy)]
struct Roles<'a> {
    source: &'a str,
    copy: &'a str,
}

async fn copy_both(
    target: &Target,
    admin: &sqlx::PgPool,
    src: &str,
    dst: &str,
    roles: Roles<'_>,
    jobs: u32,
    idle: IdleSessions,
) -> Result<(ClonePath, Duration, u64)> {
    let (from, to) = (target.filestore(src), target.filestore(dst));
    // files and database at the same time: one is metadata-bound, the other I/O-bound
    let files = blocking(move || link_tree(&from, &to));
    let database = async {
        let copied = match try_template(admin, src, dst, roles.copy, idle).await? {
            Some(held) => {
                let in_copy = connect(&target.server.url(dst)).await?;
                let handed = roles::hand_over(&in_copy, dst, roles.source, roles.copy).await;
                in_copy.close().await;
                handed?;
                (ClonePath::Template, held)
            }
            None => {
                dump_restore(target, admin, src, dst, roles, jobs).await?;
                (ClonePath::DumpRestore, Duration::ZERO)
            }
        };
        roles::close_to_public(admin, dst).await?;
        Ok::<_, DumpError>(copied)
    };
    let (files, database) = tokio::join!(files, database);
    let (path, held) = database?;
    Ok((path, held, files?))
}

/// `CREATE DATABASE dst TEMPLATE src`, unless another session uses the
/// source (then `None`: the caller takes the dump path instead of
/// disturbing it). With [`IdleSessions::Close`], idle sessions are ended
/// first, and again if a pooled client reconnected in between (a few tries).
async fn try_template(
    admin: &sqlx::PgPool,
    src: &str,
    dst: &str,
    owner: &str,
    idle: IdleSessions,
) -> Result<Option<Duration>> {
    const TRIES: usize = 3;
    let mut sql = format!(
        "CREATE DATABASE {} TEMPLATE {} OWNER {}",
        ident(dst),
        ident(src),
        ident(owner)
    );
    if file_copy_pays(admin, src).await? {
        sql.push_str(" STRATEGY = FILE_COPY");
    }
    for _ in 0..TRIES {
        if idle == IdleSessions::Close {
            close_idle_sessions(admin, src).await?;
        }
        if other_sessions(admin, src).await? > 0 {
            return Ok(None);
        }
        let started = Instant::now();
        match sqlx::query(&sql).execute(admin).await {
            Ok(_) => return Ok(Some(started.elapsed())),
            // 55006: someone connected between the check and the copy
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55006") => {
                if idle == IdleSessions::Keep {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// The other client sessions on `db`. Autovacuum workers (busy on a freshly restored
/// database) are not counted: `CREATE DATABASE` ends them itself, so they must not send the
/// copy the slow way.
async fn other_sessions(admin: &sqlx::PgPool, db: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() \
         AND backend_type = 'client backend'",
    )
    .bind(db)
    .fetch_one(admin)
    .await?)
}

/// Ends the client sessions idle outside a transaction on `db`, waiting (up to
/// 5 s each) until they are gone.
async fn close_idle_sessions(admin: &sqlx::PgPool, db: &str) -> Result<()> {
    sqlx::query(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid() AND state = 'idle' \
         AND backend_type = 'client backend'",
    )
    .bind(db)
    .execute(admin)
    .await?;
    Ok(())
}

/// PostgreSQL 15 copies a template through the WAL by default, which is
/// slow for big databases; a file copy (at the price of a checkpoint) is
/// several times faster past a few hundred megabytes.
async fn file_copy_pays(admin: &sqlx::PgPool, src: &str) -> Result<bool> {
    const THRESHOLD: i64 = 256 << 20;
    let (version, size): (i32, i64) =
        sqlx::query_as("SELECT current_setting('server_version_num')::int, pg_database_size($1)")
            .bind(src)
            .fetch_one(admin)
            .await?;
    Ok(version >= 150_000 && size > THRESHOLD)
}

/// Parallel directory-format dump and restore, as the source's role and the copy's
/// (never the superuser: index expressions run during a restore).
async fn dump_restore(
    target: &Target,
    admin: &sqlx::PgPool,
    src: &str,
    dst: &str,
    roles: Roles<'_>,
    jobs: u32,
) -> Result<()> {
    let tmp = target.data_dir.join(format!(".clone-{dst}"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&target.data_dir).map_err(io_err(&target.data_dir))?;
    let result = async {
        let sql = format!(
            "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C'",
            ident(dst),
            ident(roles.copy)
        );
        sqlx::query(&sql).execute(admin).await?;
        let jobs_arg = format!("--jobs={}", jobs.max(1));
        run(
            target,
            "pg_dump",
            &["--format=directory", &jobs_arg, "--no-owner", "-f"],
            &tmp,
            &target.url_as(src, roles.source),
        )
        .await?;
        run(
            target,
            "pg_restore",
            &["--no-owner", "--exit-on-error", &jobs_arg, "--dbname"],
            &tmp,
            &target.url_as(dst, roles.copy),
        )
        .await
    }
    .await;
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// `program args... path url`, the password of `url` in the tool's environment only.
async fn run(target: &Target, program: &str, args: &[&str], path: &Path, url: &str) -> Result<()> {
    let exe = target.binaries.tool(program);
    let (url, password) = slipway_pg::split_password(url);
    let mut cmd = Command::new(&exe);
    if program == "pg_restore" {
        // `--dbname` is the last option: the URL follows it, the archive comes last
        cmd.args(args).arg(&url).arg(path);
    } else {
        cmd.args(args).arg(path).arg(&url);
    }
    cmd.envs(password.map(|p| ("PGPASSWORD", p)));
    let out = cmd.output().await.map_err(io_err(&exe))?;
    if !out.status.success() {
        return Err(tool_failure(
            path,
            program,
            &out.status.to_string(),
            &String::from_utf8_lossy(&out.stderr),
        ));
    }
    Ok(())
}

/// Hardlinks every file of `from` into a new tree at `to` (through a
/// partial directory renamed at the end); copies when linking is not
/// possible (another file system). Returns the number of files.
pub(crate) fn link_tree(from: &Path, to: &Path) -> Result<u64> {
    if !from.is_dir() {
        return Ok(0);
    }
    let partial = partial_of(to);
    let _ = std::fs::remove_dir_all(&partial);
    let mut files = 0;
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry = entry.map_err(|e| DumpError::Io {
            path: from.to_owned(),
            source: e.into(),
        })?;
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = partial.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).map_err(io_err(&dest))?;
        } else if entry.file_type().is_file() {
            if std::fs::hard_link(entry.path(), &dest).is_err() {
                std::fs::copy(entry.path(), &dest).map_err(io_err(&dest))?;
            }
            files += 1;
        }
    }
    std::fs::rename(&partial, to).map_err(io_err(to))?;
    Ok(files)
}

fn partial_of(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!(".{name}.partial"))
}
