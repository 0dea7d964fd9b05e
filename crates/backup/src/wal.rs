//! Point-in-time recovery's objects in the repository: base backups of the whole cluster
//! (`basebackups/<id>.json`, the `pg_basebackup` tar stream chunked like any backup, so two
//! base backups of a cluster that changed little share most chunks) and archived WAL files
//! (`wal/<name>@<archived unix seconds>`: one zstd frame with its checksum per file; the time
//! is in the key so the recovery window is computed from a listing alone).
//!
//! WAL files are written to the primary first (written, synced and renamed: durable), then
//! to each replica; a replica that fails is reported and caught up by
//! [`Repository::sync_wal_replicas`]. Garbage collection keeps the chunks of base backups as
//! it keeps those of backups.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use chrono::{DateTime, TimeZone, Utc};
use nix::fcntl::FlockArg;
use serde::{Deserialize, Serialize};

use super::{replicate_object, Counting, LocationStatus, Progress, Repository};
use crate::manifest::is_backup_id;
use crate::pitr::{lsn_segment, parse_wal_name, BaseBackupInfo};
use crate::store::{ChunkId, Manifest, WriteSession};
use crate::Error;

/// The base backup manifest format written by this version.
pub const BASE_BACKUP_FORMAT: u32 = 1;

/// A base backup of the cluster: the tar stream `pg_basebackup -Ft -X none` wrote, and where
/// it starts and ends in the WAL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseBackupManifest {
    /// [`BASE_BACKUP_FORMAT`].
    pub format: u32,
    /// Its id (the form of a backup id).
    pub id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished, its end WAL archived: the earliest time it recovers to.
    pub consistent_at: DateTime<Utc>,
    /// The timeline.
    pub timeline: u32,
    /// Where replay starts.
    pub start_lsn: u64,
    /// Where replay must reach for the copy to be consistent.
    pub stop_lsn: u64,
    /// The cluster's WAL segment size.
    pub segment_size: u64,
    /// The server version.
    pub postgresql: Option<String>,
    /// The tar stream (PGDATA, without pg_wal's contents).
    pub tar: Manifest,
    /// New bytes it added to the primary (after deduplication and compression).
    pub added: u64,
}

impl BaseBackupManifest {
    /// Its object key.
    pub fn key(id: &str) -> String {
        format!("basebackups/{id}.json")
    }

    /// What the recovery planner needs.
    pub fn info(&self) -> BaseBackupInfo {
        BaseBackupInfo {
            id: self.id.clone(),
            timeline: self.timeline,
            start_segment: lsn_segment(self.start_lsn, self.segment_size),
            stop_segment: lsn_segment(self.stop_lsn, self.segment_size),
            segment_size: self.segment_size,
            consistent_at: self.consistent_at,
        }
    }
}

/// A base backup being written; dropping it without [`finish`](BaseBackupWriter::finish)
/// leaves no manifest.
#[derive(Debug)]
pub struct BaseBackupWriter<'r> {
    repo: &'r Repository,
    session: WriteSession<'r>,
    manifest: BaseBackupManifest,
}

impl BaseBackupWriter<'_> {
    /// Stores the tar stream.
    pub fn put_tar(&mut self, reader: impl Read, progress: Progress<'_>) -> Result<(), Error> {
        self.manifest.tar = self.session.put_stream(Counting::new(reader, progress))?;
        Ok(())
    }

    /// The manifest being built (WAL positions, times, version).
    pub fn manifest_mut(&mut self) -> &mut BaseBackupManifest {
        &mut self.manifest
    }

    /// Records it: the manifest to the primary, then chunks and manifest to each replica.
    pub fn finish(mut self) -> Result<(BaseBackupManifest, Vec<LocationStatus>), Error> {
        self.session.heartbeat()?;
        self.manifest.added = self.session.bytes_written();
        let key = BaseBackupManifest::key(&self.manifest.id);
        let json = serde_json::to_vec_pretty(&self.manifest).map_err(|e| Error::BadManifest {
            location: String::new(),
            key: key.clone(),
            detail: e.to_string(),
        })?;
        let primary = &self.repo.locations[0];
        primary.put(&key, &json)?;
        let mut statuses = vec![LocationStatus::holding(primary.name())];
        let _lock = self.repo.lock(FlockArg::LockShared)?;
        let chunks: BTreeMap<_, _> = self
            .manifest
            .tar
            .chunks
            .iter()
            .map(|c| (c.id, c.size))
            .collect();
        for location in self.repo.locations.iter().skip(1) {
            statuses.push(replicate_object(
                self.repo,
                &self.session,
                location.as_ref(),
                &chunks,
                &key,
                &json,
            ));
        }
        Ok((self.manifest, statuses))
    }
}

