//! Secrets Slipway hands out (upgrade request keys, API tokens, web sessions): random, stored
//! only as a SHA-256 digest, compared in constant time; passwords derived from one server
//! secret file ([`load_or_create_secret`], [`derived_password`]); and Odoo's password hashes
//! ([`odoo_password_hash`], passlib's `pbkdf2_sha512` format).
//!
//! **Invariants:** a secret is shown once, when made, and never stored or logged in clear; a
//! check takes the same time wherever the given value differs.

mod derived;
mod passlib;

pub use derived::{derived_password, hmac_sha256_hex, load_or_create_secret, SECRET_LEN};
pub use passlib::{odoo_password_hash, pbkdf2_sha512_hash, ODOO_ROUNDS};

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new private key: 128 random bits, URL-safe base64 as in the documented example
/// (`Aw7pItGVKFuZ_FOR3U8VFQ==`), so it can sit in a URL path.
pub fn generate_key() -> String {
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

/// What the database keeps of a key.
pub fn key_digest(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Whether `given` is the key whose digest is `stored`, in time independent of where they
/// differ.
pub fn key_matches(stored: &[u8], given: &str) -> bool {
    stored.ct_eq(&key_digest(given)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_url_safe() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=".contains(c)));
    }

    #[test]
    fn only_the_right_key_matches() {
        let key = generate_key();
        let stored = key_digest(&key);
        assert!(key_matches(&stored, &key));
        assert!(!key_matches(&stored, &generate_key()));
        assert!(!key_matches(&stored, ""));
    }
}
