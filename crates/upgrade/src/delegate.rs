//! Where a branch's upgrade is sent: this Slipway's own upgrade platform ([`Delegate::InProcess`])
//! or another one's `/database/v1` ([`Delegate::Remote`], as Odoo.sh sends its databases to
//! upgrade.odoo.com). The platform's Upgrade tab drives either through the same five calls, so
//! its workflow does not care where the work happens.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::rules::{Aim, RequestState};

mod local;
mod remote;

pub use local::{InProcess, BRANCH_UPGRADES_CONTRACT};
pub use remote::{Remote, RemoteError, RemoteFailure, RemoteService, Timeouts};

/// Where upgrades go.
#[derive(Debug, Clone)]
pub enum Delegate {
    /// This Slipway's upgrade platform, through its store and queue.
    InProcess(InProcess),
    /// Another upgrade platform's `/database/v1`, with a contract there.
    Remote(Remote),
}

/// What is sent: a dump of the database to upgrade, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeOrder {
    /// The dump (an Odoo zip or a pg_dump format `dump::inspect` reads).
    pub dump: PathBuf,
    /// The series to reach (`17.0`).
    pub target: String,
    /// `test` (neutralized) or `production` (exact).
    pub aim: Aim,
    /// Who is told (the person who asked).
    pub email: String,
    /// Custom modules the upgrade leaves as they are, at their old version, for the branch's
    /// own code to update afterwards (Odoo.sh: "custom modules in the upgraded database are
    /// set to be updated").
    pub custom_modules: Vec<String>,
}

/// A request once filed: enough to follow it, and stored with the branch's upgrade so a restart
/// of Slipway finds it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filed {
    /// The request's id on the platform that holds it.
    pub id: i64,
    /// Its private key.
    pub key: String,
}

/// How far a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Its state on the platform.
    pub state: RequestState,
    /// What it is doing now (`17.0: odoo -u all`), when the platform says.
    pub step: Option<String>,
    /// Why it failed, for a failed request.
    pub message: Option<String>,
}

impl Delegate {
    /// Files `order` and sends its dump; the request is queued for processing when this returns.
    pub async fn submit(&self, order: &UpgradeOrder) -> Result<Filed> {
        match self {
            Delegate::InProcess(local) => local.submit(order).await,
            Delegate::Remote(remote) => remote.submit(order).await,
        }
    }

    /// Where `request` is now.
    pub async fn progress(&self, request: &Filed) -> Result<Progress> {
        match self {
            Delegate::InProcess(local) => local.progress(request).await,
            Delegate::Remote(remote) => remote.progress(request).await,
        }
    }

    /// Writes the upgraded dump of a `done` request to `dest`.
    pub async fn fetch_upgraded(&self, request: &Filed, dest: &Path) -> Result<()> {
        match self {
            Delegate::InProcess(local) => local.fetch_upgraded(request, dest).await,
            Delegate::Remote(remote) => remote.fetch_upgraded(request, dest).await,
        }
    }

    /// Writes the request's log as it is now (it grows while the request runs) to `dest`.
    pub async fn fetch_log(&self, request: &Filed, dest: &Path) -> Result<()> {
        match self {
            Delegate::InProcess(local) => local.fetch_log(request, dest).await,
            Delegate::Remote(remote) => remote.fetch_log(request, dest).await,
        }
    }

    /// Cancels `request` (nothing when it already ended).
    pub async fn cancel(&self, request: &Filed) -> Result<()> {
        match self {
            Delegate::InProcess(local) => local.cancel(request).await,
            Delegate::Remote(remote) => remote.cancel(request).await,
        }
    }
}
