//! `slipway dump inspect`: what a dump holds, without restoring it and in
//! constant memory.
//!
//! # The `compressions` vocabulary
//!
//! Like the upgrade platform's `compressions` field, the list names the
//! layers of the file from the outside in:
//!
//! | value | meaning |
//! |---|---|
//! | `zip` | a zip archive (Odoo backup or zip of `dump.sql`) |
//! | `gzip` | a gzip stream (`.sql.gz`), or, after `pgdmp_*`, table data compressed with zlib |
//! | `lz4` | table data of a pg_dump archive compressed with LZ4 (PostgreSQL 16+) |
//! | `zstd` | table data of a pg_dump archive compressed with Zstandard (PostgreSQL 16+) |
//! | `pgdmp_custom` | a pg_dump custom-format archive |
//! | `pgdmp_directory` | a pg_dump directory-format archive |
//! | `pgdmp_tar` | a pg_dump tar-format archive |
//! | `sql` | plain SQL |
//!
//! So an Odoo zip is `["zip", "sql"]`, a `.sql.gz` is `["gzip", "sql"]`,
//! and `pg_dump -Fc` with its default compression is
//! `["pgdmp_custom", "gzip"]`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::error::{io_err, DumpError, Result};
use crate::format::{sniff, Format, Sniffed};
use crate::pgdmp::short_version;
use crate::sqlscan::{scan_sql, series_of, SqlFacts};
use crate::zipsafe::{check_members, declared_entries, members_of, Declared, ZipLimits, ZipPlan};

/// Largest `manifest.json` read (Odoo's are a few kilobytes).
const MANIFEST_CAP: u64 = 16 << 20;

/// Filestore size of a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FilestoreStats {
    /// Number of files under `filestore/`.
    pub files: u64,
    /// Their uncompressed size in bytes.
    pub bytes: u64,
}

/// What `inspect` found. Serialises to the JSON of `slipway dump inspect
/// --json`, fields in this order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inspection {
    /// The file's format.
    pub format: Format,
    /// Layers of the file, outside in (see the module docs).
    pub compressions: Vec<String>,
    /// Size of the file (or directory) in bytes.
    pub size: u64,
    /// Version of the PostgreSQL server that was dumped ("15.18").
    pub postgresql: Option<String>,
    /// Version of pg_dump that wrote it.
    pub pg_dump_version: Option<String>,
    /// Name of the dumped database, when the dump says.
    pub db_name: Option<String>,
    /// Odoo series ("17.0", "saas~17.2").
    pub odoo_version: Option<String>,
    /// `latest_version` of `base` ("17.0.1.3").
    pub base_version: Option<String>,
    /// Installed modules: name -> latest_version.
    pub modules: BTreeMap<String, String>,
    /// `database.uuid` from `ir_config_parameter`.
    pub database_uuid: Option<String>,
    /// Filestore in the backup, `None` for formats that cannot hold one.
    pub filestore: Option<FilestoreStats>,
    /// `manifest.json` as written by Odoo, when present.
    pub manifest: Option<serde_json::Value>,
}

/// How to inspect.
#[derive(Debug, Clone)]
pub struct InspectOptions {
    /// The `pg_restore` program, used to read the two tables Odoo keeps
    /// its modules and uuid in out of pg_dump archives.
    pub pg_restore: PathBuf,
    /// Limits zip archives must respect.
    pub zip_limits: ZipLimits,
}

/// Inspects the dump at `path`. Blocking: run it off the async runtime.
pub fn inspect(path: &Path, options: &InspectOptions) -> Result<Inspection> {
    let sniffed = sniff(path)?;
    let size = size_of(path)?;
    let mut out = match sniffed.format {
        Format::OdooZip | Format::ZipSql => inspect_zip(path, &options.zip_limits)?,
        Format::Sql => from_facts(read_sql(path, File::open(path).map_err(io_err(path))?)?),
        Format::SqlGz => {
            let file = File::open(path).map_err(io_err(path))?;
            from_facts(read_sql(path, flate2::read::MultiGzDecoder::new(file))?)
        }
        Format::PgCustom | Format::PgDirectory | Format::PgTar => {
            inspect_archive(path, &sniffed, options)?
        }
    };
    out.format = sniffed.format;
    out.size = size;
    out.compressions = compressions(&sniffed);
    Ok(out)
}

