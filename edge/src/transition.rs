//! Applying a status TrustPay reported (callback or order query) to a stored order.
//!
//! The decision is core's [`state::apply_progress`] (refund-aware); this module makes it stick
//! with a conditional update on the row's version (`status_seq`), re-reading and deciding
//! again when a concurrent writer got there first, and appends exactly one event describing
//! the outcome. Callers check first that the message is about *our* order (core's
//! `check_order`); an order TrustPay refused to create for us is never changed here.
//!
//! D1 round trips: a change is one batch (conditional update + its event + the merchant
//! notification's outbox row and `enqueued` event, all or nothing: [`Store::change_status_numbered`]);
//! a decision that changes nothing is one event insert. A lost race costs one re-read and
//! another attempt. After a change won: one Durable Object call ([`live::notify`], with the row
//! the batch returned, no re-read) and one queue send ([`notify::dispatch`]).

use checkout_core::callback::{ExpectedOrder, QueryMatch, VerifiedCallback};
use checkout_core::codes::OrderStatus;
use checkout_core::money::Amount;
use checkout_core::state::{self, OrderState, PaidAmount, Progress, Transition};
use checkout_core::wire::OrderQueryData;

use checkout_core::wire::RefundRequest;
use sha2::{Digest as _, Sha256};

use crate::config::Config;
use crate::ctx::Ctx;
use crate::error::EdgeError;
use crate::event::{Outcome, Source};
use crate::gateway::{Gateway, GatewayError};
use crate::live;
use crate::notify;
use crate::store::{NewEvent, NewRefund, OrderRow, Reserved, StatusChange, Store};
use crate::view;

/// How many times a lost race is retried before giving up (the sender retries later).
const MAX_ATTEMPTS: usize = 4;
/// Longest TrustPay `reason` text kept in an event.
const MAX_REASON_CHARS: usize = 100;

/// A reported status and the amounts that came with it.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The reported status.
    pub status: OrderStatus,
    /// Paid amount.
    pub paid: Option<Amount>,
    /// Refunded total.
    pub refund: Option<Amount>,
    /// Number of refunds listed (`merchant_refund_no[]`), when the message lists them.
    pub refund_count: Option<usize>,
    /// Fee.
    pub fee: Option<Amount>,
    /// Short text for the event (e.g. TrustPay's `reason`).
    pub detail: Option<String>,
}

impl Incoming {
    /// What a verified callback reports.
    pub fn from_callback(verified: &VerifiedCallback) -> Self {
        let callback = &verified.callback;
        Incoming {
            status: callback.status,
            paid: nonzero(callback.paid_amount),
            refund: callback.refund_amount,
            refund_count: callback.merchant_refund_no.as_ref().map(Vec::len),
            fee: callback.fee,
            detail: Some(format!(
                "reason={}; sign={:?}",
                truncate(&callback.reason, MAX_REASON_CHARS),
                verified.matched
            )),
        }
    }

    /// What an order query answer reports; `None` when it carries no status.
    pub fn from_query(data: &OrderQueryData) -> Option<Self> {
        Some(Incoming {
            status: data.status?,
            paid: nonzero(data.paid_amount),
            refund: data.refund_amount,
            refund_count: None,
            fee: data.fee,
            detail: data
                .reason
                .as_deref()
                .filter(|r| !r.is_empty())
                .map(|r| truncate(r, MAX_REASON_CHARS)),
        })
    }

