//! Write sessions: how a backup tells garbage collection "these chunks are mine".

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{chunk_stream, touch, ChunkId, Manifest, Store};
use crate::Error;

/// An open write into a [`Store`], marked by `sessions/<random>.session` (holding its start
/// time) until dropped.
///
/// Every chunk a session writes or finds already present gets a modification time after the
/// session's start, and a garbage collection never deletes chunks modified after the start of
/// the oldest live session. Each chunk also refreshes the marker (a heartbeat); a collection
/// that finds a marker without a heartbeat for [`GcOptions::stale_session`](super::GcOptions)
/// removes it, and the session's next write fails with [`Error::SessionExpired`] instead of
/// producing a manifest whose chunks may be gone.
#[derive(Debug)]
pub struct WriteSession<'a> {
    store: &'a Store,
    marker: PathBuf,
    written: std::cell::Cell<u64>,
}

impl<'a> WriteSession<'a> {
    pub(super) fn begin(store: &'a Store) -> Result<WriteSession<'a>, Error> {
        let dir = store.sessions_dir();
        let (mut file, marker) = tempfile::Builder::new()
            .suffix(".session")
            .tempfile_in(&dir)
            .and_then(|f| f.keep().map_err(|e| e.error))
            .map_err(Error::io("create a session marker in", &dir))?;
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        write!(file, "{start}")
            .and_then(|()| file.sync_all())
            .map_err(Error::io("write", &marker))?;
        Ok(WriteSession {
            store,
            marker,
            written: std::cell::Cell::new(0),
        })
    }

    /// Stores a stream in constant memory (about twice the maximum chunk size) and returns its
    /// manifest. Chunks already in the repository are not written again.
    pub fn put_stream(&mut self, reader: impl Read) -> Result<Manifest, Error> {
        let manifest = chunk_stream(reader, self.store.params, |data| self.put_chunk(data))?;
        self.heartbeat()?;
        Ok(manifest)
    }

    /// Confirms the session is still protected (its marker was not collected as stale).
    pub fn heartbeat(&self) -> Result<(), Error> {
        if touch(&self.marker)? {
            Ok(())
        } else {
            Err(Error::SessionExpired {
                path: self.marker.clone(),
            })
        }
    }

    /// Bytes (compressed) of the chunks this session wrote that the repository did not hold.
    pub fn bytes_written(&self) -> u64 {
        self.written.get()
    }

    fn put_chunk(&self, data: &[u8]) -> Result<ChunkId, Error> {
        self.heartbeat()?;
        let id = ChunkId::of(data);
        let path = self.store.chunk_path(id);
        // Present: refresh its time so a running collection keeps it. Absent (or renamed away by
        // a collection this instant): write it; same bytes, same name, so a race is harmless.
        if !touch(&path)? {
            let written = self.store.write_chunk(&path, data)?;
            self.written.set(self.written.get() + written);
        }
        Ok(id)
    }

    #[cfg(test)]
    pub(super) fn marker(&self) -> &std::path::Path {
        &self.marker
    }
}

impl Drop for WriteSession<'_> {
    fn drop(&mut self) {
        // A marker left behind (crash) turns stale and is removed by the next collection.
        let _ = std::fs::remove_file(&self.marker);
    }
}
