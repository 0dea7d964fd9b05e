//! [`Remote`]: another upgrade platform's `/database/v1`, over HTTP.
//! PLACEHOLDER: written by the remote-client work (issue 18); every call fails until then.

use std::path::Path;

use super::{Filed, Progress, UpgradeOrder};
use crate::error::{Error, Result};

/// Another upgrade platform, and the contract used there.
#[derive(Debug, Clone)]
pub struct Remote {
    /// Its address and contract.
    pub service: RemoteService,
}

/// `serve --upgrade-service URL --upgrade-contract C`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteService {
    /// Its base URL (`https://upgrade.example.com`), `/database/v1/...` appended.
    pub url: String,
    /// The contract `create` is called with.
    pub contract: String,
}

fn not_yet() -> Error {
    Error::Invalid("remote upgrades are not wired yet".into())
}

impl Remote {
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
