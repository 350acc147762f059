//! Applying a status TrustPay reported (callback or order query) to a stored order.
//!
//! The decision is core's [`checkout_core::state::apply`]; this module makes it stick with a
//! conditional update, re-reading and deciding again when a concurrent writer got there
//! first, and appends exactly one event describing the outcome.

use checkout_core::codes::OrderStatus;
use checkout_core::money::Amount;
use checkout_core::state::{self, Transition};

use crate::error::EdgeError;
use crate::live;
use crate::notify;
use crate::routes::Ctx;
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

/// Core's refund-aware rule ([`state::apply_progress`]), ordered by the refunded total: a
/// late `refunding` (9) of a refund that a `partially refunded` (8) already completed must not
/// move the order back. The callbacks' `refund_amount` is the running total of the order's
/// refunds (each > 0), so it orders refunds exactly as their count does. Without both totals
/// this is the plain status rule.
fn decide(current: OrderStatus, stored_refund: Option<i64>, incoming: &Incoming) -> Transition {
    match (stored_refund, incoming.refund) {
        (Some(stored), Some(reported)) => {
            let progress = |status, minor: i64| state::Progress {
                status,
                refunds: usize::try_from(minor).unwrap_or(0),
            };
            state::apply_progress(
                progress(current, stored),
                progress(incoming.status, reported.minor()),
            )
        }
        _ => state::apply(current, incoming.status),
    }
}

/// Applies `incoming` to `row` and logs the event under `source`. Returns the outcome name.
/// A change that won is then pushed to the order's live-events object ([`live::notify`]) and
/// queued as a merchant notification ([`notify::enqueue`]).
pub async fn apply(
    ctx: &Ctx,
    store: &Store,
    mut row: OrderRow,
    incoming: &Incoming,
    source: &str,
    now: i64,
) -> Result<&'static str, EdgeError> {
    for _ in 0..MAX_ATTEMPTS {
        let current = row.status();
        let transition = decide(current, row.refund_amount_minor, incoming);
        let mut changed = None;
        if let Some(next) = transition.new_status() {
            let change = StatusChange {
                from: current.code(),
                to: next.code(),
                paid_minor: incoming.paid.map(Amount::minor),
                refund_minor: incoming.refund.map(Amount::minor),
                fee_minor: incoming.fee.map(Amount::minor),
                late_payment: matches!(transition, Transition::LatePayment(_)),
            };
            let Some(seq) = store
                .change_status_numbered(&row.order_no, change, now)
                .await?
            else {
                // Someone changed the row since we read it: read again and decide again.
                row = store.order(&row.order_no).await?.ok_or_else(|| {
                    EdgeError::Storage(format!("order {} vanished", row.order_no))
                })?;
                continue;
            };
            changed = Some(seq);
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
        if let Some(seq) = changed {
            live::notify(ctx, store, &row.order_no, seq).await;
            notify::enqueue(ctx, store, &row.order_no, seq, now).await;
        }
        return Ok(outcome);
    }
    Err(EdgeError::Storage(format!(
        "order {}: lost {MAX_ATTEMPTS} update races",
        row.order_no
    )))
}
