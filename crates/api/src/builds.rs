//! Builds, their logs, the editor's files and the monitor: `/api/projects/{p}/builds` and
//! `/api/builds/{id}/...`.

use serde::{Deserialize, Serialize};

/// A build as stored; `GET /api/projects/{p}/builds` answers a list of them, and stop, keep
/// and rebuild answer the build.
pub use slipway_platform::builds::{Build, BuildResult, BuildState};
/// An entry of a build's checkout (`GET /api/builds/{id}/files`).
pub use slipway_platform::editor::Entry;
/// A branch's stage, which is also its builds'.
pub use slipway_platform::stages::Stage;

/// `GET /api/builds/{id}`: the build and where it is served.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildView {
    /// The build.
    #[serde(flatten)]
    pub build: Build,
    /// `http://<build>.<domain>[:port]/`, its own host name, on the port the request reached
    /// Slipway on; absent for a build whose server never came up (pending, building, or
    /// failed before serving).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `ssh -p <port> <build>@<host>` while it runs and Slipway's SSH server is on (with a
    /// key registered in the user's profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<String>,
}

/// `POST /api/builds/{id}/keep`: keep the build running beyond the development limit, or
/// stop keeping it. An empty body keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepRequest {
    /// Keep it (default), or not.
    #[serde(default = "yes")]
    pub keep: bool,
}

fn yes() -> bool {
    true
}

/// A log of a build (`GET /api/builds/{id}/logs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFile {
    /// Its name (`install.log`).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// `GET /api/builds/{id}/files/content?path=`: a file of the build's checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileContent {
    /// Its path in the checkout.
    pub path: String,
    /// Its text.
    pub content: String,
}

/// `POST /api/builds/{id}/files`: one file committed to the build's branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCommit {
    /// Its path in the checkout.
    pub path: String,
    /// Its new text.
    pub content: String,
    /// The commit message.
    pub message: String,
}

/// The answer to a commit from the editor: the commit and the build of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// The new commit.
    pub sha: String,
    /// The build queued for it.
    pub build: i64,
}

/// `GET /api/builds/{id}/monitor`: one sample of the build's Odoo server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The process.
    pub pid: i32,
    /// CPU seconds used so far (user + system).
    pub cpu_seconds: f64,
    /// Resident memory in bytes.
    pub rss_bytes: u64,
    /// HTTP requests the proxy forwarded to the build since Slipway started.
    pub http_requests: u64,
    /// When it was taken (milliseconds since the Unix epoch).
    pub at_ms: i64,
}

/// The answer to `POST /api/builds/{id}/connect`: a one-time link that signs the caller in
/// to the build's Odoo as its administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectLink {
    /// The link, with its ticket.
    pub url: String,
    /// Seconds before the ticket expires.
    pub expires_in: u64,
}
