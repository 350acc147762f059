//! The edge's one error type, and how each variant becomes a status and an [`ErrorBody`].
//!
//! The response carries only the stable code, its fixed English message and, when TrustPay
//! caused it, `trustpay_code`. The internal detail (a D1 message, a parse error, the variable
//! that is missing) goes to the log line of the request, never to the client.

use checkout_core::callback::{CallbackError, OrderMismatch};
use checkout_core::contract::{ApiErrorCode, ErrorBody};
use checkout_core::intent::IntentError;
use checkout_core::money::MoneyError;
use checkout_core::order_no::OrderNoError;

use crate::config::ConfigError;
use crate::gateway::GatewayError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The body is not JSON of the expected shape (the serde message is logged).
    #[error("bad request body: {0}")]
    BadRequest(String),
    /// The body is over the 64 KiB limit.
    #[error("body too large")]
    BodyTooLarge,
    /// A JSON route called without `Content-Type: application/json`.
    #[error("unsupported content type")]
    UnsupportedMediaType,
    /// No such route.
    #[error("no such route")]
    NotFound,
    /// The route exists, the method doesn't.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Missing or wrong bearer token.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// A browser origin outside `ALLOWED_ORIGINS`.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// A bad amount or currency.
    #[error("money: {0}")]
    Money(#[from] MoneyError),
    /// A bad order number.
    #[error("order number: {0}")]
    OrderNo(#[from] OrderNoError),
    /// An intent that does not verify.
    #[error("intent: {0}")]
    Intent(#[from] IntentError),
    /// An intent naming an order we hold with a different amount or currency.
    #[error("intent conflicts with the stored order")]
    IntentConflictsWithOrder,
    /// Neither an intent nor open-amount fields.
    #[error("no intent")]
    IntentMissing,
    /// An intent-less amount while `OPEN_AMOUNT` is off or doesn't cover it.
    #[error("open amount not allowed")]
    AmountNotAllowed,
    /// A merchant order number ending like a derived attempt number (`__<digits>`).
    #[error("order number ending reserved for payment attempts")]
    OrderNoReserved,
    /// No further payment attempt: `MAX_ATTEMPTS` reached or the number would be too long.
    #[error("attempt limit reached")]
    AttemptLimit,
    /// A new payment attempt is not allowed now (paid, or the current one still running).
    #[error("attempt not allowed")]
    AttemptNotAllowed,
    /// No such order.
    #[error("order not found")]
    OrderNotFound,
    /// `X-Client-Secret` missing or wrong.
    #[error("client secret invalid")]
    ClientSecretInvalid,
    /// A concurrent request is creating this order at TrustPay.
    #[error("order creation in progress")]
    OrderInProgress,
    /// Too many client secrets issued for one order, or similar abuse.
    #[error("rate limited")]
    RateLimited,
    /// A rate limiter (`[[ratelimits]]` binding) refused the request; the client may retry
    /// after the limiter's period.
    #[error("throttled by {limiter}")]
    Throttled {
        /// The binding that refused.
        limiter: &'static str,
        /// The `Retry-After` answered, seconds.
        retry_after_secs: u32,
    },
    /// A callback that does not verify or parse.
    #[error("callback: {0}")]
    Callback(#[from] CallbackError),
    /// A verified callback for an order we don't hold.
    #[error("callback for unknown order")]
    CallbackUnknownOrder,
    /// A verified callback whose merchant or amount differs from the stored order.
    #[error("callback mismatch: {0}")]
    CallbackMismatch(#[from] OrderMismatch),
    /// A refund our own checks refuse (state, amount); the reason is logged.
    #[error("refund not allowed: {0}")]
    RefundNotAllowed(&'static str),
    /// A partial refund with neither `Idempotency-Key` nor `merchant_refund_no`.
    #[error("idempotency key required")]
    IdempotencyKeyRequired,
    /// TrustPay holds a different order under this order number (880012 on the first
    /// attempt): the order can't be paid.
    #[error("order number taken at TrustPay")]
    OrderNumberTaken,
    /// TrustPay failed or refused.
    #[error("gateway: {0}")]
    Gateway(#[from] GatewayError),
    /// A variable or secret is missing or malformed.
    #[error("config: {0}")]
    Misconfigured(#[from] ConfigError),
    /// D1 failed (the message is logged).
    #[error("storage: {0}")]
    Storage(String),
    /// Anything else that is our bug (the message is logged).
    #[error("internal: {0}")]
    Internal(String),
}

impl EdgeError {
    /// The stable code of the response.
    pub fn code(&self) -> ApiErrorCode {
        match self {
            EdgeError::BadRequest(_) => ApiErrorCode::BadRequest,
            EdgeError::BodyTooLarge => ApiErrorCode::BodyTooLarge,
            EdgeError::UnsupportedMediaType => ApiErrorCode::UnsupportedMediaType,
            EdgeError::NotFound => ApiErrorCode::NotFound,
            EdgeError::MethodNotAllowed => ApiErrorCode::MethodNotAllowed,
            EdgeError::Unauthorized => ApiErrorCode::Unauthorized,
            EdgeError::OriginNotAllowed => ApiErrorCode::OriginNotAllowed,
            EdgeError::Money(e) => ApiErrorCode::from(e),
            EdgeError::OrderNo(_) | EdgeError::OrderNoReserved => ApiErrorCode::OrderNoInvalid,
            EdgeError::AttemptLimit => ApiErrorCode::AttemptLimit,
            EdgeError::AttemptNotAllowed => ApiErrorCode::AttemptNotAllowed,
            EdgeError::Intent(e) => ApiErrorCode::from(e),
            EdgeError::IntentConflictsWithOrder => ApiErrorCode::IntentInvalid,
            EdgeError::IntentMissing => ApiErrorCode::IntentMissing,
            EdgeError::AmountNotAllowed => ApiErrorCode::AmountNotAllowed,
            EdgeError::OrderNotFound => ApiErrorCode::OrderNotFound,
            EdgeError::ClientSecretInvalid => ApiErrorCode::ClientSecretInvalid,
            EdgeError::OrderInProgress => ApiErrorCode::OrderInProgress,
            EdgeError::RateLimited | EdgeError::Throttled { .. } => ApiErrorCode::RateLimited,
            EdgeError::Callback(e) => ApiErrorCode::from(e),
            EdgeError::CallbackUnknownOrder => ApiErrorCode::CallbackUnknownOrder,
            EdgeError::CallbackMismatch(_) => ApiErrorCode::CallbackOrderMismatch,
            EdgeError::RefundNotAllowed(_) => ApiErrorCode::RefundNotAllowed,
            EdgeError::IdempotencyKeyRequired => ApiErrorCode::IdempotencyKeyRequired,
            EdgeError::OrderNumberTaken => ApiErrorCode::OrderNumberTaken,
            EdgeError::Gateway(e) => e.code(),
            EdgeError::Misconfigured(_) => ApiErrorCode::Misconfigured,
            EdgeError::Storage(_) | EdgeError::Internal(_) => ApiErrorCode::Internal,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code().http_status()
    }

    /// The response body: code, fixed message, and TrustPay's code when it caused the error.
    pub fn body(&self) -> ErrorBody {
        let body = ErrorBody::new(self.code());
        if let EdgeError::Gateway(GatewayError::Rejected { code, .. }) = self {
            return body.with_trustpay_code(code.code());
        }
        body
    }

    /// How long the client should wait before retrying (`Retry-After`), when we know.
    pub fn retry_after_secs(&self) -> Option<u32> {
        if let EdgeError::Throttled {
            retry_after_secs, ..
        } = self
        {
            Some(*retry_after_secs)
        } else {
            None
        }
    }

    /// Whether this is our fault (logged at error level) rather than the client's.
    pub fn is_server_side(&self) -> bool {
        self.status() >= 500
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkout_core::codes::ErrorCode;

    #[test]
    fn internals_never_reach_the_body() {
        for e in [
            EdgeError::Storage("D1_ERROR: no such table: orders".into()),
            EdgeError::Internal("secret=abc".into()),
            EdgeError::BadRequest("missing field `intent` at line 1".into()),
            EdgeError::Misconfigured(ConfigError::Missing {
                name: "TRUSTPAY_SECRET",
            }),
        ] {
            let json = serde_json::to_string(&e.body()).expect("serializes");
            assert!(
                !json.contains("D1_ERROR")
                    && !json.contains("secret=")
                    && !json.contains("line 1")
                    && !json.contains("TRUSTPAY"),
                "{json}"
            );
        }
    }

    #[test]
    fn statuses_and_codes() {
        assert_eq!(
            EdgeError::Misconfigured(ConfigError::Missing { name: "X" }).status(),
            500
        );
        assert_eq!(EdgeError::Callback(CallbackError::BadSign).status(), 401);
        assert_eq!(EdgeError::CallbackUnknownOrder.status(), 404);
        assert_eq!(EdgeError::OrderInProgress.status(), 409);
        assert_eq!(
            EdgeError::Intent(IntentError::Expired { exp: 1 }).code(),
            ApiErrorCode::IntentExpired
        );
        assert_eq!(
            EdgeError::Money(MoneyError::Zero).code(),
            ApiErrorCode::AmountZero
        );
    }

    #[test]
    fn throttling_is_rate_limited_with_a_wait() {
        let e = EdgeError::Throttled {
            limiter: "CREATE_BY_IP",
            retry_after_secs: 60,
        };
        assert_eq!((e.status(), e.code()), (429, ApiErrorCode::RateLimited));
        assert_eq!(e.retry_after_secs(), Some(60));
        assert_eq!(EdgeError::RateLimited.retry_after_secs(), None);
        let json = serde_json::to_string(&e.body()).expect("serializes");
        assert!(!json.contains("CREATE_BY_IP"), "{json}");
    }

    #[test]
    fn gateway_rejections_carry_trustpay_code() {
        let e = EdgeError::Gateway(GatewayError::Rejected {
            code: ErrorCode::AmountRuleViolation,
            message: "x".into(),
        });
        let body = e.body();
        assert_eq!(body.error.code, ApiErrorCode::GatewayRejected);
        assert_eq!(body.error.trustpay_code, Some(880015));
        assert_eq!(
            EdgeError::Gateway(GatewayError::Unavailable {
                detail: "timeout".into()
            })
            .status(),
            503
        );
        assert_eq!(
            EdgeError::Gateway(GatewayError::Garbage {
                detail: "html".into()
            })
            .code(),
            ApiErrorCode::GatewayError
        );
    }
}
