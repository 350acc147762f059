//! Merchant notifications, signed the [Standard Webhooks](https://www.standardwebhooks.com/) way.
//!
//! The edge POSTs one event per order state change to the merchant backend:
//!
//! ```text
//! POST {MERCHANT_WEBHOOK_URL}
//! content-type: application/json
//! webhook-id: evt_09abde2c3ec83731e105c1923303eabe
//! webhook-timestamp: 1800000000
//! webhook-signature: v1,<base64(HMAC-SHA256(secret, "{webhook-id}.{webhook-timestamp}.{body}"))>[ v1,<...>]
//!
//! {"id":"evt_…","type":"order.paid","created_at":1800000000,"data":{"order_no":"A-1","status":5,"state":"paid",…}}
//! ```
//!
//! * **Event id** ([`event_id`]): `evt_` + the first 32 hex digits of
//!   SHA-256(`"{order_no}|{status}|{seq}"`), `seq` being the order's status-change sequence
//!   number. One state change has exactly one id however often it is delivered; the receiver
//!   deduplicates on `webhook-id`.
//! * **Secrets** ([`WebhookSecret::parse`]): `whsec_<standard base64>` (the Standard Webhooks
//!   form: the key is the decoded bytes), or any other text, used as raw UTF-8 key bytes.
//! * **Rotation**: with two secrets active, [`signature_header`] sends both signatures,
//!   space-separated; [`verify`] accepts a message when any signature matches any secret.
//! * **Replay window**: [`verify`] refuses timestamps more than [`TOLERANCE_SECS`] (300 s) away
//!   from `now`, in either direction. Signatures are compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::contract::OrderView;
use crate::token::hmac_sha256;

/// Replay window: how far `webhook-timestamp` may be from `now`, seconds.
pub const TOLERANCE_SECS: i64 = 300;
/// The prefix of a base64-encoded Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// The event id header.
pub const HEADER_ID: &str = "webhook-id";
/// The Unix-seconds timestamp header (the attempt's time).
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The space-separated `v1,<base64>` signatures header.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// A webhook signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// Why a secret or a notification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Empty secret, or `whsec_` followed by invalid base64.
    #[error("the webhook secret is empty or not valid whsec_<base64>")]
    BadSecret,
    /// A header is missing or the timestamp is not an integer.
    #[error("webhook headers are missing or malformed")]
    MissingHeaders,
    /// The timestamp is more than 300 s in the past.
    #[error("the webhook timestamp is too old")]
    Expired,
    /// The timestamp is more than 300 s in the future.
    #[error("the webhook timestamp is in the future")]
    FromTheFuture,
    /// No signature matches any secret.
    #[error("no webhook signature matches")]
    BadSignature,
}

impl WebhookSecret {
    /// `whsec_<base64>` → the decoded bytes; any other non-blank text → its UTF-8 bytes.
    pub fn parse(text: &str) -> Result<Self, WebhookError> {
        if text.trim().is_empty() {
            return Err(WebhookError::BadSecret);
        }
        match text.strip_prefix(SECRET_PREFIX) {
            Some(b64) => match STANDARD.decode(b64.trim()) {
                Ok(key) if !key.is_empty() => Ok(Self(key)),
                Ok(_) | Err(_) => Err(WebhookError::BadSecret),
            },
            None => Ok(Self(text.as_bytes().to_vec())),
        }
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        let ts = timestamp.to_string();
        hmac_sha256(&self.0, &[id.as_bytes(), b".", ts.as_bytes(), b".", body])
    }
}

/// The longest delay one Cloudflare Queues message can be given (12 hours): a longer wait is
/// taken in hops of at most this.
pub const MAX_RETRY_DELAY_SECS: u32 = 43_200;

/// When a failed notification is tried again: the delay after each failed attempt, in order.
/// When the attempt after the last delay fails too, the notification is dead (kept for an admin
/// to replay). Written `1m,5m,30m,2h` (units `s`, `m`, `h`, `d`; a bare number is seconds).
///
/// The default ([`RetrySchedule::DEFAULT`]) is 12 attempts over about 3.2 days, like the
/// "retries for up to three days" merchants know from card processors:
///
/// | after attempt | 1 | 2 | 3 | 4 | 5 | 6 | 7-11 |
/// | --- | --- | --- | --- | --- | --- | --- | --- |
/// | wait | 1 min | 5 min | 30 min | 2 h | 5 h | 10 h | 12 h each |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<u32>);

impl RetrySchedule {
    /// The default schedule.
    pub const DEFAULT: &'static str = "1m,5m,30m,2h,5h,10h,12h,12h,12h,12h,12h";
    /// Most retries a schedule may list.
    pub const MAX_RETRIES: usize = 100;
    /// Longest single delay, seconds (7 days).
    pub const MAX_DELAY_SECS: u32 = 7 * 86_400;