    fn progress(&self) -> Progress {
        Progress {
            status: self.status,
            refunds: self.refund_count,
            refunded: self.refund.map_or(0, Amount::minor),
        }
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The event outcome recorded.
    pub outcome: Outcome,
    /// Whether the stored status changed.
    pub changed: bool,
}

fn stored_progress(row: &OrderRow) -> Progress {
    Progress {
        status: row.status(),
        refunds: row.refund_count.and_then(|n| usize::try_from(n).ok()),
        refunded: row.refund_amount_minor.unwrap_or(0),
    }
}

/// The outcome to record for a decision that changed the status: core's paid rule decides
/// whether a payment counts (short: `underpaid`; over: `overpaid`, still paid).
fn change_outcome(row: &OrderRow, transition: Transition, incoming: &Incoming) -> Outcome {
    let Ok(amount) = row.amount() else {
        return Outcome::of_transition(transition);
    };
    let Some(next) = transition.new_status() else {
        return Outcome::of_transition(transition);
    };
    let paid = incoming
        .paid
        .or_else(|| row.paid_amount_minor.and_then(Amount::from_minor));
    match (
        OrderState::of(next, amount, paid),
        PaidAmount::compare(amount, paid),
    ) {
        (OrderState::Underpaid, _) => Outcome::Underpaid,
        (OrderState::Paid | OrderState::Settled, PaidAmount::Over { .. }) => Outcome::Overpaid,
        (
            OrderState::Pending
            | OrderState::Paid
            | OrderState::Settled
            | OrderState::Failed
            | OrderState::Expired
            | OrderState::Refunding
            | OrderState::PartiallyRefunded
            | OrderState::Refunded
            | OrderState::Unknown,
            PaidAmount::Full | PaidAmount::Short { .. } | PaidAmount::Over { .. },
        ) => Outcome::of_transition(transition),
    }
}

/// Applies `incoming` to `row` and logs the event under `source`. A change that won is written
/// with its merchant notification's outbox row ([`notify::outbox_entry`]), then pushed to the
/// order's live-events object ([`live::notify`]) and its notification sent to the queue
/// ([`notify::dispatch`]).
pub async fn apply(
    ctx: &Ctx,
    store: &Store,
    mut row: OrderRow,
    incoming: &Incoming,
    source: Source,
    now: i64,
) -> Result<Applied, EdgeError> {
    if row.create_refused.is_some() {
        // TrustPay holds someone else's order under this number: nothing it says about that
        // order is about ours.
        let event = NewEvent {
            order_no: Some(&row.order_no),
            source,
            outcome: Outcome::OrderNumberTaken,
            status_from: Some(row.status),
            status_to: Some(incoming.status.code()),
            detail: incoming.detail.clone(),
        };
        store.append_event(event, now).await?;
        return Ok(Applied {
            outcome: Outcome::OrderNumberTaken,
            changed: false,
        });
    }
    for _ in 0..MAX_ATTEMPTS {
        let current = row.status();
        let transition = state::apply_progress(stored_progress(&row), incoming.progress());
        if let Some(next) = transition.new_status() {
            let change = StatusChange {
                seq: row.status_seq,
                to: next.code(),
                refund_count: incoming.refund_count.and_then(|n| i64::try_from(n).ok()),
                paid_minor: incoming.paid.map(Amount::minor),
                refund_minor: incoming.refund.map(Amount::minor),
                fee_minor: incoming.fee.map(Amount::minor),
                late_payment: matches!(transition, Transition::LatePayment(_)),
            };
            let outcome = change_outcome(&row, transition, incoming);
            let event = NewEvent {
                order_no: Some(&row.order_no),
                source,
                outcome,
                status_from: Some(current.code()),
                status_to: Some(incoming.status.code()),
                detail: incoming.detail.clone(),
            };
            let applied = change.applied_to(&row, now);
            // An attempt of a merchant order with several: it is reported as the merchant order
            // (one more read, only for such orders).
            let attempts = if row.merchant_order_no.is_some() || row.attempts > 1 {
                Some(store.siblings(&row).await?)
            } else {
                None
            };
            let replaced = |rows: &[OrderRow], by: &OrderRow| -> Vec<OrderRow> {
                rows.iter()
                    .map(|r| {
                        if r.order_no == by.order_no {
                            by.clone()
                        } else {
                            r.clone()
                        }
                    })
                    .collect()
            };
            let outbox = match &attempts {
                Some(before) => notify::attempt_outbox_entry(
                    ctx,
                    &applied,
                    before,
                    &replaced(before, &applied),
                    now,
                ),
                None => notify::outbox_entry(ctx, &applied, now),
            };
            let Some(after) = store
                .change_status_numbered(&row.order_no, change, &event, outbox.as_ref(), now)
                .await?
            else {
                // Someone changed the row since we read it (nothing was written): read again
                // and decide again.
                row = store.order(&row.order_no).await?.ok_or_else(|| {
                    EdgeError::Storage(format!("order {} vanished", row.order_no))
                })?;
                continue;
            };
            match &attempts {
                Some(before) => {
                    let now_rows = replaced(before, &after);
                    live::notify_attempts(ctx, &now_rows).await;
                    refund_duplicates(ctx, store, before, &now_rows).await;
                }
                None => live::notify(ctx, &after).await,
            }
            if let Some(entry) = &outbox {
                notify::dispatch(ctx, store, &after.order_no, entry).await;
            }
            return Ok(Applied {
                outcome,
                changed: true,
            });
        }
        let outcome = change_outcome(&row, transition, incoming);
        let event = NewEvent {
            order_no: Some(&row.order_no),
            source,
            outcome,
            status_from: Some(current.code()),
            status_to: Some(incoming.status.code()),
            detail: incoming.detail.clone(),
        };
        store.append_event(event, now).await?;
        return Ok(Applied {
            outcome,
            changed: false,
        });
    }
    Err(EdgeError::Storage(format!(
        "order {}: lost {MAX_ATTEMPTS} update races",
        row.order_no
    )))
}

/// With `AUTO_REFUND_DUPLICATES`, when this change paid a second attempt of a merchant order
/// (`before` / `after`: its attempts), refunds every paid attempt other than the one that
/// decides the order, in full, through TrustPay's refund endpoint, under a refund number
/// derived from the attempt (so it is reserved once however often this runs). Failures are
/// logged and recorded as events, never raised: the change itself is stored.
async fn refund_duplicates(ctx: &Ctx, store: &Store, before: &[OrderRow], after: &[OrderRow]) {
    let Ok(config) = ctx.config() else {
        return;
    };
    if !config.auto_refund_duplicates {
        return;
    }
    let (Ok((_, was)), Ok((decides, is))) = (view::merchant(before), view::merchant(after)) else {
        return;
    };
    if !is.duplicate_payment || was.duplicate_payment {
        return;
    }
    let deciding = decides.order_no.clone();
    for extra in after.iter().filter(|r| r.order_no != deciding) {
        let paid = matches!(
            view::order_state(extra),
            Ok(OrderState::Paid | OrderState::Settled)
        );
        if !paid {
            continue;
        }
        if let Err(e) = refund_in_full(ctx, config, store, extra).await {
            ctx.log.error(
                "duplicate_refund_failed",
                &[
                    ("order_no", extra.order_no.as_str().into()),
                    ("detail", e.to_string().into()),
                ],
            );
        }
    }
}

/// Reserves and requests a full refund of `row` (a duplicate payment).
async fn refund_in_full(
    ctx: &Ctx,
    config: &Config,
    store: &Store,
    row: &OrderRow,
) -> Result<(), EdgeError> {
    const REASON: &str = "duplicate payment";
    let digest = Sha256::new()
        .chain_update(row.order_no.as_bytes())
        .chain_update([0u8])
        .chain_update(REASON.as_bytes())
        .finalize();
    let refund_no = format!("rf_{}", hex::encode(&digest[..12]));
    let amount = Amount::from_minor(row.paid_amount_minor.unwrap_or(row.amount_minor))
        .ok_or_else(|| EdgeError::Storage(format!("negative amount in {}", row.order_no)))?;
    let reservation = NewRefund {
        merchant_refund_no: &refund_no,
        order_no: &row.order_no,
        amount,
        reason: REASON,
        idempotency_key: None,
    };
    match store.reserve_refund(reservation, ctx.now_ms).await? {
        Reserved::Reserved => {}
        Reserved::Exists(_) | Reserved::Exceeds => return Ok(()),
    }
    let request = RefundRequest {
        order_no: row.order_no.clone(),
        merchant_refund_no: refund_no.clone(),
        refund_amount: amount,
        reason: REASON.to_owned(),
    };
    let result = Gateway::new(config, &ctx.log).call(&request).await;
    let (outcome, detail) = match &result {
        Ok(_) => (Outcome::RefundRequested, format!("{refund_no} {REASON}")),
        Err(e) => (
            Outcome::RefundFailed,
            format!("{refund_no} {REASON} {}", e.code().as_str()),
        ),
    };
    let event = NewEvent {
        order_no: Some(&row.order_no),
        source: Source::Admin,
        outcome,
        status_from: Some(row.status),
        status_to: None,
        detail: Some(detail),
    };
    store.append_event(event, ctx.now_ms).await?;
    match result {
        Ok(data) => store.set_refund_status(&refund_no, data.status).await,
        Err(e) => {
            // A refusal means no refund exists: free the number (a timeout keeps it).
            if matches!(e, GatewayError::Rejected { .. }) {
                store.delete_refund(&refund_no).await?;
            }
            Err(e.into())
        }
    }
}

/// Whether an order query answer is about our order (every field it carries matches); a
/// mismatch is recorded as an event and changes nothing.
pub async fn query_is_ours(
    ctx: &Ctx,
    store: &Store,
    row: &OrderRow,
    data: &OrderQueryData,
    source: Source,
) -> Result<bool, EdgeError> {
    let expected = ExpectedOrder {
        merchant_id: row.merchant_id,
        amount: row.amount()?,
        currency: row.currency()?,
    };
    let Err(mismatch) = data.check_order(&expected, QueryMatch::PresentFields) else {
        return Ok(true);
    };
    ctx.log.warn(
        "query_mismatch",
        &[
            ("order_no", row.order_no.as_str().into()),
            ("detail", mismatch.to_string().into()),
        ],
    );
    let event = NewEvent {
        order_no: Some(&row.order_no),
        source,
        outcome: Outcome::Mismatch,
        status_from: Some(row.status),
        status_to: data.status.map(OrderStatus::code),
        detail: Some(mismatch.to_string()),
    };
    store.append_event(event, ctx.now_ms).await?;
    Ok(false)
}

/// TrustPay drops zero amounts from what it signs ("zero is empty"); a paid amount of 0 (an
/// unpaid order's query answer) says nothing about a payment.
fn nonzero(amount: Option<Amount>) -> Option<Amount> {
    amount.filter(|a| !a.is_zero())
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
