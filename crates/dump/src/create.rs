//! `slipway dump create`: Odoo-compatible zip backups and pg_dump formats.
//!
//! The zip is laid out as Odoo's `dump_db` writes it (`odoo/service/db.py`
//! and `odoo/tools/osutil.py:zip_dir` with the `dump.sql`-first sort key):
//! `dump.sql` (plain SQL from `pg_dump --no-owner`), then
//! `manifest.json` (indented by 4 like Python's `json.dump`), then
//! `filestore/<xx>/<sha1>...`, all deflated with Unix permissions.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::PgPool;
use zip::write::SimpleFileOptions;

use crate::apply::neutralize;
use crate::clone::{clone_database, IdleSessions};
use crate::db::{connect, database_exists, database_owner, drop_database, Target};
use crate::error::{io_err, DumpError, Result};
use crate::inspect::{tail, tool_failure};
use crate::restore::blocking;
use crate::sqlscan::series_of;

/// Formats `dump create` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// Odoo's zip backup.
    Zip,
    /// `pg_dump -Fc`.
    Custom,
    /// `pg_dump -Fd` (parallel).
    Directory,
    /// Plain SQL.
    Sql,
    /// Plain SQL, gzip-compressed.
    SqlGz,
}

/// How to create a dump.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The database to dump.
    pub database: String,
    /// Output format.
    pub format: OutputFormat,
    /// Include the filestore (zip only).
    pub filestore: bool,
    /// Dump a neutralized copy; the source is not touched.
    pub neutralized: bool,
    /// Where to write.
    pub output: PathBuf,
    /// Parallel jobs (directory format, and the neutralized copy).
    pub jobs: u32,
}

/// What `create` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct CreateReport {
    /// The file or directory written.
    pub output: PathBuf,
    /// Its format.
    pub format: OutputFormat,
    /// Its size in bytes.
    pub bytes: u64,
    /// Filestore files included.
    pub filestore_files: u64,
    /// Whether the dump is of a neutralized copy.
    pub neutralized: bool,
    /// Wall time.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// `manifest.json` with the fields and order of Odoo's `dump_db_manifest`.
#[derive(Debug, Serialize)]
struct Manifest {
    odoo_dump: &'static str,
    db_name: String,
    version: String,
    version_info: (serde_json::Value, u32, u32, &'static str, u32, &'static str),
    major_version: String,
    pg_version: String,
    modules: BTreeMap<String, String>,
}

/// Writes a dump of `opts.database`.
pub async fn create(target: &Target, opts: &CreateOptions) -> Result<CreateReport> {
    let started = Instant::now();
    let admin = target.admin().await?;
    if !database_exists(&admin, &opts.database).await? {
        return Err(DumpError::NoDatabase(opts.database.clone()));
    }
    let source = if opts.neutralized {
        neutralized_copy(target, &admin, &opts.database, opts.jobs).await?
    } else {
        opts.database.clone()
    };
    // a neutralized copy has a role of its own
    let result = match database_owner(&admin, &source).await {
        Ok(owner) => write_dump(target, opts, &source, &owner).await,
        Err(e) => Err(e),
    };
    if source != opts.database {
        let _ = drop_database(&admin, &source).await;
        let _ = std::fs::remove_dir_all(target.filestore(&source));
    }
    let files = result?;
    Ok(CreateReport {
        output: opts.output.clone(),
        format: opts.format,
        bytes: size_of(&opts.output),
        filestore_files: files,
        neutralized: opts.neutralized,
        elapsed: started.elapsed(),
    })
}

/// Clones the database (without touching it) and neutralizes the clone.
async fn neutralized_copy(target: &Target, admin: &PgPool, db: &str, jobs: u32) -> Result<String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let copy = format!("{db}_neutralized_{}_{nanos:x}", std::process::id());
    clone_database(target, db, &copy, jobs, IdleSessions::Keep).await?;
    let owner = database_owner(admin, &copy).await?;
    let done = async {
        let pool = connect(&target.url_as(&copy, &owner)).await?;
        neutralize(&pool).await?;
        pool.close().await;
        Ok::<(), DumpError>(())
    }
    .await;
    if let Err(e) = done {
        let _ = drop_database(admin, &copy).await;
        let _ = std::fs::remove_dir_all(target.filestore(&copy));
        return Err(e);
    }
    Ok(copy)
}

