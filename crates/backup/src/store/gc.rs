//! Garbage collection of chunks no live manifest references.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{ChunkFile, ChunkId, Manifest, Store};
use crate::Error;

/// Knobs of a garbage collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcOptions {
    /// A write session with no heartbeat for this long is taken for dead (default 1 hour).
    pub stale_session: Duration,
    /// Subtracted from the cutoff, for coarse file timestamps (default 5 s).
    pub clock_margin: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            stale_session: Duration::from_secs(3600),
            clock_margin: Duration::from_secs(5),
        }
    }
}

/// What a collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Chunks kept because a live manifest references them.
    pub kept_live: u64,
    /// Unreferenced chunks kept because they were written or reused after the cutoff.
    pub kept_fresh: u64,
    /// Chunks deleted.
    pub deleted: Vec<ChunkId>,
    /// Bytes freed on disk (chunks and leftover temp files).
    pub freed_bytes: u64,
    /// Markers of write sessions found stale and removed.
    pub stale_sessions: u64,
    /// Temp files of interrupted writes removed.
    pub tmp_files: u64,
}

/// A garbage collection between its two steps.
///
/// The protocol, which is what keeps in-flight backups safe:
/// 1. [`Store::begin_gc`] reads the session markers and fixes the *cutoff*: the start of the
///    oldest live write session, or now if none, minus [`GcOptions::clock_margin`]. Stale
///    markers are removed (their sessions then fail on their next write).
/// 2. The caller then loads the live manifests (every backup recorded so far) and calls
///    [`GcRun::sweep`]. A backup recorded after step 2 began was written by a session that was
///    live at step 1 or started after it, so all its chunks are newer than the cutoff.
/// 3. `sweep` deletes chunks that no live manifest references *and* whose modification time
///    is older than the cutoff. Each is first renamed into `tmp/`, then checked again: a
///    session that reused it in between refreshed its time (or found it gone and rewrote it),
///    and a refreshed one is renamed back.
///
/// Run one collection at a time per repository (the caller holds a lock).
#[derive(Debug)]
pub struct GcRun<'a> {
    store: &'a Store,
    cutoff: SystemTime,
    stale_sessions: u64,
}

impl<'a> GcRun<'a> {
    pub(super) fn begin(store: &'a Store, options: &GcOptions) -> Result<GcRun<'a>, Error> {
        let now = SystemTime::now();
        let mut oldest = now;
        let mut stale_sessions = 0;
        for entry in super::read_dir(&store.sessions_dir())? {
            let path = entry.path();
            let Some(modified) = modified(&path)? else {
                continue;
            };
            if now.duration_since(modified).unwrap_or_default() > options.stale_session {
                remove_if_present(&path)?;
                stale_sessions += 1;
                continue;
            }
            oldest = oldest.min(session_start(&path).unwrap_or(modified));
        }
        let cutoff = oldest
            .checked_sub(options.clock_margin)
            .unwrap_or(UNIX_EPOCH);
        Ok(GcRun {
            store,
            cutoff,
            stale_sessions,
        })
    }

    /// Chunks modified before this instant and referenced by no live manifest are deleted.
    pub fn cutoff(&self) -> SystemTime {
        self.cutoff
    }

    /// Deletes the chunks that no manifest of `live` references and that are older than the
    /// cutoff, and temp files of interrupted writes older than the cutoff.
    pub fn sweep<'m>(
        self,
        live: impl IntoIterator<Item = &'m Manifest>,
    ) -> Result<GcReport, Error> {
        let live: HashSet<ChunkId> = live
            .into_iter()
            .flat_map(|m| m.chunks.iter().map(|c| c.id))
            .collect();
        let mut report = GcReport {
            stale_sessions: self.stale_sessions,
            ..GcReport::default()
        };
        for chunk in self.store.walk_chunks()? {
            if live.contains(&chunk.id) {
                report.kept_live += 1;
            } else if self.is_fresh(&chunk.meta) || !self.collect(&chunk)? {
                report.kept_fresh += 1;
            } else {
                report.deleted.push(chunk.id);
                report.freed_bytes += chunk.meta.len();
            }
        }
        self.sweep_tmp(&mut report)?;
        Ok(report)
    }

    fn is_fresh(&self, meta: &fs::Metadata) -> bool {
        meta.modified().map_or(true, |m| m >= self.cutoff)
    }

    /// Renames the chunk away, checks its time again, deletes it or puts it back. Returns
    /// whether it was deleted.
    fn collect(&self, chunk: &ChunkFile) -> Result<bool, Error> {
        let doomed = self.store.tmp_dir().join(format!("{}.gc", chunk.id));
        match fs::rename(&chunk.path, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io("rename", &chunk.path)(e)),
        }
        let meta = fs::metadata(&doomed).map_err(Error::io("stat", &doomed))?;
        if self.is_fresh(&meta) {
            fs::rename(&doomed, &chunk.path).map_err(Error::io("rename back", &doomed))?;
            return Ok(false);
        }
        remove_if_present(&doomed)?;
        Ok(true)
    }

    fn sweep_tmp(&self, report: &mut GcReport) -> Result<(), Error> {
        for entry in super::read_dir(&self.store.tmp_dir())? {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() && !self.is_fresh(&meta) {
                remove_if_present(&entry.path())?;
                report.tmp_files += 1;
                report.freed_bytes += meta.len();
            }
        }
        Ok(())
    }
}

fn modified(path: &Path) -> Result<Option<SystemTime>, Error> {
    match fs::metadata(path) {
        Ok(meta) => Ok(meta.modified().ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("stat", path)(e)),
    }
}

/// The start a marker records (nanoseconds since the epoch); `None` if not written yet.
fn session_start(path: &Path) -> Option<SystemTime> {
    let nanos: u64 = fs::read_to_string(path).ok()?.trim().parse().ok()?;
    Some(UNIX_EPOCH + Duration::from_nanos(nanos))
}

fn remove_if_present(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path)(e)),
    }
}
