//! The one signed-token format behind [`crate::intent`], [`crate::events_token`] and
//! [`crate::client_result`], and the HMAC-SHA256 that [`crate::webhook`] signs with.
//!
//! ```text
//! <version>.<base64url(payload)>.<base64url(HMAC-SHA256(key, "<version>." + payload_b64))>
//! ```
//!
//! base64url is unpadded (RFC 4648 §5). [`open`] runs the key-free checks first (length cap,
//! three parts, version tag), then compares the MAC in constant time, and only then decodes the
//! payload: bytes chosen without the key are never base64-decoded, let alone parsed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::secret::Secret;

/// One kind of token: its version tag and the longest text [`open`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// The first part (`v1`, `ev1`); it is MACed, so it also keeps kinds sharing a key apart.
    pub version: &'static str,
    /// Longer tokens are refused before any other work.
    pub max_len: usize,
}

impl Format {
    /// A format with this version tag and length cap.
    pub const fn new(version: &'static str, max_len: usize) -> Self {
        Self { version, max_len }
    }
}

/// Why [`open`] refused a token, in the order the checks run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Longer than [`Format::max_len`]; nothing else was looked at.
    #[error("the token is longer than the format allows")]
    TooLong,
    /// Not three dot-separated parts, or the MAC part is not base64url.
    #[error("the token is malformed")]
    Malformed,
    /// The version tag is not [`Format::version`].
    #[error("the token version is not supported")]
    WrongVersion,
    /// The MAC does not match: tampered, truncated, or sealed with another key or version.
    #[error("the token MAC does not verify")]
    BadMac,
    /// The MAC verifies but the payload is not base64url (only a key holder can cause this).
    #[error("the token payload is not base64url")]
    PayloadEncoding,
    /// The MAC verifies but the payload is not the expected JSON (serde_json's message).
    #[error("the token payload is invalid: {0}")]
    InvalidPayload(String),
}

/// HMAC-SHA256 under `key` (any length) of the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Seals `payload`: `<version>.<base64url(payload)>.<base64url(mac)>`.
pub fn seal(format: &Format, key: &Secret, payload: &[u8]) -> String {
    let signed_part = format!("{}.{}", format.version, URL_SAFE_NO_PAD.encode(payload));
    let tag = hmac_sha256(key.expose().as_bytes(), &[signed_part.as_bytes()]);
    format!("{signed_part}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Checks `token` against `format` and `key` and returns its payload bytes (see the module docs
/// for the order of the checks).
pub fn open(format: &Format, key: &Secret, token: &str) -> Result<Vec<u8>, TokenError> {
    if token.len() > format.max_len {
        return Err(TokenError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(version), Some(payload_b64), Some(tag_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if version != format.version {
        return Err(TokenError::WrongVersion);
    }
    let presented = URL_SAFE_NO_PAD
        .decode(tag_b64)
        .map_err(|_| TokenError::Malformed)?;
    let signed_part = &token[..version.len() + 1 + payload_b64.len()];
    let expected = hmac_sha256(key.expose().as_bytes(), &[signed_part.as_bytes()]);
    if !crate::ct_eq(&expected, &presented) {
        return Err(TokenError::BadMac);
    }
    URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| TokenError::PayloadEncoding)
}

/// [`seal`] of `payload` as JSON. The token payloads are structs of strings and integers, whose
/// serialization cannot fail.
pub(crate) fn seal_json(format: &Format, key: &Secret, payload: &impl Serialize) -> String {
    let json = serde_json::to_vec(payload).unwrap_or_default();
    seal(format, key, &json)
}

/// [`open`], then the payload as JSON.
pub(crate) fn open_json<T: DeserializeOwned>(
    format: &Format,
    key: &Secret,
    token: &str,
) -> Result<T, TokenError> {
    serde_json::from_slice(&open(format, key, token)?)
        .map_err(|e| TokenError::InvalidPayload(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Format = Format::new("t1", 64);

    fn key() -> Secret {
        Secret::new("token-key-for-tests").expect("non-empty")
    }

    /// `t1.<payload_b64>.<the MAC of it under key()>`, whatever `payload_b64` is.
    fn signed(payload_b64: &str) -> String {
        let signed_part = format!("t1.{payload_b64}");
        let tag = hmac_sha256(b"token-key-for-tests", &[signed_part.as_bytes()]);
        format!("{signed_part}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    #[test]
    fn round_trips_and_matches_an_independent_mac() {
        let token = seal(&F, &key(), b"{}");
        assert_eq!(open(&F, &key(), &token), Ok(b"{}".to_vec()));
        // Python: base64.urlsafe_b64encode(hmac.new(b"token-key-for-tests", b"t1.e30", "sha256").digest())
        assert_eq!(token, "t1.e30.9yKbnGdAv33hh84p5Il7Gzg4A8rjrC7Z4lV2fFLRrn0");
        assert_eq!(token, signed("e30"));
        assert_eq!(
            open_json::<serde_json::Value>(&F, &key(), &token),
            Ok(serde_json::json!({}))
        );
    }

    #[test]
    fn refuses_in_check_order() {
        let open = |text: &str, k: &Secret| open_json::<serde_json::Value>(&F, k, text);
        // Over the cap, though the MAC would verify: refused before the split or the MAC.
        let long = seal(&F, &key(), &[b'x'; 64]);
        assert_eq!(open(&long, &key()), Err(TokenError::TooLong));
        let token = seal(&F, &key(), b"{}");
        let other = Secret::new("another-key").expect("non-empty");
        assert_eq!(open(&token, &other), Err(TokenError::BadMac));
        let tag_b64 = token.rsplit('.').next().expect("three parts");
        for (text, want) in [
            (token.replacen('.', "", 1), TokenError::Malformed),
            (format!("{token}.x"), TokenError::Malformed),
            (String::new(), TokenError::Malformed),
            (token.replacen("t1.", "t2.", 1), TokenError::WrongVersion),
            (format!("{token}!"), TokenError::Malformed),
            (token[..token.len() - 3].to_owned(), TokenError::BadMac),
            // A payload that is not base64url, or not JSON, under a wrong MAC: never decoded.
            (format!("t1.!!not-base64!!.{tag_b64}"), TokenError::BadMac),
            (format!("t1.bm90IGpzb24.{tag_b64}"), TokenError::BadMac),
        ] {
            assert_eq!(open(&text, &key()), Err(want), "{text}");
        }
    }

    #[test]
    fn decodes_and_parses_only_after_the_mac_verifies() {
        assert_eq!(
            open(&F, &key(), &signed("!!not-base64!!")),
            Err(TokenError::PayloadEncoding)
        );
        assert!(matches!(
            open_json::<serde_json::Value>(&F, &key(), &signed("bm90IGpzb24")),
            Err(TokenError::InvalidPayload(_))
        ));
    }
}
