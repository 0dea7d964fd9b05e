//! `slipway dump restore`: a dump becomes a database and a filestore,
//! owned by and replayed as an unprivileged role. Any failure removes the
//! half-made database and filestore.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::apply::{neutralize, reset_identity, NeutralizeReport};
use crate::db::{create_database, database_exists, drop_database, Target};
use crate::error::{io_err, DumpError, Result};
use crate::format::{sniff, Format};
use crate::inspect::open_checked_zip;
use crate::replay::{pg_restore, psql, ReplayOptions, SqlSource};
use crate::zipsafe::{Declared, FilestoreMember, ZipLimits, ZipPlan};

/// Copy (new identity, as Odoo's default) or move (same identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Regenerate `database.uuid`, `database.secret`,
    /// `database.create_date` and `web.base.url`.
    #[default]
    Copy,
    /// Keep them: the restored database replaces the original.
    Move,
}

/// Called with the number of bytes of SQL replayed so far.
pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

/// How to restore.
#[derive(Clone)]
pub struct RestoreOptions {
    /// Name of the database to create.
    pub database: String,
    /// Copy or move.
    pub mode: Mode,
    /// Neutralize after restoring.
    pub neutralize: bool,
    /// Parallel jobs for `pg_restore` (custom and directory formats).
    pub jobs: u32,
    /// Replace an existing database and filestore of that name.
    pub force: bool,
    /// Limits for zip archives.
    pub zip_limits: ZipLimits,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
}

impl RestoreOptions {
    /// Defaults for restoring into `database`.
    pub fn new(database: &str) -> Self {
        Self {
            database: database.to_string(),
            mode: Mode::Copy,
            neutralize: false,
            jobs: 1,
            force: false,
            zip_limits: ZipLimits::default(),
            progress: None,
        }
    }
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The database created.
    pub database: String,
    /// The format restored.
    pub format: Format,
    /// Copy or move.
    pub mode: Mode,
    /// Filestore files written.
    pub filestore_files: u64,
    /// Where the filestore went (when there was one).
    pub filestore: Option<PathBuf>,
    /// `\restrict`/`\unrestrict` lines removed from plain SQL.
    pub stripped_restrict_lines: u32,
    /// Neutralization, when asked.
    pub neutralized: Option<NeutralizeReport>,
    /// Wall time.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Restores `file` (any [`Format`]) into a new database.
pub async fn restore(target: &Target, file: &Path, opts: &RestoreOptions) -> Result<RestoreReport> {
    let started = Instant::now();
    let (format, zip_plan) = examine(file, &opts.zip_limits).await?;
    let admin = target.admin().await?;
    make_room(target, &admin, opts).await?;
    create_database(&admin, &target.roles, &opts.database).await?;
    let result = fill(target, file, format, zip_plan.as_ref(), opts).await;
    match result {
        Ok(mut report) => {
            report.elapsed = started.elapsed();
            Ok(report)
        }
        Err(e) => {
            tracing::warn!(database = %opts.database, error = %e, "restore failed; dropping the half-made database");
            let _ = drop_database(&admin, &opts.database).await;
            remove_dir(&target.filestore(&opts.database));
            remove_dir(&partial_dir(target, &opts.database));
            Err(e)
        }
    }
}

/// Recognises the file and, for zips, applies every safety rule before
/// anything is created.
async fn examine(file: &Path, limits: &ZipLimits) -> Result<(Format, Option<ZipPlan>)> {
    let (file, limits) = (file.to_owned(), *limits);
    blocking(move || {
        let sniffed = sniff(&file)?;
        let plan = match sniffed.format {
            Format::OdooZip | Format::ZipSql => Some(open_checked_zip(&file, &limits)?.1),
            _ => None,
        };
        Ok((sniffed.format, plan))
    })
    .await
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DumpError::Io {
            path: PathBuf::from("<blocking task>"),
            source: std::io::Error::other(e),
        })?
}

async fn make_room(target: &Target, admin: &sqlx::PgPool, opts: &RestoreOptions) -> Result<()> {
    let filestore = target.filestore(&opts.database);
    let exists = database_exists(admin, &opts.database).await?;
    if !opts.force {
        if exists {
            return Err(DumpError::DatabaseExists(opts.database.clone()));
        }
        if filestore.exists() {
            return Err(DumpError::FilestoreExists(filestore));
        }
        return Ok(());
    }
    drop_database(admin, &opts.database).await?;
    if filestore.exists() {
        std::fs::remove_dir_all(&filestore).map_err(io_err(&filestore))?;
    }
    Ok(())
}

