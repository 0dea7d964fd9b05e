//! The swap that ends a restore or an import, made safe against a crash: before its first
//! rename, what it is about to do is written to a journal (`<data-dir>/swaps/*.json`, synced)
//! that the swapping process holds locked; after its last, the journal is removed. A journal
//! nobody holds, found by [`Backups::finish_interrupted_swaps`], is a swap a crash cut short.
//! It ends back at the target as it was while the restored database is not in yet, and forward
//! once it is (the database is renamed before the filestore, so its filestore follows it).

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::restore::remove_dir;
use super::Backups;
use crate::error::{Error, Result};

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

/// A written journal, locked while the swap runs: another process (a `backup` command beside
/// `serve`) leaves it alone; the lock goes with the process, so a crash frees it.
#[derive(Debug)]
pub(crate) struct HeldJournal {
    path: PathBuf,
    _locked: File,
}

impl HeldJournal {
    /// The swap is over: its journal goes.
    pub(crate) fn remove(self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(journal = %self.path.display(), "removing a finished swap's journal: {e}");
        }
    }
}

impl SwapJournal {
    /// Writes the journal under `dir`, synced and locked before it takes its `.json` name, so
    /// that no one ever sees it unheld while its swap runs.
    pub(crate) fn write(&self, dir: &Path) -> Result<HeldJournal> {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let path = dir.join(format!("{}.json", self.temp_db));
        let partial = path.with_extension("partial");
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Failed(format!("swap journal: {e}")))?;
        let write = || -> std::io::Result<File> {
            use std::io::Write;
            let mut file = File::create(&partial)?;
            file.write_all(&json)?;
            file.sync_all()?;
            file.lock()?;
            std::fs::rename(&partial, &path)?;
            File::open(dir)?.sync_all()?;
            Ok(file)
        };
        let locked = write().map_err(Error::io(format!("writing {}", path.display())))?;
        Ok(HeldJournal {
            path,
            _locked: locked,
        })
    }
}

/// The journal at `path` when no live swap holds it (then it is ours, locked), else `None`.
fn claim(path: &Path) -> Option<(SwapJournal, File)> {
    let file = File::open(path).ok()?;
    file.try_lock().ok()?;
    let journal = serde_json::from_slice(&std::fs::read(path).ok()?).ok();
    if journal.is_none() {
        tracing::warn!(journal = %path.display(), "unreadable swap journal left alone");
    }
    Some((journal?, file))
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
        let Ok(entries) = std::fs::read_dir(self.swaps_dir()) else {
            return Ok(Vec::new());
        };
        let mut done = Vec::new();
        for path in entries.flatten().map(|e| e.path()) {
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Some((journal, _claimed)) = claim(&path) else {
                continue;
            };
            let line = if self.target.database_exists(&journal.temp_db).await? {
                self.swap_back(&journal).await?
            } else {
                self.swap_forward(&journal).await?
            };
            tracing::warn!("{line}");
            std::fs::remove_file(&path)
                .map_err(Error::io(format!("removing {}", path.display())))?;
            done.push(line);
        }
        Ok(done)
    }

    /// The restored database is not in place: the old one back (when it was renamed away), the
    /// restored parts dropped.
    async fn swap_back(&self, j: &SwapJournal) -> Result<String> {
        let target = &self.target;
        if !target.database_exists(&j.database).await? && target.database_exists(&j.old_db).await? {
            target.rename_database_only(&j.old_db, &j.database).await?;
        }
        self.drop_scratch(&j.temp_db).await;
        if j.old_files.exists() && !j.filestore.exists() {
            std::fs::rename(&j.old_files, &j.filestore)
                .map_err(Error::io(format!("putting back {}", j.filestore.display())))?;
        }
        remove_dir(&j.temp_files);
        Ok(format!(
            "a restore into {0} was cut short before the restored database was in: {0} is as it was",
            j.database
        ))
    }

    /// The restored database is in place: its filestore moved in too, the old parts dropped.
    async fn swap_forward(&self, j: &SwapJournal) -> Result<String> {
        if j.temp_files.exists() {
            if j.filestore.exists() {
                std::fs::rename(&j.filestore, &j.old_files)
                    .map_err(Error::io(format!("moving {} aside", j.filestore.display())))?;
            }
            std::fs::rename(&j.temp_files, &j.filestore)
                .map_err(Error::io(format!("moving in {}", j.filestore.display())))?;
        } else {
            std::fs::create_dir_all(&j.filestore)
                .map_err(Error::io(format!("creating {}", j.filestore.display())))?;
        }
        if self.target.database_exists(&j.old_db).await? {
            self.drop_replaced(Some(j.old_db.clone())).await;
        }
        remove_dir(&j.old_files);
        Ok(format!(
            "a restore into {} was cut short after the restored database was in: its filestore was moved in too",
            j.database
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal() -> SwapJournal {
        SwapJournal {
            database: "prod".into(),
            old_db: "slipway_old_1".into(),
            temp_db: "slipway_restore_1".into(),
            filestore: "/data/filestore/prod".into(),
            old_files: "/data/filestore/.prod.old-1".into(),
            temp_files: "/data/filestore/.prod.restoring-1".into(),
        }
    }

    #[test]
    fn a_journal_is_written_whole_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let held = journal().write(&dir.path().join("swaps")).unwrap();
        let read: SwapJournal =
            serde_json::from_slice(&std::fs::read(&held.path).unwrap()).unwrap();
        assert_eq!(read, journal());
    }

    #[test]
    fn a_swap_under_way_is_left_alone_and_a_crashed_one_is_claimed() {
        let dir = tempfile::tempdir().unwrap();
        let held = journal().write(dir.path()).unwrap();
        let path = held.path.clone();
        assert!(claim(&path).is_none(), "its swap still runs");
        // what a crash does to the lock: the file closes with the process
        drop(held);
        let (claimed, _lock) = claim(&path).expect("nobody holds it any more");
        assert_eq!(claimed, journal());
    }
}
