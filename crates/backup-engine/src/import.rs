//! Importing a dump made elsewhere into a database and filestore: recognised and refused
//! before anything is touched when it is not an Odoo dump, restored under a temporary name,
//! mail servers and scheduled actions disabled (as Odoo.sh does on import), then swapped in.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use slipway_backup::BackupKind;
use slipway_dump::{InspectOptions, ZipLimits};

use super::restore::{sibling, RestoreOptions, RestoreOutcome};
use super::{blocking, sql, Backups};
use crate::error::{Error, Result};

/// What an import did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportOutcome {
    /// The dump's format (`odoo-zip`, `pg-custom`, `sql-gz`…).
    pub format: String,
    /// The Odoo series the dump holds (`17.0`): a branch on another series should switch.
    pub odoo_version: Option<String>,
    /// Installed modules in the dump.
    pub modules: usize,
    /// What was disabled after the restore.
    pub disabled: Vec<String>,
    /// The database and filestore put in place.
    pub restore: RestoreOutcome,
}

impl Backups {
    /// Imports `file` into `options.database` and `options.filestore` (a safety backup of
    /// kind `before-import` first when asked and the database exists).
    pub async fn import(&self, file: &Path, options: &RestoreOptions) -> Result<ImportOutcome> {
        let started = Instant::now();
        super::restore::check_target_name(&options.database)?;
        let inspect_options = InspectOptions {
            pg_restore: self.target.binaries.tool("pg_restore"),
            zip_limits: ZipLimits::default(),
        };
        let path = file.to_owned();
        let inspection = blocking(move || {
            slipway_dump::inspect(&path, &inspect_options)
                .map_err(|e| Error::Invalid(format!("cannot import {}: {e}", path.display())))
        })
        .await?;
        if inspection.base_version.is_none() && inspection.modules.is_empty() {
            return Err(Error::Invalid(format!(
                "cannot import {}: a {} dump, but not of an Odoo database (no base module in \
                 ir_module_module)",
                file.display(),
                inspection.format.as_str()
            )));
        }
        let mut safety = options.clone();
        if let Some(labels) = &mut safety.safety_backup {
            labels.kind = BackupKind::BeforeImport;
        }
        let safety_backup = self.safety_backup(&safety).await?;

        let suffix = format!("{:08x}", rand::random::<u32>());
        let temp_db = format!("slipway_import_{suffix}");
        let temp_files = sibling(&options.filestore, &format!("importing-{suffix}"))?;
        let build = async {
            let mut restore = slipway_dump::RestoreOptions::new(&temp_db);
            restore.mode = options.mode;
            restore.neutralize = options.neutralize;
            restore.jobs = 2;
            let report = slipway_dump::restore(&self.target, file, &restore)
                .await
                .map_err(|e| damaged_dump(file, e))?;
            let files = match &report.filestore {
                Some(dir) => move_tree(dir, &temp_files)?,
                None => 0,
            };
            let pool = sql::as_owner(&self.target, &temp_db).await?;
            let disabled = sql::disable_mail_and_crons(&pool).await;
            pool.close().await;
            Ok::<_, Error>((files, disabled?))
        };
        let ((files, disabled), replaced) = self
            .build_then_swap(&temp_db, &temp_files, options, build)
            .await?;
        Ok(ImportOutcome {
            format: inspection.format.as_str().to_string(),
            odoo_version: inspection.odoo_version.clone(),
            modules: inspection.modules.len(),
            disabled,
            restore: RestoreOutcome {
                backup: None,
                database: options.database.clone(),
                filestore: options.filestore.clone(),
                filestore_files: files,
                safety_backup,
                replaced,
                odoo_version: inspection.odoo_version.clone(),
                seconds: started.elapsed().as_secs_f64(),
            },
        })
    }
}

/// A dump recognised as a dump whose replay pg_restore or psql refused is damaged or
/// incomplete: the sender's problem (`Invalid`), said with what the tool reported.
fn damaged_dump(file: &Path, error: slipway_dump::DumpError) -> Error {
    match error {
        slipway_dump::DumpError::Tool { .. } => Error::Invalid(format!(
            "cannot import {}: the dump is damaged or incomplete and could not be restored \
             ({error}); nothing was changed: check the file or make the dump again",
            file.display()
        )),
        other => other.into(),
    }
}

/// Moves a folder (a rename, or a copy and removal across file systems); returns its files.
fn move_tree(from: &Path, to: &Path) -> Result<u64> {
    let io = |context: String| move |source| Error::Io { context, source };
    let count = walk(from)?.len() as u64;
    if std::fs::rename(from, to).is_ok() {
        return Ok(count);
    }
    for (rel, path) in walk(from)? {
        let dest = to.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        std::fs::copy(&path, &dest).map_err(io(format!("copying to {}", dest.display())))?;
    }
    std::fs::remove_dir_all(from).map_err(io(format!("removing {}", from.display())))?;
    Ok(count)
}

fn walk(dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| Error::Io {
            context: format!("listing {}", d.display()),
            source,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(path),
                Ok(t) if t.is_file() => {
                    if let Ok(rel) = path.strip_prefix(dir) {
                        out.push((rel.to_owned(), path.clone()));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(out)
}