fn compressions(sniffed: &Sniffed) -> Vec<String> {
    let outer: &[&str] = match sniffed.format {
        Format::OdooZip | Format::ZipSql => &["zip", "sql"],
        Format::Sql => &["sql"],
        Format::SqlGz => &["gzip", "sql"],
        Format::PgCustom => &["pgdmp_custom"],
        Format::PgDirectory => &["pgdmp_directory"],
        Format::PgTar => &["pgdmp_tar"],
    };
    let mut list: Vec<String> = outer.iter().map(|s| s.to_string()).collect();
    if let Some(data) = sniffed.header.as_ref().and_then(|h| h.compression) {
        list.push(data.to_string());
    }
    list
}

fn size_of(path: &Path) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in std::fs::read_dir(path).map_err(io_err(path))? {
        let entry = entry.map_err(io_err(path))?;
        total += entry.metadata().map_err(io_err(entry.path()))?.len();
    }
    Ok(total)
}

fn empty(format: Format) -> Inspection {
    Inspection {
        format,
        compressions: Vec::new(),
        size: 0,
        postgresql: None,
        pg_dump_version: None,
        db_name: None,
        odoo_version: None,
        base_version: None,
        modules: BTreeMap::new(),
        database_uuid: None,
        filestore: None,
        manifest: None,
    }
}

fn from_facts(facts: SqlFacts) -> Inspection {
    let base_version = facts.modules.get("base").cloned();
    Inspection {
        postgresql: facts.postgresql,
        pg_dump_version: facts.pg_dump_version,
        odoo_version: base_version.as_deref().and_then(series_of),
        base_version,
        modules: facts.modules,
        database_uuid: facts.database_uuid,
        ..empty(Format::Sql)
    }
}

/// Streams SQL through the scanner, turning a cut-off compressed stream
/// into a "truncated" error.
fn read_sql(path: &Path, reader: impl Read) -> Result<SqlFacts> {
    scan_sql(BufReader::with_capacity(256 * 1024, reader), true).map_err(|e| stream_error(path, e))
}

pub(crate) fn stream_error(path: &Path, e: std::io::Error) -> DumpError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidInput => {
            DumpError::Truncated {
                path: path.to_owned(),
                what: "compressed stream",
                detail: e.to_string(),
            }
        }
        _ => DumpError::Io {
            path: path.to_owned(),
            source: e,
        },
    }
}

/// Opens a zip and applies the safety rules to its central directory.
pub(crate) fn open_checked_zip(
    path: &Path,
    limits: &ZipLimits,
) -> Result<(zip::ZipArchive<File>, ZipPlan)> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let declared = declared_entries(&mut file).map_err(io_err(path))?;
    let zip_err = |source| DumpError::Zip {
        path: path.to_owned(),
        source,
    };
    let mut archive = zip::ZipArchive::new(file).map_err(zip_err)?;
    if let Some(declared) = declared.filter(|&n| n != archive.len() as u64) {
        return Err(DumpError::UnsafeZip(format!(
            "duplicate names: the central directory lists {declared} members but only {} distinct names",
            archive.len()
        )));
    }
    let members = members_of(&mut archive).map_err(zip_err)?;
    let plan = check_members(&members, limits)?;
    Ok((archive, plan))
}

fn inspect_zip(path: &Path, limits: &ZipLimits) -> Result<Inspection> {
    let (mut archive, plan) = open_checked_zip(path, limits)?;
    let zip_err = |source| DumpError::Zip {
        path: path.to_owned(),
        source,
    };
    let manifest = match plan.manifest {
        Some((index, size)) => Some(read_manifest(
            archive.by_index(index).map_err(zip_err)?,
            size,
        )?),
        None => None,
    };
    let (index, size) = plan
        .dump_sql
        .ok_or_else(|| DumpError::UnsafeZip("no dump.sql member".into()))?;
    let sql = Declared::new(archive.by_index(index).map_err(zip_err)?, size, "dump.sql");
    let facts = scan_sql(
        BufReader::with_capacity(256 * 1024, sql),
        manifest.is_none(),
    )
    .map_err(|e| stream_error(path, e))?;
    let mut out = from_facts(facts);
    if let Some(m) = &manifest {
        apply_manifest(&mut out, m);
    }
    if manifest.is_some() || !plan.filestore.is_empty() {
        out.filestore = Some(FilestoreStats {
            files: plan.filestore.len() as u64,
            bytes: plan.filestore_bytes,
        });
    }
    out.manifest = manifest;
    Ok(out)
}

