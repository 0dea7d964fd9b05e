//! The restore drill: a backup is restored into a scratch database `slipway_verify_<id>` and a
//! scratch filestore, and compared with what was recorded when it was taken. Every location
//! is checked chunk by chunk on the way, and a damaged or missing copy is healed from another.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use slipway_backup::{sha1_file, BackupManifest, LocationCheck, Part};
use slipway_dump::{Mode, RestoreOptions};
use sqlx::Connection;

use super::records;
use super::sql::{self, DatabaseFacts};
use super::{blocking, db_suffix, Backups, Phase, ProgressFn};
use crate::error::{Error, Result};
use slipway_metadata::{Job, JobKind, JobQueue};

/// A restore drill's result, recorded on the backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Nothing differed and every location holds the backup.
    pub ok: bool,
    /// The backup.
    pub backup: String,
    /// When the drill ran.
    pub checked_at: DateTime<Utc>,
    /// How long it took.
    pub seconds: f64,
    /// `base`'s version recorded and restored.
    pub base_version: (Option<String>, Option<String>),
    /// Installed modules recorded.
    pub modules_expected: usize,
    /// Installed modules in the restored database.
    pub modules_restored: usize,
    /// Row counts per main table: recorded, restored.
    pub row_counts: BTreeMap<String, (i64, Option<i64>)>,
    /// Filestore files recorded.
    pub files_expected: usize,
    /// Files restored with the right SHA-1.
    pub files_ok: usize,
    /// Distinct chunks checked in every location.
    pub chunks: u64,
    /// Per location: missing, corrupt and healed chunks.
    pub locations: Vec<LocationCheck>,
    /// Every difference or failure, in words.
    pub problems: Vec<String>,
}

impl Backups {
    /// Queues the restore drill of backup `id` (a [`JobKind::BackupVerify`] job).
    pub(crate) async fn queue_verification(&self, id: &str) -> Result<()> {
        JobQueue::new(self.pool.clone())
            .enqueue(JobKind::BackupVerify, &json!({ "backup": id }))
            .await?;
        Ok(())
    }

    /// Runs a [`JobKind::BackupVerify`] job: the drill of its backup, unless one was recorded meanwhile
    /// (someone ran `verify`) or the backup is gone (pruned).
    pub async fn run_verify_job(&self, job: &Job) -> Result<()> {
        let id = job.payload["backup"]
            .as_str()
            .ok_or_else(|| Error::Failed("backup.verify job without a backup id".into()))?;
        let drilled = self
            .alone(id, async {
                let record = match self.get(id).await {
                    Err(Error::NotFound(_)) => return Ok(None),
                    record => record?,
                };
                if record.verification.is_some() {
                    return Ok(None);
                }
                self.run_drill(id, None).await.map(Some)
            })
            .await?;
        if let Some(v) = drilled {
            if !v.ok {
                tracing::warn!(backup = %id, problems = ?v.problems, "backup verification failed");
            }
        }
        Ok(())
    }

    /// Runs the restore drill on backup `id` and records its result on the backup; a drill
    /// that finds problems is `Ok` with `ok: false` (an `Err` means it could not run).
    pub async fn verify(&self, id: &str, progress: Option<ProgressFn>) -> Result<Verification> {
        self.alone(id, self.run_drill(id, progress)).await
    }

    /// Runs `drill` once no other drill of backup `id` runs (they would share its scratch
    /// database's name), in any process: a session-level advisory lock on a connection of its
    /// own, so that it ends with the session even when the drill is abandoned half-way.
    async fn alone<T>(&self, id: &str, drill: impl Future<Output = Result<T>>) -> Result<T> {
        let mut session = self.pool.acquire().await?.detach();
        sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
            .bind(format!("slipway.verify:{id}"))
            .execute(&mut session)
            .await?;
        let done = drill.await;
        let _ = session.close().await;
        done
    }

    async fn run_drill(&self, id: &str, progress: Option<ProgressFn>) -> Result<Verification> {
        self.get(id).await?;
        let started = Instant::now();
        let (manifest, report) = self.open_backup(id, progress).await?;
        report(Phase::Checking, 0);
        let repo = self.repo.clone();
        let owned = id.to_string();
        let check = blocking(move || Ok(repo.check(&owned, true)?)).await?;
        let done: Vec<String> = check
            .locations
            .iter()
            .filter(|l| l.complete())
            .map(|l| l.location.clone())
            .collect();
        records::record_locations(&self.pool, id, &done, check.complete()).await?;

        let mut v = Verification {
            ok: false,
            backup: id.to_string(),
            checked_at: Utc::now(),
            seconds: 0.0,
            base_version: (manifest.odoo.base_version.clone(), None),
            modules_expected: manifest.odoo.modules.len(),
            modules_restored: 0,
            row_counts: BTreeMap::new(),
            files_expected: manifest.filestore.len(),
            files_ok: 0,
            chunks: check.chunks,
            locations: check.locations.clone(),
            problems: Vec::new(),
        };
        for l in &check.locations {
            if !l.complete() {
                v.problems.push(format!(
                    "location {}: {} chunks missing, {} corrupt, {} healed{}{}",
                    l.location,
                    l.missing,
                    l.corrupt,
                    l.healed,
                    if l.manifest_missing && !l.manifest_healed {
                        ", manifest missing"
                    } else {
                        ""
                    },
                    l.error
                        .as_ref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ));
            }
        }
        if !check.lost.is_empty() {
            v.problems.push(format!(
                "{} chunks have no sound copy in any location",
                check.lost.len()
            ));
        }

        let scratch = format!("slipway_verify_{}", db_suffix(id));
        let drill = self.drill(&manifest, &scratch, &mut v, &report).await;
        self.drop_scratch(&scratch).await;
        if let Err(e) = drill {
            v.problems.push(format!("restore drill failed: {e}"));
        }
        v.seconds = started.elapsed().as_secs_f64();
        v.ok = v.problems.is_empty();
        let json = serde_json::to_value(&v).unwrap_or_default();
        records::record_verification(&self.pool, id, &json).await?;
        Ok(v)
    }

