//! SSH keys: the users' authorized_keys files and the server's own host key.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::LineEnding;
use russh::keys::{PrivateKey, PublicKey};

use super::SftpError;

/// Why an authorized_keys file was refused; the message is the API's `SSH_KEYS:INVALID` one.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// A line is neither a public key, a blank line nor a comment.
    #[error(
        "Line {line} of ssh_keys {problem}; only public keys (as in ~/.ssh/id_ed25519.pub), \
         blank lines and # comments are allowed"
    )]
    Line {
        /// Its number, from 1.
        line: usize,
        /// What is wrong with it.
        problem: LineProblem,
    },
    /// Nothing in the file is a key.
    #[error("ssh_keys holds no public key; send the content of your ~/.ssh/id_*.pub")]
    NoKey,
}

/// What is wrong with a line of an authorized_keys file.
#[derive(Debug, thiserror::Error)]
pub enum LineProblem {
    /// `command="..."`, `from=...` and the like before the key.
    #[error("has options before the key, which are not supported")]
    Options,
    /// Anything else.
    #[error("is not a public key ({0})")]
    NotAKey(#[source] russh::keys::ssh_key::Error),
}

/// Parses an authorized_keys file: public keys (`<type> <base64> [comment]`), blank lines and
/// `#` comments only. Any other line (options such as `command=`, a private key, garbage) is
/// refused with a message naming it.
pub fn parse_authorized_keys(text: &str) -> Result<Vec<PublicKey>, KeysError> {
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        keys.push(parse_key_line(line).map_err(|problem| KeysError::Line {
            line: index + 1,
            problem,
        })?);
    }
    if keys.is_empty() {
        return Err(KeysError::NoKey);
    }
    Ok(keys)
}

fn parse_key_line(line: &str) -> Result<PublicKey, LineProblem> {
    match PublicKey::from_openssh(line) {
        Ok(key) => Ok(key),
        Err(_) if has_options(line) => Err(LineProblem::Options),
        Err(e) => Err(LineProblem::NotAKey(e)),
    }
}

/// Whether a public key follows something else on the line (authorized_keys options such as
/// `command="..."`, `from=...`).
fn has_options(line: &str) -> bool {
    line.char_indices()
        .filter(|(_, c)| c.is_whitespace())
        .any(|(at, _)| PublicKey::from_openssh(line[at..].trim_start()).is_ok())
}

/// Whether `offered` is one of the keys of the stored authorized_keys text `stored` (compared
/// by key material, comments aside). A stored text that no longer parses authorizes nothing.
pub(crate) fn is_authorized(stored: &str, offered: &PublicKey) -> bool {
    parse_authorized_keys(stored)
        .map(|keys| keys.iter().any(|k| k.key_data() == offered.key_data()))
        .unwrap_or(false)
}

/// The server's ed25519 host key at `path`, created (mode 0600, in a 0700 folder) on first use
/// so that clients see the same host across restarts.
pub(crate) fn load_or_create_host_key(path: &Path) -> Result<PrivateKey, SftpError> {
    let host_key = |source: std::io::Error| SftpError::HostKey {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => return decode_host_key(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(host_key(e)),
    }
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&rand::random::<[u8; 32]>()));
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| host_key(std::io::Error::other(e)))?;
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(host_key)?;
    }
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(mut file) => {
            file.write_all(text.as_bytes()).map_err(host_key)?;
            file.sync_all().map_err(host_key)?;
            Ok(key)
        }
        // Another process created it meanwhile: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(host_key)?;
            decode_host_key(path, &text)
        }
        Err(e) => Err(host_key(e)),
    }
}

fn decode_host_key(path: &Path, text: &str) -> Result<PrivateKey, SftpError> {
    PrivateKey::from_openssh(text).map_err(|e| SftpError::HostKey {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH4A75NwZI6tg5Vnq/1Y0Bak0CyuNAS0hZAHzkJh0/9V";
    const OTHER: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP6BD+JYOJceGPgYKXUdRyZG0KtwVwF0WvahZWfvdnD0";

    #[test]
    fn keys_comments_and_blank_lines_are_accepted() {
        let text = format!("# laptop\n\n{ED25519} john@laptop\n   \n{OTHER}\n");
        assert_eq!(parse_authorized_keys(&text).unwrap().len(), 2);
    }

    #[test]
    fn other_lines_are_refused_by_number() {
        for (text, line, why) in [
            (format!("{ED25519}\nhello world"), 2, "is not a public key"),
            (
                format!("# c\ncommand=\"/bin/sh\" {ED25519}"),
                2,
                "has options",
            ),
            (
                format!("from=\"10.0.0.1\",command=\"echo hi\" {ED25519} me"),
                1,
                "has options",
            ),
            (
                "ssh-ed25519 AAAA-not-base64".to_string(),
                1,
                "not a public key",
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----".to_string(),
                1,
                "not a public key",
            ),
        ] {
            let message = parse_authorized_keys(&text).unwrap_err().to_string();
            assert!(message.starts_with(&format!("Line {line} ")), "{message}");
            assert!(message.contains(why), "{message}");
        }
    }

    #[test]
    fn a_file_without_keys_is_refused() {
        assert!(parse_authorized_keys("# nothing\n\n").is_err());
    }

    #[test]
    fn only_stored_keys_are_authorized_whatever_their_comment() {
        let stored = format!("{ED25519} john@laptop\n");
        let same = PublicKey::from_openssh(&format!("{ED25519} other-comment")).unwrap();
        let other = PublicKey::from_openssh(OTHER).unwrap();
        assert!(is_authorized(&stored, &same));
        assert!(!is_authorized(&stored, &other));
        assert!(!is_authorized("garbage", &same));
    }

    #[test]
    fn the_host_key_is_created_private_and_then_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sftp/host_ed25519_key");
        let first = load_or_create_host_key(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create_host_key(&path).unwrap();
        assert_eq!(first.public_key(), again.public_key());
    }

    #[test]
    fn a_corrupt_host_key_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host_ed25519_key");
        std::fs::write(&path, "not a key").unwrap();
        let message = load_or_create_host_key(&path).unwrap_err().to_string();
        assert!(message.contains("host_ed25519_key"), "{message}");
    }
}
