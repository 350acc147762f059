//! The order status state machine: which TrustPay status changes we apply, and what an
//! order *is* in the checkout's own terms ([`OrderState`]).
//!
//! Callbacks arrive more than once and out of order, and the order query can race them.
//! Statuses only move forward; a payment that lands after a failure or time-out is applied
//! and flagged, never dropped (the shopper's money moved).
//!
//! # When an order is paid
//!
//! An order is **paid** only when all of these hold:
//!
//! 1. the event is about a *pay-in* (`type` 0): a payout event never touches a pay-in order;
//! 2. it names the order number *we* created at TrustPay (a create that TrustPay refused as
//!    `order_already_exists` on its first attempt is someone else's order, never ours);
//! 3. it comes from TrustPay (its `sign` verified);
//! 4. `merchant_id`, `currency` (where the message carries it) and `order_amount` equal what
//!    we stored;
//! 5. `paid_amount`, when present, is **at least** the order amount.
//!
//! A status 5/6 whose `paid_amount` is short is [`OrderState::Underpaid`]: recorded, shown to
//! the shopper and the merchant, never promoted to paid. More than the order amount is still
//! paid, and flagged ([`PaidAmount::Over`]). Everything else that claims money arrived is
//! recorded in the event log and refused.
//!
//! Payin lifecycle:
//!
//! ```text
//!  1 pending ──► 5 paid ──► 6 settled
//!     │  │          │  \        │
//!     │  │          ▼   ▼       ▼
//!     │  │     9 refunding ◄─► 8 partially refunded ──► 7 refunded
//!     │  └──► 3 failed  ┐
//!     └─────► 4 expired ┴──► (late payment) 5 / 6 / 7 / 8 / 9
//! ```
//!
//! Refund callbacks are ordered by [`Progress`]: how many refunds TrustPay lists, the
//! refunded total, then the phase (refunding before partially refunded), so every
//! permutation of a refund sequence, with duplicates or lost callbacks, ends at the latest
//! position that was delivered.

use crate::codes::OrderStatus;
use crate::money::Amount;

/// What to do with an incoming status, given the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Move to the incoming status.
    Advance(OrderStatus),
    /// Move to the incoming status, and flag it: money arrived after the order had failed or
    /// expired, so the merchant must fulfil or refund it.
    LatePayment(OrderStatus),
    /// Same status again (a duplicate callback): nothing changes, the caller acknowledges.
    Same,
    /// The incoming status is behind the stored one (an old callback arriving late).
    Stale,
    /// The two statuses can't both be true (failed vs. timed out; payout vs. payin).
    Conflict,
    /// One of the statuses is not one the docs list; keep the stored one and record it.
    Unrecognized,
}

impl Transition {
    /// The status to store, if it changes.
    pub fn new_status(self) -> Option<OrderStatus> {
        match self {
            Transition::Advance(s) | Transition::LatePayment(s) => Some(s),
            Transition::Same
            | Transition::Stale
            | Transition::Conflict
            | Transition::Unrecognized => None,
        }
    }

    /// A stable snake_case name for event logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Advance(_) => "advance",
            Transition::LatePayment(_) => "late_payment",
            Transition::Same => "duplicate",
            Transition::Stale => "stale",
            Transition::Conflict => "conflict",
            Transition::Unrecognized => "unrecognized",
        }
    }
}

