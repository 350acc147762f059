//! The vocabulary of the order event log (`order_events.source` / `.outcome`): every row the
//! edge writes names one [`Source`] and one [`Outcome`], so the names admins, tests and
//! dashboards filter on are spelled in one place.

use checkout_core::state::Transition;

/// Who or what caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `POST /v1/orders`.
    Create,
    /// A TrustPay callback.
    Callback,
    /// An order query from the status route (or a create's recovery).
    Query,
    /// The reconciliation cron.
    Reconcile,
    /// A merchant route (refunds).
    Admin,
    /// Merchant notification delivery.
    Webhook,
    /// TrustPay's risk-control hook.
    RiskControl,
}

impl Source {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Create => "create",
            Source::Callback => "callback",
            Source::Query => "query",
            Source::Reconcile => "reconcile",
            Source::Admin => "admin",
            Source::Webhook => "webhook",
            Source::RiskControl => "risk",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    // Creation.
    /// Our row was inserted (first attempt).
    Inserted,
    /// A later request took over a creation whose lease ran out.
    Retry,
    /// TrustPay created the order; we hold its pay page.
    Created,
    /// TrustPay refused or failed the creation.
    GatewayFailed,
    /// TrustPay already holds a different order under our number (880012 on the first
    /// attempt): this order can't be paid.
    OrderNumberTaken,

    // Status reports (callbacks, queries), one per state-machine outcome.
    /// The status advanced.
    Accepted,
    /// Money after failure or expiry.
    LatePayment,
    /// TrustPay reports a payment short of the order amount: recorded, not paid.
    Underpaid,
    /// TrustPay reports more than the order amount: paid, flagged.
    Overpaid,
    /// Same position again.
    Duplicate,
    /// Behind the stored position.
    Stale,
    /// Contradicts the stored status.
    Conflict,
    /// A status the docs don't list.
    Unrecognized,
    /// Signed, but about another merchant, amount or currency.
    Mismatch,
    /// Signed, but a payout (or unknown type) event for a pay-in order.
    NotPayin,
    /// Names an order we don't hold.
    UnknownOrder,
    /// Names an order whose creation at TrustPay we haven't completed (no pay page yet): no
    /// shopper of ours can have paid it, so it may be someone else's order under our number.
    /// Not applied; answered 409 so TrustPay retries once we know.
    NotCreated,

    // Refunds.
    /// A refund was sent to TrustPay.
    RefundRequested,
    /// TrustPay refused or failed a refund.
    RefundFailed,

    // Merchant notifications.
    /// Queued for delivery.
    Enqueued,
    /// Queueing failed.
    EnqueueFailed,
    /// Delivered (2xx).
    Delivered,
    /// A delivery attempt failed; retried.
    Failed,
    /// Gave up; in the dead-letter queue.
    DeadLettered,
    /// Dropped (no endpoint configured any more).
    Dropped,

    // Risk control.
    /// The hook allowed the payment.
    Allow,
    /// The hook denied the payment.
    Deny,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Inserted => "inserted",
            Outcome::Retry => "retry",
            Outcome::Created => "created",
            Outcome::GatewayFailed => "gateway_failed",
            Outcome::OrderNumberTaken => "order_number_taken",
            Outcome::Accepted => "accepted",
            Outcome::LatePayment => "late_payment",
            Outcome::Underpaid => "underpaid",
            Outcome::Overpaid => "overpaid",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Conflict => "conflict",
            Outcome::Unrecognized => "unrecognized",
            Outcome::Mismatch => "mismatch",
            Outcome::NotPayin => "not_payin",
            Outcome::UnknownOrder => "unknown_order",
            Outcome::NotCreated => "not_created",
            Outcome::RefundRequested => "refund_requested",
            Outcome::RefundFailed => "refund_failed",
            Outcome::Enqueued => "enqueued",
            Outcome::EnqueueFailed => "enqueue_failed",
            Outcome::Delivered => "delivered",
            Outcome::Failed => "failed",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Dropped => "dropped",
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
        }
    }

    /// The outcome of a state-machine decision.
    pub fn of_transition(t: Transition) -> Self {
        match t {
            Transition::Advance(_) => Outcome::Accepted,
            Transition::LatePayment(_) => Outcome::LatePayment,
            Transition::Same => Outcome::Duplicate,
            Transition::Stale => Outcome::Stale,
            Transition::Conflict => Outcome::Conflict,
            Transition::Unrecognized => Outcome::Unrecognized,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_outcomes_keep_their_stored_names() {
        use checkout_core::codes::OrderStatus;
        let names: Vec<&str> = [
            Transition::Advance(OrderStatus::Paid),
            Transition::LatePayment(OrderStatus::Paid),
            Transition::Same,
            Transition::Stale,
            Transition::Conflict,
            Transition::Unrecognized,
        ]
        .into_iter()
        .map(|t| Outcome::of_transition(t).as_str())
        .collect();
        assert_eq!(
            names,
            [
                "accepted",
                "late_payment",
                "duplicate",
                "stale",
                "conflict",
                "unrecognized"
            ]
        );
    }
}