    /// Parses `1m,5m,30m,2h`; `none` means no retry at all.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().eq_ignore_ascii_case("none") {
            return Ok(Self(Vec::new()));
        }
        let mut delays = Vec::new();
        for item in text.split(',').map(str::trim) {
            let (digits, unit) = match item.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
                Some((at, _)) => item.split_at(at),
                None => (item, "s"),
            };
            let factor: u32 = match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3_600,
                "d" => 86_400,
                _ => return Err(format!("`{item}` is not a delay like 30s, 5m, 2h or 1d")),
            };
            let delay = digits
                .parse::<u32>()
                .ok()
                .and_then(|n| n.checked_mul(factor))
                .filter(|d| *d <= Self::MAX_DELAY_SECS)
                .ok_or_else(|| format!("`{item}` is not a delay of at most 7d"))?;
            delays.push(delay);
        }
        if delays.len() > Self::MAX_RETRIES {
            return Err(format!("more than {} retries", Self::MAX_RETRIES));
        }
        Ok(Self(delays))
    }

    /// The delay before the attempt that follows failed attempt `attempt` (1-based); `None`
    /// when that was the last one (the notification is dead).
    pub fn delay_after(&self, attempt: u32) -> Option<u32> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.0.get(index).copied()
    }

    /// Attempts in all (the first one and one per delay).
    pub fn attempts(&self) -> usize {
        self.0.len() + 1
    }

    /// From the first attempt to the last, seconds.
    pub fn span_secs(&self) -> u64 {
        self.0.iter().map(|d| u64::from(*d)).sum()
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::parse(Self::DEFAULT).unwrap_or_else(|_| Self(vec![60]))
    }
}

/// How long one queue message waits for a retry `remaining_secs` away: all of it, or
/// [`MAX_RETRY_DELAY_SECS`] and another hop after that.
pub fn queue_delay_secs(remaining_secs: i64) -> u32 {
    u32::try_from(remaining_secs.clamp(0, i64::from(MAX_RETRY_DELAY_SECS))).unwrap_or(0)
}

/// The deterministic event id of one state change.
pub fn event_id(order_no: &str, status: i64, seq: i64) -> String {
    let digest = Sha256::digest(format!("{order_no}|{status}|{seq}").as_bytes());
    format!("evt_{}", &hex::encode(digest)[..32])
}

/// `order.<state>`, e.g. `order.paid`.
pub fn event_type(state: &str) -> String {
    format!("order.{state}")
}

#[derive(Serialize)]
struct Event<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: String,
    created_at: i64,
    data: &'a OrderView,
}

/// The event body: `{"id","type":"order.<state>","created_at":<Unix s>,"data":<the order view>}`.
pub fn event_body(id: &str, created_at: i64, order: &OrderView) -> String {
    let event = Event {
        id,
        kind: event_type(&order.state),
        created_at,
        data: order,
    };
    serde_json::to_string(&event).unwrap_or_default()
}

