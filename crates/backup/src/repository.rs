//! The backup repository: a primary [`Store`] (a local folder: chunks, write sessions,
//! manifests) replicated to further [`Location`]s.
//!
//! # Writing a backup
//! [`Repository::begin_backup`] opens a [`WriteSession`] on the primary; parts are chunked
//! into it; [`BackupWriter::finish`] then writes the manifest to the primary (from then on the
//! backup exists and garbage collection keeps its chunks), copies every chunk a replica lacks,
//! and writes the manifest to each replica last. A backup is *complete* when every location
//! holds every chunk and the manifest; a location that failed is reported, and
//! [`Repository::check`] with `heal` completes it later.
//!
//! # Garbage collection and replicas
//! The primary follows [`GcRun`](crate::store::GcRun)'s protocol. Replicas have no write
//! sessions: replication holds a shared lock (`locations.lock` in the primary folder) from the
//! moment it decides what a replica lacks until the replica's manifest is written, and
//! [`Repository::gc`] sweeps replicas under the exclusive lock, with the live set read inside
//! the lock. A backup whose primary manifest is not written yet has copied nothing to replicas.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha1::Digest;

use crate::location::{LocalLocation, Location};
use crate::manifest::{
    is_backup_id, new_backup_id, BackupLabels, BackupManifest, DatabasePart, FileEntry, Part,
};
use crate::store::{
    chunk_key, decode_chunk, ChunkId, ChunkParams, GcOptions, GcReport, Manifest, Store,
    WriteSession,
};
use crate::Error;

#[path = "wal.rs"]
mod wal;
pub use wal::{ArchivedWal, BaseBackupManifest, BaseBackupWriter, BASE_BACKUP_FORMAT};

/// Called with the number of bytes read so far by a long operation.
pub type Progress<'a> = &'a mut dyn FnMut(u64);

/// A primary store and its replicas.
#[derive(Debug, Clone)]
pub struct Repository {
    store: Store,
    locations: Vec<Arc<dyn Location>>,
}

/// How one location fared when a backup was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocationStatus {
    /// The location's name.
    pub location: String,
    /// It holds every chunk and the manifest.
    pub complete: bool,
    /// Chunks copied to it.
    pub chunks_copied: u64,
    /// Bytes copied to it.
    pub bytes_copied: u64,
    /// Why it is not complete.
    pub error: Option<String>,
}

impl LocationStatus {
    /// A location that holds the whole backup already: nothing copied.
    pub(crate) fn holding(location: String) -> Self {
        Self {
            location,
            complete: true,
            chunks_copied: 0,
            bytes_copied: 0,
            error: None,
        }
    }

    /// A location that does not hold the whole backup (yet), and why when known.
    pub(crate) fn lacking(location: String, error: Option<String>) -> Self {
        Self {
            complete: false,
            error,
            ..Self::holding(location)
        }
    }
}

/// A written backup and where it is.
#[derive(Debug, Clone, Serialize)]
pub struct BackupOutcome {
    /// The manifest.
    pub manifest: BackupManifest,
    /// Every location, primary first.
    pub locations: Vec<LocationStatus>,
}

impl BackupOutcome {
    /// Every location holds the whole backup.
    pub fn complete(&self) -> bool {
        self.locations.iter().all(|l| l.complete)
    }
}

/// What [`Repository::check`] found in one location.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationCheck {
    /// The location's name.
    pub location: String,
    /// Chunks it lacked.
    pub missing: u64,
    /// Chunks whose bytes did not match their name.
    pub corrupt: u64,
    /// Chunks rewritten from a sound copy elsewhere.
    pub healed: u64,
    /// It lacked the manifest (or held a damaged one).
    pub manifest_missing: bool,
    /// The manifest was rewritten.
    pub manifest_healed: bool,
    /// The location could not be read or written at all.
    pub error: Option<String>,
}

impl LocationCheck {
    /// After healing, the location holds the whole backup.
    pub fn complete(&self) -> bool {
        self.error.is_none()
            && self.missing + self.corrupt == self.healed
            && (!self.manifest_missing || self.manifest_healed)
    }
}

/// What [`Repository::check`] found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The backup.
    pub backup: String,
    /// Distinct chunks it needs.
    pub chunks: u64,
    /// Per location, primary first.
    pub locations: Vec<LocationCheck>,
    /// Chunks with no sound copy anywhere: the backup cannot be restored.
    pub lost: Vec<String>,
}

