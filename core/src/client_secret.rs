//! Per-order client secrets: the widget's proof that it created an order.
//!
//! The edge draws 32 random bytes (the caller supplies them: this crate has no randomness),
//! hands the shopper's page their base64url text once, and stores only the SHA-256 of that
//! text. A status request presents the text; [`verify`] hashes it and compares in constant
//! time against each stored hash.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Bytes of entropy in a client secret.
pub const CLIENT_SECRET_BYTES: usize = 32;

/// The longest presented secret worth hashing (a real one is 43 characters).
pub const MAX_CLIENT_SECRET_LEN: usize = 128;

/// The client secret text for 32 random bytes: unpadded base64url, 43 characters.
pub fn encode(random: &[u8; CLIENT_SECRET_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// The stored form of a client secret: lowercase hex SHA-256 of its text (64 characters).
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `presented` is the secret behind one of `stored_hashes`. Every hash is compared,
/// each in constant time; an empty or oversized presentation never matches.
pub fn verify<'a>(presented: &str, stored_hashes: impl IntoIterator<Item = &'a str>) -> bool {
    if presented.is_empty() || presented.len() > MAX_CLIENT_SECRET_LEN {
        return false;
    }
    let presented_hash = hash(presented);
    let mut found = false;
    for stored in stored_hashes {
        found |= crate::ct_eq(presented_hash.as_bytes(), stored.as_bytes());
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_43_url_safe_characters() {
        let text = encode(&[0xff; 32]);
        assert_eq!(text.len(), 43);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn hash_is_sha256_hex() {
        // printf abc | sha256sum
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verifies_only_a_stored_secret() {
        let a = encode(&[1; 32]);
        let b = encode(&[2; 32]);
        let stored = [hash(&a), hash(&b)];
        let stored = || stored.iter().map(String::as_str);
        assert!(verify(&a, stored()));
        assert!(verify(&b, stored()));
        assert!(!verify(&encode(&[3; 32]), stored()));
        assert!(!verify("", stored()));
        assert!(!verify(&"x".repeat(200), stored()));
        assert!(!verify(&a, std::iter::empty()));
        // The hash itself is not a credential.
        assert!(!verify(&hash(&a), stored()));
    }
}
