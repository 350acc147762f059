//! The widget ⇄ edge contract: JSON bodies and the stable error codes of the edge API.
//!
//! Both shells compile against these types, so a renamed field or a new error code is a
//! compile error on both sides, not a production surprise. Every error response is
//!
//! ```json
//! {"error":{"code":"intent_expired","message":"The checkout link has expired.","trustpay_code":880015}}
//! ```
//!
//! where `trustpay_code` is present only when TrustPay caused the error.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codes::OrderStatus;
use crate::money::{Amount, Currency};

/// Header carrying the per-order client secret on status requests.
pub const CLIENT_SECRET_HEADER: &str = "X-Client-Secret";

/// `POST /v1/intents` (merchant backend, Bearer token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateIntentRequest {
    /// The merchant's order number; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_no: Option<String>,
    /// Decimal text, e.g. `"5.00"`.
    pub amount: String,
    /// `USD` or `INR`.
    pub currency: String,
    /// Lifetime in seconds (default and maximum set by the edge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
}

/// `201` answer to [`CreateIntentRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateIntentResponse {
    /// The intent text to hand to the widget.
    pub intent: String,
    /// The order number inside it.
    pub order_no: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

/// `POST /v1/orders` (widget). Either an intent, or an open amount when the edge allows it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    /// A checkout intent minted by the merchant backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// Open amount (only with `OPEN_AMOUNT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// Open amount currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// `201` (new) or `200` (same intent again) answer to [`CreateOrderRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOrderResponse {
    /// Order number.
    pub order_no: String,
    /// TrustPay's hosted cashier page.
    pub pay_url: String,
    /// TrustPay status code.
    pub status: OrderStatus,
    /// Its name, see [`crate::state::state_name`].
    pub state: String,
    /// Amount, as `"5.00"`.
    pub amount: Amount,
    /// Currency.
    pub currency: Currency,
    /// Per-order secret for status requests; only the creating page knows it.
    pub client_secret: String,
    /// Short-lived [`crate::events_token`] for `GET /v1/orders/{order_no}/events?token=`
    /// (live state over Server-Sent Events); absent when the edge offers no live channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_token: Option<String>,
}

/// `201` answer to `POST /v1/orders/{order_no}/attempts` (with `X-Client-Secret`): a new
/// payment attempt of the same merchant order after the current one failed, expired or was
/// abandoned (see [`crate::attempt`]). The page keeps its client secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptResponse {
    /// The merchant order number (unchanged across attempts).
    pub order_no: String,
    /// The attempt's number, 2 and up.
    pub attempt: u32,
    /// The new attempt's hosted cashier page.
    pub pay_url: String,
    /// TrustPay status code of the new attempt (pending).
    pub status: OrderStatus,
    /// The merchant order's state name.
    pub state: String,
    /// Amount.
    pub amount: Amount,
    /// Currency.
    pub currency: Currency,
    /// A fresh events token, as in [`CreateOrderResponse::events_token`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_token: Option<String>,
}

/// `GET /v1/orders/{order_no}` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    /// Order number.
    pub order_no: String,
    /// TrustPay status code.
    pub status: OrderStatus,
    /// Its name, see [`crate::state::state_name`].
    pub state: String,
    /// Amount.
    pub amount: Amount,
    /// Currency.
    pub currency: Currency,
    /// Paid amount, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_amount: Option<Amount>,
    /// Refunded total, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_amount: Option<Amount>,
    /// Last change, Unix milliseconds.
    pub updated_at: i64,
    /// Once the order is final: the edge-signed, short-lived [`crate::client_result`] token
    /// the merchant page may post to its backend (verified there with `CLIENT_RESULT_SECRET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_token: Option<String>,
    /// A fresh [`crate::events_token`] while the order is not final (see
    /// [`CreateOrderResponse::events_token`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_token: Option<String>,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable machine code.
    pub code: ApiErrorCode,
    /// English, for developers; shoppers see the widget's localized text for `code`.
    pub message: String,
    /// The TrustPay code (8800xx) when TrustPay caused the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trustpay_code: Option<i64>,
}

impl ErrorBody {
    /// An error with the code's default message.
    pub fn new(code: ApiErrorCode) -> Self {
        let message = code.message().to_owned();
        ErrorBody {
            error: ErrorDetail {
                code,
                message,
                trustpay_code: None,
            },
        }
    }

    /// An error with a specific message.
    pub fn with_message(code: ApiErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code,
                message: message.into(),
                trustpay_code: None,
            },
        }
    }

    /// Attaches the TrustPay code that caused it.
    pub fn with_trustpay_code(mut self, code: i64) -> Self {
        self.error.trustpay_code = Some(code);
        self
    }
}