/// Decides what an incoming status does to the stored one.
pub fn apply(current: OrderStatus, incoming: OrderStatus) -> Transition {
    use OrderStatus::{
        Failed, Paid, PartiallyRefunded, PayoutPaid, Pending, Refunded, Refunding, Settled,
        TimedOut, Unknown,
    };
    use Transition::{Advance, Conflict, LatePayment, Same, Stale, Unrecognized};

    if current == incoming {
        return Same;
    }
    match (current, incoming) {
        (Unknown(_), _) | (_, Unknown(_)) => Unrecognized,
        (_, Pending) => Stale,

        // From pending, anything that follows: intermediate callbacks may be lost.
        (
            Pending,
            PayoutPaid | Failed | TimedOut | Paid | Settled | Refunded | PartiallyRefunded
            | Refunding,
        ) => Advance(incoming),

        // Payouts end at 2; a payin status on a payout order is a contradiction.
        (
            PayoutPaid,
            Failed | TimedOut | Paid | Settled | Refunded | PartiallyRefunded | Refunding,
        ) => Conflict,
        (Failed | TimedOut, PayoutPaid) => LatePayment(incoming),
        (Paid | Settled | Refunded | PartiallyRefunded | Refunding, PayoutPaid) => Conflict,

        // Failed and timed out are both "no payment": the first one wins.
        (Failed, TimedOut) | (TimedOut, Failed) => Conflict,
        // Money after a failure or time-out.
        (Failed | TimedOut, Paid | Settled | Refunded | PartiallyRefunded | Refunding) => {
            LatePayment(incoming)
        }

        // Once paid, a failure or time-out is old news.
        (Paid | Settled | Refunded | PartiallyRefunded | Refunding, Failed | TimedOut) => Stale,

        (Paid, Settled | Refunded | PartiallyRefunded | Refunding) => Advance(incoming),
        (Settled, Paid) => Stale,
        (Settled, Refunded | PartiallyRefunded | Refunding) => Advance(incoming),

        // Refunds: refunding ⇄ partially refunded (one refund after another), then refunded.
        (Refunding, Refunded | PartiallyRefunded) => Advance(incoming),
        (PartiallyRefunded, Refunded | Refunding) => Advance(incoming),
        (Refunding | PartiallyRefunded, Paid | Settled) => Stale,

        // Fully refunded is the end.
        (Refunded, Paid | Settled | PartiallyRefunded | Refunding) => Stale,

        // Equal pairs were answered above; these arms keep the match exhaustive without `_`.
        (PayoutPaid, PayoutPaid)
        | (Failed, Failed)
        | (TimedOut, TimedOut)
        | (Paid, Paid)
        | (Settled, Settled)
        | (Refunded, Refunded)
        | (PartiallyRefunded, PartiallyRefunded)
        | (Refunding, Refunding) => Same,
    }
}

/// An order's position: its status, how many refunds TrustPay lists for it
/// (`merchant_refund_no[]` of the callback) and the refunded total (`refund_amount`).
///
/// Statuses alone can't order a refund sequence: `refunding` (9) and `partially refunded` (8)
/// alternate as successive refunds happen, and two `partially refunded` differ only by what
/// they count. Between two refund statuses (7, 8, 9) the later position is the one with more
/// refunds listed (when both list them), then the larger refunded total, then the later
/// phase (9 before 8); `refunded` (7) is the end. This order holds whichever total a `refunding` callback
/// carries (the one before the refund or the one after it), so the last position delivered
/// wins in any permutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The status.
    pub status: OrderStatus,
    /// Number of refunds listed; `None` when the message has no `merchant_refund_no` (order
    /// queries don't carry it).
    pub refunds: Option<usize>,
    /// Refunded total in minor units (0 when the message has no `refund_amount`).
    pub refunded: i64,
}

impl Progress {
    /// A position with no refund information (pending, paid, failed...).
    pub fn of(status: OrderStatus) -> Self {
        Progress {
            status,
            refunds: None,
            refunded: 0,
        }
    }

    /// Where a refund status sits in its refund: refunding, then partially refunded, then
    /// refunded. `None` for the other statuses.
    fn refund_phase(self) -> Option<u8> {
        match self.status {
            OrderStatus::Refunding => Some(0),
            OrderStatus::PartiallyRefunded => Some(1),
            OrderStatus::Refunded => Some(2),
            OrderStatus::Pending
            | OrderStatus::PayoutPaid
            | OrderStatus::Failed
            | OrderStatus::TimedOut
            | OrderStatus::Paid
            | OrderStatus::Settled
            | OrderStatus::Unknown(_) => None,
        }
    }
}