fn size_of(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn partial_of(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// Dumps `source` into a partial output, renamed into place on success.
async fn write_dump(
    target: &Target,
    opts: &CreateOptions,
    source: &str,
    owner: &str,
) -> Result<u64> {
    let partial = partial_of(&opts.output);
    let _ = std::fs::remove_dir_all(&partial);
    let _ = std::fs::remove_file(&partial);
    let url = target.url_as(source, owner);
    let result = match opts.format {
        OutputFormat::Zip => write_zip(target, opts, source, owner, &partial).await,
        OutputFormat::Custom => pg_dump(target, &["--format=custom"], &url, &partial)
            .await
            .map(|_| 0),
        OutputFormat::Directory => pg_dump(
            target,
            &[
                "--format=directory",
                &format!("--jobs={}", opts.jobs.max(1)),
            ],
            &url,
            &partial,
        )
        .await
        .map(|_| 0),
        OutputFormat::Sql => pg_dump(target, &["--format=plain"], &url, &partial)
            .await
            .map(|_| 0),
        OutputFormat::SqlGz => pg_dump(target, &["--format=plain", "--compress=6"], &url, &partial)
            .await
            .map(|_| 0),
    };
    match result {
        Ok(files) => {
            std::fs::rename(&partial, &opts.output).map_err(io_err(&opts.output))?;
            Ok(files)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

async fn pg_dump(target: &Target, args: &[&str], url: &str, out: &Path) -> Result<()> {
    let exe = target.binaries.tool("pg_dump");
    let (url, password) = slipway_pg::split_password(url);
    let output = tokio::process::Command::new(&exe)
        .arg("--no-owner")
        .args(args)
        .arg("-f")
        .arg(out)
        .arg(url)
        .envs(password.map(|p| ("PGPASSWORD", p)))
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(io_err(&exe))?;
    if !output.status.success() {
        return Err(tool_failure(
            out,
            "pg_dump",
            &output.status.to_string(),
            &String::from_utf8_lossy(&output.stderr),
        ));
    }
    Ok(())
}

async fn manifest(target: &Target, source: &str, owner: &str, db_name: &str) -> Result<Manifest> {
    let pool = connect(&target.url_as(source, owner)).await?;
    let modules: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT name::text, latest_version::text FROM ir_module_module WHERE state = 'installed'",
    )
    .fetch_all(&pool)
    .await?;
    let server_version: i32 =
        sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
            .fetch_one(&pool)
            .await?;
    pool.close().await;
    let modules: BTreeMap<String, String> = modules
        .into_iter()
        .map(|(n, v)| (n, v.unwrap_or_default()))
        .collect();
    let series = modules
        .get("base")
        .and_then(|v| series_of(v))
        .unwrap_or_default();
    Ok(Manifest {
        odoo_dump: "1",
        db_name: db_name.to_string(),
        version_info: version_info(&series),
        version: series.clone(),
        major_version: series,
        // Odoo: "%d.%d" % divmod(server_version / 100, 100), so 150018 -> "15.0"
        pg_version: format!(
            "{}.{}",
            server_version / 10000,
            (server_version / 100) % 100
        ),
        modules,
    })
}

/// Odoo's `version_info` for a series: `17.0` -> `[17, 0, 0, "final", 0, ""]`,
/// `saas~17.2` -> `["saas~17", 2, 0, "final", 0, ""]`.
fn version_info(series: &str) -> (serde_json::Value, u32, u32, &'static str, u32, &'static str) {
    let (major, minor) = series.split_once('.').unwrap_or((series, "0"));
    let minor = minor.parse().unwrap_or(0);
    let major = match major.parse::<u32>() {
        Ok(n) => serde_json::Value::from(n),
        Err(_) => serde_json::Value::from(major),
    };
    (major, minor, 0, "final", 0, "")
}

async fn write_zip(
    target: &Target,
    opts: &CreateOptions,
    source: &str,
    owner: &str,
    out: &Path,
) -> Result<u64> {
    let manifest = manifest(target, source, owner, &opts.database).await?;
    let mut json = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut json, fmt);
    manifest
        .serialize(&mut ser)
        .map_err(|e| DumpError::Manifest(e.to_string()))?;
    let filestore = opts
        .filestore
        .then(|| target.filestore(&opts.database))
        .filter(|p| p.is_dir());
    let job = ZipJob {
        pg_dump: target.binaries.tool("pg_dump"),
        url: target.url_as(source, owner),
        out: out.to_owned(),
        manifest: json,
        filestore,
    };
    blocking(move || job.run()).await
}

struct ZipJob {
    pg_dump: PathBuf,
    url: String,
    out: PathBuf,
    manifest: Vec<u8>,
    filestore: Option<PathBuf>,
}

impl ZipJob {
    fn run(self) -> Result<u64> {
        let file = std::fs::File::create(&self.out).map_err(io_err(&self.out))?;
        let mut zip = zip::ZipWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
        let zerr = |e: zip::result::ZipError| DumpError::Zip {
            path: self.out.clone(),
            source: e,
        };
        let now = dos_time(SystemTime::now());
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o644)
            .last_modified_time(now);
        zip.start_file("dump.sql", opts.large_file(true))
            .map_err(zerr)?;
        self.stream_sql(&mut zip)?;
        zip.start_file("manifest.json", opts).map_err(zerr)?;
        zip.write_all(&self.manifest).map_err(io_err(&self.out))?;
        let files = match &self.filestore {
            Some(dir) => add_filestore(&mut zip, dir, opts, &self.out)?,
            None => 0,
        };
        let mut inner = zip.finish().map_err(zerr)?;
        inner.flush().map_err(io_err(&self.out))?;
        Ok(files)
    }

    /// Streams `pg_dump --no-owner` (plain) straight into the zip entry.
    fn stream_sql(&self, zip: &mut impl Write) -> Result<()> {
        let run = slipway_pg::stream_stdout(
            StdCommand::new(&self.pg_dump)
                .arg("--no-owner")
                .arg(slipway_pg::split_password(&self.url).0)
                .envs(
                    slipway_pg::split_password(&self.url)
                        .1
                        .map(|p| ("PGPASSWORD", p)),
                ),
            |mut stdout| std::io::copy(&mut stdout, zip),
        )
        .map_err(io_err(&self.pg_dump))?;
        run.read.map_err(io_err(&self.out))?;
        if !run.status.success() {
            return Err(DumpError::Tool {
                program: "pg_dump".into(),
                status: run.status.to_string(),
                stderr: tail(&run.stderr),
            });
        }
        Ok(())
    }
}

fn add_filestore<W: Write + std::io::Seek>(
    zip: &mut zip::ZipWriter<W>,
    dir: &Path,
    opts: SimpleFileOptions,
    out: &Path,
) -> Result<u64> {
    let mut files = 0;
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name();
    for entry in walk {
        let entry = entry.map_err(|e| DumpError::Io {
            path: dir.to_owned(),
            source: e.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let name = format!("filestore/{}", rel.to_string_lossy());
        let mtime = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .map(dos_time);
        let file_opts = match mtime {
            Some(t) => opts.last_modified_time(t),
            None => opts,
        };
        zip.start_file(name, file_opts)
            .map_err(|e| DumpError::Zip {
                path: out.to_owned(),
                source: e,
            })?;
        let mut f = std::fs::File::open(entry.path()).map_err(io_err(entry.path()))?;
        std::io::copy(&mut f, zip).map_err(io_err(out))?;
        files += 1;
    }
    Ok(files)
}

/// A zip (MS-DOS) timestamp of a UTC time.
fn dos_time(t: SystemTime) -> zip::DateTime {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let y = u16::try_from(y).unwrap_or(1980).clamp(1980, 2107);
    zip::DateTime::from_date_and_time(
        y,
        m,
        d,
        (rem / 3600) as u8,
        ((rem % 3600) / 60) as u8,
        (rem % 60) as u8,
    )
    .unwrap_or_default()
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_778), (2026, 11, 21));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn version_info_matches_odoo_release() {
        assert_eq!(
            serde_json::to_string(&version_info("17.0")).unwrap(),
            r#"[17,0,0,"final",0,""]"#
        );
        assert_eq!(
            serde_json::to_string(&version_info("saas~17.2")).unwrap(),
            r#"["saas~17",2,0,"final",0,""]"#
        );
    }
}