macro_rules! api_error_codes {
    ( $( $(#[$doc:meta])* $variant:ident = $code:literal, $status:literal, $message:literal; )+ ) => {
        /// The stable error codes of the edge API. The HTTP status and an English message
        /// come with each; the widget maps each to a localized shopper message.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ApiErrorCode {
            $( $(#[$doc])* $variant, )+
            /// A code this build doesn't know (a newer edge); kept as received.
            Unknown(String),
        }

        impl ApiErrorCode {
            /// Every known code.
            pub const KNOWN: &'static [ApiErrorCode] = &[ $( ApiErrorCode::$variant, )+ ];

            /// The snake_case code.
            pub fn as_str(&self) -> &str {
                match self {
                    $( ApiErrorCode::$variant => $code, )+
                    ApiErrorCode::Unknown(code) => code,
                }
            }

            /// Parses a code; unknown text becomes `Unknown`.
            pub fn from_code(code: &str) -> Self {
                match code {
                    $( $code => ApiErrorCode::$variant, )+
                    other => ApiErrorCode::Unknown(other.to_owned()),
                }
            }

            /// The HTTP status the edge answers with.
            pub fn http_status(&self) -> u16 {
                match self {
                    $( ApiErrorCode::$variant => $status, )+
                    ApiErrorCode::Unknown(_) => 500,
                }
            }

            /// The default English message (for developers and logs).
            pub fn message(&self) -> &'static str {
                match self {
                    $( ApiErrorCode::$variant => $message, )+
                    ApiErrorCode::Unknown(_) => "Unknown error.",
                }
            }
        }
    };
}

api_error_codes! {
    /// The body is not valid JSON, or a field has the wrong type.
    BadRequest = "bad_request", 400, "The request body is not valid JSON of the expected shape.";
    /// The body is over the size limit.
    BodyTooLarge = "body_too_large", 413, "The request body is too large.";
    /// Not `application/json`.
    UnsupportedMediaType = "unsupported_media_type", 415, "The request must be application/json.";
    /// No such route.
    NotFound = "not_found", 404, "No such endpoint.";
    /// The route exists, the method doesn't.
    MethodNotAllowed = "method_not_allowed", 405, "This method is not allowed here.";
    /// Missing or wrong bearer token.
    Unauthorized = "unauthorized", 401, "Missing or invalid bearer token.";
    /// The page's origin is not in `ALLOWED_ORIGINS`.
    OriginNotAllowed = "origin_not_allowed", 403, "This origin is not allowed to use the checkout.";
    /// No amount.
    AmountMissing = "amount_missing", 400, "The amount is missing.";
    /// Negative amount.
    AmountNegative = "amount_negative", 400, "The amount is negative.";
    /// Zero amount.
    AmountZero = "amount_zero", 400, "The amount is zero.";
    /// More than two decimals.
    AmountTooPrecise = "amount_too_precise", 400, "The amount has more than two decimals.";
    /// Not a plain decimal.
    AmountMalformed = "amount_malformed", 400, "The amount is not a plain decimal number.";
    /// Above the maximum.
    AmountTooLarge = "amount_too_large", 400, "The amount is above the maximum.";
    /// Open amounts are off, or outside the configured range.
    AmountNotAllowed = "amount_not_allowed", 400, "This amount is not allowed without a checkout intent.";
    /// Not USD or INR.
    CurrencyUnsupported = "currency_unsupported", 400, "The currency is not supported.";
    /// Bad order number.
    OrderNoInvalid = "order_no_invalid", 400, "The order number is invalid.";
    /// Neither an intent nor an allowed open amount.
    IntentMissing = "intent_missing", 400, "A checkout intent is required.";
    /// Not a well-formed intent.
    IntentMalformed = "intent_malformed", 400, "The checkout intent is malformed.";
    /// Unknown intent version.
    IntentVersion = "intent_version", 400, "The checkout intent version is not supported.";
    /// Intent MAC mismatch.
    IntentBadSignature = "intent_bad_signature", 401, "The checkout intent signature does not verify.";
    /// Intent past its expiry.
    IntentExpired = "intent_expired", 410, "The checkout intent has expired.";
    /// Intent signed but invalid inside.
    IntentInvalid = "intent_invalid", 400, "The checkout intent does not describe a valid order.";
    /// No such order (or not visible with these credentials).
    OrderNotFound = "order_not_found", 404, "No such order.";
    /// Wrong client secret for the order.
    ClientSecretInvalid = "client_secret_invalid", 401, "The client secret does not match this order.";
    /// The order is being created by a concurrent request; retry shortly.
    OrderInProgress = "order_in_progress", 409, "The order is being created; retry shortly.";
    /// Bad callback JSON.
    CallbackMalformed = "callback_malformed", 400, "The callback body is malformed.";
    /// Callback without a sign.
    CallbackUnsigned = "callback_unsigned", 401, "The callback is not signed.";
    /// Callback sign mismatch.
    CallbackBadSignature = "callback_bad_signature", 401, "The callback signature does not verify.";
    /// Callback signed but with invalid fields.
    CallbackInvalid = "callback_invalid", 400, "The callback has invalid fields.";
    /// Callback for an order we don't hold.
    CallbackUnknownOrder = "callback_unknown_order", 404, "The callback names an unknown order.";
    /// Callback merchant or amount differs from the stored order.
    CallbackOrderMismatch = "callback_order_mismatch", 409, "The callback does not match the stored order.";
    /// Refund refused by our own checks (state, amount).
    RefundNotAllowed = "refund_not_allowed", 409, "This refund is not allowed for the order.";
    /// A partial refund without `merchant_refund_no` needs an `Idempotency-Key` header, so a
    /// retry can't refund twice.
    IdempotencyKeyRequired = "idempotency_key_required", 400, "A partial refund needs an Idempotency-Key header or a merchant_refund_no.";
    /// No further payment attempt: `MAX_ATTEMPTS` reached, or the order number is too long for
    /// a derived attempt number.
    AttemptLimit = "attempt_limit", 409, "No more payment attempts are allowed for this order.";
    /// A new attempt is not allowed now: the order is paid (or money arrived), or the current
    /// attempt is still running.
    AttemptNotAllowed = "attempt_not_allowed", 409, "The order can't be tried again now.";
    /// TrustPay already holds an order with this number that this checkout did not create:
    /// the order can't be paid (the merchant must use unique order numbers).
    OrderNumberTaken = "order_number_taken", 409, "The payment gateway already has a different order with this number.";
    /// TrustPay answered with a non-success code (`trustpay_code` says which).
    GatewayRejected = "gateway_rejected", 502, "The payment gateway refused the request.";
    /// TrustPay timed out or answered 5xx.
    GatewayUnavailable = "gateway_unavailable", 503, "The payment gateway is unavailable; try again shortly.";
    /// TrustPay answered something unreadable.
    GatewayError = "gateway_error", 502, "The payment gateway answered with an unreadable response.";
    /// Too many requests.
    RateLimited = "rate_limited", 429, "Too many requests; slow down.";
    /// A variable or secret is missing or malformed.
    Misconfigured = "misconfigured", 500, "The checkout is misconfigured.";
    /// Anything else.
    Internal = "internal", 500, "Internal error.";
}

impl Serialize for ApiErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ApiErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| ApiErrorCode::from_code(&s))
    }
}

