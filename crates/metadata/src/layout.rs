//! Where Slipway keeps each kind of thing under its data directory (`--data-dir`).
//!
//! | path | what | owner |
//! |---|---|---|
//! | `pg/`, `postgres.json`, `run/`, `wal-spool/` | the embedded PostgreSQL cluster, its settings, socket and WAL spool | `slipway_pg::Layout` |
//! | `filestore/<db>/` | Odoo's filestore of each database | `slipway_dump::Target` |
//! | `builds/<build>/` | each build's sources, `odoo.conf`, logs and Odoo data | [`DataDir::builds`] |
//! | `git/` | the projects' bare repositories | [`DataDir::git`] |
//! | `venvs/` | Python virtualenvs shared by builds with the same requirements | [`DataDir::venvs`] |
//! | `backups/primary/`, `backups/replica-N/` | the default backup repository and its replicas | [`DataDir::backup_primary`], [`DataDir::backup_replica`] |
//! | `backups/uploads/` | dumps being received by the import API | [`DataDir::backup_uploads`] |
//! | `backups/scratch/`, `swaps/` | the backup engine's scratch space and restore journal | the backup engine |
//! | `downloads/` | backups being prepared for download | [`DataDir::downloads`] |
//! | `mails/`, `smtp/secret` | the mail catcher's messages, and the secret SMTP passwords derive from | [`DataDir::mails`], [`DataDir::smtp_secret`] |
//! | `upgrade/`, `sftp/` | the upgrade platform's request files, the SFTP host key | [`DataDir::upgrade`], [`DataDir::sftp`] |
//! | `upgrade-engines/<series>/` | OpenUpgrade's addons fetched from PyPI, each engine's requirements | [`DataDir::upgrade_engines`] |
//! | `cli-token` | the token the CLI calls the local server with | [`DataDir::cli_token`] |
//! | `odoo-logins.key` | the secret builds' Connect keys and production's admin passwords derive from | [`DataDir::odoo_logins_secret`] |
//! | `odoo-addons/` | Slipway's own Odoo module (`slipway_connect`), on every build's addons path | [`DataDir::slipway_addons`] |
//!
//! The crates below this one (`pg`, `dump`) place their own entries; they are listed here so
//! that the whole layout reads in one place.

use std::path::{Path, PathBuf};

/// Slipway's data directory, and where each kind of thing lives under it. Every path is built
/// here, so that a folder is named once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The layout of the data directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The data directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The builds' folders, one per build: `<data-dir>/builds`.
    pub fn builds(&self) -> PathBuf {
        self.root.join("builds")
    }

    /// The projects' bare Git repositories: `<data-dir>/git`.
    pub fn git(&self) -> PathBuf {
        self.root.join("git")
    }

    /// Python virtualenvs, shared by builds with the same requirements: `<data-dir>/venvs`.
    pub fn venvs(&self) -> PathBuf {
        self.root.join("venvs")
    }

    /// The default primary location of the backup repository: `<data-dir>/backups/primary`.
    pub fn backup_primary(&self) -> PathBuf {
        self.root.join("backups").join("primary")
    }

    /// The default replica number `n` of the backup repository:
    /// `<data-dir>/backups/replica-<n>`.
    pub fn backup_replica(&self, n: u32) -> PathBuf {
        self.root.join("backups").join(format!("replica-{n}"))
    }

    /// Where dumps sent to the import API are received: `<data-dir>/backups/uploads`.
    pub fn backup_uploads(&self) -> PathBuf {
        self.root.join("backups").join("uploads")
    }

    /// Where backups are prepared for download: `<data-dir>/downloads`.
    pub fn downloads(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// The mail catcher's messages: `<data-dir>/mails`.
    pub fn mails(&self) -> PathBuf {
        self.root.join("mails")
    }

    /// The secret the builds' SMTP passwords derive from: `<data-dir>/smtp/secret`.
    pub fn smtp_secret(&self) -> PathBuf {
        self.root.join("smtp").join("secret")
    }

    /// The upgrade platform's request files: `<data-dir>/upgrade`.
    pub fn upgrade(&self) -> PathBuf {
        self.root.join("upgrade")
    }

    /// The upgrade engines' own files (OpenUpgrade's addons from PyPI, the engines'
    /// requirements): `<data-dir>/upgrade-engines/<series>/`.
    pub fn upgrade_engines(&self) -> PathBuf {
        self.root.join("upgrade-engines")
    }

    /// The upgrade API's SFTP endpoint (its host key): `<data-dir>/sftp`.
    pub fn sftp(&self) -> PathBuf {
        self.root.join("sftp")
    }

    /// The secret builds' Connect keys and production databases' admin passwords derive from:
    /// `<data-dir>/odoo-logins.key`.
    pub fn odoo_logins_secret(&self) -> PathBuf {
        self.root.join("odoo-logins.key")
    }

    /// Slipway's own Odoo modules, written out from the binary: `<data-dir>/odoo-addons`.
    pub fn slipway_addons(&self) -> PathBuf {
        self.root.join("odoo-addons")
    }

    /// The token the CLI calls the local server with, written by `slipway serve` for the first
    /// user: `<data-dir>/cli-token`.
    pub fn cli_token(&self) -> PathBuf {
        self.root.join("cli-token")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_place_is_under_the_root() {
        let dir = DataDir::new("/srv/slipway");
        assert_eq!(dir.root(), Path::new("/srv/slipway"));
        assert_eq!(dir.builds(), Path::new("/srv/slipway/builds"));
        assert_eq!(dir.git(), Path::new("/srv/slipway/git"));
        assert_eq!(dir.venvs(), Path::new("/srv/slipway/venvs"));
        assert_eq!(
            dir.backup_primary(),
            Path::new("/srv/slipway/backups/primary")
        );
        assert_eq!(
            dir.backup_replica(2),
            Path::new("/srv/slipway/backups/replica-2")
        );
        assert_eq!(
            dir.backup_uploads(),
            Path::new("/srv/slipway/backups/uploads")
        );
        assert_eq!(dir.downloads(), Path::new("/srv/slipway/downloads"));
        assert_eq!(dir.mails(), Path::new("/srv/slipway/mails"));
        assert_eq!(dir.smtp_secret(), Path::new("/srv/slipway/smtp/secret"));
        assert_eq!(dir.upgrade(), Path::new("/srv/slipway/upgrade"));
        assert_eq!(dir.sftp(), Path::new("/srv/slipway/sftp"));
        assert_eq!(dir.cli_token(), Path::new("/srv/slipway/cli-token"));
        assert_eq!(
            dir.odoo_logins_secret(),
            Path::new("/srv/slipway/odoo-logins.key")
        );
        assert_eq!(dir.slipway_addons(), Path::new("/srv/slipway/odoo-addons"));
    }
}