/// [`apply`], refined between refund statuses by [`Progress`]. Use this for callbacks and
/// query results: an `8` after an `8` that lists more refunds advances (the second refund
/// completed), a late `9` of a refund an `8` already completed is stale.
pub fn apply_progress(current: Progress, incoming: Progress) -> Transition {
    match (current.refund_phase(), incoming.refund_phase()) {
        // Fully refunded is the end; `apply` answers (same or stale).
        (Some(2), Some(_)) | (Some(_), Some(2)) => apply(current.status, incoming.status),
        (Some(phase), Some(incoming_phase)) => {
            // The refund count only where both sides list their refunds.
            let counts = match (current.refunds, incoming.refunds) {
                (Some(current), Some(incoming)) => (current, incoming),
                (Some(_) | None, None) | (None, Some(_)) => (0, 0),
            };
            let key = |count: usize, p: Progress, phase: u8| (count, p.refunded, phase);
            match key(counts.1, incoming, incoming_phase).cmp(&key(counts.0, current, phase)) {
                std::cmp::Ordering::Greater => Transition::Advance(incoming.status),
                std::cmp::Ordering::Equal => Transition::Same,
                std::cmp::Ordering::Less => Transition::Stale,
            }
        }
        (Some(_) | None, None) | (None, Some(_)) => apply(current.status, incoming.status),
    }
}

/// How the paid amount of a successful pay-in compares with the order amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaidAmount {
    /// Paid in full (or the message carries no `paid_amount`, as refund messages don't).
    Full,
    /// Less than the order amount arrived: the order is [`OrderState::Underpaid`].
    Short {
        /// What arrived.
        paid: Amount,
    },
    /// More than the order amount arrived: still paid, flagged for the merchant.
    Over {
        /// What arrived.
        paid: Amount,
    },
}

impl PaidAmount {
    /// Compares `paid` (when reported) with the order `amount`.
    pub fn compare(amount: Amount, paid: Option<Amount>) -> Self {
        match paid {
            None => PaidAmount::Full,
            Some(paid) => match paid.minor().cmp(&amount.minor()) {
                std::cmp::Ordering::Less => PaidAmount::Short { paid },
                std::cmp::Ordering::Equal => PaidAmount::Full,
                std::cmp::Ordering::Greater => PaidAmount::Over { paid },
            },
        }
    }
}

/// What an order is, in the checkout's own terms: the API's `state`, the widget's message,
/// the merchant notification's event. Derived from TrustPay's status and the paid amount
/// (see the module docs for when an order is paid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderState {
    /// Created, awaiting payment (1).
    Pending,
    /// Paid in full (5).
    Paid,
    /// TrustPay reports a payment (5 or 6) of less than the order amount: not paid; the
    /// merchant must settle the difference with the shopper.
    Underpaid,
    /// Paid and settled to the merchant (6).
    Settled,
    /// The payment failed (3).
    Failed,
    /// The payment window closed (4).
    Expired,
    /// A refund is in progress (9).
    Refunding,
    /// Some of the payment was refunded (8).
    PartiallyRefunded,
    /// All of the payment was refunded (7).
    Refunded,
    /// A status the docs don't list, or one a pay-in order can't have (2, payout paid).
    Unknown,
}

