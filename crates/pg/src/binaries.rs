//! Finding the PostgreSQL server binaries installed on this machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{PgError, Result};

/// A directory holding one PostgreSQL installation's programs (`initdb`, `pg_ctl`, `postgres`,
/// `pg_dump`, `pg_restore`, `psql`...), with the version it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    bin_dir: PathBuf,
    version: ServerVersion,
}

/// A PostgreSQL version as `postgres --version` prints it, e.g. `15.18`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    /// The major version (`15`); since PostgreSQL 10 the first number alone.
    pub major: u32,
    /// The full version string (`15.18`).
    pub full: String,
}

impl Binaries {
    /// Finds the server binaries: `pg_config --bindir` first, then the highest
    /// `/usr/lib/postgresql/<major>/bin`. Only directories that hold `initdb` count, since
    /// `pg_config` also comes with client-only packages.
    pub fn discover() -> Result<Self> {
        candidate_dirs()
            .into_iter()
            .find_map(|dir| Self::at(&dir).ok())
            .ok_or(PgError::BinariesNotFound)
    }

    /// The binaries of one major version: needed to run a data directory that an older or
    /// newer PostgreSQL created.
    pub fn for_major(major: u32) -> Result<Self> {
        candidate_dirs()
            .into_iter()
            .filter_map(|dir| Self::at(&dir).ok())
            .find(|b| b.version.major == major)
            .ok_or(PgError::BinariesNotFound)
    }

    /// The binaries in `bin_dir`, which must hold `initdb` and `postgres`.
    pub fn at(bin_dir: &Path) -> Result<Self> {
        if !bin_dir.join("initdb").is_file() {
            return Err(PgError::BinariesNotIn(bin_dir.to_path_buf()));
        }
        let output = Command::new(bin_dir.join("postgres"))
            .arg("--version")
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        let version = parse_server_version(&text).ok_or_else(|| PgError::Command {
            command: format!("{} --version", bin_dir.join("postgres").display()),
            detail: format!("unexpected output {text:?}"),
        })?;
        Ok(Self {
            bin_dir: bin_dir.to_path_buf(),
            version,
        })
    }

    /// The path of one program of this installation, e.g. `tool("pg_restore")`.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// The directory holding the programs.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The version these binaries report.
    pub fn version(&self) -> &ServerVersion {
        &self.version
    }
}

/// The directories worth trying, best first: `pg_config --bindir`, then every
/// `/usr/lib/postgresql/*/bin` from the highest major down.
fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !dir.is_empty() {
                dirs.push(PathBuf::from(dir));
            }
        }
    }
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, e.path().join("bin")))
        })
        .collect();
    versioned.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    dirs.extend(versioned.into_iter().map(|(_, dir)| dir));
    dirs
}

/// Reads `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` as `15.18`.
pub fn parse_server_version(text: &str) -> Option<ServerVersion> {
    let after = text.split(')').nth(1)?.trim();
    let full = after.split_whitespace().next()?.to_string();
    let major = full
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some(ServerVersion { major, full })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_debian_version_line() {
        let v = parse_server_version("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n");
        assert_eq!(
            v,
            Some(ServerVersion {
                major: 15,
                full: "15.18".into()
            })
        );
    }

    #[test]
    fn reads_beta_and_plain_version_lines() {
        assert_eq!(
            parse_server_version("postgres (PostgreSQL) 17beta1").map(|v| v.major),
            Some(17)
        );
        assert_eq!(
            parse_server_version("postgres (PostgreSQL) 16.4").map(|v| v.full),
            Some("16.4".to_string())
        );
    }

    #[test]
    fn rejects_unrelated_output() {
        assert_eq!(parse_server_version("command not found"), None);
    }
}
