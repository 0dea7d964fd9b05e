//! Point-in-time recovery of a database of the embedded cluster.
//!
//! The cluster archives each finished WAL file into a spool folder (`archive_command`, see
//! `slipway_pg::archive_settings`); [`Backups::ingest_wal`] moves spooled files into the
//! repository (durable there before the spool copy is removed). [`Backups::base_backup`]
//! stores a `pg_basebackup` of the whole cluster; the daily job takes one. A recovery to
//! minute T ([`Backups::restore_to_time`]) plans with `slipway_backup::pitr::plan_recovery`,
//! unpacks the base backup into a scratch cluster, gives it the WAL files, replays up to T and
//! promotes, dumps the one database and restores it into the live cluster under a temporary
//! name, then swaps it in by renames (after a `before-restore` safety backup), so a failure
//! anywhere leaves the target as it was.
//!
//! The filestore is not part of the WAL: it is kept as it is (Odoo only adds files to it, and
//! removes unreferenced ones in its garbage collection).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use slipway_backup::pitr::{
    self, parse_wal_name, plan_recovery, recovery_windows, segment_name, segment_number,
    ArchivedSegment, BaseBackupInfo, Interval, WalName,
};
use slipway_backup::{new_backup_id, ArchivedWal, BaseBackupManifest};
use slipway_pg::{ScratchCluster, Server};

use super::restore::{check_target_name, RestoreOptions};
use super::{blocking, db_suffix, Backups};
use crate::error::{Error, Result};

/// How far past the target the first attempt stages WAL (replay stops at the first commit
/// after the target, usually within a minute given `archive_timeout`).
const STAGE_MARGIN_MINUTES: i64 = 5;

/// A base backup is taken with a daily backup unless one is younger than this.
const BASE_BACKUP_EVERY: Duration = Duration::from_secs(20 * 3600);

/// What [`Backups::ingest_wal`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    /// Files now in the repository and gone from the spool.
    pub ingested: Vec<String>,
    /// Replicas that missed a file (caught up at the next base backup).
    pub replica_errors: Vec<String>,
    /// Files left in the spool, and why.
    pub problems: Vec<String>,
}

/// The times a database can be recovered to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PitrWindow {
    /// Whether the running cluster archives its WAL (`archive_mode`).
    pub archiving: bool,
    /// The recoverable stretches, oldest first (more than one only when WAL was lost).
    pub windows: Vec<Interval>,
    /// Base backups in the repository.
    pub base_backups: usize,
    /// WAL files in the repository.
    pub wal_files: usize,
    /// When the newest WAL file was archived.
    pub last_archived: Option<DateTime<Utc>>,
}

/// What a point-in-time restore did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PitrOutcome {
    /// The database replaced or created.
    pub database: String,
    /// The time it was recovered to.
    pub at: DateTime<Utc>,
    /// The base backup replay started from.
    pub base_backup: String,
    /// WAL files given to replay.
    pub wal_files: usize,
    /// The safety backup taken of the previous database.
    pub safety_backup: Option<String>,
    /// A previous database was replaced.
    pub replaced: bool,
    /// The filestore, kept as it was.
    pub filestore: PathBuf,
    /// Wall time.
    pub seconds: f64,
}

impl Backups {
    /// The same service, archiving the WAL of its cluster through `spool` (the embedded
    /// cluster's `Layout::wal_spool`): enables [`ingest_wal`](Backups::ingest_wal), base
    /// backups and point-in-time recovery.
    pub fn with_wal_spool(mut self, spool: impl Into<PathBuf>) -> Backups {
        self.wal_spool = Some(spool.into());
        self
    }

    fn spool(&self) -> Result<&Path> {
        self.wal_spool.as_deref().ok_or_else(|| {
            Error::Conflict(
                "point-in-time recovery needs the embedded PostgreSQL, whose WAL Slipway \
                 archives; it is not available with --pg-url"
                    .into(),
            )
        })
    }