impl OrderState {
    /// Every state, for tables and tests.
    pub const ALL: &'static [OrderState] = &[
        OrderState::Pending,
        OrderState::Paid,
        OrderState::Underpaid,
        OrderState::Settled,
        OrderState::Failed,
        OrderState::Expired,
        OrderState::Refunding,
        OrderState::PartiallyRefunded,
        OrderState::Refunded,
        OrderState::Unknown,
    ];

    /// The state of an order with TrustPay `status`, order `amount` and reported `paid`.
    ///
    /// A short payment stays [`OrderState::Underpaid`] through refunds too (refund messages
    /// carry no `paid_amount`, the short one stays stored): refunding part of a short payment
    /// never makes the order read paid.
    pub fn of(status: OrderStatus, amount: Amount, paid: Option<Amount>) -> Self {
        let state = OrderState::from_status(status);
        match (state, PaidAmount::compare(amount, paid)) {
            (
                OrderState::Paid
                | OrderState::Settled
                | OrderState::Refunding
                | OrderState::PartiallyRefunded
                | OrderState::Refunded,
                PaidAmount::Short { .. },
            ) => OrderState::Underpaid,
            (state, PaidAmount::Full | PaidAmount::Short { .. } | PaidAmount::Over { .. }) => state,
        }
    }

    /// The state a status stands for when the amounts are not known (or match).
    pub fn from_status(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Pending => OrderState::Pending,
            OrderStatus::Failed => OrderState::Failed,
            OrderStatus::TimedOut => OrderState::Expired,
            OrderStatus::Paid => OrderState::Paid,
            OrderStatus::Settled => OrderState::Settled,
            OrderStatus::Refunded => OrderState::Refunded,
            OrderStatus::PartiallyRefunded => OrderState::PartiallyRefunded,
            OrderStatus::Refunding => OrderState::Refunding,
            OrderStatus::PayoutPaid | OrderStatus::Unknown(_) => OrderState::Unknown,
        }
    }

    /// The stable snake_case name (the API's `state`).
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Pending => "pending",
            OrderState::Paid => "paid",
            OrderState::Underpaid => "underpaid",
            OrderState::Settled => "settled",
            OrderState::Failed => "failed",
            OrderState::Expired => "expired",
            OrderState::Refunding => "refunding",
            OrderState::PartiallyRefunded => "partially_refunded",
            OrderState::Refunded => "refunded",
            OrderState::Unknown => "unknown",
        }
    }

    /// Reads a name written by [`OrderState::as_str`]; anything else is `Unknown`.
    pub fn parse(name: &str) -> Self {
        OrderState::ALL
            .iter()
            .copied()
            .find(|state| state.as_str() == name)
            .unwrap_or(OrderState::Unknown)
    }

    /// Whether the merchant was paid in full: paid, settled, or paid and (partly) refunded
    /// since. The one test for "ship the goods" (before refunds).
    pub fn is_paid(self) -> bool {
        match self {
            OrderState::Paid
            | OrderState::Settled
            | OrderState::Refunding
            | OrderState::PartiallyRefunded
            | OrderState::Refunded => true,
            OrderState::Pending
            | OrderState::Underpaid
            | OrderState::Failed
            | OrderState::Expired
            | OrderState::Unknown => false,
        }
    }

    /// Whether the shopper's payment attempt has an outcome (anything but pending/unknown).
    pub fn is_final(self) -> bool {
        match self {
            OrderState::Pending | OrderState::Unknown => false,
            OrderState::Paid
            | OrderState::Underpaid
            | OrderState::Settled
            | OrderState::Failed
            | OrderState::Expired
            | OrderState::Refunding
            | OrderState::PartiallyRefunded
            | OrderState::Refunded => true,
        }
    }
}

/// The state name of a status when the amounts are not known ([`OrderState::from_status`]).
pub fn state_name(status: OrderStatus) -> &'static str {
    OrderState::from_status(status).as_str()
}

