//! What a merchant or TrustPay would send, built with `checkout-core`'s own signing code:
//! intents minted offline, callback bodies, and TrustPay's `sign` over them. One copy for the
//! edge suites and the bench binaries.

use checkout_core::intent::Intent;
use checkout_core::money::MoneyError;
use checkout_core::order_no::OrderNoError;
use checkout_core::sign::{SignError, SignFields, SignOptions};
use checkout_core::{AmountRendering, Currency, Money, MoneyLimits, OrderNo, Secret};

/// Why a fixture could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The order number is not one the edge accepts.
    #[error("order number: {0}")]
    OrderNo(#[from] OrderNoError),
    /// The amount is not a USD amount within the default limits.
    #[error("amount: {0}")]
    Money(#[from] MoneyError),
    /// The text to sign is not a flat JSON object.
    #[error("callback body: {0}")]
    Sign(#[from] SignError),
    /// A key is empty.
    #[error("an empty key")]
    EmptyKey,
}

/// A non-empty key as a [`Secret`].
pub fn secret(key: &str) -> Result<Secret, ForgeError> {
    Secret::new(key).map_err(|_| ForgeError::EmptyKey)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// A USD intent for `order_no` and `amount`, expiring at `exp`, MAC'd with `key`, the way a
/// merchant's server mints one without calling the edge.
pub fn intent(order_no: &str, amount: &str, exp: i64, key: &str) -> Result<String, ForgeError> {
    Ok(Intent {
        order_no: OrderNo::parse(order_no)?,
        money: Money::parse(amount, Currency::Usd, MoneyLimits::default())?,
        exp,
    }
    .mint(&secret(key)?))
}

/// The `sign` TrustPay would put on `unsigned` (two-decimal amounts) with `key`.
pub fn sign_of(unsigned: &str, key: &str) -> Result<String, ForgeError> {
    let fields = SignFields::from_json(unsigned.as_bytes())?;
    Ok(fields
        .sign(
            SignOptions::amounts(AmountRendering::TwoDecimals),
            &secret(key)?,
        )
        .as_str()
        .to_owned())
}

/// `unsigned` (a JSON object) with a `sign` field appended.
pub fn with_sign(unsigned: &str, sign: &str) -> String {
    let trimmed = unsigned.trim_end().trim_end_matches('}');
    format!("{trimmed},\"sign\":\"{sign}\"}}")
}

/// A callback body signed the way TrustPay signs (two-decimal amounts).
pub fn signed_callback(unsigned: &str, key: &str) -> Result<String, ForgeError> {
    Ok(with_sign(unsigned, &sign_of(unsigned, key)?))
}

/// An unsigned status callback for an order; paid and settled ones (5, 6) carry the paid
/// amount and a fee. `reason` says who sent it.
pub fn callback_body(
    order_no: &str,
    merchant_id: i64,
    amount: &str,
    status: i64,
    reason: &str,
) -> String {
    let paid = if status == 5 || status == 6 {
        format!(",\"paid_amount\":{amount},\"fee\":0.30")
    } else {
        String::new()
    };
    format!(
        r#"{{"type":0,"merchant_id":{merchant_id},"order_no":"{order_no}","order_amount":{amount}{paid},"status":{status},"reason":"{reason}"}}"#
    )
}
