//! The backup routes: `/api/projects/{p}/branches/{b}/backups|restore-to-time|pitr-window|
//! import`, `/api/backups/{id}/verify|download|restore`, `/api/backups/prune` and
//! `/api/builds/{id}/dump`.
//!
//! Most answers are the backup engine's records as they are ([`BackupRecord`],
//! [`Verification`], [`RestoreOutcome`], [`PitrOutcome`], [`PitrWindow`], [`PruneReport`]);
//! importing a dump into a branch answers an [`ImportAnswer`], restoring a backup into one a
//! [`RestoreAnswer`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use slipway_backup_engine::{
    BackupKind, BackupRecord, BackupState, DownloadFormat, ImportOutcome, PitrOutcome, PitrWindow,
    PruneReport, RestoreOutcome, Verification,
};

/// `POST /api/backups/{id}/restore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreBody {
    /// The branch whose database is replaced (production, or a staging branch).
    pub branch: String,
}

/// `POST /api/projects/{p}/branches/{b}/restore-to-time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreToTimeBody {
    /// The time to take production back to (RFC 3339).
    pub at: DateTime<Utc>,
}

/// A download format this server does not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("format {0:?}: use zip or sql-gz")]
pub struct UnknownFormat(pub String);

/// The query of `GET /api/backups/{id}/download` and `GET /api/builds/{id}/dump`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadQuery {
    /// `zip` (default) or `sql-gz`.
    pub format: Option<String>,
    /// Include the filestore in a zip (default yes).
    pub filestore: Option<bool>,
    /// Neutralize the copy (default no: "exact").
    pub neutralized: Option<bool>,
}

impl DownloadQuery {
    /// The format asked for and its file extension.
    pub fn format(&self) -> Result<(DownloadFormat, &'static str), UnknownFormat> {
        match self.format.as_deref().unwrap_or("zip") {
            "zip" => Ok((DownloadFormat::Zip, "zip")),
            "sql-gz" => Ok((DownloadFormat::SqlGz, "sql.gz")),
            other => Err(UnknownFormat(other.to_string())),
        }
    }

    /// Whether the filestore goes in (zips only; default yes).
    pub fn filestore(&self, format: DownloadFormat) -> bool {
        self.filestore.unwrap_or(true) && format == DownloadFormat::Zip
    }

    /// Whether the copy is neutralized (default no).
    pub fn neutralized(&self) -> bool {
        self.neutralized.unwrap_or(false)
    }

    /// The end of the file's name: `-nofilestore` and `-neutralized` as they apply, then the
    /// extension (`-nofilestore.sql.gz`).
    pub fn file_suffix(&self, format: DownloadFormat, extension: &str) -> String {
        let files = if self.filestore(format) {
            ""
        } else {
            "-nofilestore"
        };
        let neutralized = if self.neutralized() {
            "-neutralized"
        } else {
            ""
        };
        format!("{files}{neutralized}.{extension}")
    }
}

/// The query of `POST /api/projects/{p}/branches/{b}/import`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportQuery {
    /// Neutralize the imported database (default: yes, except into production).
    pub neutralize: Option<bool>,
}

/// The answer of `POST /api/projects/{p}/branches/{b}/import`: what the import did, and
/// what followed for the branch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportAnswer {
    /// What the import did.
    #[serde(flatten)]
    pub imported: ImportOutcome,
    /// The branch's switch to the dump's Odoo series, when it ran another one.
    pub series_switched: Option<SeriesSwitch>,
    /// Why the branch's server did not start again (`null`: it did).
    pub server_error: Option<String>,
}

/// The answer of `POST /api/backups/{id}/restore`: what the restore did, and the branch's
/// switch back to the backup's Odoo series when it ran another one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreAnswer {
    /// What the restore did.
    #[serde(flatten)]
    pub restored: RestoreOutcome,
    /// The branch's switch to the backup's Odoo series (`null`: none was needed).
    pub series_switched: Option<SeriesSwitch>,
}

/// A branch that switched Odoo series to follow the database put in it (an imported dump, a
/// restored backup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesSwitch {
    /// The series it ran.
    pub from: String,
    /// The database's series, which it runs now.
    pub to: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_say_what_was_left_out() {
        let query = DownloadQuery {
            format: Some("sql-gz".into()),
            filestore: None,
            neutralized: Some(true),
        };
        let (format, extension) = query.format().unwrap();
        assert_eq!(
            query.file_suffix(format, extension),
            "-nofilestore-neutralized.sql.gz"
        );
        let zip = DownloadQuery::default();
        let (format, extension) = zip.format().unwrap();
        assert_eq!(zip.file_suffix(format, extension), ".zip");
        let tar = DownloadQuery {
            format: Some("tar".into()),
            ..DownloadQuery::default()
        };
        assert!(tar
            .format()
            .unwrap_err()
            .to_string()
            .contains("use zip or sql-gz"));
    }
}