/// An archived WAL file in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchivedWal {
    /// PostgreSQL's name for it.
    pub name: String,
    /// When the archiver handed it over.
    pub archived_at: DateTime<Utc>,
    /// Its object key.
    pub key: String,
}

impl ArchivedWal {
    fn from_key(key: &str) -> Option<ArchivedWal> {
        let rest = key.strip_prefix("wal/")?;
        let (name, secs) = rest.split_once('@')?;
        parse_wal_name(name)?;
        let secs: i64 = secs.parse().ok()?;
        Some(ArchivedWal {
            name: name.to_string(),
            archived_at: Utc.timestamp_opt(secs, 0).single()?,
            key: key.to_string(),
        })
    }
}

/// The key of a WAL file; the time is rounded up to the second (it bounds what the file
/// holds, so a later bound stays true, and a target given to the microsecond just before it
/// stays inside the window).
fn wal_key(name: &str, archived_at: DateTime<Utc>) -> String {
    let secs = archived_at.timestamp() + i64::from(archived_at.timestamp_subsec_nanos() > 0);
    format!("wal/{name}@{secs}")
}

impl Repository {
    /// Starts a base backup with an id made by [`new_backup_id`](crate::new_backup_id).
    pub fn begin_base_backup(
        &self,
        id: String,
        started_at: DateTime<Utc>,
    ) -> Result<BaseBackupWriter<'_>, Error> {
        if !is_backup_id(&id) {
            return Err(Error::NoSuchBackup(id));
        }
        Ok(BaseBackupWriter {
            repo: self,
            session: self.store.begin_write()?,
            manifest: BaseBackupManifest {
                format: BASE_BACKUP_FORMAT,
                id,
                started_at,
                consistent_at: started_at,
                timeline: 1,
                start_lsn: 0,
                stop_lsn: 0,
                segment_size: crate::pitr::DEFAULT_SEGMENT_SIZE,
                postgresql: None,
                tar: Manifest {
                    chunks: Vec::new(),
                    size: 0,
                    blake3: ChunkId::of(b""),
                },
                added: 0,
            },
        })
    }

    /// Every base backup the primary holds, oldest first.
    pub fn base_backups(&self) -> Result<Vec<BaseBackupManifest>, Error> {
        self.manifest_ids("basebackups/")?
            .iter()
            .map(|id| self.load_base_backup(id))
            .collect()
    }

    /// A base backup's manifest, from the first location holding a readable copy.
    pub fn load_base_backup(&self, id: &str) -> Result<BaseBackupManifest, Error> {
        if !is_backup_id(id) {
            return Err(Error::NoSuchBackup(id.to_string()));
        }
        let key = BaseBackupManifest::key(id);
        for location in &self.locations {
            if let Ok(Some(bytes)) = location.get(&key) {
                if let Ok(m) = serde_json::from_slice::<BaseBackupManifest>(&bytes) {
                    if m.id == id {
                        return Ok(m);
                    }
                }
            }
        }
        Err(Error::NoSuchBackup(id.to_string()))
    }

    /// Removes a base backup's manifest everywhere (its chunks go at the next gc); returns
    /// the locations that could not be reached.
    pub fn delete_base_backup(&self, id: &str) -> Result<Vec<String>, Error> {
        if !is_backup_id(id) {
            return Err(Error::NoSuchBackup(id.to_string()));
        }
        self.delete_everywhere(&BaseBackupManifest::key(id))
    }

    fn delete_everywhere(&self, key: &str) -> Result<Vec<String>, Error> {
        let mut unreachable = Vec::new();
        for location in self.locations.iter().skip(1) {
            if let Err(e) = location.delete(key) {
                unreachable.push(e.to_string());
            }
        }
        self.locations[0].delete(key)?;
        Ok(unreachable)
    }

    /// Stores an archived WAL file: durable in the primary when this returns `Ok`; the
    /// replicas that failed are returned (caught up later by
    /// [`sync_wal_replicas`](Repository::sync_wal_replicas)).
    pub fn put_wal(
        &self,
        name: &str,
        data: &[u8],
        archived_at: DateTime<Utc>,
    ) -> Result<(ArchivedWal, Vec<String>), Error> {
        if parse_wal_name(name).is_none() {
            return Err(Error::UnsafePath(name.to_string()));
        }
        let mut encoder = zstd::bulk::Compressor::new(3).map_err(Error::Output)?;
        encoder.include_checksum(true).map_err(Error::Output)?;
        let packed = encoder.compress(data).map_err(Error::Output)?;
        let key = wal_key(name, archived_at);
        self.locations[0].put(&key, &packed)?;
        let mut failed = Vec::new();
        for location in self.locations.iter().skip(1) {
            if let Err(e) = location.put(&key, &packed) {
                failed.push(e.to_string());
            }
        }
        let entry = ArchivedWal::from_key(&key).ok_or(Error::UnsafePath(key))?;
        Ok((entry, failed))
    }

    /// Every archived WAL file the primary holds, by name.
    pub fn list_wal(&self) -> Result<Vec<ArchivedWal>, Error> {
        let mut found: Vec<ArchivedWal> = self.locations[0]
            .list("wal/")?
            .iter()
            .filter_map(|l| ArchivedWal::from_key(&l.key))
            .collect();
        found.sort_by(|a, b| (&a.name, a.archived_at).cmp(&(&b.name, b.archived_at)));
        found.dedup_by(|later, earlier| later.name == earlier.name);
        Ok(found)
    }

    /// An archived WAL file's bytes, from the first location holding a sound copy (the zstd
    /// frame's checksum is checked).
    pub fn get_wal(&self, wal: &ArchivedWal) -> Result<Vec<u8>, Error> {
        let mut said = Vec::new();
        for location in &self.locations {
            match location.get(&wal.key) {
                Ok(Some(bytes)) => match zstd::stream::decode_all(&bytes[..]) {
                    Ok(data) => return Ok(data),
                    Err(e) => said.push(format!("{}: corrupted, {e}", location.name())),
                },
                Ok(None) => said.push(format!("{}: missing", location.name())),
                Err(e) => said.push(e.to_string()),
            }
        }
        Err(Error::ChunkLost {
            backup: "WAL archive".into(),
            id: wal.name.clone(),
            detail: said.join("; "),
        })
    }

    /// Removes an archived WAL file everywhere; returns the locations that could not be
    /// reached.
    pub fn delete_wal(&self, wal: &ArchivedWal) -> Result<Vec<String>, Error> {
        self.delete_everywhere(&wal.key)
    }

    /// Copies to each replica the WAL files it lacks and deletes those the primary no longer
    /// has; returns per replica the files copied, or why it could not be caught up.
    pub fn sync_wal_replicas(&self) -> Vec<(String, Result<u64, Error>)> {
        let primary: BTreeSet<String> = match self.locations[0].list("wal/") {
            Ok(listed) => listed.into_iter().map(|l| l.key).collect(),
            Err(e) => return vec![(self.locations[0].name(), Err(e))],
        };
        let mut out = Vec::new();
        for location in self.locations.iter().skip(1) {
            let result = (|| -> Result<u64, Error> {
                let held: BTreeSet<String> =
                    location.list("wal/")?.into_iter().map(|l| l.key).collect();
                let mut copied = 0;
                for key in primary.difference(&held) {
                    if let Some(bytes) = self.locations[0].get(key)? {
                        location.put(key, &bytes)?;
                        copied += 1;
                    }
                }
                for key in held.difference(&primary) {
                    location.delete(key)?;
                }
                Ok(copied)
            })();
            out.push((location.name(), result));
        }
        out
    }

    /// Base backups of every location (one another location lost is still live), for gc.
    pub(super) fn live_base_backups(&self) -> Result<Vec<BaseBackupManifest>, Error> {
        self.live_under("basebackups/")
    }
}
