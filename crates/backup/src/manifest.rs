//! What a backup is: its labels, what it holds and how to put each part back together.
//!
//! A manifest is JSON (`backups/<id>.json` in every location), written after every chunk it
//! names, so a manifest present means a backup whole in that location.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::retention::BackupKind;
use crate::store::{ChunkId, Manifest};

/// The manifest format written by this version.
pub const MANIFEST_FORMAT: u32 = 1;

/// Who and why: the project, branch and revision a backup was taken of, and its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupLabels {
    /// The project, when the source belongs to one.
    pub project: Option<String>,
    /// The branch.
    pub branch: Option<String>,
    /// The Git revision running when it was taken.
    pub revision: Option<String>,
    /// Why it was taken.
    pub kind: BackupKind,
}

impl BackupLabels {
    /// Labels with only a kind.
    pub fn of_kind(kind: BackupKind) -> BackupLabels {
        BackupLabels {
            project: None,
            branch: None,
            revision: None,
            kind,
        }
    }
}

/// Which part of a backup a file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The Odoo filestore (`<sha1[:2]>/<sha1>` files).
    Filestore,
    /// The build's logs.
    Logs,
    /// Odoo's HTTP sessions.
    Sessions,
}

impl Part {
    /// Its name in paths and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Filestore => "filestore",
            Part::Logs => "logs",
            Part::Sessions => "sessions",
        }
    }
}

/// One file of the filestore, logs or sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Its path relative to its part's folder, `/`-separated.
    pub path: String,
    /// Its SHA-1 (what Odoo names filestore files by), hexadecimal.
    pub sha1: String,
    /// Its Unix mode bits.
    pub mode: u32,
    /// Its chunks.
    pub stream: Manifest,
}

/// How the database is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabasePart {
    /// The database's name when it was backed up.
    pub name: String,
    /// The dump format: `pg-custom` (`pg_dump -Fc -Z0`, so unchanged table rows chunk the
    /// same from one day to the next).
    pub format: String,
    /// The dump's chunks.
    pub stream: Manifest,
}

/// Sizes in bytes (uncompressed, before deduplication).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    /// The database dump.
    pub database: u64,
    /// The filestore.
    pub filestore: u64,
    /// Logs.
    pub logs: u64,
    /// Sessions.
    pub sessions: u64,
    /// Bytes of new chunks this backup added to the primary location (after compression).
    pub added: u64,
}

impl Sizes {
    /// Everything the backup restores.
    pub fn total(&self) -> u64 {
        self.database + self.filestore + self.logs + self.sessions
    }
}

/// What Odoo the database runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OdooInfo {
    /// The series (`17.0`).
    pub series: Option<String>,
    /// `base`'s `latest_version` (`17.0.1.3`).
    pub base_version: Option<String>,
    /// Installed modules and their versions.
    pub modules: BTreeMap<String, String>,
}

impl OdooInfo {
    /// The database's series: as recorded, else the first two parts of `base_version` (a
    /// manifest written without the series); `None` when the database held no Odoo.
    pub fn known_series(&self) -> Option<String> {
        if let Some(series) = &self.series {
            return Some(series.clone());
        }
        let mut parts = self.base_version.as_deref()?.split('.');
        let (major, minor) = (parts.next()?, parts.next()?);
        Some(format!("{major}.{minor}"))
    }
}

/// A whole backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// Its id: `YYYYMMDDTHHMMSSZ-<8 hex>`, sorting by time.
    pub id: String,
    /// Project, branch, revision, kind.
    pub labels: BackupLabels,
    /// When it was taken.
    pub created_at: DateTime<Utc>,
    /// The PostgreSQL server version it was dumped from.
    pub postgresql: Option<String>,
    /// The Odoo version and modules (absent from a manifest written without them: unknown).
    #[serde(default)]
    pub odoo: OdooInfo,
    /// Row counts of the main tables, in the dump's snapshot.
    pub row_counts: BTreeMap<String, i64>,
    /// The database dump.
    pub database: Option<DatabasePart>,
    /// Filestore files, sorted by path.
    pub filestore: Vec<FileEntry>,
    /// Log files.
    pub logs: Vec<FileEntry>,
    /// Session files.
    pub sessions: Vec<FileEntry>,
    /// Sizes.
    pub sizes: Sizes,
}