impl CheckReport {
    /// Every location holds the whole backup (after healing, when asked).
    pub fn complete(&self) -> bool {
        self.lost.is_empty() && self.locations.iter().all(LocationCheck::complete)
    }
}

/// What a repository-wide garbage collection did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepoGcReport {
    /// Chunks deleted from the primary.
    pub primary_deleted: u64,
    /// Bytes freed in the primary.
    pub primary_freed: u64,
    /// Per replica: chunks deleted, or why it could not be swept.
    pub replicas: Vec<ReplicaGc>,
}

/// One replica's sweep.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplicaGc {
    /// The location's name.
    pub location: String,
    /// Chunks deleted.
    pub deleted: u64,
    /// Why it could not be swept.
    pub error: Option<String>,
}

impl Repository {
    /// Opens the repository whose primary is the folder `primary`, replicated to `replicas`.
    pub fn open(
        primary: impl Into<PathBuf>,
        replicas: Vec<Arc<dyn Location>>,
    ) -> Result<Repository, Error> {
        Repository::with_params(primary, ChunkParams::default(), replicas)
    }

    /// The same with chunk sizes of one's own (tests, benchmarks).
    pub fn with_params(
        primary: impl Into<PathBuf>,
        params: ChunkParams,
        replicas: Vec<Arc<dyn Location>>,
    ) -> Result<Repository, Error> {
        let store = Store::with_params(primary, params)?;
        let backups = store.root().join("backups");
        fs::create_dir_all(&backups).map_err(Error::io("create", &backups))?;
        let mut locations: Vec<Arc<dyn Location>> =
            vec![Arc::new(LocalLocation::new(store.root()))];
        locations.extend(replicas);
        Ok(Repository { store, locations })
    }

    /// The primary store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every location, the primary first.
    pub fn locations(&self) -> &[Arc<dyn Location>] {
        &self.locations
    }