impl From<&crate::money::MoneyError> for ApiErrorCode {
    fn from(e: &crate::money::MoneyError) -> Self {
        use crate::money::MoneyError;
        match e {
            MoneyError::Empty => ApiErrorCode::AmountMissing,
            MoneyError::Negative => ApiErrorCode::AmountNegative,
            MoneyError::Zero => ApiErrorCode::AmountZero,
            MoneyError::TooPrecise => ApiErrorCode::AmountTooPrecise,
            MoneyError::NotADecimal => ApiErrorCode::AmountMalformed,
            MoneyError::TooLarge { .. } => ApiErrorCode::AmountTooLarge,
            MoneyError::UnsupportedCurrency(_) => ApiErrorCode::CurrencyUnsupported,
        }
    }
}

impl From<&crate::intent::IntentError> for ApiErrorCode {
    fn from(e: &crate::intent::IntentError) -> Self {
        use crate::intent::IntentError;
        match e {
            IntentError::Malformed => ApiErrorCode::IntentMalformed,
            IntentError::UnsupportedVersion => ApiErrorCode::IntentVersion,
            IntentError::BadSignature => ApiErrorCode::IntentBadSignature,
            IntentError::Expired { .. } => ApiErrorCode::IntentExpired,
            IntentError::InvalidPayload(_) => ApiErrorCode::IntentInvalid,
        }
    }
}

