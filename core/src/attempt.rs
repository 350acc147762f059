//! Payment attempts: one merchant order, several TrustPay orders.
//!
//! A failed or expired TrustPay order is final, so a shopper whose card was declined needs a
//! new TrustPay order to try again. The merchant's order (the intent's `order_no`) keeps its
//! number; each *attempt* is its own TrustPay order whose number is derived from it:
//!
//! | attempt | TrustPay `order_no` |
//! | --- | --- |
//! | 1 | `<order_no>` (unchanged: orders created before attempts existed keep working) |
//! | n ≥ 2 | `<order_no>__<n>` |
//!
//! `__` followed by digits at the end of a number is therefore reserved: a merchant order
//! number may not end that way ([`check_merchant_order_no`]), so no two merchant orders can
//! derive the same TrustPay number. Attempt numbers go up to [`MAX_ATTEMPT`]; a merchant
//! order number longer than [`MAX_ORDER_NO_LEN`]` - 4` (60 characters) can't have a second
//! attempt, because its derived number would exceed TrustPay's (our) 64-character limit.
//!
//! The merchant order's state is derived from its attempts ([`merchant_state`]): paid as
//! soon as any attempt is paid, whatever the others say; more than one paid attempt is a
//! duplicate payment the merchant must refund.

use crate::order_no::{MAX_ORDER_NO_LEN, OrderNo};
use crate::state::OrderState;

/// Between the merchant order number and the attempt number.
pub const SEPARATOR: &str = "__";
/// The highest attempt number the scheme allows (the configured limit is lower).
pub const MAX_ATTEMPT: u32 = 99;

/// Why an attempt number can't be derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    /// The merchant order number ends like a derived one (`__<digits>`).
    #[error("order numbers ending in `__` and digits are reserved for payment attempts")]
    Reserved,
    /// Attempt 0, or above [`MAX_ATTEMPT`].
    #[error("attempt numbers run from 1 to {MAX_ATTEMPT}")]
    OutOfRange,
    /// The derived number would be longer than [`MAX_ORDER_NO_LEN`].
    #[error("the order number is too long for another payment attempt")]
    TooLong,
}

/// Refuses merchant order numbers that end like a derived attempt number.
pub fn check_merchant_order_no(order_no: &OrderNo) -> Result<(), AttemptError> {
    match split_suffix(order_no.as_str()) {
        Some(_) => Err(AttemptError::Reserved),
        None => Ok(()),
    }
}

/// The TrustPay order number of `attempt` (1-based) of a merchant order.
pub fn trustpay_order_no(merchant: &OrderNo, attempt: u32) -> Result<OrderNo, AttemptError> {
    check_merchant_order_no(merchant)?;
    if attempt == 0 || attempt > MAX_ATTEMPT {
        return Err(AttemptError::OutOfRange);
    }
    if attempt == 1 {
        return Ok(merchant.clone());
    }
    let derived = format!("{}{SEPARATOR}{attempt}", merchant.as_str());
    if derived.len() > MAX_ORDER_NO_LEN {
        return Err(AttemptError::TooLong);
    }
    OrderNo::parse(&derived).map_err(|_| AttemptError::TooLong)
}

/// `(merchant order number, attempt)` of a TrustPay order number: the inverse of
/// [`trustpay_order_no`].
pub fn split(trustpay: &OrderNo) -> (OrderNo, u32) {
    match split_suffix(trustpay.as_str()) {
        Some((merchant, attempt)) => match OrderNo::parse(merchant) {
            Ok(merchant) => (merchant, attempt),
            Err(_) => (trustpay.clone(), 1),
        },
        None => (trustpay.clone(), 1),
    }
}

/// `Some((prefix, n))` when `text` ends in `__<n>` with `n` in 2..=MAX_ATTEMPT written without
/// leading zeros, and the prefix is not empty.
fn split_suffix(text: &str) -> Option<(&str, u32)> {
    let at = text.rfind(SEPARATOR)?;
    let (prefix, digits) = (&text[..at], &text[at + SEPARATOR.len()..]);
    if prefix.is_empty()
        || digits.is_empty()
        || digits.starts_with('0')
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    (2..=MAX_ATTEMPT).contains(&n).then_some((prefix, n))
}

/// The merchant order as its attempts make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MerchantOrder {
    /// The order's state (see [`merchant_state`]).
    pub state: OrderState,
    /// The attempt that state comes from.
    pub attempt: u32,
    /// More than one attempt was paid: the merchant was paid twice.
    pub duplicate_payment: bool,
}

/// The merchant order's state from its attempts' `(attempt, state)`:
///
/// 1. any paid attempt (paid, settled, or refunded since): the *first* such attempt (lowest
///    number) decides, and a second paid attempt is a duplicate payment; an attempt refunded
///    in full decides only when every paid attempt was (a refunded duplicate must not make an
///    order that still holds a payment read refunded);
/// 2. else any underpaid attempt (money arrived, short): underpaid;
/// 3. else the latest attempt (highest number): pending, failed, expired or unknown.
///
/// `None` when there are no attempts.
pub fn merchant_state(attempts: &[(u32, OrderState)]) -> Option<MerchantOrder> {
    let paid: Vec<(u32, OrderState)> = attempts
        .iter()
        .copied()
        .filter(|(_, state)| state.is_paid())
        .collect();
    let first_paid = paid
        .iter()
        .copied()
        .filter(|(_, state)| *state != OrderState::Refunded)
        .min_by_key(|(n, _)| *n)
        .or_else(|| paid.iter().copied().min_by_key(|(n, _)| *n));
    let underpaid = attempts
        .iter()
        .copied()
        .filter(|(_, state)| *state == OrderState::Underpaid)
        .min_by_key(|(n, _)| *n);
    let latest = attempts.iter().copied().max_by_key(|(n, _)| *n);
    let (attempt, state) = first_paid.or(underpaid).or(latest)?;
    Some(MerchantOrder {
        state,
        attempt,
        duplicate_payment: paid.len() > 1,
    })
}

