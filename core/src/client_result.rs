//! Signed client results: the edge's short-lived statement "this order reached this state",
//! handed to the shopper's page so the merchant page can post it to its own backend, which
//! verifies it offline with the shared key (no call to the edge, no trust in the browser).
//!
//! Format (stable, documented in the edge README; the same shape as [`crate::intent`]):
//!
//! ```text
//! v1.<base64url(payload JSON)>.<base64url(HMAC-SHA256(CLIENT_RESULT_SECRET, "v1." + payload_b64))>
//! payload = {"order_no":"A-1","state":"paid","amount":"5.00","currency":"USD","exp":1767225600}
//! ```
//!
//! base64url is unpadded (RFC 4648 §5). `state` is [`crate::state::state_name`] of the order
//! status (`paid`, `failed`, `expired`, ...); `amount` is the order amount as decimal text;
//! `exp` is Unix seconds. [`crate::token`] checks the MAC, in constant time, before the payload
//! is decoded.
//! The token proves what the edge saw at minting time; a refund that follows later is not in it.

use serde::{Deserialize, Serialize};

use crate::money::{Amount, Currency};
use crate::order_no::OrderNo;
use crate::secret::Secret;
use crate::token::{Format, TokenError, open_json, seal_json};

/// Upper bound on a token's length: a valid one is ~200 bytes.
pub const MAX_TOKEN_LEN: usize = 1024;
/// How long a token minted by the edge stays valid (seconds).
pub const DEFAULT_TTL_SECS: i64 = 600;
const FORMAT: Format = Format::new("v1", MAX_TOKEN_LEN);

/// What a client result says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResult {
    /// The merchant's order number.
    pub order_no: OrderNo,
    /// The order's state name (`paid`, `failed`, `expired`, ...).
    pub state: String,
    /// The order amount.
    pub amount: Amount,
    /// Its currency.
    pub currency: Currency,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    order_no: String,
    state: String,
    amount: String,
    currency: String,
    exp: i64,
}

/// Why a client result was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientResultError {
    /// Not three dot-separated parts, bad base64, or too long.
    #[error("the result token is malformed")]
    Malformed,
    /// A version other than `v1`.
    #[error("the result token version is not supported")]
    UnsupportedVersion,
    /// The MAC does not match: tampered, truncated, or minted with another key.
    #[error("the result token signature does not verify")]
    BadSignature,
    /// Past its `exp`.
    #[error("the result token expired at {exp}")]
    Expired {
        /// The expiry, Unix seconds.
        exp: i64,
    },
    /// Signed, but the payload is not valid (bad JSON, amount, currency or order number).
    #[error("the result token payload is invalid: {0}")]
    InvalidPayload(String),
}

impl ClientResultError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            ClientResultError::Malformed => "result_malformed",
            ClientResultError::UnsupportedVersion => "result_version",
            ClientResultError::BadSignature => "result_bad_signature",
            ClientResultError::Expired { .. } => "result_expired",
            ClientResultError::InvalidPayload(_) => "result_invalid",
        }
    }
}

impl From<TokenError> for ClientResultError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::TooLong | TokenError::Malformed | TokenError::PayloadEncoding => {
                ClientResultError::Malformed
            }
            TokenError::WrongVersion => ClientResultError::UnsupportedVersion,
            TokenError::BadMac => ClientResultError::BadSignature,
            TokenError::InvalidPayload(reason) => ClientResultError::InvalidPayload(reason),
        }
    }
}

impl ClientResult {
    /// Mints the token text.
    pub fn mint(&self, key: &Secret) -> String {
        let payload = Payload {
            order_no: self.order_no.as_str().to_owned(),
            state: self.state.clone(),
            amount: self.amount.to_string(),
            currency: self.currency.code().to_owned(),
            exp: self.exp,
        };
        seal_json(&FORMAT, key, &payload)
    }