impl From<&crate::callback::CallbackError> for ApiErrorCode {
    fn from(e: &crate::callback::CallbackError) -> Self {
        use crate::callback::CallbackError;
        match e {
            CallbackError::Malformed(_) => ApiErrorCode::CallbackMalformed,
            CallbackError::MissingSign => ApiErrorCode::CallbackUnsigned,
            CallbackError::BadSign => ApiErrorCode::CallbackBadSignature,
            CallbackError::InvalidField(_) => ApiErrorCode::CallbackInvalid,
        }
    }
}

/// Why a pay page URL from TrustPay is not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PayUrlError {
    /// Not `https://` (plain `http://` is allowed only on loopback, for the simulator).
    #[error("the pay page is not an https:// URL")]
    NotHttps,
    /// No host, a user-info part (`user@host`), whitespace or control characters.
    #[error("the pay page URL is malformed")]
    Malformed,
}

/// Checks a pay page URL before the edge stores it and before the widget navigates to it:
/// `https://host...`, or `http://` on `127.0.0.1`, `localhost` or `[::1]` only.
pub fn check_pay_url(url: &str) -> Result<(), PayUrlError> {
    if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(PayUrlError::Malformed);
    }
    // Bytes, `get` and no `format!`: this runs in the wasm widget too, where a panicking slice
    // or a format string pulls in core::fmt, and each `str` pattern type its own search code.
    // Every cut below is at an ASCII byte, so on a char boundary.
    let head = url.get(..8).map_or(&[][..], str::as_bytes);
    let (secure, rest) = if head.eq_ignore_ascii_case(b"https://") {
        (true, url.get(8..).unwrap_or_default())
    } else if head
        .get(..7)
        .is_some_and(|h| h.eq_ignore_ascii_case(b"http://"))
    {
        (false, url.get(7..).unwrap_or_default())
    } else {
        return Err(PayUrlError::NotHttps);
    };
    let cut = |text: &str, stop: fn(u8) -> bool| -> usize {
        text.bytes().position(stop).unwrap_or(text.len())
    };
    let authority = rest
        .get(..cut(rest, |b| matches!(b, b'/' | b'?' | b'#')))
        .unwrap_or_default();
    if authority.is_empty() || authority.bytes().any(|b| b == b'@' || b == b'\\') {
        return Err(PayUrlError::Malformed);
    }
    let (host, bracketed) = match authority.strip_prefix('[') {
        Some(v6) => (v6.get(..cut(v6, |b| b == b']')).unwrap_or_default(), true),
        None => (
            authority
                .get(..cut(authority, |b| b == b':'))
                .unwrap_or_default(),
            false,
        ),
    };
    if host.is_empty() {
        return Err(PayUrlError::Malformed);
    }
    let loopback = if bracketed {
        host == "::1"
    } else {
        host.eq_ignore_ascii_case("127.0.0.1") || host.eq_ignore_ascii_case("localhost")
    };
    if secure || loopback {
        Ok(())
    } else {
        Err(PayUrlError::NotHttps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for code in ApiErrorCode::KNOWN {
            let text = code.as_str();
            assert!(seen.insert(text), "duplicate {text}");
            assert!(
                text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{text}"
            );
            assert_eq!(&ApiErrorCode::from_code(text), code);
            assert!((400..600).contains(&code.http_status()));
            assert!(code.message().ends_with('.'));
        }
        assert_eq!(
            ApiErrorCode::from_code("brand_new"),
            ApiErrorCode::Unknown("brand_new".into())
        );
    }

    #[test]
    fn money_and_intent_errors_map_to_their_own_codes() {
        use crate::money::MoneyError as M;
        let money = [
            M::Empty,
            M::Negative,
            M::Zero,
            M::TooPrecise,
            M::NotADecimal,
            M::TooLarge { max: Amount::ZERO },
            M::UnsupportedCurrency("EUR".into()),
        ];
        for e in &money {
            assert_eq!(ApiErrorCode::from(e).as_str(), e.code());
        }
        use crate::intent::IntentError as I;
        for e in [
            I::Malformed,
            I::UnsupportedVersion,
            I::BadSignature,
            I::Expired { exp: 0 },
            I::InvalidPayload(String::new()),
        ] {
            assert_eq!(ApiErrorCode::from(&e).as_str(), e.code());
        }
        use crate::callback::CallbackError as C;
        for e in [C::MissingSign, C::BadSign, C::InvalidField(String::new())] {
            assert_eq!(ApiErrorCode::from(&e).as_str(), e.code());
        }
    }

    #[test]
    fn error_body_shape() {
        let body = ErrorBody::new(ApiErrorCode::GatewayRejected).with_trustpay_code(880015);
        let json = serde_json::to_value(&body).expect("serializes");
        assert_eq!(json["error"]["code"], "gateway_rejected");
        assert_eq!(json["error"]["trustpay_code"], 880015);
        let plain =
            serde_json::to_value(ErrorBody::new(ApiErrorCode::Unauthorized)).expect("serializes");
        assert!(plain["error"].get("trustpay_code").is_none());
        let back: ErrorBody = serde_json::from_value(json).expect("parses");
        assert_eq!(back, body);
    }

    #[test]
    fn order_view_json() {
        let view = OrderView {
            order_no: "A-1".into(),
            status: OrderStatus::Paid,
            state: crate::state::state_name(OrderStatus::Paid).into(),
            amount: Amount::from_minor(500).expect("positive"),
            currency: Currency::Usd,
            paid_amount: Amount::from_minor(500),
            refund_amount: None,
            updated_at: 1,
            result_token: None,
            events_token: None,
        };
        let json = serde_json::to_string(&view).expect("serializes");
        assert_eq!(
            json,
            r#"{"order_no":"A-1","status":5,"state":"paid","amount":"5.00","currency":"USD","paid_amount":"5.00","updated_at":1}"#
        );
        assert_eq!(
            serde_json::from_str::<OrderView>(&json).expect("parses"),
            view
        );
    }

    /// The `str`-pattern form `check_pay_url` had before it moved to bytes: the oracle.
    fn reference_check_pay_url(url: &str) -> Result<(), PayUrlError> {
        if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(PayUrlError::Malformed);
        }
        let lower = url
            .get(..8)
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        // `get`, not indexing, and no `format!`: this runs in the wasm widget too, where a
        // panicking slice or a format string pulls in core::fmt (~6 KB gzip).
        let (secure, rest) = if lower.starts_with("https://") {
            (true, url.get(8..).unwrap_or_default())
        } else if lower.starts_with("http://") {
            (false, url.get(7..).unwrap_or_default())
        } else {
            return Err(PayUrlError::NotHttps);
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') || authority.contains('\\') {
            return Err(PayUrlError::Malformed);
        }
        let (host, bracketed) = match authority.strip_prefix('[') {
            Some(v6) => (v6.split(']').next().unwrap_or_default(), true),
            None => (authority.split(':').next().unwrap_or_default(), false),
        };
        if host.is_empty() {
            return Err(PayUrlError::Malformed);
        }
        let loopback = if bracketed {
            host == "::1"
        } else {
            host.eq_ignore_ascii_case("127.0.0.1") || host.eq_ignore_ascii_case("localhost")
        };
        if secure || loopback {
            Ok(())
        } else {
            Err(PayUrlError::NotHttps)
        }
    }

    #[test]
    fn pay_url_check_is_the_reference_one() {
        let parts = [
            "",
            "h",
            "http://",
            "https://",
            "HTTP://",
            "HtTpS://",
            "ftp://",
            "//",
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "[::1]",
            "[::1",
            "::1",
            "pay.example",
            "@",
            "\\",
            ":",
            ":9",
            "/",
            "?",
            "#",
            "]",
            "[",
            "é",
            "ü://",
            "x y",
            "\u{7f}",
            "\u{a0}",
            "\u{2028}",
            ".",
        ];
        let mut checked = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    let url = [a, b, c].concat();
                    assert_eq!(
                        check_pay_url(&url),
                        reference_check_pay_url(&url),
                        "{url:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, parts.len().pow(3));
    }

    #[test]
    fn pay_urls_are_https_or_loopback_http() {
        for ok in [
            "https://pay.example/checkout.html?token=9c",
            "HTTPS://pay.example",
            "http://127.0.0.1:8788/cashier/abc",
            "http://localhost/x",
            "http://[::1]:9/x",
        ] {
            assert_eq!(check_pay_url(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://pay.example/x", PayUrlError::NotHttps),
            ("javascript:alert(1)", PayUrlError::NotHttps),
            ("data:text/html,hi", PayUrlError::NotHttps),
            ("//pay.example/x", PayUrlError::NotHttps),
            ("http://127.0.0.1.evil.example/x", PayUrlError::NotHttps),
            ("http://localhost@evil.example/x", PayUrlError::Malformed),
            ("https://user@pay.example/x", PayUrlError::Malformed),
            ("https:///x", PayUrlError::Malformed),
            ("https://pay.example/x y", PayUrlError::Malformed),
            ("", PayUrlError::Malformed),
        ] {
            assert_eq!(check_pay_url(bad), Err(why), "{bad}");
        }
    }
}
