//! Restoring a backup into a database and filestore: built under temporary names, then
//! swapped in by renames, so a restore that fails or is interrupted leaves the target as it
//! was.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use slipway_backup::{BackupKind, BackupLabels, Part};
use slipway_dump::Mode;

use super::swap::{crash_point, SwapJournal};
use super::{blocking, db_suffix, BackupSource, Backups, ProgressFn};
use crate::error::{Error, Result};

/// Where and how to restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// The database to create or replace.
    pub database: String,
    /// Its filestore folder, created or replaced.
    pub filestore: PathBuf,
    /// `Move` keeps the database's identity (restoring production); `Copy` gives it a new
    /// uuid and secret (a staging copy).
    pub mode: Mode,
    /// Neutralize the restored database (staging).
    pub neutralize: bool,
    /// When the target exists, back it up first with these labels (kind `before-restore`
    /// for production).
    pub safety_backup: Option<BackupLabels>,
}

impl RestoreOptions {
    /// Restore into `database` and `filestore`, as a move, without a safety backup.
    pub fn new(database: &str, filestore: impl Into<PathBuf>) -> RestoreOptions {
        RestoreOptions {
            database: database.to_string(),
            filestore: filestore.into(),
            mode: Mode::Move,
            neutralize: false,
            safety_backup: None,
        }
    }
}

/// What a restore or import did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreOutcome {
    /// The backup restored (for an import: none).
    pub backup: Option<String>,
    /// The database now in place.
    pub database: String,
    /// Its filestore folder.
    pub filestore: PathBuf,
    /// Filestore files written.
    pub filestore_files: u64,
    /// The safety backup taken of the previous database.
    pub safety_backup: Option<String>,
    /// A previous database was replaced.
    pub replaced: bool,
    /// The Odoo series of the database now in place (`16.0`), as the backup's manifest or the
    /// dump says: a branch running another series must switch to it. `None`: unknown.
    #[serde(default)]
    pub odoo_version: Option<String>,
    /// Wall time.
    pub seconds: f64,
}

