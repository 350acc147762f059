//! Applying a status TrustPay reported (callback or order query) to a stored order.
//!
//! The decision is core's [`state::apply_progress`] (refund-aware); this module makes it stick
//! with a conditional update on the row's version (`status_seq`), re-reading and deciding
//! again when a concurrent writer got there first, and appends exactly one event describing
//! the outcome. Callers check first that the message is about *our* order (core's
//! `check_order`); an order TrustPay refused to create for us is never changed here.
//!
//! An attempt of a merchant order with several is decided with every attempt in view, and its
//! change is also conditional on the merchant order's version (`merchant_seq`, on attempt 1's
//! row): two attempts paid at the same instant can't both be decided on a view that misses the
//! other (the loser re-reads, sees a duplicate payment, and says so).
//!
//! D1 round trips: a change is one batch (conditional update + its event + the merchant
//! notification's outbox row and `enqueued` event, all or nothing: [`Store::change_status_numbered`]);
//! a decision that changes nothing is one event insert. A lost race costs one re-read (every
//! attempt, one statement) and another attempt. The first callback of a fresh order is decided
//! on the row as creating it left it and written in the same single batch, conditional on every
//! fact the decision read ([`apply_if_fresh`]): one round trip in all. After a change won: one
//! Durable Object call ([`live::notify`], with the row the batch returned, no re-read) and one
//! queue send ([`notify::dispatch`]).

use checkout_core::callback::{ExpectedOrder, QueryMatch, VerifiedCallback};
use checkout_core::codes::{OrderStatus, TransactionType};
use checkout_core::money::{Amount, Currency};
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
use crate::store::{
    Fresh, FreshOutbox, MerchantSeq, NewEvent, NewOutbox, NewRefund, OrderRow, Reserved,
    StatusChange, Store,
};
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
/// ([`notify::dispatch`]). An attempt of a merchant order with several is decided with all of
/// them in view (one more read).
pub async fn apply(
    ctx: &Ctx,
    store: &Store,
    row: OrderRow,
    incoming: &Incoming,
    source: Source,
    now: i64,
) -> Result<Applied, EdgeError> {
    let order_no = row.order_no.clone();
    let attempts = store.siblings(&row).await?;
    apply_to_attempts(ctx, store, &order_no, attempts, incoming, source, now).await
}

