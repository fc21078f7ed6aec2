//! Secrets: argon2id password hashes, random API tokens and session ids, and the SHA-256
//! digests under which tokens and sessions are stored.
//!
//! Tokens and session ids carry 256 random bits, so a plain SHA-256 digest is enough to
//! store them (nothing to brute-force) and keeps the per-request check to microseconds;
//! passwords are chosen by people and get argon2id.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Prefix of API tokens, so a leaked one is recognisable in a secret scan.
pub const TOKEN_PREFIX: &str = "cw_";

/// Longest password accepted (argon2 takes any length; this bounds the work per attempt).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Why a password was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("the password is shorter than {MIN_PASSWORD_CHARS} characters; choose a longer one")]
    TooShort,
    #[error("the password is over {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
}

/// Checks a new password's length.
pub fn check_password(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Ok(())
}

/// The argon2id hash (PHC string, with its own random salt) of `password`.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches the PHC string `hash`. A malformed hash matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so that a missing user takes as
/// long to refuse as a wrong password (no user enumeration by timing).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("callwatch-no-such-user"))
}

/// A new API token: the prefix and 256 random bits, URL-safe.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", b64(&random_bytes::<32>()))
}

/// A new session id (256 random bits, URL-safe).
pub fn new_session_id() -> String {
    b64(&random_bytes::<32>())
}

/// A random password for the first admin: 24 URL-safe characters (144 bits).
pub fn new_password() -> String {
    b64(&random_bytes::<18>())
}

/// The hex SHA-256 digest a token or session id is stored under.
pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random source is available");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("correct horse battery");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("correct horse battery", "not a hash"));
        // The same password hashes differently each time (salted).
        assert_ne!(h, hash_password("correct horse battery"));
    }

    #[test]
    fn password_length_is_checked() {
        assert_eq!(check_password("short"), Err(PasswordError::TooShort));
        assert_eq!(
            check_password(&"x".repeat(2000)),
            Err(PasswordError::TooLong)
        );
        assert_eq!(check_password("twelve chars"), Ok(()));
        assert!(!verify_password(&"x".repeat(2000), dummy_hash()));
    }

    #[test]
    fn tokens_are_prefixed_random_and_stored_as_digests() {
        let (a, b) = (new_token(), new_token());
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == 3 + 43, "{a}");
        assert_ne!(a, b);
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(new_password().len(), 24);
    }
}
