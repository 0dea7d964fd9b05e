//! The swap that ends a restore or an import, made safe against a crash: before its first
//! rename, what it is about to do is written to a journal (`<data-dir>/swaps/*.json`, synced);
//! after its last, the journal is removed. A journal found at the next start
//! ([`Backups::finish_interrupted_swaps`]) is a swap cut short, and [`recovery`] says how to end
//! it: back to the target as it was while the restored database is not in yet, forward to the
//! restored one once it is (the database is renamed before the filestore, so its filestore
//! follows it).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::restore::remove_dir;
use super::Backups;
use crate::error::{PlatformError, Result};

/// One swap: the target's names, where its old parts go, and the restored parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SwapJournal {
    /// The database restored into.
    pub database: String,
    /// The name its old database is renamed to.
    pub old_db: String,
    /// The restored database, built under this name.
    pub temp_db: String,
    /// The filestore restored into.
    pub filestore: PathBuf,
    /// Where its old filestore is moved.
    pub old_files: PathBuf,
    /// The restored filestore, built here.
    pub temp_files: PathBuf,
}

/// How an interrupted swap ends, from what is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// The restored database is not in place: put the old one back (when it was renamed away)
    /// and drop the restored parts.
    Back,
    /// The restored database is in place: move its filestore in too and drop the old parts.
    Forward,
}

/// The pure rule: the restored database still under its temporary name means the swap had
/// not put it in.
pub(crate) fn recovery(temp_db_exists: bool) -> Recovery {
    if temp_db_exists {
        Recovery::Back
    } else {
        Recovery::Forward
    }
}

impl SwapJournal {
    /// Writes the journal under `dir`, synced, and returns its path.
    pub(crate) fn write(&self, dir: &Path) -> Result<PathBuf> {
        let io = |context: String| move |source| PlatformError::Io { context, source };
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let path = dir.join(format!("{}.json", self.temp_db));
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| PlatformError::Failed(format!("swap journal: {e}")))?;
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&path)?;
            file.write_all(&json)?;
            file.sync_all()?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(io(format!("writing {}", path.display())))?;
        Ok(path)
    }
}

/// Stops the process here when `SLIPWAY_CRASH_AT` names this point: a real crash, for the tests
/// that check what the next start makes of it.
pub(crate) fn crash_point(name: &str) {
    if std::env::var("SLIPWAY_CRASH_AT").as_deref() == Ok(name) {
        eprintln!("SLIPWAY_CRASH_AT={name}: aborting here, as a crash would");
        std::process::abort();
    }
}

impl Backups {
    /// Where swap journals are kept.
    pub(crate) fn swaps_dir(&self) -> PathBuf {
        self.target.data_dir.join("swaps")
    }

    /// Ends the swaps a crash cut short (see the module documentation); returns what was done,
    /// a line per swap. `serve` and the `backup` commands call it before anything else.
    pub async fn finish_interrupted_swaps(&self) -> Result<Vec<String>> {
        let dir = self.swaps_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut done = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let journal: SwapJournal = match std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            {
                Some(journal) => journal,
                None => {
                    tracing::warn!(journal = %path.display(), "unreadable swap journal left alone");
                    continue;
                }
            };
            let line = self.finish_swap(&journal).await?;
            tracing::warn!("{line}");
            std::fs::remove_file(&path).map_err(|source| PlatformError::Io {
                context: format!("removing {}", path.display()),
                source,
            })?;
            done.push(line);
        }
        Ok(done)
    }

    async fn finish_swap(&self, j: &SwapJournal) -> Result<String> {
        let target = &self.target;
        let io = |context: String| move |source| PlatformError::Io { context, source };
        match recovery(target.database_exists(&j.temp_db).await?) {
            Recovery::Back => {
                if !target.database_exists(&j.database).await?
                    && target.database_exists(&j.old_db).await?
                {
                    target.rename_database_only(&j.old_db, &j.database).await?;
                }
                self.drop_scratch(&j.temp_db).await;
                if j.old_files.exists() && !j.filestore.exists() {
                    std::fs::rename(&j.old_files, &j.filestore)
                        .map_err(io(format!("putting back {}", j.filestore.display())))?;
                }
                remove_dir(&j.temp_files);
                Ok(format!(
                    "a restore into {} was cut short before the restored database was in: {} is as it was",
                    j.database, j.database
                ))
            }
            Recovery::Forward => {
                if j.temp_files.exists() {
                    if j.filestore.exists() {
                        std::fs::rename(&j.filestore, &j.old_files)
                            .map_err(io(format!("moving {} aside", j.filestore.display())))?;
                    }
                    std::fs::rename(&j.temp_files, &j.filestore)
                        .map_err(io(format!("moving in {}", j.filestore.display())))?;
                } else {
                    std::fs::create_dir_all(&j.filestore)
                        .map_err(io(format!("creating {}", j.filestore.display())))?;
                }
                if target.database_exists(&j.old_db).await? {
                    self.drop_replaced(Some(j.old_db.clone())).await;
                }
                remove_dir(&j.old_files);
                Ok(format!(
                    "a restore into {} was cut short after the restored database was in: its filestore was moved in too",
                    j.database
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_goes_back_until_the_restored_database_is_in_then_forward() {
        assert_eq!(recovery(true), Recovery::Back);
        assert_eq!(recovery(false), Recovery::Forward);
    }

    #[test]
    fn a_journal_is_written_whole_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let journal = SwapJournal {
            database: "prod".into(),
            old_db: "slipway_old_1".into(),
            temp_db: "slipway_restore_1".into(),
            filestore: "/data/filestore/prod".into(),
            old_files: "/data/filestore/.prod.old-1".into(),
            temp_files: "/data/filestore/.prod.restoring-1".into(),
        };
        let path = journal.write(&dir.path().join("swaps")).unwrap();
        let read: SwapJournal = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(read, journal);
    }
}