/// Whether a new attempt may start after `current`: its state is final and not a payment
/// (failed or expired), or it was abandoned (still pending after the configured time; the
/// caller decides that). Never once any attempt is paid or underpaid.
pub fn may_retry(order: &MerchantOrder, current_abandoned: bool) -> bool {
    match order.state {
        OrderState::Failed | OrderState::Expired => true,
        OrderState::Pending | OrderState::Unknown => current_abandoned,
        OrderState::Paid
        | OrderState::Underpaid
        | OrderState::Settled
        | OrderState::Refunding
        | OrderState::PartiallyRefunded
        | OrderState::Refunded => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no(text: &str) -> OrderNo {
        OrderNo::parse(text).expect("valid")
    }

    #[test]
    fn numbers_are_derived_and_split_back() {
        let merchant = no("A-1");
        assert_eq!(trustpay_order_no(&merchant, 1), Ok(no("A-1")));
        assert_eq!(trustpay_order_no(&merchant, 2), Ok(no("A-1__2")));
        assert_eq!(trustpay_order_no(&merchant, 99), Ok(no("A-1__99")));
        assert_eq!(
            trustpay_order_no(&merchant, 0),
            Err(AttemptError::OutOfRange)
        );
        assert_eq!(
            trustpay_order_no(&merchant, 100),
            Err(AttemptError::OutOfRange)
        );
        for n in 1..=MAX_ATTEMPT {
            let derived = trustpay_order_no(&merchant, n).expect("derives");
            assert_eq!(split(&derived), (merchant.clone(), n));
        }
    }

    #[test]
    fn reserved_endings_and_lengths() {
        for reserved in ["A__2", "A__99", "x_y__10"] {
            assert_eq!(
                check_merchant_order_no(&no(reserved)),
                Err(AttemptError::Reserved),
                "{reserved}"
            );
        }
        // Not the derived shape: allowed, and split leaves them whole.
        for allowed in ["A__1", "A__02", "A__100", "__2", "A__", "A_2", "A__2x"] {
            assert_eq!(check_merchant_order_no(&no(allowed)), Ok(()), "{allowed}");
            assert_eq!(split(&no(allowed)), (no(allowed), 1), "{allowed}");
        }
        let sixty = "a".repeat(60);
        assert!(trustpay_order_no(&no(&sixty), 99).is_ok());
        let sixty_one = "a".repeat(61);
        assert_eq!(trustpay_order_no(&no(&sixty_one), 1), Ok(no(&sixty_one)));
        assert_eq!(
            trustpay_order_no(&no(&sixty_one), 10),
            Err(AttemptError::TooLong)
        );
    }

    #[test]
    fn any_paid_attempt_pays_the_order_once() {
        use OrderState::{Expired, Failed, Paid, Pending, Refunded, Underpaid};
        let of = |attempts: &[(u32, OrderState)]| merchant_state(attempts).expect("attempts");
        assert_eq!(merchant_state(&[]), None);
        assert_eq!(of(&[(1, Failed), (2, Pending)]).state, Pending);
        assert_eq!(of(&[(1, Failed), (2, Expired)]).state, Expired);
        // A late payment of attempt 1 after attempt 2 failed: paid.
        let late = of(&[(1, Paid), (2, Failed)]);
        assert_eq!(
            (late.state, late.attempt, late.duplicate_payment),
            (Paid, 1, false)
        );
        // Two windows, both paid: paid once, flagged.
        let twice = of(&[(1, Paid), (2, Paid)]);
        assert_eq!(
            (twice.state, twice.attempt, twice.duplicate_payment),
            (Paid, 1, true)
        );
        // The duplicate refunded: still paid by attempt 1, still flagged.
        let refunded = of(&[(1, Paid), (2, Refunded)]);
        assert_eq!((refunded.state, refunded.duplicate_payment), (Paid, true));
        // The merchant refunded attempt 1 in full; attempt 2's payment is still held.
        let kept = of(&[(1, Refunded), (2, Paid)]);
        assert_eq!(
            (kept.state, kept.attempt, kept.duplicate_payment),
            (Paid, 2, true)
        );
        assert_eq!(of(&[(1, Refunded), (2, Refunded)]).state, Refunded);
        assert_eq!(of(&[(1, Underpaid), (2, Pending)]).state, Underpaid);
        assert_eq!(of(&[(1, Underpaid), (2, Paid)]).state, Paid);
    }

    #[test]
    fn retry_only_without_money() {
        let order = |state| MerchantOrder {
            state,
            attempt: 1,
            duplicate_payment: false,
        };
        assert!(may_retry(&order(OrderState::Failed), false));
        assert!(may_retry(&order(OrderState::Expired), false));
        assert!(!may_retry(&order(OrderState::Pending), false));
        assert!(may_retry(&order(OrderState::Pending), true));
        for &state in &[
            OrderState::Paid,
            OrderState::Underpaid,
            OrderState::Settled,
            OrderState::Refunding,
            OrderState::PartiallyRefunded,
            OrderState::Refunded,
        ] {
            assert!(!may_retry(&order(state), true), "{state:?}");
        }
    }
}
