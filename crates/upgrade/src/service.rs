//! [`UpgradeService`]: everything the upgrade API and its SFTP endpoint share.

use std::path::PathBuf;

use slipway_metadata::JobQueue;

use crate::files::UpgradeFiles;
use crate::store::UpgradeStore;

/// The upgrade platform as its edges (`/database/v1`, SFTP) see it.
#[derive(Debug, Clone)]
pub struct UpgradeService {
    /// Requests and contracts.
    pub store: UpgradeStore,
    /// Where `process` queues the work.
    pub queue: JobQueue,
    /// The requests' files.
    pub files: UpgradeFiles,
    /// Standard upgrade scripts, `DIR/<target>/<module>/<version>/`; its series folders are
    /// the targets offered.
    pub scripts_dir: Option<PathBuf>,
    /// The region part of request URLs.
    pub region: String,
    /// The largest dump `upload` accepts.
    pub max_upload_bytes: u64,
}
