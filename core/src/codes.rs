//! TrustPay's numeric and string codes, each with its documented name (`docs/protocol.md`,
//! §Codes and enums).
//!
//! Every enum keeps values it does not know as `Unknown(..)`: a new status or error code from
//! TrustPay is carried through and shown as "unknown", never mistaken for a known one.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares an integer-coded TrustPay enum with its documented names, `Unknown(i64)`,
/// lossless conversions and serde as a JSON integer.
macro_rules! int_code_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $doc_name:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value the docs available to us do not list; kept as received.
            Unknown(i64),
        }

        impl $name {
            /// Every documented value, in code order.
            pub const KNOWN: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// Maps a wire value; values the docs don't list become `Unknown`.
            pub fn from_code(code: i64) -> Self {
                match code {
                    $( $code => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }

            /// The wire value.
            pub fn code(self) -> i64 {
                match self {
                    $( $name::$variant => $code, )+
                    $name::Unknown(code) => code,
                }
            }

            /// The name TrustPay's docs give this value (`"unknown"` for unknown values).
            pub fn doc_name(self) -> &'static str {
                match self {
                    $( $name::$variant => $doc_name, )+
                    $name::Unknown(_) => "unknown",
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_i64(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            /// Accepts a JSON integer, or a string of digits (older examples quote numbers).
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                crate::codes::int_from_json(d).map($name::from_code)
            }
        }
    };
}

pub(crate) fn int_from_json<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom(format!("expected an integer code, got {n}"))),
        serde_json::Value::String(s) => s
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("expected an integer code, got {s:?}"))),
        other @ (serde_json::Value::Null
        | serde_json::Value::Bool(_)
        | serde_json::Value::Array(_)
        | serde_json::Value::Object(_)) => Err(serde::de::Error::custom(format!(
            "expected an integer code, got {other}"
        ))),
    }
}

int_code_enum! {
    /// Order transaction type: `type` in callbacks, `type_id` in order queries.
    TransactionType {
        /// 0: collection (incoming payment, 代收).
        Payin = 0 => "Collection",
        /// 1: payout (outgoing payment, 代付).
        Payout = 1 => "Payout",
    }
}

int_code_enum! {
    /// Order status (v4 labels).
    OrderStatus {
        /// 1: created, awaiting payment.
        Pending = 1 => "OrderPending",
        /// 2: payout completed.
        PayoutPaid = 2 => "OrderPaid",
        /// 3: failed.
        Failed = 3 => "OrderFailed",
        /// 4: timed out / expired.
        TimedOut = 4 => "OrderTimeOut",
        /// 5: payin paid, not yet settled (payin success).
        Paid = 5 => "OrderUnliquidated",
        /// 6: settled.
        Settled = 6 => "OrderStatement",
        /// 7: fully refunded.
        Refunded = 7 => "OrderRefunded",
        /// 8: partially refunded.
        PartiallyRefunded = 8 => "OrderPartiallyRefunded",
        /// 9: refund in progress (v4).
        Refunding = 9 => "OrderRefunding",
    }
}

int_code_enum! {
    /// Callback delivery status of an order, `notify_status` in order queries.
    NotifyStatus {
        /// 1: not yet delivered.
        Pending = 1 => "Pending",
        /// 2: delivered.
        Sent = 2 => "Notification sent successfully",
        /// 3: delivery failed.
        Failed = 3 => "Notification failed",
    }
}

int_code_enum! {
    /// The `code` of every TrustPay response envelope (late-v3 / v4 names).
    ErrorCode {
        /// 880001: success.
        Success = 880001 => "success",
        /// 880002: the request is malformed.
        BadRequest = 880002 => "bad_request",
        /// 880003: database error at TrustPay.
        DatabaseError = 880003 => "database_error",
        /// 880004: a remote service failed.
        RemoteServiceError = 880004 => "remote_service_error",
        /// 880005: insufficient balance.
        InsufficientBalance = 880005 => "insufficient_balance",
        /// 880006: invalid transaction type.
        InvalidTransactionType = 880006 => "invalid_transaction_type",
        /// 880007: system internal error.
        SystemInternalError = 880007 => "system_internal_error",
        /// 880008: order processing failed.
        OrderProcessingFailed = 880008 => "order_processing_failed",
        /// 880009: decreasing the payout amount failed.
        DecreasePayoutAmountFailed = 880009 => "decrease_payout_amount_failed",
        /// 880010: backend success.
        BackendSuccess = 880010 => "backend_success",
        /// 880011: bad API key or sign.
        Unauthorized = 880011 => "unauthorized",
        /// 880012: the `order_no` exists already.
        OrderAlreadyExists = 880012 => "order_already_exists",
        /// 880013: internal error.
        InternalError = 880013 => "internal_error",
        /// 880014: every acquiring channel failed.
        AllChannelsFailed = 880014 => "all_channels_failed",
        /// 880015: the amount breaks a rule (min/max).
        AmountRuleViolation = 880015 => "amount_rule_violation",
        /// 880016: channel configuration error.
        ChannelConfigurationError = 880016 => "channel_configuration_error",
        /// 880017: the shopper failed risk control.
        UserRiskControlFailed = 880017 => "user_risk_control_failed",
        /// 880018: too many card failures.
        CardFailureLimitExceeded = 880018 => "card_failure_limit_exceeded",
        /// 880019: account limit exceeded.
        AccountLimitExceeded = 880019 => "account_limit_exceeded",
        /// 880020: daily amount limit exceeded.
        DailyAmountLimitExceeded = 880020 => "daily_amount_limit_exceeded",
        /// 880021: daily transaction count exceeded.
        DailyTransactionCountLimitExceeded = 880021 => "daily_transaction_count_limit_exceeded",
        /// 880022: per-transaction amount limit exceeded.
        TransactionAmountLimitExceeded = 880022 => "transaction_amount_limit_exceeded",
        /// 880023: channel quota exceeded.
        ChannelQuotaLimitExceeded = 880023 => "channel_quota_limit_exceeded",
        /// 880024: no channel available. The docs' text breaks off at `no_channel_a…`;
        /// the full name is our reading, not TrustPay's.
        NoChannelAvailable = 880024 => "no_channel_available",
    }
}

