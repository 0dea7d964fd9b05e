//! Odoo's password hashes: passlib's `pbkdf2_sha512` format, as `res_users.password` holds
//! them (`$pbkdf2-sha512$<rounds>$<salt>$<checksum>`, both in passlib's "ab64": base64 with
//! `.` for `+` and no padding). Odoo verifies such a hash whatever its rounds.

use base64::Engine;

/// The rounds Odoo 17 hashes passwords with (`res_users.MIN_ROUNDS`).
pub const ODOO_ROUNDS: u32 = 600_000;

/// A hash of `password` that Odoo accepts, with a random 16-byte salt and [`ODOO_ROUNDS`].
/// It takes a fraction of a second on purpose: call it off the async threads.
pub fn odoo_password_hash(password: &str) -> String {
    let salt: [u8; 16] = rand::random();
    pbkdf2_sha512_hash(password, &salt, ODOO_ROUNDS)
}

/// passlib's `pbkdf2_sha512` hash of `password` with `salt` and `rounds` (a 64-byte
/// PBKDF2-HMAC-SHA512 checksum).
pub fn pbkdf2_sha512_hash(password: &str, salt: &[u8], rounds: u32) -> String {
    let mut checksum = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<pbkdf2::sha2::Sha512>(password.as_bytes(), salt, rounds, &mut checksum);
    format!("$pbkdf2-sha512${rounds}${}${}", ab64(salt), ab64(&checksum))
}

/// passlib's "adapted base64": standard base64, `.` instead of `+`, no padding.
fn ab64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(bytes)
        .replace('+', ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_have_passlib_s_shape() {
        let hash = odoo_password_hash("s3cret");
        let parts: Vec<&str> = hash.split('$').collect();
        assert_eq!(parts[..3], ["", "pbkdf2-sha512", "600000"], "{hash}");
        assert_eq!(parts[3].len(), 22, "16 bytes of salt: {hash}");
        assert_eq!(parts[4].len(), 86, "64 bytes of checksum: {hash}");
        assert!(!hash.contains(['+', '=']), "{hash}");
        assert_ne!(hash, odoo_password_hash("s3cret"), "salted");
    }

    /// The same hash as Python's `hashlib.pbkdf2_hmac` put in passlib's format (what passlib
    /// itself computes; the stand-in and Odoo verify it so).
    #[test]
    fn hashes_match_python_s_pbkdf2() {
        let salt = b"\xfb\xfe0123456789ab";
        let ours = pbkdf2_sha512_hash("pässword", salt, 1000);
        let script = r#"
import base64, hashlib
ab64 = lambda b: base64.b64encode(b).decode().rstrip('=').replace('+', '.')
salt = b'\xfb\xfe0123456789ab'
digest = hashlib.pbkdf2_hmac('sha512', 'pässword'.encode(), salt, 1000)
print(f'$pbkdf2-sha512$1000${ab64(salt)}${ab64(digest)}')
"#;
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .output()
            .expect("python3 runs");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), ours);
        assert!(
            ours.starts_with("$pbkdf2-sha512$1000$./4w"),
            "+ is written ."
        );
    }
}
