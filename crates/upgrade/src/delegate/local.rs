//! [`InProcess`]: this Slipway's own upgrade platform, called directly.
//! PLACEHOLDER: written by the branch-upgrades work (issue 18); every call fails until then.

use std::path::Path;

use super::{Filed, Progress, UpgradeOrder};
use crate::error::{Error, Result};
use crate::service::UpgradeService;

/// This Slipway's upgrade platform.
#[derive(Debug, Clone)]
pub struct InProcess {
    /// The service `/database/v1` calls too.
    pub service: UpgradeService,
}

fn not_yet() -> Error {
    Error::Invalid("in-process upgrades are not wired yet".into())
}

impl InProcess {
    pub(super) async fn submit(&self, _order: &UpgradeOrder) -> Result<Filed> {
        Err(not_yet())
    }
    pub(super) async fn progress(&self, _request: &Filed) -> Result<Progress> {
        Err(not_yet())
    }
    pub(super) async fn fetch_upgraded(&self, _request: &Filed, _dest: &Path) -> Result<()> {
        Err(not_yet())
    }
    pub(super) async fn fetch_log(&self, _request: &Filed, _dest: &Path) -> Result<()> {
        Err(not_yet())
    }
    pub(super) async fn cancel(&self, _request: &Filed) -> Result<()> {
        Err(not_yet())
    }
}