    /// Starts a backup taken now.
    pub fn begin_backup(&self, labels: BackupLabels) -> Result<BackupWriter<'_>, Error> {
        self.begin_backup_at(labels, Utc::now())
    }

    /// Starts a backup dated `created_at`.
    pub fn begin_backup_at(
        &self,
        labels: BackupLabels,
        created_at: DateTime<Utc>,
    ) -> Result<BackupWriter<'_>, Error> {
        self.begin_backup_as(new_backup_id(created_at), labels, created_at)
    }

    /// Starts a backup with an id made beforehand by [`new_backup_id`].
    pub fn begin_backup_as(
        &self,
        id: String,
        labels: BackupLabels,
        created_at: DateTime<Utc>,
    ) -> Result<BackupWriter<'_>, Error> {
        if !is_backup_id(&id) {
            return Err(Error::NoSuchBackup(id));
        }
        let session = self.store.begin_write()?;
        let manifest = BackupManifest::new(id, labels, created_at);
        Ok(BackupWriter {
            repo: self,
            session,
            manifest,
        })
    }

    /// Every backup the primary holds, oldest first.
    pub fn list(&self) -> Result<Vec<BackupManifest>, Error> {
        self.manifest_ids("backups/")?
            .iter()
            .map(|id| self.load(id))
            .collect()
    }

    /// The ids of the manifests (`<folder><id>.json`) the primary holds under `folder`, in
    /// order (ids sort by time).
    pub(crate) fn manifest_ids(&self, folder: &str) -> Result<Vec<String>, Error> {
        let mut ids: Vec<String> = self.locations[0]
            .list(folder)?
            .into_iter()
            .filter_map(|listed| {
                let id = listed.key.strip_prefix(folder)?.strip_suffix(".json")?;
                is_backup_id(id).then(|| id.to_string())
            })
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// A backup's manifest, from the first location holding a readable copy.
    pub fn load(&self, id: &str) -> Result<BackupManifest, Error> {
        if !is_backup_id(id) {
            return Err(Error::NoSuchBackup(id.to_string()));
        }
        let key = BackupManifest::key(id);
        let mut first_error = None;
        for location in &self.locations {
            match location.get(&key) {
                Ok(Some(bytes)) => match serde_json::from_slice::<BackupManifest>(&bytes) {
                    Ok(m) if m.id == id => return Ok(m),
                    Ok(_) | Err(_) => {
                        first_error.get_or_insert(Error::BadManifest {
                            location: location.name(),
                            key: key.clone(),
                            detail: "not the manifest of this backup".into(),
                        });
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| Error::NoSuchBackup(id.to_string())))
    }

    /// Backup `id`'s manifest as the primary holds it: `None` when it has none (the backup was
    /// never finished there), an error when it cannot be read or is not this backup's.
    pub fn primary_manifest(&self, id: &str) -> Result<Option<BackupManifest>, Error> {
        if !is_backup_id(id) {
            return Err(Error::NoSuchBackup(id.to_string()));
        }
        let primary = &self.locations[0];
        let key = BackupManifest::key(id);
        let Some(bytes) = primary.get(&key)? else {
            return Ok(None);
        };
        match serde_json::from_slice::<BackupManifest>(&bytes) {
            Ok(m) if m.id == id => Ok(Some(m)),
            Ok(_) | Err(_) => Err(Error::BadManifest {
                location: primary.name(),
                key,
                detail: "not the manifest of this backup".into(),
            }),
        }
    }

    /// Writes a stream of a backup, each chunk from the first location holding a sound copy;
    /// checks the whole against the stream's hash.
    pub fn read_stream(
        &self,
        backup: &str,
        stream: &Manifest,
        mut writer: impl Write,
        progress: Progress<'_>,
    ) -> Result<(), Error> {
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        for chunk in &stream.chunks {
            let data = self.read_chunk(backup, chunk.id, chunk.size)?;
            hasher.update(&data);
            size += data.len() as u64;
            writer.write_all(&data).map_err(Error::Output)?;
            progress(size);
        }
        writer.flush().map_err(Error::Output)?;
        let actual = ChunkId::of_hash(hasher.finalize());
        if actual != stream.blake3 || size != stream.size {
            return Err(Error::ContentHash {
                expected: format!("{} ({} bytes)", stream.blake3, stream.size),
                actual: format!("{actual} ({size} bytes)"),
            });
        }
        Ok(())
    }

    fn read_chunk(&self, backup: &str, id: ChunkId, size: u32) -> Result<Vec<u8>, Error> {
        let key = chunk_key(id);
        let mut said = Vec::new();
        for location in &self.locations {
            match location.get(&key) {
                Ok(Some(bytes)) => match decode_chunk(id, &bytes, size) {
                    Ok(data) => return Ok(data),
                    Err(e) => said.push(format!("{}: corrupted, {e}", location.name())),
                },
                Ok(None) => said.push(format!("{}: missing", location.name())),
                Err(e) => said.push(e.to_string()),
            }
        }
        Err(Error::ChunkLost {
            backup: backup.to_string(),
            id: id.to_hex(),
            detail: said.join("; "),
        })
    }

    /// Writes the files of one part of a backup under `dest` (created if needed), checking
    /// every file's SHA-1. Returns the number of files.
    pub fn restore_files(
        &self,
        manifest: &BackupManifest,
        part: Part,
        dest: &Path,
        progress: Progress<'_>,
    ) -> Result<u64, Error> {
        fs::create_dir_all(dest).map_err(Error::io("create", dest))?;
        let mut done = 0u64;
        for entry in manifest.files(part) {
            let path = dest.join(safe_relative(&entry.path)?);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
            }
            let file = File::create(&path).map_err(Error::io("create", &path))?;
            let mut writer = Sha1Writer::new(std::io::BufWriter::new(file));
            let before = done;
            self.read_stream(&manifest.id, &entry.stream, &mut writer, &mut |n| {
                progress(before + n)
            })?;
            done += entry.stream.size;
            let actual = writer.hex();
            if actual != entry.sha1 {
                return Err(Error::Sha1Mismatch {
                    path: entry.path.clone(),
                    expected: entry.sha1.clone(),
                    actual,
                });
            }
            use std::os::unix::fs::PermissionsExt;
            let mode = if entry.mode & 0o777 == 0 {
                0o644
            } else {
                entry.mode & 0o777
            };
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(Error::io("chmod", &path))?;
        }
        Ok(manifest.files(part).len() as u64)
    }

    /// Checks that every location holds every chunk of backup `id` (each read back and hashed)
    /// and its manifest; with `heal`, rewrites what is missing or damaged from a sound copy.
    pub fn check(&self, id: &str, heal: bool) -> Result<CheckReport, Error> {
        let manifest = self.load(id)?;
        let chunks = manifest.chunks();
        let mut checks: Vec<LocationCheck> = self
            .locations
            .iter()
            .map(|l| LocationCheck {
                location: l.name(),
                ..LocationCheck::default()
            })
            .collect();
        let mut lost = Vec::new();
        for (&chunk, &size) in &chunks {
            let key = chunk_key(chunk);
            let mut sound: Option<Vec<u8>> = None;
            let mut bad = Vec::new();
            for (i, location) in self.locations.iter().enumerate() {
                if checks[i].error.is_some() {
                    continue;
                }
                match location.get(&key) {
                    Ok(Some(bytes)) => match decode_chunk(chunk, &bytes, size) {
                        Ok(_) => {
                            sound.get_or_insert(bytes);
                        }
                        Err(_) => {
                            checks[i].corrupt += 1;
                            bad.push(i);
                        }
                    },
                    Ok(None) => {
                        checks[i].missing += 1;
                        bad.push(i);
                    }
                    Err(e) => checks[i].error = Some(e.to_string()),
                }
            }
            let Some(bytes) = sound else {
                lost.push(chunk.to_hex());
                continue;
            };
            if heal {
                for i in bad {
                    match self.locations[i].put(&key, &bytes) {
                        Ok(()) => checks[i].healed += 1,
                        Err(e) => checks[i].error = Some(e.to_string()),
                    }
                }
            }
        }
        let key = BackupManifest::key(id);
        let json = manifest_json(&manifest)?;
        for (i, location) in self.locations.iter().enumerate() {
            if checks[i].error.is_some() {
                continue;
            }
            let held = match location.get(&key) {
                Ok(held) => held,
                Err(e) => {
                    checks[i].error = Some(e.to_string());
                    continue;
                }
            };
            let sound = held
                .and_then(|b| serde_json::from_slice::<BackupManifest>(&b).ok())
                .is_some_and(|m| m == manifest);
            if !sound {
                checks[i].manifest_missing = true;
                // a manifest goes back only where every chunk now is
                if heal
                    && lost.is_empty()
                    && checks[i].missing + checks[i].corrupt == checks[i].healed
                {
                    match location.put(&key, &json) {
                        Ok(()) => checks[i].manifest_healed = true,
                        Err(e) => checks[i].error = Some(e.to_string()),
                    }
                }
            }
        }
        Ok(CheckReport {
            backup: id.to_string(),
            chunks: chunks.len() as u64,
            locations: checks,
            lost,
        })
    }

    /// Removes a backup's manifest from every location (its chunks go at the next
    /// [`gc`](Repository::gc)). Replicas first, so the primary's record goes last; returns the
    /// locations that could not be reached (their copy goes at a later attempt).
    pub fn delete(&self, id: &str) -> Result<Vec<String>, Error> {
        if !is_backup_id(id) {
            return Err(Error::NoSuchBackup(id.to_string()));
        }
        let key = BackupManifest::key(id);
        let mut unreachable = Vec::new();
        for location in self.locations.iter().skip(1) {
            if let Err(e) = location.delete(&key) {
                unreachable.push(e.to_string());
            }
        }
        self.locations[0].delete(&key)?;
        Ok(unreachable)
    }

    /// Deletes chunks no backup needs, in every location; see the module documentation.
    pub fn gc(&self, options: &GcOptions) -> Result<RepoGcReport, Error> {
        let run = self.store.begin_gc(options)?;
        let live = self.live_manifests()?;
        let bases = self.live_base_backups()?;
        let primary: GcReport = run.sweep(
            live.iter()
                .flat_map(BackupManifest::streams)
                .chain(bases.iter().map(|b| &b.tar)),
        )?;
        let mut report = RepoGcReport {
            primary_deleted: primary.deleted.len() as u64,
            primary_freed: primary.freed_bytes,
            replicas: Vec::new(),
        };
        let _lock = self.lock(FlockArg::LockExclusive)?;
        let mut live: BTreeSet<ChunkId> = self
            .live_manifests()?
            .iter()
            .flat_map(|m| m.chunks().into_keys())
            .collect();
        live.extend(
            self.live_base_backups()?
                .iter()
                .flat_map(|b| b.tar.chunks.iter().map(|c| c.id)),
        );
        for location in self.locations.iter().skip(1) {
            let mut sweep = ReplicaGc {
                location: location.name(),
                ..ReplicaGc::default()
            };
            let result = (|| -> Result<(), Error> {
                for listed in location.list("chunks/")? {
                    let id = listed.key.rsplit('/').next().and_then(ChunkId::from_hex);
                    if id.is_some_and(|id| !live.contains(&id)) {
                        location.delete(&listed.key)?;
                        sweep.deleted += 1;
                    }
                }
                Ok(())
            })();
            sweep.error = result.err().map(|e| e.to_string());
            report.replicas.push(sweep);
        }
        Ok(report)
    }

    /// Manifests of every location (a backup another location lost is still live).
    fn live_manifests(&self) -> Result<Vec<BackupManifest>, Error> {
        self.live_under("backups/")
    }

    /// The manifests (`<folder><id>.json`) of every location, each id once. A primary that
    /// cannot list, or holds a damaged manifest, is an error: garbage collection must never run
    /// on a partial view, or it would delete chunks a live backup needs (heal it first with
    /// verify). An unreachable replica holds nothing we could delete, so it is skipped.
    pub(crate) fn live_under<M: serde::de::DeserializeOwned>(
        &self,
        folder: &str,
    ) -> Result<Vec<M>, Error> {
        let mut by_id: BTreeMap<String, M> = BTreeMap::new();
        for (i, location) in self.locations.iter().enumerate() {
            let primary = i == 0;
            let listed = match location.list(folder) {
                Ok(listed) => listed,
                Err(e) if primary => return Err(e),
                Err(_) => continue,
            };
            for item in listed {
                let Some(id) = item
                    .key
                    .strip_prefix(folder)
                    .and_then(|n| n.strip_suffix(".json"))
                else {
                    continue;
                };
                if by_id.contains_key(id) || !is_backup_id(id) {
                    continue;
                }
                match location.get(&item.key) {
                    Ok(Some(bytes)) => match serde_json::from_slice::<M>(&bytes) {
                        Ok(m) => {
                            by_id.insert(id.to_string(), m);
                        }
                        Err(e) if primary => {
                            return Err(Error::BadManifest {
                                location: location.name(),
                                key: item.key,
                                detail: format!("{e}; run verify to heal it first"),
                            })
                        }
                        Err(_) => {}
                    },
                    Ok(None) => {}
                    Err(e) if primary => return Err(e),
                    Err(_) => {}
                }
            }
        }
        Ok(by_id.into_values().collect())
    }

    /// Copies backup `id` to every replica that lacks it (no manifest there): the catch-up
    /// of a backup left incomplete by a location that was unreachable, or by a kill while it
    /// was being copied. Returns how each location stands, the primary first.
    pub fn replicate(&self, id: &str) -> Result<Vec<LocationStatus>, Error> {
        let manifest = self.load(id)?;
        let json = manifest_json(&manifest)?;
        let key = BackupManifest::key(id);
        let session = self.store.begin_write()?;
        let _lock = self.lock(FlockArg::LockShared)?;
        let chunks = manifest.chunks();
        let mut statuses = Vec::new();
        for (i, location) in self.locations.iter().enumerate() {
            let held = location.exists(&key);
            statuses.push(match held {
                Ok(true) => LocationStatus::holding(location.name()),
                Ok(false) if i > 0 => {
                    replicate_object(self, &session, location.as_ref(), &chunks, &key, &json)
                }
                Ok(false) => LocationStatus::lacking(
                    location.name(),
                    Some("the primary lost this backup's manifest; run verify to heal it".into()),
                ),
                Err(e) => LocationStatus::lacking(location.name(), Some(e.to_string())),
            });
        }
        Ok(statuses)
    }

    fn lock(&self, how: FlockArg) -> Result<Flock<File>, Error> {
        let path = self.store.root().join("locations.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io("open", &path))?;
        Flock::lock(file, how).map_err(|(_, e)| Error::io("lock", &path)(e.into()))
    }
}

/// A backup being written; see [`Repository::begin_backup`]. Dropping it without
/// [`finish`](BackupWriter::finish) leaves no manifest: its chunks are garbage.
#[derive(Debug)]
pub struct BackupWriter<'r> {
    repo: &'r Repository,
    session: WriteSession<'r>,
    manifest: BackupManifest,
}

impl<'r> BackupWriter<'r> {
    /// The manifest being built (fill in the Odoo version, modules, row counts…).
    pub fn manifest_mut(&mut self) -> &mut BackupManifest {
        &mut self.manifest
    }

    /// The backup's id.
    pub fn id(&self) -> &str {
        &self.manifest.id
    }

    /// Stores the database dump.
    pub fn put_database(
        &mut self,
        name: &str,
        format: &str,
        reader: impl Read,
        progress: Progress<'_>,
    ) -> Result<(), Error> {
        let stream = self.session.put_stream(Counting::new(reader, progress))?;
        self.manifest.sizes.database = stream.size;
        self.manifest.database = Some(DatabasePart {
            name: name.to_string(),
            format: format.to_string(),
            stream,
        });
        Ok(())
    }

    /// Stores one file of a part.
    pub fn put_file(
        &mut self,
        part: Part,
        path: &str,
        mode: u32,
        reader: impl Read,
    ) -> Result<(), Error> {
        safe_relative(path)?;
        let mut hashing = Sha1Reader::new(reader);
        let stream = self.session.put_stream(&mut hashing)?;
        let size = stream.size;
        self.manifest.files_mut(part).push(FileEntry {
            path: path.to_string(),
            sha1: hashing.hex(),
            mode,
            stream,
        });
        let sizes = &mut self.manifest.sizes;
        match part {
            Part::Filestore => sizes.filestore += size,
            Part::Logs => sizes.logs += size,
            Part::Sessions => sizes.sessions += size,
        }
        Ok(())
    }

    /// Stores every regular file under `dir` (symbolic links and special files are skipped),
    /// in path order; a missing folder is an empty part.
    pub fn put_tree(
        &mut self,
        part: Part,
        dir: &Path,
        progress: Progress<'_>,
    ) -> Result<(), Error> {
        let mut files = Vec::new();
        collect_files(dir, dir, &mut files)?;
        files.sort();
        let mut done = 0u64;
        for (rel, path) in files {
            let file = match File::open(&path) {
                Ok(f) => f,
                // a session file expiring meanwhile is not an error
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("read", &path)(e)),
            };
            use std::os::unix::fs::PermissionsExt;
            let mode = file
                .metadata()
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0o644);
            let before = done;
            let mut report = |n| progress(before + n);
            let mut counting = Counting::new(file, &mut report);
            self.put_file(part, &rel, mode, &mut counting)?;
            done += counting.count;
        }
        Ok(())
    }

    /// Records the backup: the manifest to the primary, then every chunk a replica lacks and
    /// the manifest to each replica. Fails only when the primary fails; a replica that fails
    /// is reported in the outcome, not complete.
    pub fn finish(self) -> Result<BackupOutcome, Error> {
        Ok(self.finish_in_primary()?.replicate())
    }

    /// The first half of [`finish`](Self::finish): the manifest written to the primary, where
    /// the backup is now whole (a crash from here on leaves a backup that
    /// [`Repository::replicate`] completes); the copies to the replicas are
    /// [`InPrimary::replicate`]'s.
    pub fn finish_in_primary(mut self) -> Result<InPrimary<'r>, Error> {
        self.session.heartbeat()?;
        self.manifest.sizes.added = self.session.bytes_written();
        for part in [Part::Filestore, Part::Logs, Part::Sessions] {
            self.manifest
                .files_mut(part)
                .sort_by(|a, b| a.path.cmp(&b.path));
        }
        let json = manifest_json(&self.manifest)?;
        let primary = &self.repo.locations[0];
        primary.put(&BackupManifest::key(&self.manifest.id), &json)?;
        Ok(InPrimary { writer: self, json })
    }
}

