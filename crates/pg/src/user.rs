//! The operating-system user the PostgreSQL server runs as.

use std::path::Path;

use nix::unistd::{Gid, Uid, User};

use crate::error::{PgError, Result};

/// Who runs the server processes. PostgreSQL refuses to run as root, so when Slipway runs as
/// root the server runs as the `postgres` system user; otherwise as Slipway's own user.
#[derive(Debug, Clone)]
pub struct ServerUser {
    name: String,
    uid: Uid,
    gid: Gid,
    /// True when the server runs as this very process's user: no switch needed.
    is_self: bool,
}

impl ServerUser {
    /// The user to run the server as, given who this process is.
    pub fn for_this_process() -> Result<Self> {
        let euid = Uid::effective();
        if euid.is_root() {
            let user = User::from_name("postgres")
                .ok()
                .flatten()
                .ok_or(PgError::NoUnprivilegedUser)?;
            return Ok(Self {
                name: user.name,
                uid: user.uid,
                gid: user.gid,
                is_self: false,
            });
        }
        let name = User::from_uid(euid)
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| euid.to_string());
        Ok(Self {
            name,
            uid: euid,
            gid: Gid::effective(),
            is_self: true,
        })
    }

    /// The user's login name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes `command` run as this user (a no-op when it is this process's user).
    pub fn apply(&self, command: &mut tokio::process::Command) {
        if !self.is_self {
            command.uid(self.uid.as_raw()).gid(self.gid.as_raw());
        }
    }

    /// The uid and gid to switch to, when not this process's own.
    pub fn ids(&self) -> Option<(u32, u32)> {
        (!self.is_self).then(|| (self.uid.as_raw(), self.gid.as_raw()))
    }

    /// Gives `path` to this user, so the server can write there.
    pub fn take_ownership(&self, path: &Path) -> Result<()> {
        if !self.is_self {
            nix::unistd::chown(path, Some(self.uid), Some(self.gid))
                .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
        }
        Ok(())
    }

    /// Whether this user can enter `dir`: checked by asking the system as that user, since
    /// ownership, modes and ACLs of every ancestor all play a part.
    pub async fn can_enter(&self, dir: &Path) -> bool {
        if self.is_self {
            return true;
        }
        let mut test = tokio::process::Command::new("test");
        test.arg("-x").arg(dir).current_dir("/");
        self.apply(&mut test);
        matches!(test.status().await, Ok(s) if s.success())
    }
}