impl Backups {
    /// Restores backup `id`; see the module documentation.
    pub async fn restore(
        &self,
        id: &str,
        options: &RestoreOptions,
        progress: Option<ProgressFn>,
    ) -> Result<RestoreOutcome> {
        let started = Instant::now();
        check_target_name(&options.database)?;
        let (manifest, report) = self.open_backup(id, progress).await?;
        let safety_backup = self.safety_backup(options).await?;
        let suffix = db_suffix(id);
        let temp_db = format!("slipway_restore_{suffix}");
        let temp_files = sibling(&options.filestore, &format!("restoring-{suffix}"))?;
        self.drop_scratch(&temp_db).await;
        remove_dir(&temp_files);

        let build = async {
            // side by side: the database is PostgreSQL's work, the filestore ours
            let (repo, m, d) = (self.repo.clone(), manifest.clone(), temp_files.clone());
            let files =
                blocking(move || Ok(repo.restore_files(&m, Part::Filestore, &d, &mut |_| {})?));
            let database = self.restore_database_as(&manifest, &temp_db, options.mode, &report);
            let (database, files) = tokio::join!(database, files);
            database?;
            let files = files?;
            if options.neutralize {
                slipway_dump::neutralize_database(&self.target, &temp_db, false).await?;
            }
            Ok::<u64, Error>(files)
        };
        let (files, replaced) = self
            .build_then_swap(&temp_db, &temp_files, options, build)
            .await?;
        Ok(RestoreOutcome {
            backup: Some(id.to_string()),
            database: options.database.clone(),
            filestore: options.filestore.clone(),
            filestore_files: files,
            safety_backup,
            replaced,
            odoo_version: manifest.odoo.known_series(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Takes the safety backup of the target when asked and the target exists.
    pub(crate) async fn safety_backup(&self, options: &RestoreOptions) -> Result<Option<String>> {
        let Some(labels) = &options.safety_backup else {
            return Ok(None);
        };
        if !self.target.database_exists(&options.database).await? {
            return Ok(None);
        }
        let source = BackupSource {
            database: options.database.clone(),
            filestore: options.filestore.clone(),
            logs_dir: None,
            sessions_dir: None,
        };
        let mut labels = labels.clone();
        if labels.kind == BackupKind::Daily || labels.kind == BackupKind::Manual {
            labels.kind = BackupKind::BeforeRestore;
        }
        let record = self.create(&source, labels, None).await?;
        Ok(Some(record.id))
    }

    /// Runs `build`, which fills the scratch database `temp_db` and folder `temp_files`, then
    /// puts them in place of `options`' database and filestore ([`Self::swap_in`]). When
    /// `build` fails, both scratch parts are removed and the target is as it was.
    pub(crate) async fn build_then_swap<T>(
        &self,
        temp_db: &str,
        temp_files: &Path,
        options: &RestoreOptions,
        build: impl std::future::Future<Output = Result<T>>,
    ) -> Result<(T, bool)> {
        let built = match build.await {
            Ok(built) => built,
            Err(e) => {
                self.drop_scratch(temp_db).await;
                remove_dir(temp_files);
                return Err(e);
            }
        };
        let replaced = self
            .swap_in(temp_db, temp_files, &options.database, &options.filestore)
            .await?;
        Ok((built, replaced))
    }

    /// Puts the database and filestore built under temporary names in place of the target's:
    /// the old ones are renamed away, the new ones renamed in, the old ones dropped. A failed
    /// rename puts the old ones back; a crash is ended at the next start from the journal
    /// written first ([`super::swap`]). Returns whether a database was replaced.
    pub(crate) async fn swap_in(
        &self,
        temp_db: &str,
        temp_files: &Path,
        database: &str,
        filestore: &Path,
    ) -> Result<bool> {
        let suffix = format!("{:08x}", rand::random::<u32>());
        let journal = SwapJournal {
            database: database.to_string(),
            old_db: format!("slipway_old_{suffix}"),
            temp_db: temp_db.to_string(),
            filestore: filestore.to_path_buf(),
            old_files: sibling(filestore, &format!("old-{suffix}"))?,
            temp_files: temp_files.to_path_buf(),
        };
        let held = journal.write(&self.swaps_dir())?;
        let swapped = self.swap_journaled(&journal).await;
        held.remove();
        swapped
    }

    async fn swap_journaled(&self, journal: &SwapJournal) -> Result<bool> {
        let SwapJournal {
            database,
            temp_db,
            filestore,
            old_files,
            temp_files,
            ..
        } = journal;
        let old_db = self
            .rename_in_as(temp_db, database, &journal.old_db)
            .await?;
        crash_point("restore-swap:database-in");
        let had_files = filestore.exists();
        let moved = (|| {
            if had_files {
                std::fs::rename(filestore, old_files)?;
            }
            if temp_files.exists() {
                std::fs::rename(temp_files, filestore)
            } else {
                std::fs::create_dir_all(filestore)
            }
        })();
        if let Err(source) = moved {
            if had_files && !filestore.exists() {
                let _ = std::fs::rename(old_files, filestore);
            }
            let _ = self.target.rename_database_only(database, temp_db).await;
            if let Some(old_db) = &old_db {
                let _ = self.target.rename_database_only(old_db, database).await;
            }
            return Err(Error::Io {
                context: format!("moving the restored filestore to {}", filestore.display()),
                source,
            });
        }
        let replaced = old_db.is_some();
        self.drop_replaced(old_db).await;
        remove_dir(old_files);
        Ok(replaced)
    }

    /// Renames `database` away (when it exists) and `temp_db` to `database`; a failed rename
    /// puts the old one back. Returns the name the old database now has.
    pub(crate) async fn rename_in(&self, temp_db: &str, database: &str) -> Result<Option<String>> {
        let old_db = format!("slipway_old_{:08x}", rand::random::<u32>());
        self.rename_in_as(temp_db, database, &old_db).await
    }

    /// [`Self::rename_in`], the old database renamed to `old_db`.
    async fn rename_in_as(
        &self,
        temp_db: &str,
        database: &str,
        old_db: &str,
    ) -> Result<Option<String>> {
        let replaced = self.target.database_exists(database).await?;
        if replaced {
            self.target.rename_database_only(database, old_db).await?;
            crash_point("restore-swap:database-away");
        }
        if let Err(e) = self.target.rename_database_only(temp_db, database).await {
            if replaced {
                let _ = self.target.rename_database_only(old_db, database).await;
            }
            return Err(e.into());
        }
        if replaced {
            // what runs on the database (a build's odoo.conf) logs in as its role: the
            // restored database takes it over
            if let Err(e) = self.target.take_role_of(database, old_db).await {
                let _ = self.target.rename_database_only(database, temp_db).await;
                let _ = self.target.rename_database_only(old_db, database).await;
                return Err(e.into());
            }
        }
        Ok(replaced.then(|| old_db.to_string()))
    }

    /// Drops the database [`Self::rename_in`] renamed away; a failure only leaves it behind.
    pub(crate) async fn drop_replaced(&self, old_db: Option<String>) {
        if let Some(old_db) = old_db {
            if let Err(e) = self.target.drop_database(&old_db).await {
                tracing::warn!(database = %old_db, error = %e, "could not drop the replaced database");
            }
        }
    }
}

/// A database name Slipway will create: what PostgreSQL and Odoo accept.
pub(crate) fn check_target_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "database name {name:?} is not allowed: use 1 to 63 letters, digits, '_', '-' or '.'"
        )))
    }
}

/// `<parent>/.<name>.<tag>`: a folder beside `dir`, on the same file system so a rename moves it.
pub(crate) fn sibling(dir: &Path, tag: &str) -> Result<PathBuf> {
    let name = dir.file_name().ok_or_else(|| {
        Error::Invalid(format!(
            "filestore {} has no folder name; give a folder such as <data>/filestore/<db>",
            dir.display()
        ))
    })?;
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|source| Error::Io {
        context: format!("creating {}", parent.display()),
        source,
    })?;
    Ok(parent.join(format!(".{}.{tag}", name.to_string_lossy())))
}

pub(crate) fn remove_dir(dir: &Path) {
    if dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove");
        }
    }
}
