//! Merchant order numbers.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest order number we accept. TrustPay documents no limit; 64 covers UUIDs and
/// every example in the docs with room to spare.
pub const MAX_ORDER_NO_LEN: usize = 64;

/// A merchant order number: 1 to 64 characters of `A-Z a-z 0-9 - _ .`.
///
/// TrustPay's docs give no rules; this conservative alphabet is what every example uses and
/// keeps order numbers safe in URLs, logs and sign strings (no `&`, `=`, spaces or controls).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderNo(String);

/// Why an order number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderNoError {
    /// Empty.
    #[error("the order number is empty")]
    Empty,
    /// Longer than [`MAX_ORDER_NO_LEN`].
    #[error("the order number is longer than {MAX_ORDER_NO_LEN} characters")]
    TooLong,
    /// A character outside `A-Z a-z 0-9 - _ .`.
    #[error("the order number may only contain letters, digits, '-', '_' and '.'")]
    InvalidCharacter,
}

impl OrderNo {
    /// Validates an order number.
    pub fn parse(text: &str) -> Result<Self, OrderNoError> {
        if text.is_empty() {
            return Err(OrderNoError::Empty);
        }
        if text.len() > MAX_ORDER_NO_LEN {
            return Err(OrderNoError::TooLong);
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(OrderNoError::InvalidCharacter);
        }
        Ok(Self(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for OrderNo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OrderNo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        OrderNo::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_usual_shapes() {
        for ok in [
            "A-1",
            "local-test-payin-319",
            "ord_2026.11.25",
            "T4CMQaTCcN05GEx9EQkuabB1",
            &"x".repeat(64),
        ] {
            assert!(OrderNo::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_the_rest() {
        assert_eq!(OrderNo::parse(""), Err(OrderNoError::Empty));
        assert_eq!(OrderNo::parse(&"x".repeat(65)), Err(OrderNoError::TooLong));
        for bad in [
            "a b",
            "a&b=c",
            "订单",
            "a\nb",
            "a\u{0}b",
            "' OR 1=1 --",
            "a/b",
            "ü",
        ] {
            assert_eq!(
                OrderNo::parse(bad),
                Err(OrderNoError::InvalidCharacter),
                "{bad:?}"
            );
        }
    }
}
