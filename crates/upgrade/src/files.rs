//! Where a request's files live: `<data-dir>/upgrade/<id>/`.
//!
//! ```text
//! original/<filename>            the uploaded dump, as sent
//! original.sql                   its SQL, made on first download
//! upgraded/upgraded_<filename>   the upgraded dump, in the input's format
//! upgraded.sql                   its SQL
//! notes.html                     the report of every step
//! upgrade.log                    the processing log
//! modules.zip                    the request's custom modules, when sent
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::rules::RequestState;
use crate::store::UpgradeRecord;

/// The file layout of all requests under one root.
#[derive(Debug, Clone)]
pub struct UpgradeFiles {
    root: PathBuf,
}

impl UpgradeFiles {
    /// The layout under `root` (usually `<data-dir>/upgrade`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder of request `id`.
    pub fn dir(&self, id: i64) -> PathBuf {
        self.root.join(id.to_string())
    }

    /// The uploaded dump.
    pub fn original(&self, id: i64, filename: &str) -> PathBuf {
        self.dir(id).join("original").join(filename)
    }

    /// Where uploads are written before they replace the original atomically.
    pub fn incoming_dir(&self, id: i64) -> PathBuf {
        self.dir(id).join("incoming")
    }

    /// The SQL of the uploaded dump.
    pub fn original_sql(&self, id: i64) -> PathBuf {
        self.dir(id).join("original.sql")
    }

    /// The upgraded dump, named as the API's SFTP download names it.
    pub fn upgraded(&self, id: i64, filename: &str) -> PathBuf {
        self.dir(id).join("upgraded").join(upgraded_name(filename))
    }

    /// The SQL of the upgraded database.
    pub fn upgraded_sql(&self, id: i64) -> PathBuf {
        self.dir(id).join("upgraded.sql")
    }

    /// The HTML report.
    pub fn notes(&self, id: i64) -> PathBuf {
        self.dir(id).join("notes.html")
    }

    /// The processing log.
    pub fn log(&self, id: i64) -> PathBuf {
        self.dir(id).join("upgrade.log")
    }

    /// The custom modules sent with the request.
    pub fn modules(&self, id: i64) -> PathBuf {
        self.dir(id).join("modules.zip")
    }
}

/// A file a request's URLs serve: `.../<kind>/<what>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFile {
    /// `original/sql`: the uploaded database as SQL.
    OriginalSql,
    /// `original/archive`: the uploaded dump, as sent.
    OriginalDump,
    /// `upgraded/sql`: the upgraded database as SQL.
    UpgradedSql,
    /// `upgraded/archive`: the upgraded dump.
    UpgradedDump,
    /// `upgraded/notes`: the report of the processing.
    Notes,
    /// `upgraded/log`: the processing log, Odoo's output included (`upgrade.log`).
    Log,
    /// `modules/archive`: the custom modules sent with the request.
    Modules,
}

impl RequestFile {
    /// The file the URL parts `kind`/`what` name.
    pub fn from_url(kind: &str, what: &str) -> Option<Self> {
        Some(match (kind, what) {
            ("original", "sql") => RequestFile::OriginalSql,
            ("original", "archive") => RequestFile::OriginalDump,
            ("upgraded", "sql") => RequestFile::UpgradedSql,
            ("upgraded", "archive") => RequestFile::UpgradedDump,
            ("upgraded", "notes") => RequestFile::Notes,
            ("upgraded", "log") => RequestFile::Log,
            ("modules", "archive") => RequestFile::Modules,
            _ => return None,
        })
    }

    /// Whether the file may be served for a request in `state`: the upgraded database only
    /// once there is one; the notes also tell why a run failed.
    pub fn is_available_in(self, state: RequestState) -> bool {
        match self {
            RequestFile::UpgradedSql | RequestFile::UpgradedDump => state.has_result(),
            _ => true,
        }
    }

    /// Where the file of `record` is.
    pub fn path(self, files: &UpgradeFiles, record: &UpgradeRecord) -> PathBuf {
        let id = record.id;
        match self {
            RequestFile::OriginalSql => files.original_sql(id),
            RequestFile::OriginalDump => files.original(id, &record.filename),
            RequestFile::UpgradedSql => files.upgraded_sql(id),
            RequestFile::UpgradedDump => files.upgraded(id, &record.filename),
            RequestFile::Notes => files.notes(id),
            RequestFile::Log => files.log(id),
            RequestFile::Modules => files.modules(id),
        }
    }

    /// The name it downloads as; `None` for the notes and the log, which a browser shows.
    pub fn download_name(self, record: &UpgradeRecord) -> Option<String> {
        let stem = stem(&record.filename);
        match self {
            RequestFile::OriginalSql => Some(format!("{stem}.sql")),
            RequestFile::OriginalDump => Some(record.filename.clone()),
            RequestFile::UpgradedSql => Some(format!("upgraded_{stem}.sql")),
            RequestFile::UpgradedDump => Some(upgraded_name(&record.filename)),
            RequestFile::Notes | RequestFile::Log => None,
            RequestFile::Modules => Some(format!("modules_{}.zip", record.id)),
        }
    }
}

/// `db.dump` -> `db`, `db.sql.gz` -> `db`.
fn stem(filename: &str) -> &str {
    let mut stem = filename;
    for ext in [".gz", ".sql", ".dump", ".zip", ".tar", ".backup"] {
        stem = stem.strip_suffix(ext).unwrap_or(stem);
    }
    stem
}

/// Size and SHA-256 (hex) of the file at `path`, read in 1 MiB blocks.
pub(crate) fn sha256_of(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((size, format!("{:x}", hasher.finalize())))
}

/// Whether the file at `path` starts as a zip archive does.
pub(crate) fn starts_with_zip_magic(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

/// `upgraded_<filename>`, the name of the result (as the documented SFTP session shows).
pub fn upgraded_name(filename: &str) -> String {
    format!("upgraded_{filename}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_files_and_the_upgraded_ones_wait_for_a_result() {
        assert_eq!(
            RequestFile::from_url("upgraded", "archive"),
            Some(RequestFile::UpgradedDump)
        );
        assert_eq!(RequestFile::from_url("upgraded", "bogus"), None);
        assert_eq!(RequestFile::from_url("../etc", "passwd"), None);
        assert!(!RequestFile::UpgradedSql.is_available_in(RequestState::Progress));
        assert!(RequestFile::UpgradedSql.is_available_in(RequestState::Delivered));
        assert!(RequestFile::Notes.is_available_in(RequestState::Failed));
        assert_eq!(stem("db.sql.gz"), "db");
        assert_eq!(stem("openchs.70.cdump"), "openchs.70.cdump");
    }

    #[test]
    fn a_file_is_digested_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dump");
        std::fs::write(&path, b"abc").unwrap();
        let (size, sha256) = sha256_of(&path).unwrap();
        assert_eq!(size, 3);
        assert_eq!(
            sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(!starts_with_zip_magic(&path));
    }

    #[test]
    fn results_are_named_as_the_api_names_them() {
        let files = UpgradeFiles::new("/d/upgrade");
        assert_eq!(
            files.upgraded(7, "db.dump"),
            PathBuf::from("/d/upgrade/7/upgraded/upgraded_db.dump")
        );
    }
}
