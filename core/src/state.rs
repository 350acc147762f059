//! The order status state machine: which TrustPay status changes we apply.
//!
//! Callbacks arrive more than once and out of order (§4.6), and the order query can race
//! them. Statuses only move forward; a payment that lands after a failure or time-out is
//! applied and flagged, never dropped (the shopper's money moved).
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
//!  1 pending ──► 2 payout paid   (payouts)
//! ```

use crate::codes::OrderStatus;

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

/// An order's position: its status plus how many refunds TrustPay lists for it
/// (`merchant_refund_no[]` of the callback, §4.2).
///
/// The refund count breaks the one tie statuses alone can't: `refunding` (9) and `partially
/// refunded` (8) alternate as successive refunds happen, so a late `9` of the *first* refund
/// must not undo the `8` that completed it. A `9` advances over an `8` only when it lists more
/// refunds; an `8` advances over a `9` when it lists at least as many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The status.
    pub status: OrderStatus,
    /// Number of refunds listed (0 when the callback has no `merchant_refund_no`).
    pub refunds: usize,
}

/// [`apply`], refined by the refund count (see [`Progress`]). Use this for callbacks and
/// query results that carry `merchant_refund_no`.
pub fn apply_progress(current: Progress, incoming: Progress) -> Transition {
    use OrderStatus::{PartiallyRefunded, Refunding};
    match (current.status, incoming.status) {
        (PartiallyRefunded, Refunding) if incoming.refunds <= current.refunds => Transition::Stale,
        (Refunding, PartiallyRefunded) if incoming.refunds < current.refunds => Transition::Stale,
        (current_status, incoming_status) => apply(current_status, incoming_status),
    }
}

/// What the shopper-facing side calls each status (the edge API's `state`).
pub fn state_name(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "pending",
        OrderStatus::PayoutPaid => "payout_paid",
        OrderStatus::Failed => "failed",
        OrderStatus::TimedOut => "expired",
        OrderStatus::Paid => "paid",
        OrderStatus::Settled => "settled",
        OrderStatus::Refunded => "refunded",
        OrderStatus::PartiallyRefunded => "partially_refunded",
        OrderStatus::Refunding => "refunding",
        OrderStatus::Unknown(_) => "unknown",
    }
}

/// Whether the shopper's payment attempt has an outcome (anything but pending/unknown).
pub fn is_final(status: OrderStatus) -> bool {
    match status {
        OrderStatus::Pending | OrderStatus::Unknown(_) => false,
        OrderStatus::PayoutPaid
        | OrderStatus::Failed
        | OrderStatus::TimedOut
        | OrderStatus::Paid
        | OrderStatus::Settled
        | OrderStatus::Refunded
        | OrderStatus::PartiallyRefunded
        | OrderStatus::Refunding => true,
    }
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
    }
}