    /// Moves the WAL files the archiver spooled into the repository, oldest first. A file is
    /// removed from the spool only once the primary holds it; a file the repository already
    /// holds with other bytes stays in the spool and is reported.
    pub async fn ingest_wal(&self) -> Result<IngestReport> {
        let spool = self.spool()?.to_path_buf();
        let repo = self.repo.clone();
        blocking(move || {
            let mut report = IngestReport::default();
            let mut names: Vec<String> = match std::fs::read_dir(&spool) {
                Ok(entries) => entries
                    .flatten()
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .filter(|n| parse_wal_name(n).is_some())
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
                Err(source) => {
                    return Err(Error::Io {
                        context: format!("listing the WAL spool {}", spool.display()),
                        source,
                    })
                }
            };
            if names.is_empty() {
                return Ok(report);
            }
            names.sort();
            let held: BTreeMap<String, ArchivedWal> = repo
                .list_wal()?
                .into_iter()
                .map(|w| (w.name.clone(), w))
                .collect();
            for name in names {
                let path = spool.join(&name);
                let io = |source| Error::Io {
                    context: format!("reading {}", path.display()),
                    source,
                };
                let data = match std::fs::read(&path) {
                    Ok(data) => data,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io(e)),
                };
                let archived_at: DateTime<Utc> = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .map_err(io)?
                    .into();
                if let Some(existing) = held.get(&name) {
                    if repo.get_wal(existing)? != data {
                        report.problems.push(format!(
                            "{name}: the repository holds other bytes under this name; \
                             left in {}",
                            spool.display()
                        ));
                        continue;
                    }
                } else {
                    let (_, failed) = repo.put_wal(&name, &data, archived_at)?;
                    report.replica_errors.extend(failed);
                }
                std::fs::remove_file(&path).or_else(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Ok(())
                    } else {
                        Err(io(e))
                    }
                })?;
                report.ingested.push(name);
            }
            Ok(report)
        })
        .await
    }

    /// Takes a base backup of the whole cluster into the repository (`pg_basebackup -Ft -X
    /// none`: its WAL comes from the archive, which it waits for).
    pub async fn base_backup(&self) -> Result<BaseBackupManifest> {
        self.spool()?;
        let admin = self.target.admin().await?;
        let archiving: String = sqlx::query_scalar("SELECT current_setting('archive_mode')")
            .fetch_one(&admin)
            .await?;
        let segment_size: i64 = sqlx::query_scalar(
            "SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'",
        )
        .fetch_one(&admin)
        .await?;
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&admin)
            .await?;
        admin.close().await;
        if archiving != "on" {
            return Err(Error::Conflict(
                "the running PostgreSQL does not archive its WAL (archive_mode is off): it was \
                 started by an older Slipway; restart it (`slipway pg stop`, then `slipway \
                 serve`) to turn point-in-time recovery on"
                    .into(),
            ));
        }
        let started_at = Utc::now();
        let id = new_backup_id(started_at);
        let pg_basebackup = self.target.binaries.tool("pg_basebackup");
        let (url, password) = slipway_pg::split_password(&self.target.server.url("postgres"));
        let repo = self.repo.clone();
        let label = format!("slipway {id}");
        let spool = self.spool()?.to_path_buf();
        let (manifest, stderr) = blocking(move || {
            let mut writer = repo.begin_base_backup(id, started_at)?;
            let mut command = std::process::Command::new(&pg_basebackup);
            command
                .args(["-D", "-", "-F", "tar", "-X", "none", "-c", "fast"])
                .arg("-l")
                .arg(&label)
                .arg("-d")
                .arg(&url)
                .envs(password.map(|p| ("PGPASSWORD", p)));
            let run = slipway_pg::stream_stdout(&mut command, |out| {
                writer.put_tar(out, &mut |_| {})
            })
            .map_err(Error::io(format!("running {}", pg_basebackup.display())))?;
            run.read?;
            let stderr = run.stderr;
            if !run.status.success() {
                return Err(Error::Failed(format!(
                    "pg_basebackup failed ({}): {}",
                    run.status,
                    stderr.trim()
                )));
            }
            // pg_basebackup returned once the backup history file and the last WAL file
            // were archived: the history file says where the backup starts and ends
            let points = find_backup_history(&repo, &spool, &label)?.ok_or_else(|| {
                Error::Failed(format!(
                    "the WAL archive holds no backup history file labelled {label:?}; is the \
                     archiver failing? ({})",
                    stderr.trim()
                ))
            })?;
            let m = writer.manifest_mut();
            m.timeline = points.timeline;
            m.start_lsn = points.start_lsn;
            m.stop_lsn = points.stop_lsn;
            m.segment_size = segment_size as u64;
            m.postgresql = version.split_whitespace().next().map(str::to_string);
            m.consistent_at = Utc::now();
            let (manifest, statuses) = writer.finish()?;
            for s in statuses.iter().filter(|s| !s.complete) {
                tracing::warn!(location = %s.location, error = ?s.error, "base backup not complete in a location");
            }
            Ok((manifest, stderr))
        })
        .await?;
        tracing::debug!(output = %stderr.trim(), "pg_basebackup");
        self.ingest_wal().await?;
        let repo = self.repo.clone();
        blocking(move || {
            for (location, result) in repo.sync_wal_replicas() {
                if let Err(e) = result {
                    tracing::warn!(%location, "WAL not copied to a replica: {e}");
                }
            }
            Ok(())
        })
        .await?;
        tracing::info!(base_backup = %manifest.id, "base backup of the cluster taken");
        Ok(manifest)
    }

    /// Takes a base backup unless one is younger than 20 hours (several daily backups of one
    /// cluster share it). Returns the one taken.
    pub async fn base_backup_if_due(&self) -> Result<Option<BaseBackupManifest>> {
        let repo = self.repo.clone();
        let newest = blocking(move || Ok(repo.base_backups()?.pop())).await?;
        let due = newest.is_none_or(|b| {
            (Utc::now() - b.consistent_at).to_std().unwrap_or_default() > BASE_BACKUP_EVERY
        });
        if !due {
            return Ok(None);
        }
        self.base_backup().await.map(Some)
    }

    /// The recovery window, after moving what the archiver spooled into the repository.
    pub async fn pitr_window(&self) -> Result<PitrWindow> {
        let archiving = match self.ingest_wal().await {
            Ok(report) => {
                for p in &report.problems {
                    tracing::warn!("WAL archive: {p}");
                }
                true
            }
            Err(Error::Conflict(_)) => false,
            Err(e) => return Err(e),
        };
        let archiving = archiving && {
            let admin = self.target.admin().await?;
            let mode: String = sqlx::query_scalar("SELECT current_setting('archive_mode')")
                .fetch_one(&admin)
                .await?;
            admin.close().await;
            mode == "on"
        };
        let repo = self.repo.clone();
        let (bases, wal) = blocking(move || Ok((repo.base_backups()?, repo.list_wal()?))).await?;
        let infos: Vec<BaseBackupInfo> = bases.iter().map(BaseBackupManifest::info).collect();
        let segments = archived_segments(&wal, &infos);
        Ok(PitrWindow {
            archiving,
            windows: recovery_windows(&infos, &segments),
            base_backups: bases.len(),
            wal_files: wal.len(),
            last_archived: wal.iter().map(|w| w.archived_at).max(),
        })
    }

    /// Makes every write up to now replayable: a transaction that commits (so replay meets a
    /// commit after any earlier target), a WAL switch, and waits (up to a minute) until the
    /// finished file is in the repository. Returns whether it got there.
    async fn seal_wal(&self) -> Result<bool> {
        let admin = self.target.admin().await?;
        let mut tx = admin.begin().await?;
        sqlx::query("SELECT txid_current()")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let file: String = sqlx::query_scalar("SELECT pg_walfile_name(pg_switch_wal())")
            .fetch_one(&admin)
            .await?;
        admin.close().await;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            self.ingest_wal().await?;
            let repo = self.repo.clone();
            let held = blocking(move || Ok(repo.list_wal()?)).await?;
            if held
                .iter()
                .any(|w| w.name >= file && w.name.len() == file.len())
            {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::warn!(%file, "the WAL archiver did not hand over the current file within a minute");
        Ok(false)
    }

    /// Restores `source_database` as it was at `at` into `options.database` (the same
    /// database, or another name), after the safety backup `options` asks for; the filestore
    /// is kept. See the module documentation.
    pub async fn restore_to_time(
        &self,
        source_database: &str,
        at: DateTime<Utc>,
        options: &RestoreOptions,
    ) -> Result<PitrOutcome> {
        let started = Instant::now();
        check_target_name(&options.database)?;
        check_target_name(source_database)?;
        self.spool()?;
        if at > Utc::now() {
            return Err(Error::Invalid(format!(
                "{} is in the future; give a past time (UTC, e.g. 2026-11-21T10:42:00Z)",
                at.format("%Y-%m-%dT%H:%M:%SZ")
            )));
        }
        let (superuser, password) = match &self.target.server {
            Server::Embedded(conn) => (conn.user.clone(), conn.password.clone()),
            Server::External(_) => {
                return Err(Error::Conflict(
                    "point-in-time recovery needs the embedded PostgreSQL".into(),
                ))
            }
        };
        self.seal_wal().await?;
        let repo = self.repo.clone();
        let (bases, wal) = blocking(move || Ok((repo.base_backups()?, repo.list_wal()?))).await?;
        let infos: Vec<BaseBackupInfo> = bases.iter().map(BaseBackupManifest::info).collect();
        let segments = archived_segments(&wal, &infos);
        let plan = plan_recovery(
            &infos,
            &segments,
            at,
            chrono::Duration::minutes(STAGE_MARGIN_MINUTES),
        )
        .map_err(|e| Error::Invalid(e.to_string()))?;
        let base = bases
            .iter()
            .find(|b| b.id == plan.base)
            .cloned()
            .ok_or_else(|| Error::Failed(format!("base backup {} vanished", plan.base)))?;
        let safety_backup = self.safety_backup(options).await?;

        let suffix = format!("{}_{:08x}", db_suffix(&base.id), rand::random::<u32>());
        let dir = self.scratch_file(&format!("pitr-{suffix}"), "cluster")?;
        let scratch = ScratchCluster::create(
            &dir,
            self.target.binaries.clone(),
            &superuser,
            password.as_deref(),
        )
        .map_err(|e| Error::Failed(e.to_string()))?;
        let temp_db = format!("slipway_pitr_{suffix}");
        let dump = self.scratch_file(&format!("pitr-{suffix}"), "dump")?;
        let by_name: BTreeMap<String, ArchivedWal> =
            wal.into_iter().map(|w| (w.name.clone(), w)).collect();
        let built = async {
            self.unpack_base(&scratch, &base).await?;
            let mut staged = self
                .stage_wal(&scratch, &by_name, &base, &plan.segments, true)
                .await?;
            let target_text = at.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string();
            let recovery_timeout = Duration::from_secs(3600);
            if let Err(first) = scratch.recover_to(&target_text, recovery_timeout).await {
                let more = &plan.all_segments[plan.segments.len()..];
                if more.is_empty() || !first.to_string().contains("recovery target") {
                    return Err(Error::Failed(format!(
                        "recovery to {target_text} failed: {first}"
                    )));
                }
                staged += self
                    .stage_wal(&scratch, &by_name, &base, more, false)
                    .await?;
                scratch
                    .recover_to(&target_text, recovery_timeout)
                    .await
                    .map_err(|e| Error::Failed(format!("recovery to {target_text} failed: {e}")))?;
            }
            self.dump_recovered(&scratch, source_database, at, &dump)
                .await?;
            let mut restore = slipway_dump::RestoreOptions::new(&temp_db);
            restore.mode = slipway_dump::Mode::Move;
            restore.jobs = 2;
            slipway_dump::restore(&self.target, &dump, &restore).await?;
            Ok::<usize, Error>(staged)
        }
        .await;
        scratch.remove().await;
        let _ = std::fs::remove_file(&dump);
        let staged = match built {
            Ok(staged) => staged,
            Err(e) => {
                self.drop_scratch(&temp_db).await;
                return Err(e);
            }
        };
        let old_db = match self.rename_in(&temp_db, &options.database).await {
            Ok(old_db) => old_db,
            Err(e) => {
                self.drop_scratch(&temp_db).await;
                return Err(e);
            }
        };
        let replaced = old_db.is_some();
        self.drop_replaced(old_db).await;
        Ok(PitrOutcome {
            database: options.database.clone(),
            at,
            base_backup: base.id,
            wal_files: staged,
            safety_backup,
            replaced,
            filestore: options.filestore.clone(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Streams the base backup's tar into `tar -x` run as the server user.
    async fn unpack_base(&self, scratch: &ScratchCluster, base: &BaseBackupManifest) -> Result<()> {
        let mut cmd = scratch.untar_command();
        let (repo, base) = (self.repo.clone(), base.clone());
        blocking(move || {
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|source| Error::Io {
                    context: "starting tar".into(),
                    source,
                })?;
            let written = match child.stdin.take() {
                Some(stdin) => {
                    let mut stdin = std::io::BufWriter::new(stdin);
                    let r = repo.read_stream(&base.id, &base.tar, &mut stdin, &mut |_| {});
                    let _ = stdin.flush();
                    r
                }
                None => Ok(()),
            };
            let output = child.wait_with_output().map_err(|source| Error::Io {
                context: "waiting for tar".into(),
                source,
            })?;
            written?;
            if !output.status.success() {
                return Err(Error::Failed(format!(
                    "unpacking base backup {} failed: {}",
                    base.id,
                    String::from_utf8_lossy(&output.stderr).trim()
                )));
            }
            Ok(())
        })
        .await
    }

    /// Writes the WAL segments `numbers` (and, with `histories`, every timeline history file)
    /// where the scratch cluster's restore_command reads them. Returns how many.
    async fn stage_wal(
        &self,
        scratch: &ScratchCluster,
        by_name: &BTreeMap<String, ArchivedWal>,
        base: &BaseBackupManifest,
        numbers: &[u64],
        histories: bool,
    ) -> Result<usize> {
        let mut wanted: Vec<ArchivedWal> = Vec::new();
        for &n in numbers {
            let name = segment_name(base.timeline, n, base.segment_size);
            let w = by_name.get(&name).ok_or_else(|| {
                Error::Failed(format!("WAL file {name} vanished from the repository"))
            })?;
            wanted.push(w.clone());
        }
        if histories {
            wanted.extend(
                by_name
                    .values()
                    .filter(|w| matches!(parse_wal_name(&w.name), Some(WalName::History { .. })))
                    .cloned(),
            );
        }
        let (repo, dir) = (self.repo.clone(), scratch.wal_dir());
        blocking(move || {
            for w in &wanted {
                let data = repo.get_wal(w)?;
                let path = dir.join(&w.name);
                std::fs::write(&path, data).map_err(|source| Error::Io {
                    context: format!("writing {}", path.display()),
                    source,
                })?;
            }
            Ok(wanted.len())
        })
        .await
    }

    /// `pg_dump -Fc` of `database` from the recovered cluster, as the database's owner.
    async fn dump_recovered(
        &self,
        scratch: &ScratchCluster,
        database: &str,
        at: DateTime<Utc>,
        file: &Path,
    ) -> Result<()> {
        let server = scratch.server();
        let recovered = slipway_dump::Target {
            server: server.clone(),
            ..self.target.clone()
        };
        let owner = match recovered.database_owner(database).await {
            Err(slipway_dump::DumpError::NoDatabase(_)) => {
                return Err(Error::NotFound(format!(
                    "database {database:?} did not exist at {}",
                    at.format("%Y-%m-%dT%H:%M:%SZ")
                )))
            }
            owner => owner?,
        };
        let (url, password) = slipway_pg::split_password(&recovered.url_as(database, &owner));
        let output = tokio::process::Command::new(self.target.binaries.tool("pg_dump"))
            .args(["--format=custom", "--no-owner", "--file"])
            .arg(file)
            .arg(&url)
            .envs(password.map(|p| ("PGPASSWORD", p)))
            .output()
            .await
            .map_err(|source| Error::Io {
                context: "running pg_dump".into(),
                source,
            })?;
        if !output.status.success() {
            return Err(Error::Failed(format!(
                "pg_dump of the recovered {database:?} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(())
    }

    /// Deletes base backups older than the recovery window (`keep`, keeping the one that
    /// opens it) and the WAL before the oldest base backup kept. Returns (base backups, WAL
    /// files) deleted.
    pub(crate) async fn prune_pitr(
        &self,
        now: DateTime<Utc>,
        keep: chrono::Duration,
    ) -> Result<(Vec<String>, usize)> {
        let repo = self.repo.clone();
        blocking(move || {
            let bases = repo.base_backups()?;
            let infos: Vec<BaseBackupInfo> = bases.iter().map(BaseBackupManifest::info).collect();
            let doomed = pitr::base_backups_to_prune(&infos, now, keep);
            for id in &doomed {
                for u in repo.delete_base_backup(id)? {
                    tracing::warn!(base_backup = %id, "deleting a replica's copy: {u}");
                }
            }
            let kept: Vec<BaseBackupInfo> = infos
                .into_iter()
                .filter(|b| !doomed.contains(&b.id))
                .collect();
            let wal = repo.list_wal()?;
            let times: Vec<(String, DateTime<Utc>)> = wal
                .iter()
                .map(|w| (w.name.clone(), w.archived_at))
                .collect();
            let gone = pitr::wal_to_prune(&times, &kept, now, chrono::Duration::days(1));
            for w in wal.iter().filter(|w| gone.contains(&w.name)) {
                for u in repo.delete_wal(w)? {
                    tracing::warn!(wal = %w.name, "deleting a replica's copy: {u}");
                }
            }
            Ok((doomed, gone.len()))
        })
        .await
    }
}

/// The backup history file labelled `label`, from the spool or else the repository.
fn find_backup_history(
    repo: &slipway_backup::Repository,
    spool: &Path,
    label: &str,
) -> Result<Option<pitr::BaseBackupPoints>> {
    let is_history = |name: &str| parse_wal_name(name) == Some(WalName::BackupHistory);
    let matching = |bytes: &[u8]| {
        pitr::parse_backup_history(&String::from_utf8_lossy(bytes)).filter(|p| p.label == label)
    };
    for entry in std::fs::read_dir(spool).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_history(&name) {
            if let Some(points) = std::fs::read(entry.path()).ok().and_then(|b| matching(&b)) {
                return Ok(Some(points));
            }
        }
    }
    let mut held: Vec<ArchivedWal> = repo
        .list_wal()?
        .into_iter()
        .filter(|w| is_history(&w.name))
        .collect();
    held.sort_by_key(|w| std::cmp::Reverse(w.archived_at));
    for w in held {
        if let Some(points) = matching(&repo.get_wal(&w)?) {
            return Ok(Some(points));
        }
    }
    Ok(None)
}

/// The archived segments of the listing, numbered with the base backups' segment size.
fn archived_segments(wal: &[ArchivedWal], bases: &[BaseBackupInfo]) -> Vec<ArchivedSegment> {
    let size = bases
        .first()
        .map_or(pitr::DEFAULT_SEGMENT_SIZE, |b| b.segment_size);
    wal.iter()
        .filter_map(|w| match parse_wal_name(&w.name)? {
            WalName::Segment { timeline, log, seg } => Some(ArchivedSegment {
                timeline,
                number: segment_number(log, seg, size),
                archived_at: w.archived_at,
            }),
            _ => None,
        })
        .collect()
}

/// Moves spooled WAL files into the repository every `every` until `shutdown` turns true.
pub async fn run_wal_ingest(
    backups: Backups,
    every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        match backups.ingest_wal().await {
            Ok(report) => {
                for p in &report.problems {
                    tracing::warn!("WAL archive: {p}");
                }
                for e in &report.replica_errors {
                    tracing::warn!("WAL archive replica: {e}");
                }
            }
            Err(e) => tracing::warn!("moving archived WAL into the repository: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}