/// [`apply`] to the attempt `order_no`, given every attempt of its merchant order as just
/// read (`attempts`, it among them). The change is written only while neither the attempt
/// nor its merchant order changed since ([`MerchantSeq`]); otherwise every attempt is read
/// again (one statement) and the decision taken again.
pub async fn apply_to_attempts(
    ctx: &Ctx,
    store: &Store,
    order_no: &str,
    mut attempts: Vec<OrderRow>,
    incoming: &Incoming,
    source: Source,
    now: i64,
) -> Result<Applied, EdgeError> {
    for _ in 0..MAX_ATTEMPTS {
        let vanished = || EdgeError::Storage(format!("order {order_no} vanished"));
        let row = attempts
            .iter()
            .find(|r| r.order_no == order_no)
            .cloned()
            .ok_or_else(vanished)?;
        let first = attempts
            .iter()
            .find(|r| r.merchant_order_no.is_none())
            .ok_or_else(vanished)?;
        let merchant = MerchantSeq {
            first: &first.order_no,
            seq: first.merchant_seq,
        };
        if row.create_refused.is_some() {
            // TrustPay holds someone else's order under this number: nothing it says about
            // that order is about ours.
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
        let current = row.status();
        let transition = state::apply_progress(stored_progress(&row), incoming.progress());
        let outcome = change_outcome(&row, transition, incoming);
        let event = NewEvent {
            order_no: Some(&row.order_no),
            source,
            outcome,
            status_from: Some(current.code()),
            status_to: Some(incoming.status.code()),
            detail: incoming.detail.clone(),
        };
        let Some(next) = transition.new_status() else {
            store.append_event(event, now).await?;
            return Ok(Applied {
                outcome,
                changed: false,
            });
        };
        let change = status_change(&row, next, transition, incoming);
        let applied = change.applied_to(&row, now);
        // An attempt of a merchant order with several is reported as the merchant order.
        let several = attempts.len() > 1;
        let after_change = replaced(&attempts, &applied);
        let outbox = if several {
            notify::attempt_outbox_entry(ctx, &applied, &attempts, &after_change, now)
        } else {
            notify::outbox_entry(ctx, &applied, now)
        };
        let Some(after) = store
            .change_status_numbered(order_no, change, merchant, &event, outbox.as_ref(), now)
            .await?
        else {
            // Someone changed the attempt or another attempt since we read them (nothing was
            // written): read them again and decide again.
            ctx.log.info(
                "update_race_lost",
                &[
                    ("order_no", order_no.into()),
                    ("merchant_order_no", merchant.first.into()),
                ],
            );
            attempts = store.order_with_attempts(order_no).await?;
            continue;
        };
        if several {
            let now_rows = replaced(&attempts, &after);
            live::notify_attempts(ctx, &now_rows).await;
            refund_duplicates(ctx, store, &attempts, &now_rows).await;
        } else {
            live::notify(ctx, &after).await;
        }
        if let Some(entry) = &outbox {
            notify::dispatch(ctx, store, &after.order_no, entry).await;
        }
        return Ok(Applied {
            outcome,
            changed: true,
        });
    }
    Err(EdgeError::Storage(format!(
        "order {order_no}: lost {MAX_ATTEMPTS} update races"
    )))
}

/// What [`apply_if_fresh`] did.
#[derive(Debug, Clone)]
pub enum FirstTry {
    /// The order was fresh: `incoming` is applied (one round trip).
    Applied(Applied),
    /// It was not, or doesn't exist: nothing written; every attempt of its merchant order as
    /// read in the same round trip (empty: unknown order), for [`apply_to_attempts`].
    Read(Vec<OrderRow>),
}

/// The first callback of an order in one D1 round trip (source `callback`): decides on the row as creating it
/// left it (pending, version 0, nothing paid or refunded, its merchant order's only attempt,
/// `merchant_id` and `amount` as the verified message says) and writes the change, event and
/// outbox row conditional on every one of those facts ([`Store::change_if_fresh`]). When the
/// row was as assumed, the outcome is the one [`apply_to_attempts`] reaches on the row it
/// reads; when it was not, nothing is written and the caller decides on what was read.
pub async fn apply_if_fresh(
    ctx: &Ctx,
    store: &Store,
    verified: &VerifiedCallback,
    now: i64,
) -> Result<FirstTry, EdgeError> {
    let callback = &verified.callback;
    let order_no = callback.order_no.as_str();
    match callback.r#type {
        TransactionType::Payin => {}
        // Refused by `check_order` on the row: read it.
        TransactionType::Payout | TransactionType::Unknown(_) => {
            return Ok(FirstTry::Read(store.order_with_attempts(order_no).await?));
        }
    }
    let (merchant_id, amount) = (callback.merchant_id, callback.order_amount);
    let incoming = &Incoming::from_callback(verified);
    let source = Source::Callback;
    // Only the fields the decision, the event and the notification read matter; the batch
    // pins each of them. The rest stay empty: this row is never written.
    let assumed = OrderRow {
        order_no: order_no.to_owned(),
        amount_minor: amount.minor(),
        currency: String::new(),
        merchant_id,
        status: OrderStatus::Pending.code(),
        pay_url: None,
        platform_order_no: None,
        creating_until: 0,
        paid_amount_minor: None,
        refund_amount_minor: None,
        fee_minor: None,
        late_payment: 0,
        last_query_at: None,
        created_at: 0,
        updated_at: 0,
        status_seq: 0,
        refund_count: None,
        create_refused: None,
        merchant_order_no: None,
        attempt: 1,
        attempts: 1,
        merchant_seq: 0,
        live_until: 0,
    };
    let transition = state::apply_progress(stored_progress(&assumed), incoming.progress());
    let Some(next) = transition.new_status() else {
        // Nothing to write even for a fresh order (e.g. "still pending"): just read.
        return Ok(FirstTry::Read(store.order_with_attempts(order_no).await?));
    };
    let outcome = change_outcome(&assumed, transition, incoming);
    let event = NewEvent {
        order_no: Some(order_no),
        source,
        outcome,
        status_from: Some(assumed.status),
        status_to: Some(incoming.status.code()),
        detail: incoming.detail.clone(),
    };
    let change = status_change(&assumed, next, transition, incoming);
    let applied = change.applied_to(&assumed, now);
    let mut outbox: Option<FreshOutbox> = None;
    for currency in Currency::ALL {
        let in_currency = OrderRow {
            currency: currency.code().to_owned(),
            ..applied.clone()
        };
        if let Some(entry) = notify::outbox_entry(ctx, &in_currency, now) {
            let fresh = outbox.get_or_insert_with(|| FreshOutbox {
                id: entry.id.clone(),
                kind: entry.kind.clone(),
                bodies: Vec::new(),
            });
            fresh.bodies.push((currency.code(), entry.body));
        }
    }
    let written = store
        .change_if_fresh(
            order_no,
            merchant_id,
            amount.minor(),
            change,
            &event,
            outbox.as_ref(),
            now,
        )
        .await?;
    let after = match written {
        Fresh::Changed(after) => *after,
        Fresh::Read(attempts) => return Ok(FirstTry::Read(attempts)),
    };
    live::notify(ctx, &after).await;
    let sent = outbox.and_then(|fresh| {
        let body = fresh
            .bodies
            .into_iter()
            .find(|(code, _)| *code == after.currency)?
            .1;
        Some(NewOutbox {
            id: fresh.id,
            kind: fresh.kind,
            body,
        })
    });
    if let Some(entry) = &sent {
        notify::dispatch(ctx, store, &after.order_no, entry).await;
    }
    Ok(FirstTry::Applied(Applied {
        outcome,
        changed: true,
    }))
}

