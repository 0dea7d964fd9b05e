//! Recognising a dump by its first bytes, without trusting its name.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::error::{io_err, DumpError, Result};
use crate::pgdmp::{parse_header, ArchiveHeader, HeaderError, HEADER_PREFIX_LEN};

/// The dump formats Slipway reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Odoo's backup zip: `dump.sql`, `manifest.json`, `filestore/`.
    OdooZip,
    /// A zip holding `dump.sql` only (no manifest, no filestore).
    ZipSql,
    /// `pg_dump --format=custom` (starts with `PGDMP`).
    PgCustom,
    /// `pg_dump --format=directory` (a directory with `toc.dat`).
    PgDirectory,
    /// `pg_dump --format=tar`.
    PgTar,
    /// Plain SQL from `pg_dump`.
    Sql,
    /// Plain SQL compressed with gzip.
    SqlGz,
}

impl Format {
    /// The name used on the command line and in JSON (`odoo-zip`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::OdooZip => "odoo-zip",
            Format::ZipSql => "zip-sql",
            Format::PgCustom => "pg-custom",
            Format::PgDirectory => "pg-directory",
            Format::PgTar => "pg-tar",
            Format::Sql => "sql",
            Format::SqlGz => "sql-gz",
        }
    }

    /// Whether `pg_restore` reads it (as opposed to psql).
    pub fn is_pg_archive(self) -> bool {
        matches!(self, Format::PgCustom | Format::PgDirectory | Format::PgTar)
    }
}

/// A recognised file, with the archive header when it has one.
#[derive(Debug, Clone)]
pub(crate) struct Sniffed {
    pub(crate) format: Format,
    pub(crate) header: Option<ArchiveHeader>,
}

const PREFIX_LEN: usize = 512 + HEADER_PREFIX_LEN;

/// Recognises the format of `path` (a file, or a pg_dump directory).
pub(crate) fn sniff(path: &Path) -> Result<Sniffed> {
    if path.is_dir() {
        return sniff_directory(path);
    }
    let prefix = read_prefix(path, PREFIX_LEN)?;
    if prefix.is_empty() {
        return Err(DumpError::Empty {
            path: path.to_owned(),
        });
    }
    if prefix.starts_with(b"PGDMP") {
        let header = archive_header(path, &prefix, "custom dump")?;
        return Ok(Sniffed {
            format: Format::PgCustom,
            header: Some(header),
        });
    }
    if prefix.starts_with(b"PK\x03\x04") || prefix.starts_with(b"PK\x05\x06") {
        return sniff_zip(path);
    }
    if prefix.starts_with(&[0x1f, 0x8b]) {
        return sniff_gzip(path);
    }
    if is_tar(&prefix) {
        return sniff_tar(path, &prefix);
    }
    if looks_like_sql(&prefix) {
        return Ok(Sniffed {
            format: Format::Sql,
            header: None,
        });
    }
    Err(DumpError::UnknownFormat {
        path: path.to_owned(),
        looks_like: looks_like(&prefix),
    })
}

fn read_prefix(path: &Path, len: usize) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut prefix = Vec::with_capacity(len);
    file.take(len as u64)
        .read_to_end(&mut prefix)
        .map_err(io_err(path))?;
    Ok(prefix)
}

fn archive_header(path: &Path, bytes: &[u8], what: &'static str) -> Result<ArchiveHeader> {
    parse_header(bytes).map_err(|e| match e {
        HeaderError::Truncated(field) => DumpError::Truncated {
            path: path.to_owned(),
            what,
            detail: format!("the archive header ends before its {field}"),
        },
        HeaderError::Invalid(detail) => DumpError::Truncated {
            path: path.to_owned(),
            what,
            detail,
        },
        HeaderError::NotArchive => DumpError::UnknownFormat {
            path: path.to_owned(),
            looks_like: "no PGDMP header".into(),
        },
    })
}

fn sniff_directory(path: &Path) -> Result<Sniffed> {
    let toc = path.join("toc.dat");
    if !toc.is_file() {
        return Err(DumpError::UnknownFormat {
            path: path.to_owned(),
            looks_like: "a directory without toc.dat (not a pg_dump directory archive)".into(),
        });
    }
    let prefix = read_prefix(&toc, HEADER_PREFIX_LEN)?;
    let header = archive_header(&toc, &prefix, "directory dump")?;
    Ok(Sniffed {
        format: Format::PgDirectory,
        header: Some(header),
    })
}

fn sniff_zip(path: &Path) -> Result<Sniffed> {
    let file = File::open(path).map_err(io_err(path))?;
    let archive = zip::ZipArchive::new(file).map_err(|e| DumpError::Truncated {
        path: path.to_owned(),
        what: "zip archive",
        detail: e.to_string(),
    })?;
    let names: Vec<&str> = archive.file_names().collect();
    let has = |n: &str| names.contains(&n);
    let odoo = has("manifest.json") || names.iter().any(|n| n.starts_with("filestore/"));
    let format = match (has("dump.sql"), odoo) {
        (true, true) => Format::OdooZip,
        (true, false) => Format::ZipSql,
        (false, _) => {
            return Err(DumpError::UnknownFormat {
                path: path.to_owned(),
                looks_like: format!("a zip archive without dump.sql ({} members)", names.len()),
            })
        }
    };
    Ok(Sniffed {
        format,
        header: None,
    })
}