fn read_manifest(reader: impl Read, size: u64) -> Result<serde_json::Value> {
    if size > MANIFEST_CAP {
        return Err(DumpError::Manifest(format!(
            "{size} bytes, larger than any Odoo writes"
        )));
    }
    let value: serde_json::Value =
        serde_json::from_reader(Declared::new(reader, size, "manifest.json"))
            .map_err(|e| DumpError::Manifest(e.to_string()))?;
    if !value.is_object() {
        return Err(DumpError::Manifest("not a JSON object".into()));
    }
    Ok(value)
}

/// Odoo's manifest wins for modules and versions; the SQL header keeps
/// the exact PostgreSQL version (the manifest drops the minor one).
fn apply_manifest(out: &mut Inspection, m: &serde_json::Value) {
    let text = |key: &str| m.get(key).and_then(|v| v.as_str()).map(str::to_string);
    if let Some(modules) = m.get("modules").and_then(|v| v.as_object()) {
        out.modules = modules
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        out.base_version = out.modules.get("base").cloned();
    }
    out.odoo_version = out
        .base_version
        .as_deref()
        .and_then(series_of)
        .or_else(|| text("major_version"));
    out.db_name = text("db_name").or(out.db_name.take());
    if out.postgresql.is_none() {
        out.postgresql = text("pg_version");
    }
}

fn inspect_archive(path: &Path, sniffed: &Sniffed, options: &InspectOptions) -> Result<Inspection> {
    let facts = read_archive_tables(path, &options.pg_restore)?;
    let mut out = from_facts(facts);
    if let Some(header) = &sniffed.header {
        out.postgresql = header.server_version.as_deref().map(short_version);
        out.pg_dump_version = header.pg_dump_version.as_deref().map(short_version);
        out.db_name = header.db_name.clone();
    }
    Ok(out)
}

/// `pg_restore --data-only -t ir_module_module -t ir_config_parameter -f -`:
/// the two small tables as SQL, with no database involved.
fn read_archive_tables(path: &Path, pg_restore: &Path) -> Result<SqlFacts> {
    let mut command = Command::new(pg_restore);
    command
        .args([
            "--data-only",
            "-t",
            "ir_module_module",
            "-t",
            "ir_config_parameter",
            "-f",
            "-",
        ])
        .arg(path);
    let run = slipway_pg::stream_stdout(&mut command, |stdout| {
        let mut reader = BufReader::new(stdout);
        let facts = scan_sql(&mut reader, true)?;
        // let pg_restore finish writing instead of dying of SIGPIPE
        std::io::copy(&mut reader, &mut std::io::sink())?;
        Ok(facts)
    })
    .map_err(io_err(pg_restore))?;
    let facts = run.read.map_err(io_err(path))?;
    if !run.status.success() {
        return Err(tool_failure(
            path,
            "pg_restore",
            &run.status.to_string(),
            &run.stderr,
        ));
    }
    Ok(facts)
}

/// A failed PostgreSQL tool, read as "truncated" when it says so.
pub(crate) fn tool_failure(path: &Path, program: &str, status: &str, stderr: &str) -> DumpError {
    let tail = tail(stderr);
    if stderr.contains("end of file") || stderr.contains("unexpected end") {
        return DumpError::Truncated {
            path: path.to_owned(),
            what: "pg_dump archive",
            detail: tail,
        };
    }
    DumpError::Tool {
        program: program.to_string(),
        status: status.to_string(),
        stderr: tail,
    }
}

/// The last lines of a tool's stderr, enough to say what went wrong.
pub(crate) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}