    /// Verifies a token at time `now` (Unix seconds) and returns what it says.
    pub fn verify(token: &str, key: &Secret, now: i64) -> Result<ClientResult, ClientResultError> {
        let payload: Payload = open_json(&FORMAT, key, token)?;
        let invalid = |e: &dyn std::fmt::Display| ClientResultError::InvalidPayload(e.to_string());
        let currency = Currency::parse(&payload.currency).map_err(|e| invalid(&e))?;
        let amount = Amount::parse_decimal(&payload.amount).map_err(|e| invalid(&e))?;
        let order_no = OrderNo::parse(&payload.order_no).map_err(|e| invalid(&e))?;
        if payload.state.is_empty() {
            return Err(ClientResultError::InvalidPayload("empty state".into()));
        }
        if now >= payload.exp {
            return Err(ClientResultError::Expired { exp: payload.exp });
        }
        Ok(ClientResult {
            order_no,
            state: payload.state,
            amount,
            currency,
            exp: payload.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::token::seal;

    fn key() -> Secret {
        Secret::new("client-result-key-for-tests").expect("non-empty")
    }

    fn result() -> ClientResult {
        ClientResult {
            order_no: OrderNo::parse("A-1").expect("valid"),
            state: "paid".into(),
            amount: Amount::from_minor(500).expect("positive"),
            currency: Currency::Usd,
            exp: 1_800_000_000,
        }
    }

    #[test]
    fn round_trips() {
        let token = result().mint(&key());
        assert!(token.starts_with("v1."));
        assert_eq!(
            ClientResult::verify(&token, &key(), 1_799_999_999),
            Ok(result())
        );
    }

    #[test]
    fn known_answer() {
        // Independently computed with Python:
        //   p = base64.urlsafe_b64encode(b'{"order_no":"A-1","state":"paid","amount":"5.00","currency":"USD","exp":1800000000}').rstrip(b'=')
        //   t = base64.urlsafe_b64encode(hmac.new(b"client-result-key-for-tests", b"v1." + p, "sha256").digest()).rstrip(b'=')
        let expected = include_str!("client_result_vector.txt").trim();
        assert_eq!(result().mint(&key()), expected);
        assert_eq!(
            ClientResult::verify(expected, &key(), 1_700_000_000),
            Ok(result())
        );
    }

    #[test]
    fn expires() {
        let token = result().mint(&key());
        assert_eq!(
            ClientResult::verify(&token, &key(), 1_800_000_000),
            Err(ClientResultError::Expired { exp: 1_800_000_000 })
        );
        assert_eq!(
            ClientResult::verify(&token, &key(), 1_900_000_000),
            Err(ClientResultError::Expired { exp: 1_800_000_000 })
        );
    }

    #[test]
    fn refuses_tampered_or_foreign_tokens() {
        use ClientResultError as E;
        let token = result().mint(&key());
        let now = 1_700_000_000;
        let other = Secret::new("another-key").expect("non-empty");
        let verify = |text: &str, key: &Secret| ClientResult::verify(text, key, now);
        assert_eq!(verify(&token, &other), Err(E::BadSignature));
        for (text, want) in [
            (token.replacen("v1.", "v2.", 1), E::UnsupportedVersion),
            (token[..token.len() - 3].to_owned(), E::BadSignature),
            ("v1.abc".to_owned(), E::Malformed),
            (String::new(), E::Malformed),
            (format!("{token}.x"), E::Malformed),
            ("a".repeat(2000), E::Malformed),
        ] {
            assert_eq!(verify(&text, &key()), Err(want), "{text}");
        }
        let parts: Vec<&str> = token.split('.').collect();
        // A failed payment rewritten as paid, a later expiry, another amount: old MAC.
        for forged in [
            r#"{"order_no":"A-1","state":"paid","amount":"5.00","currency":"USD","exp":1900000000}"#,
            r#"{"order_no":"A-1","state":"paid","amount":"0.01","currency":"USD","exp":1800000000}"#,
            r#"{"order_no":"A-2","state":"paid","amount":"5.00","currency":"USD","exp":1800000000}"#,
        ] {
            let forged = URL_SAFE_NO_PAD.encode(forged);
            let forged = format!("v1.{forged}.{}", parts[2]);
            assert_eq!(verify(&forged, &key()), Err(E::BadSignature));
        }
        // One flipped character anywhere in the payload.
        let mut bytes = token.clone().into_bytes();
        bytes[5] = if bytes[5] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).expect("ascii");
        assert!(verify(&flipped, &key()).is_err());
    }

    #[test]
    fn a_validly_signed_but_invalid_payload_is_refused() {
        let verify =
            |p: &str| ClientResult::verify(&seal(&FORMAT, &key(), p.as_bytes()), &key(), 1);
        for payload in [
            r#"{"order_no":"A-1","state":"paid","amount":"5.001","currency":"USD","exp":10}"#,
            r#"{"order_no":"A-1","state":"paid","amount":"5","currency":"EUR","exp":10}"#,
            r#"{"order_no":"","state":"paid","amount":"5","currency":"USD","exp":10}"#,
            r#"{"order_no":"A-1","state":"","amount":"5","currency":"USD","exp":10}"#,
            r#"{"order_no":"A-1","state":"paid","amount":"5","currency":"USD","exp":10,"extra":1}"#,
            "not json",
        ] {
            assert!(
                matches!(verify(payload), Err(ClientResultError::InvalidPayload(_))),
                "{payload}"
            );
        }
    }
}
