//! Where copies of the repository live: a [`Location`] stores whole objects under keys
//! (`chunks/ab/<hash>`, `backups/<id>.json`). [`LocalLocation`] is a folder (the default);
//! `S3Location` (feature `s3`) an S3-compatible bucket through `object_store`.
//!
//! A location only has to offer atomic whole-object writes: a reader sees an object whole or
//! not at all. Everything else (what is complete, what is healthy) is decided by the
//! [`Repository`](crate::Repository) above.

use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::Error;

#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "s3")]
pub use s3::S3Location;

/// An object listed by [`Location::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key.
    pub key: String,
    /// When it was last written, when the location knows.
    pub modified: Option<SystemTime>,
}

/// A place holding a copy of the repository's objects.
pub trait Location: Send + Sync + fmt::Debug {
    /// How to name it to a user: a folder path or `s3://bucket/prefix`.
    fn name(&self) -> String;
    /// Writes an object atomically, replacing any previous one.
    fn put(&self, key: &str, data: &[u8]) -> Result<(), Error>;
    /// Reads an object; `None` when there is none.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error>;
    /// Whether an object exists.
    fn exists(&self, key: &str) -> Result<bool, Error>;
    /// Every object whose key starts with `prefix` (a folder-like prefix ending with `/`).
    fn list(&self, prefix: &str) -> Result<Vec<Listed>, Error>;
    /// Deletes an object; a missing one is fine.
    fn delete(&self, key: &str) -> Result<(), Error>;
}

/// Opens a location from what a user wrote: `s3://bucket/prefix?endpoint=…&region=…`
/// (credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`), or a folder path.
pub fn open_location(spec: &str) -> Result<Arc<dyn Location>, Error> {
    if spec.starts_with("s3://") {
        #[cfg(feature = "s3")]
        return Ok(Arc::new(S3Location::from_url(spec)?));
        #[cfg(not(feature = "s3"))]
        return Err(Error::LocationSpec {
            spec: spec.to_string(),
            reason: "this build has no S3 support (feature `s3`)".into(),
        });
    }
    if spec.contains("://") {
        return Err(Error::LocationSpec {
            spec: spec.to_string(),
            reason: "unknown scheme; give a folder path or s3://bucket/prefix".into(),
        });
    }
    Ok(Arc::new(LocalLocation::new(spec)))
}

/// A folder holding objects as files (`<root>/<key>`), written through `<root>/tmp/` with
/// fsync and rename so that a crash never leaves half an object.
#[derive(Debug, Clone)]
pub struct LocalLocation {
    root: PathBuf,
}

impl LocalLocation {
    /// A location at `root`; nothing is created until the first write.
    pub fn new(root: impl Into<PathBuf>) -> LocalLocation {
        LocalLocation { root: root.into() }
    }

    /// Its folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, Error> {
        let safe = !key.is_empty()
            && key
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if !safe {
            return Err(self.fail("use", key, "not a valid object key".into()));
        }
        Ok(self.root.join(key))
    }

    fn fail(&self, action: &'static str, key: &str, detail: String) -> Error {
        Error::Location {
            location: self.name(),
            action,
            key: key.to_string(),
            detail,
        }
    }
}

impl Location for LocalLocation {
    fn name(&self) -> String {
        self.root.display().to_string()
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<(), Error> {
        let path = self.path(key)?;
        let fail = |e: std::io::Error| self.fail("write", key, e.to_string());
        let dir = path.parent().unwrap_or(&self.root);
        let tmp_dir = self.root.join("tmp");
        fs::create_dir_all(dir).map_err(fail)?;
        fs::create_dir_all(&tmp_dir).map_err(fail)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(fail)?;
        tmp.write_all(data).map_err(fail)?;
        tmp.as_file().sync_all().map_err(fail)?;
        tmp.persist(&path).map_err(|e| fail(e.error))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(fail)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        match fs::read(self.path(key)?) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.fail("read", key, e.to_string())),
        }
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        self.path(key)?
            .try_exists()
            .map_err(|e| self.fail("check", key, e.to_string()))
    }

    fn list(&self, prefix: &str) -> Result<Vec<Listed>, Error> {
        let base = self.root.join(prefix.trim_end_matches('/'));
        if !base.exists() {
            if !self.root.is_dir() && self.root.exists() {
                return Err(self.fail("list", prefix, "not a folder".into()));
            }
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        let mut pending = vec![base];
        while let Some(dir) = pending.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.fail("list", prefix, e.to_string())),
            };
            for entry in entries {
                let entry = entry.map_err(|e| self.fail("list", prefix, e.to_string()))?;
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    pending.push(entry.path());
                } else if meta.is_file() {
                    let Ok(rel) = entry.path().strip_prefix(&self.root).map(Path::to_owned) else {
                        continue;
                    };
                    found.push(Listed {
                        key: rel.to_string_lossy().replace('\\', "/"),
                        modified: meta.modified().ok(),
                    });
                }
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        match fs::remove_file(self.path(key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.fail("delete", key, e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_location_stores_lists_and_deletes_objects() {
        let dir = tempfile::tempdir().unwrap();
        let loc = LocalLocation::new(dir.path().join("replica"));
        assert_eq!(loc.get("chunks/ab/x").unwrap(), None);
        assert!(loc.list("chunks/").unwrap().is_empty());
        loc.put("chunks/ab/x", b"hello").unwrap();
        loc.put("backups/1.json", b"{}").unwrap();
        assert_eq!(loc.get("chunks/ab/x").unwrap().unwrap(), b"hello");
        assert!(loc.exists("chunks/ab/x").unwrap());
        let keys: Vec<String> = loc
            .list("chunks/")
            .unwrap()
            .into_iter()
            .map(|l| l.key)
            .collect();
        assert_eq!(keys, ["chunks/ab/x"]);
        loc.delete("chunks/ab/x").unwrap();
        loc.delete("chunks/ab/x").unwrap();
        assert!(!loc.exists("chunks/ab/x").unwrap());
    }

    #[test]
    fn keys_cannot_escape_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let loc = LocalLocation::new(dir.path());
        for key in ["../x", "a/../../x", "", "/etc/passwd", "a//b"] {
            assert!(loc.put(key, b"x").is_err(), "{key}");
        }
    }

    #[test]
    fn a_file_where_the_folder_should_be_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        fs::write(&file, b"x").unwrap();
        let loc = LocalLocation::new(&file);
        let err = loc.put("chunks/ab/x", b"x").unwrap_err().to_string();
        assert!(err.contains("not-a-dir"), "{err}");
        assert!(err.contains("cannot write chunks/ab/x"), "{err}");
    }

    #[test]
    fn unknown_schemes_are_refused() {
        let err = open_location("ftp://host/x").unwrap_err().to_string();
        assert!(err.contains("unknown scheme"), "{err}");
    }
}
