//! Where an embedded cluster keeps its files, and the small state file that records how to
//! reach it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{PgError, Result};

/// The longest socket directory PostgreSQL can use: a Unix socket path holds at most 107
/// bytes, and PostgreSQL appends `/.s.PGSQL.<port>` (up to 15 more).
const MAX_SOCKET_DIR_LEN: usize = 92;

/// The paths of an embedded cluster inside a Slipway data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The Slipway data directory.
    pub data_dir: PathBuf,
    /// PGDATA: `<data-dir>/pg`.
    pub pgdata: PathBuf,
    /// The directory of the Unix socket: `<data-dir>/run`, or a short path under /tmp when
    /// that one is too long for a socket.
    pub socket_dir: PathBuf,
    /// `<data-dir>/postgres.json`: port, socket and password of the cluster.
    pub state_file: PathBuf,
    /// The server's log (written by the server user, inside PGDATA).
    pub log_file: PathBuf,
    /// Settings Slipway owns, included from postgresql.conf and rewritten at each start.
    pub settings_file: PathBuf,
    /// Where the archiver copies finished WAL files (`<data-dir>/wal-spool`), until Slipway
    /// moves them into the backup repository.
    pub wal_spool: PathBuf,
}

impl Layout {
    /// The layout for an absolute data directory.
    pub fn new(data_dir: &Path) -> Self {
        let pgdata = data_dir.join("pg");
        Self {
            data_dir: data_dir.to_path_buf(),
            socket_dir: socket_dir_for(data_dir),
            state_file: data_dir.join("postgres.json"),
            log_file: pgdata.join("server.log"),
            settings_file: pgdata.join("slipway.conf"),
            wal_spool: data_dir.join("wal-spool"),
            pgdata,
        }
    }
}

/// `<data-dir>/run`, unless that path is too long for a Unix socket; then a per-data-dir
/// directory under /tmp, named by a hash of the data directory so two data dirs never share it.
fn socket_dir_for(data_dir: &Path) -> PathBuf {
    let preferred = data_dir.join("run");
    if preferred.as_os_str().len() <= MAX_SOCKET_DIR_LEN {
        return preferred;
    }
    PathBuf::from(format!(
        "/tmp/slipway-{:016x}",
        fnv1a(data_dir.as_os_str().as_encoded_bytes())
    ))
}

/// A small stable hash (FNV-1a): std's hasher is randomly seeded per process.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What `<data-dir>/postgres.json` records between runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClusterState {
    /// The TCP port last used; reused when still free.
    pub port: Option<u16>,
    /// The Unix socket directory.
    pub socket_dir: Option<PathBuf>,
    /// The bootstrap superuser's name.
    pub superuser: String,
    /// The superuser's password for TCP connections.
    pub password: Option<String>,
}

impl ClusterState {
    /// Reads the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| PgError::State {
                path: path.to_path_buf(),
                detail: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self {
                superuser: "postgres".into(),
                ..Self::default()
            }),
            Err(e) => Err(PgError::State {
                path: path.to_path_buf(),
                detail: e.to_string(),
            }),
        }
    }

    /// Writes the state file atomically (write then rename), readable by its owner only since
    /// it holds the superuser password.
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        file.write_all(&json)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_data_dir_keeps_its_socket_inside() {
        let layout = Layout::new(Path::new("/srv/slipway"));
        assert_eq!(layout.socket_dir, PathBuf::from("/srv/slipway/run"));
        assert_eq!(layout.pgdata, PathBuf::from("/srv/slipway/pg"));
    }

    #[test]
    fn long_data_dir_gets_a_short_distinct_socket_dir() {
        let long_a = PathBuf::from(format!("/data/{}/a", "x".repeat(100)));
        let long_b = PathBuf::from(format!("/data/{}/b", "x".repeat(100)));
        let (a, b) = (Layout::new(&long_a), Layout::new(&long_b));
        assert!(a.socket_dir.starts_with("/tmp"));
        assert!(a.socket_dir.as_os_str().len() <= MAX_SOCKET_DIR_LEN);
        assert_ne!(a.socket_dir, b.socket_dir);
        assert_eq!(a.socket_dir, Layout::new(&long_a).socket_dir, "stable");
    }

    #[test]
    fn state_round_trips_and_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postgres.json");
        let empty = ClusterState::load(&path).unwrap();
        assert_eq!(empty.port, None);
        assert_eq!(empty.superuser, "postgres");
        let state = ClusterState {
            port: Some(5999),
            socket_dir: Some("/x/run".into()),
            superuser: "postgres".into(),
            password: Some("secret".into()),
        };
        state.save(&path).unwrap();
        assert_eq!(ClusterState::load(&path).unwrap(), state);
    }

    #[test]
    fn corrupt_state_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postgres.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = ClusterState::load(&path).unwrap_err().to_string();
        assert!(err.contains("postgres.json"), "{err}");
    }
}
