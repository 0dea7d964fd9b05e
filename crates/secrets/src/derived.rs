//! Passwords derived from one server secret, so that nothing per login is stored: the SMTP
//! logins of builds, the PostgreSQL roles of databases. The secret is a file of
//! [`SECRET_LEN`] random bytes in the data directory (mode 0600), made on first use.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of a server secret, in bytes.
pub const SECRET_LEN: usize = 32;

/// Reads the secret at `path`, or creates it (random bytes, mode 0600, parent folders
/// created, synced). Two processes creating it at once agree on one secret. A file of
/// another length is an `InvalidData` error saying so: it is never replaced, since every
/// password derived from it would change.
pub fn load_or_create_secret(path: &Path) -> std::io::Result<[u8; SECRET_LEN]> {
    match read_secret(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        other => return other,
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let secret: [u8; SECRET_LEN] = rand::random();
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    let mut file = match created {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return read_secret(path),
        Err(e) => return Err(e),
    };
    file.write_all(&secret)?;
    file.sync_all()?;
    Ok(secret)
}

fn read_secret(path: &Path) -> std::io::Result<[u8; SECRET_LEN]> {
    let mut bytes = Vec::with_capacity(SECRET_LEN);
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        std::io::Error::new(
            ErrorKind::InvalidData,
            format!(
                "holds {} bytes instead of {SECRET_LEN}; restore it from a backup (passwords derive from it)",
                bytes.len()
            ),
        )
    })
}

/// The password `secret` derives for `label`: the first 32 hex digits of
/// `HMAC-SHA256(secret, label)`.
pub fn derived_password(secret: &[u8; SECRET_LEN], label: &str) -> String {
    hmac_sha256_hex(secret, label.as_bytes())[..32].to_string()
}

/// `HMAC-SHA256(key, message)` in 64 lower-case hex digits.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(message);
    let digest = mac.finalize().into_bytes();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_secret_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/key");
        let made = load_or_create_secret(&path).unwrap();
        assert_eq!(load_or_create_secret(&path).unwrap(), made);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, b"short").unwrap();
        let bad = load_or_create_secret(&path).unwrap_err();
        assert_eq!(bad.kind(), ErrorKind::InvalidData);
        assert!(bad.to_string().contains("holds 5 bytes"), "{bad}");
    }

    #[test]
    fn hmac_of_rfc_4231_case_2() {
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn passwords_depend_on_the_secret_and_the_label() {
        let (a, b) = ([1; SECRET_LEN], [2; SECRET_LEN]);
        let p = derived_password(&a, "x");
        assert_eq!(p.len(), 32);
        assert_eq!(p, derived_password(&a, "x"));
        assert_ne!(p, derived_password(&a, "y"));
        assert_ne!(p, derived_password(&b, "x"));
    }
}
