//! Events tokens: the edge's short-lived permission to follow one order's live events.
//!
//! `EventSource` can't send headers, so `GET /v1/orders/{order_no}/events` can't take the
//! `X-Client-Secret`; the edge hands a page that proved it knows the client secret (create,
//! status) this token instead, and the page puts it in the events URL (`?token=`).
//!
//! ```text
//! ev1.<base64url(payload JSON)>.<base64url(HMAC-SHA256(INTENT_SECRET, "ev1." + payload_b64))>
//! payload = {"order_no":"A-1","exp":1767225600}
//! ```
//!
//! The key is `INTENT_SECRET` (no extra secret to provision); the distinct version prefix
//! `ev1` separates the domains: an events token is never a valid intent (`v1`, other
//! payload) and the reverse. It only grants reading one order's state until `exp`.

use serde::{Deserialize, Serialize};

use crate::order_no::OrderNo;
use crate::secret::Secret;
use crate::token::{Format, TokenError, open_json, seal_json};

/// Upper bound on a token's length: a valid one is ~150 bytes.
pub const MAX_TOKEN_LEN: usize = 512;
/// How long a minted token is valid, seconds.
pub const DEFAULT_TTL_SECS: i64 = 15 * 60;
const FORMAT: Format = Format::new("ev1", MAX_TOKEN_LEN);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    order_no: String,
    exp: i64,
}

/// Why a token was refused (one code for the caller: it learns nothing more).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventsTokenError {
    /// Not `ev1.<payload>.<mac>`, bad base64, too long, or a bad payload.
    #[error("the events token is malformed")]
    Malformed,
    /// The MAC does not match.
    #[error("the events token signature does not verify")]
    BadSignature,
    /// For another order.
    #[error("the events token is for another order")]
    WrongOrder,
    /// Past its `exp`.
    #[error("the events token expired at {exp}")]
    Expired {
        /// Unix seconds.
        exp: i64,
    },
}

impl From<TokenError> for EventsTokenError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::BadMac => EventsTokenError::BadSignature,
            TokenError::TooLong
            | TokenError::Malformed
            | TokenError::WrongVersion
            | TokenError::PayloadEncoding
            | TokenError::InvalidPayload(_) => EventsTokenError::Malformed,
        }
    }
}

/// Mints a token for `order_no` valid until `exp` (Unix seconds).
pub fn mint(order_no: &OrderNo, exp: i64, key: &Secret) -> String {
    let payload = Payload {
        order_no: order_no.as_str().to_owned(),
        exp,
    };
    seal_json(&FORMAT, key, &payload)
}

/// Verifies that `token` lets its bearer follow `order_no` at `now` (Unix seconds), and returns
/// when it stops doing so (`exp`, Unix seconds: a stream opened with it ends then). The MAC is
/// checked (constant time) before the payload is decoded.
pub fn verify(
    token: &str,
    order_no: &OrderNo,
    key: &Secret,
    now: i64,
) -> Result<i64, EventsTokenError> {
    let payload: Payload = open_json(&FORMAT, key, token)?;
    if payload.order_no != order_no.as_str() {
        return Err(EventsTokenError::WrongOrder);
    }
    if now >= payload.exp {
        return Err(EventsTokenError::Expired { exp: payload.exp });
    }
    Ok(payload.exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::Intent;
    use crate::money::MoneyLimits;

    fn key() -> Secret {
        Secret::new("intent-key-for-tests").expect("non-empty")
    }

    fn order(no: &str) -> OrderNo {
        OrderNo::parse(no).expect("valid")
    }

    #[test]
    fn round_trips_and_expires() {
        let token = mint(&order("A-1"), 1_000, &key());
        assert!(token.starts_with("ev1."));
        assert_eq!(verify(&token, &order("A-1"), &key(), 999), Ok(1_000));
        assert_eq!(
            verify(&token, &order("A-1"), &key(), 1_000),
            Err(EventsTokenError::Expired { exp: 1_000 })
        );
    }

    #[test]
    fn known_answer() {
        // Python: p = b64(b'{"order_no":"A-1","exp":1800000000}');
        //         t = b64(hmac.new(b"intent-key-for-tests", b"ev1." + p, "sha256").digest())
        assert_eq!(
            mint(&order("A-1"), 1_800_000_000, &key()),
            "ev1.eyJvcmRlcl9ubyI6IkEtMSIsImV4cCI6MTgwMDAwMDAwMH0.hO_2leAXx5cMBGdeINlAogAiUdFWA-vbZrm5p5wuSNA"
        );
    }

    #[test]
    fn refuses_each_kind_of_bad_token() {
        use EventsTokenError as E;
        let token = mint(&order("A-1"), 1_800_000_000, &key());
        let check =
            |text: &str, no: &str, key: &Secret| verify(text, &order(no), key, 1_700_000_000);
        assert_eq!(check(&token, "A-2", &key()), Err(E::WrongOrder));
        let other = Secret::new("another-key").expect("non-empty");
        assert_eq!(check(&token, "A-1", &other), Err(E::BadSignature));
        for (text, want) in [
            (token[..token.len() - 3].to_owned(), E::BadSignature),
            (token.replacen("ev1.", "v1.", 1), E::Malformed),
            (String::new(), E::Malformed),
            (format!("{token}.x"), E::Malformed),
            ("a".repeat(600), E::Malformed),
        ] {
            assert_eq!(check(&text, "A-1", &key()), Err(want), "{text}");
        }
    }

    #[test]
    fn never_confused_with_an_intent() {
        let token = mint(&order("A-1"), 1_800_000_000, &key());
        assert!(Intent::verify(&token, &key(), 1, MoneyLimits::default()).is_err());
        let as_intent = token.replacen("ev1.", "v1.", 1);
        assert!(Intent::verify(&as_intent, &key(), 1, MoneyLimits::default()).is_err());
    }
}
