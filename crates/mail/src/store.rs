//! Caught messages on disk: `<root>/<build_id>/<seq>.eml` (the bytes received, unchanged)
//! and `<seq>.json` (its [`MailSummary`]).
//!
//! Both files are written to a dot-named temporary file and renamed into place, the `.eml`
//! first: a `.json` is the mark of a complete message, so readers never see half of one.
//! Numbers grow from 1 and are never reused within a build. Each build keeps at most
//! [`DEFAULT_CAP`] messages (configurable): storing one more deletes the oldest.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{MailError, Result};
use crate::parse::{self, MailSummary, ParsedMail};

/// How many messages a build keeps by default; the oldest go first.
pub const DEFAULT_CAP: usize = 1_000;

/// The folder of caught messages. Cheap to clone; clones share one writer lock.
#[derive(Debug, Clone)]
pub struct MailStore {
    root: PathBuf,
    cap: usize,
    /// Serializes number allocation and the cap within this process (the only writer).
    writer: Arc<Mutex<()>>,
}

impl MailStore {
    /// The store under `root` (`<data-dir>/mails`), created on first write, keeping
    /// [`DEFAULT_CAP`] messages per build.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            cap: DEFAULT_CAP,
            writer: Arc::new(Mutex::new(())),
        }
    }

    /// The same store keeping at most `cap` messages per build (at least 1).
    pub fn with_cap(mut self, cap: usize) -> Self {
        self.cap = cap.max(1);
        self
    }

    /// The folder the store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stores `raw` as the next message of `build_id` and returns its summary. Blocking: call
    /// it from `spawn_blocking` in async code.
    pub fn store(
        &self,
        build_id: i64,
        envelope_from: &str,
        envelope_to: &[String],
        raw: &[u8],
    ) -> Result<MailSummary> {
        let dir = self.build_dir(build_id);
        // A poisoned lock only means another store panicked; the files are still consistent.
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        fs::create_dir_all(&dir).map_err(MailError::io(&dir))?;
        let seqs = self.seqs(build_id)?;
        let seq = seqs.last().map_or(1, |last| last + 1);
        let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let summary = parse::summarize(build_id, seq, envelope_from, envelope_to, raw, received_at);
        let json = serde_json::to_vec_pretty(&summary).map_err(|e| MailError::Summary {
            path: dir.join(format!("{seq}.json")),
            source: e,
        })?;
        write_atomically(&dir, &format!("{seq}.eml"), raw)?;
        write_atomically(&dir, &format!("{seq}.json"), &json)?;
        let excess = (seqs.len() + 1).saturating_sub(self.cap);
        for old in &seqs[..excess] {
            self.remove(build_id, *old)?;
        }
        tracing::debug!(build_id, seq, size = raw.len(), "mail caught");
        Ok(summary)
    }

    /// The summaries of `build_id`'s messages, newest first; empty for a build that never sent
    /// any.
    pub fn list(&self, build_id: i64) -> Result<Vec<MailSummary>> {
        let mut seqs = self.seqs(build_id)?;
        seqs.reverse();
        let mut summaries = Vec::with_capacity(seqs.len());
        for seq in seqs {
            match self.summary(build_id, seq) {
                Ok(summary) => summaries.push(summary),
                // Dropped by the cap or `drop_build` while we were listing.
                Err(MailError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(summaries)
    }

    /// The stored summary of message `seq` of `build_id`.
    pub fn summary(&self, build_id: i64, seq: u64) -> Result<MailSummary> {
        let path = self.build_dir(build_id).join(format!("{seq}.json"));
        let bytes = read(&path, build_id, seq)?;
        serde_json::from_slice(&bytes).map_err(|source| MailError::Summary { path, source })
    }

    /// The message exactly as received.
    pub fn raw(&self, build_id: i64, seq: u64) -> Result<Vec<u8>> {
        // Only a message with its summary exists (the `.eml` is renamed in first).
        self.summary(build_id, seq)?;
        read(
            &self.build_dir(build_id).join(format!("{seq}.eml")),
            build_id,
            seq,
        )
    }

    /// The message parsed for display.
    pub fn get(&self, build_id: i64, seq: u64) -> Result<ParsedMail> {
        let summary = self.summary(build_id, seq)?;
        let raw = self.raw(build_id, seq)?;
        Ok(parse::parse(summary, &raw))
    }

    /// Deletes every message of `build_id` (when the build is dropped). Idempotent.
    pub fn drop_build(&self, build_id: i64) -> Result<()> {
        let dir = self.build_dir(build_id);
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(MailError::io(dir)(e)),
            _ => Ok(()),
        }
    }

    fn build_dir(&self, build_id: i64) -> PathBuf {
        self.root.join(build_id.to_string())
    }

    /// The numbers of `build_id`'s complete messages, ascending.
    fn seqs(&self, build_id: i64) -> Result<Vec<u64>> {
        let dir = self.build_dir(build_id);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(MailError::io(dir)(e)),
        };
        let mut seqs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(MailError::io(&dir))?;
            let name = entry.file_name();
            let seq = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok());
            seqs.extend(seq);
        }
        seqs.sort_unstable();
        Ok(seqs)
    }

    /// Removes a message: its summary first, so it stops being listed before its bytes go.
    fn remove(&self, build_id: i64, seq: u64) -> Result<()> {
        let dir = self.build_dir(build_id);
        for name in [format!("{seq}.json"), format!("{seq}.eml")] {
            let path = dir.join(name);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(MailError::io(path)(e)),
                _ => {}
            }
        }
        Ok(())
    }
}

fn read(path: &Path, build_id: i64, seq: u64) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => MailError::NotFound { build_id, seq },
        _ => MailError::io(path)(e),
    })
}

/// Writes `dir/name` through `dir/.name.tmp` and a rename, so it appears whole or not at all.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let temp = dir.join(format!(".{name}.tmp"));
    let target = dir.join(name);
    let written = fs::File::create(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_data()
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(MailError::io(temp)(e));
    }
    fs::rename(&temp, &target).map_err(MailError::io(target))
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