/// `webhook-signature`: `v1,<base64>` per secret, space-separated.
pub fn signature_header(
    id: &str,
    timestamp: i64,
    body: &[u8],
    secrets: &[WebhookSecret],
) -> String {
    secrets
        .iter()
        .map(|s| format!("v1,{}", STANDARD.encode(s.mac(id, timestamp, body))))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The three headers to send (besides `content-type: application/json`).
pub fn headers(
    id: &str,
    timestamp: i64,
    body: &[u8],
    secrets: &[WebhookSecret],
) -> [(&'static str, String); 3] {
    [
        (HEADER_ID, id.to_owned()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (
            HEADER_SIGNATURE,
            signature_header(id, timestamp, body, secrets),
        ),
    ]
}

/// Verifies a received notification at `now` (Unix seconds): the raw body and the values of
/// `webhook-id`, `webhook-timestamp` and `webhook-signature`. Accepted when the timestamp is
/// within 300 s of `now` and any `v1,` signature matches any of `secrets`.
pub fn verify(
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    secrets: &[WebhookSecret],
    now: i64,
) -> Result<(), WebhookError> {
    if id.is_empty() || signature.is_empty() {
        return Err(WebhookError::MissingHeaders);
    }
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::MissingHeaders)?;
    if now.saturating_sub(ts) > TOLERANCE_SECS {
        return Err(WebhookError::Expired);
    }
    if ts.saturating_sub(now) > TOLERANCE_SECS {
        return Err(WebhookError::FromTheFuture);
    }
    let expected: Vec<[u8; 32]> = secrets.iter().map(|s| s.mac(id, ts, body)).collect();
    // Only `v1,<base64>` signatures count: other versions and bad base64 are skipped.
    let presented = signature
        .split(' ')
        .filter_map(|s| STANDARD.decode(s.strip_prefix("v1,")?).ok());
    let mut matched = false;
    for presented in presented {
        for mac in &expected {
            // No early exit: every pair is compared, each in constant time.
            matched |= crate::ct_eq(mac, &presented);
        }
    }
    matched.then_some(()).ok_or(WebhookError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Independently computed with Python:
    //   key = b"webhook-key-for-tests-0123456789"
    //   "whsec_" + base64.b64encode(key).decode()
    //     == "whsec_d2ViaG9vay1rZXktZm9yLXRlc3RzLTAxMjM0NTY3ODk="
    //   msg = b'msg_A-1_5_1.1800000000.{"id":"msg_A-1_5_1","type":"order.paid"}'
    //   base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest())
    //     == "eAmrgWDMZgsmD5AWGhBZC3EQfJ43QM9Az6+aaIAO6g0="
    //   base64.b64encode(hmac.new(b"raw-secret", msg, hashlib.sha256).digest())
    //     == "wVHXRAKIrgA+kUUctLJ4w2zZijarbu+MDVEPRXb7Upw="
    //   hashlib.sha256(b"A-1|5|1").hexdigest()[:32] == "09abde2c3ec83731e105c1923303eabe"
    const ID: &str = "msg_A-1_5_1";
    const TS: i64 = 1_800_000_000;
    const BODY: &[u8] = br#"{"id":"msg_A-1_5_1","type":"order.paid"}"#;
    const SIG_WHSEC: &str = "v1,eAmrgWDMZgsmD5AWGhBZC3EQfJ43QM9Az6+aaIAO6g0=";
    const SIG_RAW: &str = "v1,wVHXRAKIrgA+kUUctLJ4w2zZijarbu+MDVEPRXb7Upw=";

    fn current() -> WebhookSecret {
        WebhookSecret::parse("whsec_d2ViaG9vay1rZXktZm9yLXRlc3RzLTAxMjM0NTY3ODk=").expect("valid")
    }

    fn previous() -> WebhookSecret {
        WebhookSecret::parse("raw-secret").expect("valid")
    }

    #[test]
    fn known_answers() {
        assert_eq!(signature_header(ID, TS, BODY, &[current()]), SIG_WHSEC);
        assert_eq!(signature_header(ID, TS, BODY, &[previous()]), SIG_RAW);
        assert_eq!(
            signature_header(ID, TS, BODY, &[current(), previous()]),
            format!("{SIG_WHSEC} {SIG_RAW}")
        );
        assert_eq!(
            event_id("A-1", 5, 1),
            "evt_09abde2c3ec83731e105c1923303eabe"
        );
        // The whsec_ form is the decoded key, not the text.
        assert_eq!(
            current(),
            WebhookSecret::parse("webhook-key-for-tests-0123456789").expect("valid")
        );
    }

    /// `verify` at `TS` of a notification with these parts.
    fn check(id: &str, ts: &str, sig: &str, body: &[u8], keys: &[WebhookSecret]) -> Verdict {
        verify(id, ts, sig, body, keys, TS)
    }

    type Verdict = Result<(), WebhookError>;
    const BAD: Verdict = Err(WebhookError::BadSignature);
    const MISSING: Verdict = Err(WebhookError::MissingHeaders);

    #[test]
    fn verifies_and_refuses_tampering() {
        let (ts, ts1, cur) = (TS.to_string(), (TS + 1).to_string(), [current()]);
        assert_eq!(check(ID, &ts, SIG_WHSEC, BODY, &cur), Ok(()));
        let tampered = br#"{"id":"msg_A-1_5_1","type":"order.failed"}"#;
        assert_eq!(check(ID, &ts, SIG_WHSEC, tampered, &cur), BAD);
        assert_eq!(check(ID, &ts1, SIG_WHSEC, BODY, &cur), BAD);
        assert_eq!(check("msg_other", &ts, SIG_WHSEC, BODY, &cur), BAD);
        assert_eq!(check(ID, &ts, SIG_WHSEC, BODY, &[previous()]), BAD);
        let v2 = "v2,eAmrgWDMZgsmD5AWGhBZC3EQfJ43QM9Az6+aaIAO6g0=";
        assert_eq!(check(ID, &ts, v2, BODY, &cur), BAD);
        assert_eq!(check(ID, &ts, "v1,!!!", BODY, &cur), BAD);
        assert_eq!(check(ID, "soon", SIG_WHSEC, BODY, &cur), MISSING);
        assert_eq!(check("", &ts, SIG_WHSEC, BODY, &cur), MISSING);
        assert_eq!(check(ID, &ts, "", BODY, &cur), MISSING);
        assert_eq!(check(ID, &ts, SIG_WHSEC, BODY, &[]), BAD);
    }

    #[test]
    fn replay_window() {
        let ts = TS.to_string();
        let at = |now| verify(ID, &ts, SIG_WHSEC, BODY, &[current()], now);
        assert_eq!(at(TS + 300), Ok(()));
        assert_eq!(at(TS - 300), Ok(()));
        assert_eq!(at(TS + 301), Err(WebhookError::Expired));
        assert_eq!(at(TS - 301), Err(WebhookError::FromTheFuture));
    }

    #[test]
    fn rotation() {
        let ts = TS.to_string();
        let (old_new, new_old) = ([previous(), current()], [current(), previous()]);
        let both = signature_header(ID, TS, BODY, &new_old);
        // A receiver that knows only the old secret, only the new one, or both: all accept.
        assert_eq!(check(ID, &ts, &both, BODY, &[previous()]), Ok(()));
        assert_eq!(check(ID, &ts, &both, BODY, &[current()]), Ok(()));
        assert_eq!(check(ID, &ts, &both, BODY, &old_new), Ok(()));
        // A receiver already on the new secret accepts a sender still on the old one if it keeps both.
        assert_eq!(check(ID, &ts, SIG_RAW, BODY, &new_old), Ok(()));
        let stranger = WebhookSecret::parse("whsec_c3RyYW5nZXI=").expect("valid");
        assert_eq!(check(ID, &ts, &both, BODY, &[stranger]), BAD);
    }

    #[test]
    fn retry_schedule() {
        let default = RetrySchedule::default();
        assert_eq!(default.attempts(), 12);
        assert_eq!(default.delay_after(1), Some(60));
        assert_eq!(default.delay_after(6), Some(36_000));
        assert_eq!(default.delay_after(11), Some(MAX_RETRY_DELAY_SECS));
        assert_eq!(default.delay_after(12), None);
        assert_eq!(default.delay_after(0), None);
        // About three days, like the card processors' webhooks.
        assert!((3 * 86_400..4 * 86_400).contains(&default.span_secs()));
        let short = RetrySchedule::parse("0, 1, 2s,1m ,1h,1d").expect("valid");
        assert_eq!(
            (1..=7).map(|n| short.delay_after(n)).collect::<Vec<_>>(),
            [
                Some(0),
                Some(1),
                Some(2),
                Some(60),
                Some(3_600),
                Some(86_400),
                None
            ]
        );
        assert_eq!(RetrySchedule::parse("none").expect("valid").attempts(), 1);
        for bad in ["", "1w", "5m,", "-1", "8d", "99999999999", "1.5h", "m"] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad}");
        }
        assert!(RetrySchedule::parse(&vec!["1s"; 101].join(",")).is_err());
        assert_eq!(queue_delay_secs(-5), 0);
        assert_eq!(queue_delay_secs(90), 90);
        assert_eq!(queue_delay_secs(86_400), MAX_RETRY_DELAY_SECS);
    }

    #[test]
    fn secrets() {
        assert_eq!(WebhookSecret::parse(""), Err(WebhookError::BadSecret));
        assert_eq!(WebhookSecret::parse("whsec_"), Err(WebhookError::BadSecret));
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!"),
            Err(WebhookError::BadSecret)
        );
        assert!(!format!("{:?}", current()).contains("webhook-key"));
    }

    #[test]
    fn event_shape_and_ids() {
        let view = OrderView {
            order_no: "A-1".into(),
            status: crate::codes::OrderStatus::Paid,
            state: "paid".into(),
            amount: crate::money::Amount::from_minor(500).expect("positive"),
            currency: crate::money::Currency::Usd,
            paid_amount: None,
            refund_amount: None,
            updated_at: 7,
            result_token: None,
            events_token: None,
        };
        let id = event_id("A-1", 5, 1);
        assert_eq!(
            event_body(&id, TS, &view),
            r#"{"id":"evt_09abde2c3ec83731e105c1923303eabe","type":"order.paid","created_at":1800000000,"data":{"order_no":"A-1","status":5,"state":"paid","amount":"5.00","currency":"USD","updated_at":7}}"#
        );
        // Same change, same id; another status or sequence number, another id.
        assert_eq!(event_id("A-1", 5, 1), id);
        assert_ne!(event_id("A-1", 5, 2), id);
        assert_ne!(event_id("A-1", 9, 1), id);
        assert_ne!(event_id("A-11", 5, 1), event_id("A-1", 5, 11));
    }
}