/// A backup whose manifest the primary holds, not yet copied to the replicas; see
/// [`BackupWriter::finish_in_primary`].
#[derive(Debug)]
pub struct InPrimary<'r> {
    writer: BackupWriter<'r>,
    json: Vec<u8>,
}

impl InPrimary<'_> {
    /// The backup's id.
    pub fn id(&self) -> &str {
        &self.writer.manifest.id
    }

    /// Copies every chunk a replica lacks, then the manifest, to each replica; a replica that
    /// fails is reported in the outcome, not complete.
    pub fn replicate(self) -> BackupOutcome {
        let w = &self.writer;
        let mut statuses = vec![LocationStatus::holding(w.repo.locations[0].name())];
        let key = BackupManifest::key(&w.manifest.id);
        let chunks = w.manifest.chunks();
        match w.repo.lock(FlockArg::LockShared) {
            Ok(_lock) => {
                for location in w.repo.locations.iter().skip(1) {
                    statuses.push(replicate_object(
                        w.repo,
                        &w.session,
                        location.as_ref(),
                        &chunks,
                        &key,
                        &self.json,
                    ));
                }
            }
            Err(e) => statuses.extend(
                w.repo
                    .locations
                    .iter()
                    .skip(1)
                    .map(|l| LocationStatus::lacking(l.name(), Some(e.to_string()))),
            ),
        }
        BackupOutcome {
            manifest: self.writer.manifest,
            locations: statuses,
        }
    }
}