/// The change `transition` (to `next`) makes to `row`.
fn status_change(
    row: &OrderRow,
    next: OrderStatus,
    transition: Transition,
    incoming: &Incoming,
) -> StatusChange {
    StatusChange {
        seq: row.status_seq,
        to: next.code(),
        refund_count: incoming.refund_count.and_then(|n| i64::try_from(n).ok()),
        paid_minor: incoming.paid.map(Amount::minor),
        refund_minor: incoming.refund.map(Amount::minor),
        fee_minor: incoming.fee.map(Amount::minor),
        late_payment: matches!(transition, Transition::LatePayment(_)),
    }
}

/// `rows` with the one of `by`'s order number replaced by `by`.
fn replaced(rows: &[OrderRow], by: &OrderRow) -> Vec<OrderRow> {
    rows.iter()
        .map(|r| {
            if r.order_no == by.order_no {
                by.clone()
            } else {
                r.clone()
            }
        })
        .collect()
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
        // Asked before (this refund is made or under way), or nothing is left to give back.
        Reserved::Exists(existing) if existing.order_no == row.order_no => return Ok(()),
        Reserved::Exceeds => return Ok(()),
        // The number derived from this order is another order's (a merchant chose it): the
        // duplicate payment stays unrefunded, so say so where the merchant looks.
        Reserved::Exists(_) | Reserved::Taken => {
            ctx.log.warn(
                "duplicate_refund_number_taken",
                &[
                    ("order_no", row.order_no.as_str().into()),
                    ("merchant_refund_no", refund_no.as_str().into()),
                ],
            );
            return Ok(());
        }
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
        Ok(data) => {
            store
                .set_refund_status(&row.order_no, &refund_no, data.status)
                .await
        }
        Err(e) => {
            // A refusal means no refund exists: free the number (a timeout keeps it).
            if matches!(e, GatewayError::Rejected { .. }) {
                store.delete_refund(&row.order_no, &refund_no).await?;
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
