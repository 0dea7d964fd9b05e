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

use std::path::{Path, PathBuf};

use slipway_odoo::Series;

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

/// `upgraded_<filename>`, the name of the result (as the documented SFTP session shows).
pub fn upgraded_name(filename: &str) -> String {
    format!("upgraded_{filename}")
}

/// The target series this server offers: the series folders (`17.0`, `saas~17.2`...) of the
/// upgrade-scripts directory, in release order.
pub fn offered_targets(scripts_dir: Option<&Path>) -> Vec<String> {
    let Some(dir) = scripts_dir else {
        return Vec::new();
    };
    let mut targets: Vec<Series> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    targets.sort();
    targets.iter().map(Series::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_the_series_folders_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["17.0", "saas~16.3", "16.0", "notes", "18.0"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("15.0"), "a file, not a folder").unwrap();
        assert_eq!(
            offered_targets(Some(dir.path())),
            ["16.0", "saas~16.3", "17.0", "18.0"]
        );
        assert!(offered_targets(None).is_empty());
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