/// Copies to `location` every chunk it lacks, then the manifest `json` under `key` (last, so
/// a manifest present means its chunks are there).
fn replicate_object(
    repo: &Repository,
    session: &WriteSession<'_>,
    location: &dyn Location,
    chunks: &BTreeMap<ChunkId, u32>,
    key: &str,
    json: &[u8],
) -> LocationStatus {
    let mut status = LocationStatus::lacking(location.name(), None);
    let result = (|| -> Result<(), Error> {
        for &id in chunks.keys() {
            let chunk = chunk_key(id);
            if location.exists(&chunk)? {
                continue;
            }
            let bytes = repo.store.read_raw(id)?;
            location.put(&chunk, &bytes)?;
            status.chunks_copied += 1;
            status.bytes_copied += bytes.len() as u64;
            session.heartbeat()?;
        }
        location.put(key, json)
    })();
    match result {
        Ok(()) => status.complete = true,
        Err(e) => status.error = Some(e.to_string()),
    }
    status
}

fn manifest_json(manifest: &BackupManifest) -> Result<Vec<u8>, Error> {
    serde_json::to_vec_pretty(manifest).map_err(|e| Error::BadManifest {
        location: String::new(),
        key: BackupManifest::key(&manifest.id),
        detail: e.to_string(),
    })
}