fn sniff_gzip(path: &Path) -> Result<Sniffed> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut inner = Vec::with_capacity(4096);
    let read = flate2::read::MultiGzDecoder::new(file)
        .take(4096)
        .read_to_end(&mut inner);
    if let Err(e) = read {
        if inner.is_empty() {
            return Err(DumpError::Truncated {
                path: path.to_owned(),
                what: "gzip file",
                detail: e.to_string(),
            });
        }
    }
    if looks_like_sql(&inner) {
        return Ok(Sniffed {
            format: Format::SqlGz,
            header: None,
        });
    }
    let looks = format!("a gzip file holding {}", looks_like(&inner));
    Err(DumpError::UnknownFormat {
        path: path.to_owned(),
        looks_like: looks,
    })
}

fn is_tar(prefix: &[u8]) -> bool {
    prefix.get(257..262) == Some(b"ustar")
}

fn sniff_tar(path: &Path, prefix: &[u8]) -> Result<Sniffed> {
    let name = prefix[..100].split(|&b| b == 0).next().unwrap_or_default();
    if name != b"toc.dat" {
        return Err(DumpError::UnknownFormat {
            path: path.to_owned(),
            looks_like:
                "a tar archive that does not start with toc.dat (not a pg_dump tar archive)".into(),
        });
    }
    let header = archive_header(path, &prefix[512.min(prefix.len())..], "tar dump")?;
    Ok(Sniffed {
        format: Format::PgTar,
        header: Some(header),
    })
}

/// Plain SQL: text, starting (after blank lines) with something pg_dump or
/// a person writes at the top of a SQL script.
fn looks_like_sql(prefix: &[u8]) -> bool {
    if !is_text(prefix) {
        return false;
    }
    let text = String::from_utf8_lossy(prefix);
    let first = text
        .lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let upper = first.to_ascii_uppercase();
    [
        "--",
        "/*",
        "\\RESTRICT",
        "SET ",
        "SELECT ",
        "CREATE ",
        "BEGIN",
        "COPY ",
        "INSERT ",
        "ALTER ",
        "DROP ",
    ]
    .iter()
    .any(|start| upper.starts_with(start))
}

fn is_text(bytes: &[u8]) -> bool {
    if bytes.contains(&0) {
        return false;
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        // a multi-byte character cut by the end of the prefix is fine
        Err(e) => e.error_len().is_none(),
    }
}

/// A human guess of what some bytes are, for the "not a dump" error.
pub(crate) fn looks_like(bytes: &[u8]) -> String {
    const MAGICS: &[(&[u8], &str)] = &[
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"%PDF", "a PDF document"),
        (b"\x7fELF", "an executable (ELF)"),
        (b"BZh", "a bzip2 file (decompress it first)"),
        (b"\xfd7zXZ\x00", "an xz file (decompress it first)"),
        (b"\x28\xb5\x2f\xfd", "a zstd file (decompress it first)"),
        (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
        (b"Rar!", "a RAR archive"),
        (b"SQLite format 3", "an SQLite database"),
        (b"PGDMP", "a pg_dump custom archive"),
        (b"\x1f\x8b", "a gzip file"),
    ];
    if let Some((_, what)) = MAGICS.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return (*what).to_string();
    }
    if is_tar(bytes) {
        return "a tar archive".into();
    }
    if is_text(bytes) {
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_ascii_lowercase();
        if head.trim_start().starts_with("<!doctype html") || head.trim_start().starts_with("<html")
        {
            return "an HTML page (a download link that returned a web page?)".into();
        }
        if head.trim_start().starts_with('{') {
            return "a JSON document".into();
        }
        return "a text file that does not start like SQL".into();
    }
    "binary data of an unknown kind".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    fn error_of(bytes: &[u8]) -> String {
        sniff(file_with(bytes).path()).unwrap_err().to_string()
    }

    #[test]
    fn zero_byte_file_is_called_empty() {
        assert!(error_of(b"").contains("empty file"));
    }

    #[test]
    fn images_and_other_files_are_named() {
        assert!(error_of(b"\x89PNG\r\n\x1a\nrest").contains("not a database dump: a PNG image"));
        assert!(error_of(b"<!DOCTYPE html><html>").contains("HTML page"));
        assert!(error_of(b"hello world\n").contains("does not start like SQL"));
        assert!(error_of(&[0u8, 1, 2, 3]).contains("binary data"));
    }

    #[test]
    fn truncated_custom_header_is_called_truncated() {
        let err = error_of(b"PGDMP\x01\x0e\x00\x04\x08\x01");
        assert!(err.contains("truncated or damaged custom dump"), "{err}");
    }

    #[test]
    fn plain_sql_is_recognised() {
        let f = file_with(b"--\n-- PostgreSQL database dump\n--\n\nSET x = 1;\n");
        assert_eq!(sniff(f.path()).unwrap().format, Format::Sql);
    }

    #[test]
    fn gzip_of_sql_is_sql_gz_and_gzip_of_png_is_refused() {
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        let f = file_with(&gz(b"-- dump\nSET a = 1;\n"));
        assert_eq!(sniff(f.path()).unwrap().format, Format::SqlGz);
        assert!(error_of(&gz(b"\x89PNG....")).contains("a gzip file holding a PNG image"));
    }

    #[test]
    fn zip_without_dump_sql_is_refused() {
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut buf);
        w.start_file("photo.jpg", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"x").unwrap();
        w.finish().unwrap();
        assert!(error_of(buf.get_ref()).contains("zip archive without dump.sql"));
    }

    #[test]
    fn truncated_zip_is_called_truncated() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/odoo-dumps/v16_base.zip"
        ))
        .unwrap();
        let err = error_of(&bytes[..bytes.len() / 2]);
        assert!(err.contains("truncated or damaged zip archive"), "{err}");
    }
}