impl BackupManifest {
    /// A new, empty manifest.
    pub fn new(id: String, labels: BackupLabels, created_at: DateTime<Utc>) -> BackupManifest {
        BackupManifest {
            format: MANIFEST_FORMAT,
            id,
            labels,
            created_at,
            postgresql: None,
            odoo: OdooInfo::default(),
            row_counts: BTreeMap::new(),
            database: None,
            filestore: Vec::new(),
            logs: Vec::new(),
            sessions: Vec::new(),
            sizes: Sizes::default(),
        }
    }

    /// The files of a part.
    pub fn files(&self, part: Part) -> &[FileEntry] {
        match part {
            Part::Filestore => &self.filestore,
            Part::Logs => &self.logs,
            Part::Sessions => &self.sessions,
        }
    }

    pub(crate) fn files_mut(&mut self, part: Part) -> &mut Vec<FileEntry> {
        match part {
            Part::Filestore => &mut self.filestore,
            Part::Logs => &mut self.logs,
            Part::Sessions => &mut self.sessions,
        }
    }

    /// Every stream of the backup (database first).
    pub fn streams(&self) -> impl Iterator<Item = &Manifest> {
        self.database
            .iter()
            .map(|d| &d.stream)
            .chain(self.filestore.iter().map(|f| &f.stream))
            .chain(self.logs.iter().map(|f| &f.stream))
            .chain(self.sessions.iter().map(|f| &f.stream))
    }

    /// Every distinct chunk with its size, sorted.
    pub fn chunks(&self) -> BTreeMap<ChunkId, u32> {
        self.streams()
            .flat_map(|s| s.chunks.iter().map(|c| (c.id, c.size)))
            .collect()
    }

    /// The object key of a backup's manifest.
    pub fn key(id: &str) -> String {
        format!("backups/{id}.json")
    }
}

/// A new backup id for `at`: `YYYYMMDDTHHMMSSZ-` and 8 random hex digits.
pub fn new_backup_id(at: DateTime<Utc>) -> String {
    format!(
        "{}-{:08x}",
        at.format("%Y%m%dT%H%M%SZ"),
        rand::random::<u32>()
    )
}

/// Whether a string is a backup id this crate could have made (checked before it is used in a
/// key or a database name).
pub fn is_backup_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 25
        && bytes[8] == b'T'
        && bytes[15] == b'Z'
        && bytes[16] == b'-'
        && bytes[..8].iter().all(u8::is_ascii_digit)
        && bytes[9..15].iter().all(u8::is_ascii_digit)
        && bytes[17..]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_are_recognised() {
        let a = new_backup_id("2026-01-02T03:04:05Z".parse().unwrap());
        let b = new_backup_id("2026-01-02T03:04:06Z".parse().unwrap());
        assert!(a < b);
        assert!(a.starts_with("20260102T030405Z-"), "{a}");
        assert!(is_backup_id(&a) && is_backup_id(&b));
        for bad in [
            "",
            "../x",
            "20260102T030405Z-0000000G",
            "20260102T030405Z-00000000x",
        ] {
            assert!(!is_backup_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_manifest_round_trips_through_json() {
        let m = BackupManifest::new(
            "20260102T030405Z-00000001".into(),
            BackupLabels::of_kind(BackupKind::BeforeUpdate),
            "2026-01-02T03:04:05Z".parse().unwrap(),
        );
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"before-update\""), "{json}");
        assert_eq!(serde_json::from_str::<BackupManifest>(&json).unwrap(), m);
    }

    /// What a restore needs to switch a branch's series back: the series recorded, else the
    /// one `base`'s version says, else (nothing recorded of Odoo at all) none.
    #[test]
    fn a_manifest_knows_its_series_even_when_written_without_it() {
        let mut m = BackupManifest::new(
            "20260102T030405Z-00000001".into(),
            BackupLabels::of_kind(BackupKind::Daily),
            "2026-01-02T03:04:05Z".parse().unwrap(),
        );
        m.odoo.series = Some("16.0".into());
        assert_eq!(m.odoo.known_series().as_deref(), Some("16.0"));
        m.odoo.series = None;
        m.odoo.base_version = Some("17.0.1.3".into());
        assert_eq!(m.odoo.known_series().as_deref(), Some("17.0"));
        m.odoo.base_version = None;
        assert_eq!(m.odoo.known_series(), None);

        let mut json: serde_json::Value = serde_json::to_value(&m).unwrap();
        json.as_object_mut().unwrap().remove("odoo");
        let read: BackupManifest = serde_json::from_value(json).unwrap();
        assert_eq!(read.odoo, OdooInfo::default());
        assert_eq!(read.odoo.known_series(), None);
    }
}