/// A relative path of plain components, or an error.
fn safe_relative(path: &str) -> Result<PathBuf, Error> {
    let p = Path::new(path);
    let ok = !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(p.to_owned())
    } else {
        Err(Error::UnsafePath(path.to_string()))
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), Error> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("list", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(Error::io("list", dir))?;
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if kind.is_file() {
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let Some(rel) = rel.to_str() else {
                return Err(Error::UnsafePath(rel.to_string_lossy().into_owned()));
            };
            out.push((rel.to_string(), path.clone()));
        }
    }
    Ok(())
}

/// Counts bytes read and reports them.
struct Counting<'p, R> {
    inner: R,
    count: u64,
    progress: Progress<'p>,
}

impl<'p, R> Counting<'p, R> {
    fn new(inner: R, progress: Progress<'p>) -> Self {
        Counting {
            inner,
            count: 0,
            progress,
        }
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        (self.progress)(self.count);
        Ok(n)
    }
}

struct Sha1Reader<R> {
    inner: R,
    hasher: sha1::Sha1,
}

impl<R> Sha1Reader<R> {
    fn new(inner: R) -> Self {
        Sha1Reader {
            inner,
            hasher: sha1::Sha1::new(),
        }
    }

    fn hex(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

impl<R: Read> Read for Sha1Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

struct Sha1Writer<W> {
    inner: W,
    hasher: sha1::Sha1,
}

impl<W> Sha1Writer<W> {
    fn new(inner: W) -> Self {
        Sha1Writer {
            inner,
            hasher: sha1::Sha1::new(),
        }
    }

    fn hex(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

impl<W: Write> Write for Sha1Writer<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The SHA-1 of a file, as Odoo names filestore files.
pub fn sha1_file(path: &Path) -> Result<String, Error> {
    let mut file = File::open(path).map_err(Error::io("read", path))?;
    let mut hasher = sha1::Sha1::new();
    std::io::copy(&mut file, &mut hasher).map_err(Error::io("read", path))?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
#[path = "repository_tests.rs"]
mod tests;
