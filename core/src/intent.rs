//! Checkout intents: a merchant backend's signed statement "charge this amount for this order".
//!
//! Format (stable, documented in `docs/merchant-api.md` so any backend can mint one offline):
//!
//! ```text
//! v1.<base64url(payload JSON)>.<base64url(HMAC-SHA256(INTENT_SECRET, "v1." + payload_b64))>
//! payload = {"order_no":"A-1","amount":"5.00","currency":"USD","exp":1767225600}
//! ```
//!
//! base64url is unpadded (RFC 4648 §5). `exp` is Unix seconds. The format is [`crate::token`]'s:
//! the MAC is checked before the payload is even decoded, in constant time.

use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money, MoneyError, MoneyLimits};
use crate::order_no::{OrderNo, OrderNoError};
use crate::secret::Secret;
use crate::token::{Format, TokenError, open_json, seal_json};

/// Upper bound on an intent's length: a valid one is ~200 bytes.
pub const MAX_INTENT_LEN: usize = 1024;
const FORMAT: Format = Format::new("v1", MAX_INTENT_LEN);

/// What an intent says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The merchant's order number.
    pub order_no: OrderNo,
    /// What to charge.
    pub money: Money,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    order_no: String,
    amount: String,
    currency: String,
    exp: i64,
}

/// Why an intent was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntentError {
    /// Not three dot-separated parts, bad base64, or too long.
    #[error("the intent is malformed")]
    Malformed,
    /// A version other than `v1`.
    #[error("the intent version is not supported")]
    UnsupportedVersion,
    /// The MAC does not match: tampered, truncated, or minted with another key.
    #[error("the intent signature does not verify")]
    BadSignature,
    /// Past its `exp`.
    #[error("the intent expired at {exp}")]
    Expired {
        /// The expiry, Unix seconds.
        exp: i64,
    },
    /// Signed, but the payload is not a valid order (bad JSON, amount or order number).
    #[error("the intent payload is invalid: {0}")]
    InvalidPayload(String),
}

impl IntentError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            IntentError::Malformed => "intent_malformed",
            IntentError::UnsupportedVersion => "intent_version",
            IntentError::BadSignature => "intent_bad_signature",
            IntentError::Expired { .. } => "intent_expired",
            IntentError::InvalidPayload(_) => "intent_invalid",
        }
    }
}

impl From<MoneyError> for IntentError {
    fn from(e: MoneyError) -> Self {
        IntentError::InvalidPayload(e.to_string())
    }
}

impl From<OrderNoError> for IntentError {
    fn from(e: OrderNoError) -> Self {
        IntentError::InvalidPayload(e.to_string())
    }
}

impl From<TokenError> for IntentError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::TooLong | TokenError::Malformed | TokenError::PayloadEncoding => {
                IntentError::Malformed
            }
            TokenError::WrongVersion => IntentError::UnsupportedVersion,
            TokenError::BadMac => IntentError::BadSignature,
            TokenError::InvalidPayload(reason) => IntentError::InvalidPayload(reason),
        }
    }
}

impl Intent {
    /// Mints the intent text.
    pub fn mint(&self, key: &Secret) -> String {
        let payload = Payload {
            order_no: self.order_no.as_str().to_owned(),
            amount: self.money.amount.to_string(),
            currency: self.money.currency.code().to_owned(),
            exp: self.exp,
        };
        seal_json(&FORMAT, key, &payload)
    }

    /// Verifies an intent at time `now` (Unix seconds) and returns what it says.
    pub fn verify(
        token: &str,
        key: &Secret,
        now: i64,
        limits: MoneyLimits,
    ) -> Result<Intent, IntentError> {
        let payload: Payload = open_json(&FORMAT, key, token)?;
        let currency = Currency::parse(&payload.currency)?;
        let money = Money::parse(&payload.amount, currency, limits)?;
        let order_no = OrderNo::parse(&payload.order_no)?;
        if now >= payload.exp {
            return Err(IntentError::Expired { exp: payload.exp });
        }
        Ok(Intent {
            order_no,
            money,
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
        Secret::new("intent-key-for-tests").expect("non-empty")
    }

    fn intent() -> Intent {
        Intent {
            order_no: OrderNo::parse("A-1").expect("valid"),
            money: Money::parse("5.00", Currency::Usd, MoneyLimits::default()).expect("valid"),
            exp: 1_800_000_000,
        }
    }

    #[test]
    fn round_trips() {
        let token = intent().mint(&key());
        assert!(token.starts_with("v1."));
        assert_eq!(
            Intent::verify(&token, &key(), 1_700_000_000, MoneyLimits::default()),
            Ok(intent())
        );
    }

    #[test]
    fn known_answer() {
        // Independently computed with Python:
        //   p = base64.urlsafe_b64encode(b'{"order_no":"A-1","amount":"5.00","currency":"USD","exp":1800000000}').rstrip(b'=')
        //   t = base64.urlsafe_b64encode(hmac.new(b"intent-key-for-tests", b"v1." + p, "sha256").digest()).rstrip(b'=')
        let expected = include_str!("intent_vector.txt").trim();
        assert_eq!(intent().mint(&key()), expected);
    }

    #[test]
    fn refuses_each_kind_of_bad_intent() {
        use IntentError as E;
        let token = intent().mint(&key());
        let (now, limits) = (1_700_000_000, MoneyLimits::default());
        let verify = |text: &str, key: &Secret, now| Intent::verify(text, key, now, limits);
        assert_eq!(
            verify(&token, &key(), 1_800_000_000),
            Err(IntentError::Expired { exp: 1_800_000_000 })
        );
        let other = Secret::new("another-key").expect("non-empty");
        assert_eq!(verify(&token, &other, now), Err(IntentError::BadSignature));
        // Tampered payload: a different amount, re-encoded, old MAC.
        let parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD
            .encode(br#"{"order_no":"A-1","amount":"0.01","currency":"USD","exp":1800000000}"#);
        for (text, want) in [
            (token.replacen("v1.", "v2.", 1), E::UnsupportedVersion),
            (token[..token.len() - 3].to_owned(), E::BadSignature),
            ("v1.abc".to_owned(), E::Malformed),
            (String::new(), E::Malformed),
            (format!("{token}.x"), E::Malformed),
            ("a".repeat(2000), E::Malformed),
            (format!("v1.{forged}.{}", parts[2]), E::BadSignature),
        ] {
            assert_eq!(verify(&text, &key(), now), Err(want), "{text}");
        }
    }

    #[test]
    fn a_validly_signed_but_invalid_payload_is_refused() {
        let limits = MoneyLimits::default();
        let verify =
            |p: &str| Intent::verify(&seal(&FORMAT, &key(), p.as_bytes()), &key(), 1, limits);
        for payload in [
            r#"{"order_no":"A-1","amount":"0","currency":"USD","exp":10}"#,
            r#"{"order_no":"A-1","amount":"5.001","currency":"USD","exp":10}"#,
            r#"{"order_no":"A-1","amount":"5","currency":"EUR","exp":10}"#,
            r#"{"order_no":"","amount":"5","currency":"USD","exp":10}"#,
            r#"{"order_no":"A-1","amount":5,"currency":"USD","exp":10}"#,
            r#"{"order_no":"A-1","amount":"5","currency":"USD","exp":10,"extra":1}"#,
            "not json",
        ] {
            assert!(
                matches!(verify(payload), Err(IntentError::InvalidPayload(_))),
                "{payload}"
            );
        }
    }
}