async fn fill(
    target: &Target,
    file: &Path,
    format: Format,
    zip: Option<&ZipPlan>,
    opts: &RestoreOptions,
) -> Result<RestoreReport> {
    let db = opts.database.as_str();
    let progress = opts.progress.clone();
    let report_progress = move |n: u64| {
        if let Some(p) = &progress {
            p(n)
        }
    };
    let mut stripped = 0;
    let mut files = 0;
    match (format, zip) {
        (Format::PgCustom | Format::PgDirectory | Format::PgTar, _) => {
            pg_restore(
                target,
                db,
                file,
                format,
                ReplayOptions {
                    jobs: opts.jobs.max(1),
                },
            )
            .await?
        }
        (Format::Sql, _) => {
            stripped = psql(
                target,
                db,
                SqlSource::File(file.to_owned()),
                &report_progress,
            )
            .await?
        }
        (Format::SqlGz, _) => {
            stripped = psql(
                target,
                db,
                SqlSource::Gzip(file.to_owned()),
                &report_progress,
            )
            .await?
        }
        (Format::OdooZip | Format::ZipSql, Some(plan)) => {
            let (index, size) = plan
                .dump_sql
                .ok_or_else(|| DumpError::UnsafeZip("no dump.sql member".into()))?;
            let source = SqlSource::ZipMember {
                zip: file.to_owned(),
                index,
                size,
            };
            // SQL and files in parallel: one is PostgreSQL-bound, the other disk-bound
            let partial = partial_dir(target, db);
            let extract = blocking({
                let (zip, members, partial) =
                    (file.to_owned(), plan.filestore.clone(), partial.clone());
                move || extract_filestore(&zip, &members, &partial)
            });
            let (sql, extracted) =
                tokio::join!(psql(target, db, source, &report_progress), extract);
            stripped = sql?;
            files = extracted?;
            if !plan.filestore.is_empty() {
                let dest = target.filestore(db);
                std::fs::rename(&partial, &dest).map_err(io_err(&dest))?;
            } else {
                remove_dir(&partial);
            }
        }
        (Format::OdooZip | Format::ZipSql, None) => {
            return Err(DumpError::UnsafeZip("zip was not checked".into()))
        }
    }
    let pool = target.as_owner(db).await?;
    if opts.mode == Mode::Copy {
        reset_identity(&pool).await?;
    }
    let neutralized = if opts.neutralize {
        Some(neutralize(&pool).await?)
    } else {
        None
    };
    pool.close().await;
    Ok(RestoreReport {
        database: db.to_string(),
        format,
        mode: opts.mode,
        filestore_files: files,
        filestore: (files > 0).then(|| target.filestore(db)),
        stripped_restrict_lines: stripped,
        neutralized,
        elapsed: Duration::ZERO,
    })
}

/// `<data>/filestore/.<db>.partial`: files land here, then one rename
/// makes them visible, so a failed restore never leaves half a filestore.
fn partial_dir(target: &Target, db: &str) -> PathBuf {
    target
        .data_dir
        .join("filestore")
        .join(format!(".{db}.partial"))
}

fn remove_dir(dir: &Path) {
    if dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove");
        }
    }
}

/// Extracts any zip (custom modules, say) into `dest`, a directory that must
/// not exist yet, after the same checks as a dump's zip: paths confined to
/// `dest`, no links, no duplicates, no decompression bomb. Returns the number
/// of files written; on failure `dest` is removed.
pub fn extract_zip(zip_path: &Path, dest: &Path, limits: &ZipLimits) -> Result<u64> {
    let (_, plan) = crate::inspect::open_checked_zip(zip_path, limits)?;
    let written = extract_filestore(zip_path, &plan.files, dest);
    if written.is_err() {
        let _ = std::fs::remove_dir_all(dest);
    }
    written
}

/// Writes the checked filestore members under `dest` (a fresh directory:
/// no symlink can be in the way). Returns the number of files.
fn extract_filestore(zip_path: &Path, members: &[FilestoreMember], dest: &Path) -> Result<u64> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(io_err(dest))?;
    }
    std::fs::create_dir_all(dest).map_err(io_err(dest))?;
    let file = std::fs::File::open(zip_path).map_err(io_err(zip_path))?;
    let zip_err = |source| DumpError::Zip {
        path: zip_path.to_owned(),
        source,
    };
    let mut archive = zip::ZipArchive::new(file).map_err(zip_err)?;
    for m in members {
        let path = dest.join(&m.relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let name = m.relative.to_string_lossy().into_owned();
        let mut reader = Declared::new(archive.by_index(m.index).map_err(zip_err)?, m.size, &name);
        std::io::copy(&mut reader, &mut out).map_err(io_err(&path))?;
    }
    Ok(members.len() as u64)
}