impl ErrorCode {
    /// Whether the code reports success (880001, and 880010 "backend_success").
    pub fn is_success(self) -> bool {
        matches!(self, ErrorCode::Success | ErrorCode::BackendSuccess)
    }
}

/// A currency code as it appears on the wire. Unlike [`crate::money::Currency`] it keeps
/// codes we don't accept (`EUR`, `USDT`) so responses still parse.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CurrencyCode {
    /// `USD`.
    Usd,
    /// `INR`.
    Inr,
    /// Any other code, kept as received.
    Unknown(String),
}

impl CurrencyCode {
    /// Maps the wire text.
    pub fn from_code(code: &str) -> Self {
        match code {
            "USD" => CurrencyCode::Usd,
            "INR" => CurrencyCode::Inr,
            other => CurrencyCode::Unknown(other.to_owned()),
        }
    }

    /// The wire text.
    pub fn as_str(&self) -> &str {
        match self {
            CurrencyCode::Usd => "USD",
            CurrencyCode::Inr => "INR",
            CurrencyCode::Unknown(code) => code,
        }
    }

    /// The supported currency, if this is one.
    pub fn supported(&self) -> Option<crate::money::Currency> {
        match self {
            CurrencyCode::Usd => Some(crate::money::Currency::Usd),
            CurrencyCode::Inr => Some(crate::money::Currency::Inr),
            CurrencyCode::Unknown(_) => None,
        }
    }
}

impl From<crate::money::Currency> for CurrencyCode {
    fn from(c: crate::money::Currency) -> Self {
        match c {
            crate::money::Currency::Usd => CurrencyCode::Usd,
            crate::money::Currency::Inr => CurrencyCode::Inr,
        }
    }
}

impl Serialize for CurrencyCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CurrencyCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| CurrencyCode::from_code(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_keep_unknowns() {
        for code in 1..=9 {
            let s = OrderStatus::from_code(code);
            assert!(
                !matches!(s, OrderStatus::Unknown(_)),
                "{code} is documented"
            );
            assert_eq!(s.code(), code);
        }
        assert_eq!(OrderStatus::KNOWN.len(), 9);
        for code in [0, 10, -1, 880001] {
            assert_eq!(OrderStatus::from_code(code), OrderStatus::Unknown(code));
            assert_eq!(OrderStatus::from_code(code).code(), code);
        }
        assert_eq!(OrderStatus::Paid.doc_name(), "OrderUnliquidated");
    }

    #[test]
    fn error_codes_cover_880001_to_880024() {
        assert_eq!(ErrorCode::KNOWN.len(), 24);
        for (i, code) in ErrorCode::KNOWN.iter().enumerate() {
            assert_eq!(code.code(), 880001 + i as i64);
        }
        assert_eq!(ErrorCode::from_code(880025), ErrorCode::Unknown(880025));
        assert_eq!(ErrorCode::from_code(880011).doc_name(), "unauthorized");
        assert_eq!(
            ErrorCode::from_code(880015).doc_name(),
            "amount_rule_violation"
        );
    }

    #[test]
    fn small_enums() {
        assert_eq!(TransactionType::from_code(0), TransactionType::Payin);
        assert_eq!(TransactionType::from_code(1), TransactionType::Payout);
        assert_eq!(TransactionType::from_code(2), TransactionType::Unknown(2));
        assert_eq!(NotifyStatus::KNOWN.len(), 3);
        assert_eq!(NotifyStatus::from_code(4), NotifyStatus::Unknown(4));
        assert_eq!(
            CurrencyCode::from_code("USDT"),
            CurrencyCode::Unknown("USDT".into())
        );
        assert_eq!(CurrencyCode::from_code("USDT").supported(), None);
    }

    #[test]
    fn serde_accepts_numbers_and_digit_strings() {
        assert_eq!(
            serde_json::from_str::<OrderStatus>("5").ok(),
            Some(OrderStatus::Paid)
        );
        assert_eq!(
            serde_json::from_str::<OrderStatus>("\"6\"").ok(),
            Some(OrderStatus::Settled)
        );
        assert_eq!(
            serde_json::from_str::<OrderStatus>("42").ok(),
            Some(OrderStatus::Unknown(42))
        );
        assert!(serde_json::from_str::<OrderStatus>("\"x\"").is_err());
        assert_eq!(
            serde_json::to_string(&ErrorCode::Unauthorized)
                .ok()
                .as_deref(),
            Some("880011")
        );
    }
}
