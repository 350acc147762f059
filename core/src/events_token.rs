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

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::order_no::OrderNo;
use crate::secret::Secret;

const VERSION: &str = "ev1";
/// Upper bound on a token's length: a valid one is ~150 bytes.
pub const MAX_TOKEN_LEN: usize = 512;
/// How long a minted token is valid, seconds.
pub const DEFAULT_TTL_SECS: i64 = 15 * 60;

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

fn mac(key: &Secret, signed_part: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(signed_part.as_bytes());
    mac
}

/// Mints a token for `order_no` valid until `exp` (Unix seconds).
pub fn mint(order_no: &OrderNo, exp: i64, key: &Secret) -> String {
    let payload = Payload {
        order_no: order_no.as_str().to_owned(),
        exp,
    };
    let json = serde_json::to_vec(&payload).unwrap_or_default();
    let signed_part = format!("{VERSION}.{}", URL_SAFE_NO_PAD.encode(json));
    let tag = mac(key, &signed_part).finalize().into_bytes();
    format!("{signed_part}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Verifies that `token` lets its bearer follow `order_no` at `now` (Unix seconds). The MAC is
/// checked (constant time) before the payload is decoded.
pub fn verify(
    token: &str,
    order_no: &OrderNo,
    key: &Secret,
    now: i64,
) -> Result<(), EventsTokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(EventsTokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(VERSION), Some(payload_b64), Some(tag_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(EventsTokenError::Malformed);
    };
    let tag = URL_SAFE_NO_PAD
        .decode(tag_b64)
        .map_err(|_| EventsTokenError::Malformed)?;
    let signed_part = &token[..VERSION.len() + 1 + payload_b64.len()];
    mac(key, signed_part)
        .verify_slice(&tag)
        .map_err(|_| EventsTokenError::BadSignature)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| EventsTokenError::Malformed)?;
    let payload: Payload =
        serde_json::from_slice(&json).map_err(|_| EventsTokenError::Malformed)?;
    if payload.order_no != order_no.as_str() {
        return Err(EventsTokenError::WrongOrder);
    }
    if now >= payload.exp {
        return Err(EventsTokenError::Expired { exp: payload.exp });
    }
    Ok(())
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
        assert_eq!(verify(&token, &order("A-1"), &key(), 999), Ok(()));
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
        let token = mint(&order("A-1"), 1_800_000_000, &key());
        let now = 1_700_000_000;
        assert_eq!(
            verify(&token, &order("A-2"), &key(), now),
            Err(EventsTokenError::WrongOrder)
        );
        let other = Secret::new("another-key").expect("non-empty");
        assert_eq!(
            verify(&token, &order("A-1"), &other, now),
            Err(EventsTokenError::BadSignature)
        );
        assert_eq!(
            verify(&token[..token.len() - 3], &order("A-1"), &key(), now),
            Err(EventsTokenError::BadSignature)
        );
        assert_eq!(
            verify(
                &token.replacen("ev1.", "v1.", 1),
                &order("A-1"),
                &key(),
                now
            ),
            Err(EventsTokenError::Malformed)
        );
        assert_eq!(
            verify("", &order("A-1"), &key(), now),
            Err(EventsTokenError::Malformed)
        );
        assert_eq!(
            verify(&format!("{token}.x"), &order("A-1"), &key(), now),
            Err(EventsTokenError::Malformed)
        );
        assert_eq!(
            verify(&"a".repeat(600), &order("A-1"), &key(), now),
            Err(EventsTokenError::Malformed)
        );
    }

    #[test]
    fn never_confused_with_an_intent() {
        let token = mint(&order("A-1"), 1_800_000_000, &key());
        assert!(Intent::verify(&token, &key(), 1, MoneyLimits::default()).is_err());
        let as_intent = token.replacen("ev1.", "v1.", 1);
        assert!(Intent::verify(&as_intent, &key(), 1, MoneyLimits::default()).is_err());
    }
}