/// Whether the shopper's payment attempt has an outcome (anything but pending/unknown).
pub fn is_final(status: OrderStatus) -> bool {
    OrderState::from_status(status).is_final()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows: stored status 1..9; columns: incoming status 1..9.
    /// `A` advance, `L` late payment, `=` same, `s` stale, `c` conflict.
    /// Written from the lifecycle in the module docs, independently of `apply`.
    const TABLE: [&str; 9] = [
        //  123456789   incoming
        "=AAAAAAAA", // 1 pending
        "s=ccccccc", // 2 payout paid
        "sL=cLLLLL", // 3 failed
        "sLc=LLLLL", // 4 timed out
        "scss=AAAA", // 5 paid
        "scsss=AAA", // 6 settled
        "scssss=ss", // 7 refunded
        "scssssA=A", // 8 partially refunded
        "scssssAA=", // 9 refunding
    ];

    fn expected(row: usize, col: usize) -> char {
        TABLE[row].chars().nth(col).unwrap_or('?')
    }

    fn code(t: Transition, incoming: OrderStatus) -> char {
        match t {
            Transition::Advance(s) => {
                assert_eq!(s, incoming);
                'A'
            }
            Transition::LatePayment(s) => {
                assert_eq!(s, incoming);
                'L'
            }
            Transition::Same => '=',
            Transition::Stale => 's',
            Transition::Conflict => 'c',
            Transition::Unrecognized => 'u',
        }
    }

    #[test]
    fn every_pair_of_the_81() {
        let mut checked = 0;
        for (row, &current) in OrderStatus::KNOWN.iter().enumerate() {
            for (col, &incoming) in OrderStatus::KNOWN.iter().enumerate() {
                let got = code(apply(current, incoming), incoming);
                assert_eq!(got, expected(row, col), "{current:?} -> {incoming:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 81);
    }

    #[test]
    fn unknown_statuses_change_nothing() {
        for &s in OrderStatus::KNOWN {
            assert_eq!(apply(s, OrderStatus::Unknown(10)), Transition::Unrecognized);
            assert_eq!(apply(OrderStatus::Unknown(10), s), Transition::Unrecognized);
        }
        assert_eq!(
            apply(OrderStatus::Unknown(10), OrderStatus::Unknown(10)),
            Transition::Same
        );
        assert_eq!(
            apply(OrderStatus::Unknown(10), OrderStatus::Unknown(11)),
            Transition::Unrecognized
        );
    }

    #[test]
    fn the_refund_walk() {
        use OrderStatus::*;
        let walk = [
            Pending,
            Paid,
            Refunding,
            PartiallyRefunded,
            Refunding,
            Refunded,
        ];
        let mut current = walk[0];
        for &next in &walk[1..] {
            current = apply(current, next)
                .new_status()
                .unwrap_or_else(|| panic!("{current:?} -> {next:?} must advance"));
        }
        assert_eq!(current, Refunded);
    }

    #[test]
    fn no_sequence_ever_regresses() {
        // Every ordered pair reachable by Advance must never be undone by an Advance back.
        for &a in OrderStatus::KNOWN {
            for &b in OrderStatus::KNOWN {
                if let (Transition::Advance(_), Transition::Advance(_)) = (apply(a, b), apply(b, a))
                {
                    // Only refunding <-> partially refunded may alternate (successive refunds).
                    assert!(
                        matches!(
                            (a, b),
                            (OrderStatus::Refunding, OrderStatus::PartiallyRefunded)
                                | (OrderStatus::PartiallyRefunded, OrderStatus::Refunding)
                        ),
                        "{a:?} <-> {b:?} would flip-flop"
                    );
                }
            }
        }
    }

    #[test]
    fn state_names_and_finality() {
        assert_eq!(state_name(OrderStatus::TimedOut), "expired");
        assert_eq!(state_name(OrderStatus::Unknown(42)), "unknown");
        assert!(!is_final(OrderStatus::Pending));
        assert!(!is_final(OrderStatus::Unknown(42)));
        assert!(is_final(OrderStatus::Paid));
        assert!(is_final(OrderStatus::Failed));
        assert!(!is_final(OrderStatus::PayoutPaid));
    }
    fn amount(minor: i64) -> Amount {
        Amount::from_minor(minor).expect("positive")
    }

    #[test]
    fn short_payment_is_underpaid_never_paid() {
        use OrderStatus::{Paid, Settled};
        let order = amount(3000);
        assert_eq!(
            OrderState::of(Paid, order, Some(amount(1))),
            OrderState::Underpaid
        );
        assert_eq!(
            OrderState::of(Settled, order, Some(amount(2999))),
            OrderState::Underpaid
        );
        assert!(!OrderState::Underpaid.is_paid());
        assert!(OrderState::Underpaid.is_final());
        assert_eq!(
            OrderState::of(Paid, order, Some(amount(3000))),
            OrderState::Paid
        );
        assert_eq!(OrderState::of(Paid, order, None), OrderState::Paid);
        // Refunding part of a short payment never makes it read paid.
        for refund in [
            OrderStatus::Refunding,
            OrderStatus::PartiallyRefunded,
            OrderStatus::Refunded,
        ] {
            assert_eq!(
                OrderState::of(refund, order, Some(amount(1))),
                OrderState::Underpaid,
                "{refund:?}"
            );
            assert_eq!(
                OrderState::of(refund, order, Some(amount(3000))),
                OrderState::from_status(refund)
            );
        }
        // Over-payment is paid, and reported as such.
        assert_eq!(
            OrderState::of(Paid, order, Some(amount(3001))),
            OrderState::Paid
        );
        assert_eq!(
            PaidAmount::compare(order, Some(amount(3001))),
            PaidAmount::Over { paid: amount(3001) }
        );
    }

    #[test]
    fn a_payout_status_is_never_a_payin_state() {
        assert_eq!(
            OrderState::from_status(OrderStatus::PayoutPaid),
            OrderState::Unknown
        );
        assert!(!OrderState::from_status(OrderStatus::PayoutPaid).is_paid());
    }

    #[test]
    fn state_names_round_trip() {
        for &state in OrderState::ALL {
            assert_eq!(OrderState::parse(state.as_str()), state);
        }
        assert_eq!(OrderState::parse("payout_paid"), OrderState::Unknown);
        assert_eq!(OrderState::parse("PAID"), OrderState::Unknown);
    }

    #[test]
    fn a_second_partial_refund_advances_and_its_late_refunding_is_stale() {
        use OrderStatus::{PartiallyRefunded, Refunded, Refunding};
        let p = |status, refunds, refunded| Progress {
            status,
            refunds: Some(refunds),
            refunded,
        };
        let first_done = p(PartiallyRefunded, 1, 1000);
        let second_done = p(PartiallyRefunded, 2, 2500);
        assert_eq!(
            apply_progress(first_done, second_done),
            Transition::Advance(PartiallyRefunded)
        );
        // The second refund's `refunding` arrives after it completed: whichever total it
        // carries (before or after the refund), it is stale.
        assert_eq!(
            apply_progress(second_done, p(Refunding, 2, 1000)),
            Transition::Stale
        );
        assert_eq!(
            apply_progress(second_done, p(Refunding, 2, 2500)),
            Transition::Stale
        );
        assert_eq!(apply_progress(second_done, second_done), Transition::Same);
        assert_eq!(
            apply_progress(second_done, p(Refunded, 3, 3000)),
            Transition::Advance(Refunded)
        );
        assert_eq!(
            apply_progress(p(Refunded, 3, 3000), p(Refunding, 4, 3000)),
            Transition::Stale
        );
        // An order query lists no refunds: the refunded total decides.
        let queried = |status, refunded| Progress {
            status,
            refunds: None,
            refunded,
        };
        assert_eq!(
            apply_progress(first_done, queried(PartiallyRefunded, 2500)),
            Transition::Advance(PartiallyRefunded)
        );
        assert_eq!(
            apply_progress(second_done, queried(PartiallyRefunded, 1000)),
            Transition::Stale
        );
    }
}
