//! Applying a status TrustPay reported (callback or order query) to a stored order.
//!
//! The decision is core's [`checkout_core::state::apply`]; this module makes it stick with a
//! conditional update, re-reading and deciding again when a concurrent writer got there
//! first, and appends exactly one event describing the outcome.

use checkout_core::codes::OrderStatus;
use checkout_core::money::Amount;
use checkout_core::state::{self, Transition};

use crate::error::EdgeError;
use crate::store::{NewEvent, OrderRow, StatusChange, Store};

/// How many times a lost race is retried before giving up (the sender retries later).
const MAX_ATTEMPTS: usize = 4;

/// A reported status and the amounts that came with it.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The reported status.
    pub status: OrderStatus,
    /// Paid amount.
    pub paid: Option<Amount>,
    /// Refunded total.
    pub refund: Option<Amount>,
    /// Fee.
    pub fee: Option<Amount>,
    /// Short text for the event (e.g. TrustPay's `reason`).
    pub detail: Option<String>,
}

/// The event outcome name of a transition.
pub fn outcome_name(t: Transition) -> &'static str {
    match t {
        Transition::Advance(_) => "accepted",
        Transition::LatePayment(_) => "late_payment",
        Transition::Same => "duplicate",
        Transition::Stale => "stale",
        Transition::Conflict => "conflict",
        Transition::Unrecognized => "unrecognized",
    }
}

/// Applies `incoming` to `row` and logs the event under `source`. Returns the outcome name.
pub async fn apply(
    store: &Store,
    mut row: OrderRow,
    incoming: &Incoming,
    source: &str,
    now: i64,
) -> Result<&'static str, EdgeError> {
    for _ in 0..MAX_ATTEMPTS {
        let current = row.status();
        let transition = state::apply(current, incoming.status);
        if let Some(next) = transition.new_status() {
            let change = StatusChange {
                from: current.code(),
                to: next.code(),
                paid_minor: incoming.paid.map(Amount::minor),
                refund_minor: incoming.refund.map(Amount::minor),
                fee_minor: incoming.fee.map(Amount::minor),
                late_payment: matches!(transition, Transition::LatePayment(_)),
            };
            if !store.change_status(&row.order_no, change, now).await? {
                // Someone changed the row since we read it: read again and decide again.
                row = store.order(&row.order_no).await?.ok_or_else(|| {
                    EdgeError::Storage(format!("order {} vanished", row.order_no))
                })?;
                continue;
            }
        }
        let outcome = outcome_name(transition);
        let event = NewEvent {
            order_no: Some(&row.order_no),
            source,
            outcome,
            status_from: Some(current.code()),
            status_to: Some(incoming.status.code()),
            detail: incoming.detail.clone(),
        };
        store.append_event(event, now).await?;
        return Ok(outcome);
    }
    Err(EdgeError::Storage(format!(
        "order {}: lost {MAX_ATTEMPTS} update races",
        row.order_no
    )))
}