    async fn drill(
        &self,
        manifest: &BackupManifest,
        scratch: &str,
        v: &mut Verification,
        report: &(dyn Fn(Phase, u64) + Sync),
    ) -> Result<()> {
        self.drop_scratch(scratch).await;
        self.restore_database_as(manifest, scratch, Mode::Move, report)
            .await?;
        report(Phase::Filestore, 0);
        let dest = self.target.filestore(scratch);
        let (repo, m, d) = (self.repo.clone(), manifest.clone(), dest.clone());
        blocking(move || Ok(repo.restore_files(&m, Part::Filestore, &d, &mut |_| {})?)).await?;
        let (m, d) = (manifest.clone(), dest.clone());
        let bad = blocking(move || {
            let mut bad = Vec::new();
            for f in &m.filestore {
                match sha1_file(&d.join(&f.path)) {
                    Ok(sha) if sha == f.sha1 => {}
                    Ok(sha) => bad.push(format!("{}: SHA-1 {sha}, expected {}", f.path, f.sha1)),
                    Err(e) => bad.push(format!("{}: {e}", f.path)),
                }
            }
            Ok(bad)
        })
        .await?;
        v.files_ok = manifest.filestore.len() - bad.len();
        v.problems
            .extend(bad.into_iter().map(|b| format!("file {b}")));

        report(Phase::Checking, 0);
        let pool = sql::as_owner(&self.target, scratch).await?;
        let mut conn = pool.acquire().await?;
        let restored = sql::facts(&mut conn).await?;
        drop(conn);
        pool.close().await;
        compare(manifest, &restored, v);
        Ok(())
    }

    /// Writes the backup's dump to a scratch file and restores it into `database` (which must
    /// not exist) through slipway_dump; the scratch file is removed either way.
    pub(crate) async fn restore_database_as(
        &self,
        manifest: &BackupManifest,
        database: &str,
        mode: Mode,
        report: &(dyn Fn(Phase, u64) + Sync),
    ) -> Result<()> {
        let Some(part) = manifest.database.clone() else {
            return Err(Error::Invalid(format!(
                "backup {} holds no database",
                manifest.id
            )));
        };
        let file = self.scratch_file(
            &format!("{}_{:08x}", db_suffix(&manifest.id), rand::random::<u32>()),
            "dump",
        )?;
        let (repo, id, f) = (self.repo.clone(), manifest.id.clone(), file.clone());
        let reading = blocking(move || {
            let out = std::fs::File::create(&f).map_err(|source| Error::Io {
                context: format!("creating {}", f.display()),
                source,
            })?;
            repo.read_stream(&id, &part.stream, std::io::BufWriter::new(out), &mut |_| {})?;
            Ok(())
        });
        report(Phase::Reading, 0);
        let result = async {
            reading.await?;
            report(Phase::Restoring, 0);
            let mut options = RestoreOptions::new(database);
            options.mode = mode;
            options.jobs = 2;
            slipway_dump::restore(&self.target, &file, &options).await?;
            Ok(())
        }
        .await;
        let _ = std::fs::remove_file(&file);
        result
    }

    pub(crate) async fn drop_scratch(&self, db: &str) {
        if let Err(e) = self.target.drop_database(db).await {
            tracing::warn!(database = db, error = %e, "could not drop a scratch database");
        }
    }
}

fn compare(manifest: &BackupManifest, restored: &DatabaseFacts, v: &mut Verification) {
    v.base_version.1 = restored.base_version.clone();
    if manifest.odoo.base_version != restored.base_version {
        v.problems.push(format!(
            "base version {:?} restored as {:?}",
            manifest.odoo.base_version, restored.base_version
        ));
    }
    v.modules_restored = restored.modules.len();
    let expected = &manifest.odoo.modules;
    let missing: Vec<&String> = expected
        .keys()
        .filter(|m| !restored.modules.contains_key(*m))
        .collect();
    let extra: Vec<&String> = restored
        .modules
        .keys()
        .filter(|m| !expected.contains_key(*m))
        .collect();
    let changed: Vec<&String> = expected
        .iter()
        .filter(|(m, ver)| restored.modules.get(*m).is_some_and(|r| r != *ver))
        .map(|(m, _)| m)
        .collect();
    if !missing.is_empty() {
        v.problems.push(format!("modules missing: {missing:?}"));
    }
    if !extra.is_empty() {
        v.problems
            .push(format!("modules not in the backup: {extra:?}"));
    }
    if !changed.is_empty() {
        v.problems
            .push(format!("module versions differ: {changed:?}"));
    }
    for (table, &count) in &manifest.row_counts {
        let got = restored.row_counts.get(table).copied();
        if got != Some(count) {
            v.problems.push(format!(
                "table {table}: {count} rows recorded, {} restored",
                got.map_or("no table".to_string(), |n| n.to_string())
            ));
        }
        v.row_counts.insert(table.clone(), (count, got));
    }
}
