//! `POST /v1/trustpay/callback`: TrustPay's payment notifications.
//!
//! The raw body is read first and verified by core (every allowed rendering); only then is it
//! trusted. The first callback of a fresh order is decided and stored in one D1 round trip
//! ([`transition::apply_if_fresh`]); any other is decided on the order as read in that same
//! round trip, and stored with a second. The order must exist, and the callback must be a pay-in (`type` 0) matching its
//! `merchant_id` and `order_amount` (core's `check_order`); the transition is core's state
//! machine, applied with a conditional update. Every *signed* callback, refused ones included
//! (unknown order, mismatch), is appended to `order_events`; an unsigned, badly signed or
//! malformed body writes nothing at all (one `callback_refused` log line with its reason), so a
//! flood of forged callbacks costs a parse (at most 64 KiB and
//! [`checkout_core::sign::MAX_FIELDS`] keys) and a few MD5s, never a D1 write. Answers: 200 `{}` once stored (duplicates, stale
//! and conflicting statuses too: a retry would not change anything); 401 bad or missing
//! sign; 400 malformed; 404 unknown order; 409 mismatch, or `order_in_progress` for an order
//! whose creation at TrustPay we haven't completed (no shopper of ours has its pay page: the
//! callback may be about someone else's order under our number; TrustPay retries). Refusals change no order.
//! The `Content-Type` is not checked: the signature decides, and refusing a correctly signed
//! callback over a header would only make TrustPay retry it.

use checkout_core::callback::{ExpectedOrder, OrderMismatch, verify_callback};
use checkout_core::codes::OrderStatus;
use checkout_core::order_no::OrderNo;
use checkout_core::wire::CALLBACK_ACK_BODY;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::EdgeError;
use crate::event::{Outcome, Source};
use crate::http;
use crate::store::{NewEvent, Store};
use crate::transition::{self, Applied, FirstTry, Incoming};

/// Handles one callback.
pub async fn receive(mut req: Request, ctx: &Ctx) -> Result<Response, EdgeError> {
    let body = http::read_body(&mut req).await?;
    let config = ctx.config()?;
    let store = ctx.store()?;
    let now = ctx.now_ms;

    let verified = match verify_callback(&body, &config.trustpay_secret) {
        Ok(verified) => verified,
        Err(e) => {
            // Nothing unverified is stored: not even the order number it claims.
            ctx.log
                .warn("callback_refused", &[("reason", e.code().into())]);
            return Err(e.into());
        }
    };
    let callback = &verified.callback;
    let order_no = callback.order_no.as_str();
    // The common case (the first callback of a fresh order) is decided and written in one
    // round trip; anything else was read in that same round trip and is decided below.
    let attempts = match transition::apply_if_fresh(ctx, &store, &verified, now).await? {
        FirstTry::Applied(applied) => return stored(ctx, order_no, callback.status, applied),
        FirstTry::Read(attempts) => attempts,
    };
    let Some(row) = attempts.iter().find(|r| r.order_no == order_no) else {
        let known = OrderNo::parse(order_no).ok().map(|o| o.as_str().to_owned());
        record_refusal(
            &store,
            known.as_deref(),
            Outcome::UnknownOrder,
            Some(callback.status.code()),
            now,
        )
        .await?;
        ctx.log.warn(
            "callback_refused",
            &[
                ("reason", "unknown_order".into()),
                ("order_no", order_no.into()),
            ],
        );
        return Err(EdgeError::CallbackUnknownOrder);
    };
    let expected = ExpectedOrder {
        merchant_id: row.merchant_id,
        amount: row.amount()?,
        currency: row.currency()?,
    };
    if let Err(mismatch) = callback.check_order(&expected) {
        let outcome = match mismatch {
            OrderMismatch::NotPayin { .. } => Outcome::NotPayin,
            OrderMismatch::Merchant { .. }
            | OrderMismatch::Amount { .. }
            | OrderMismatch::Currency { .. }
            | OrderMismatch::Missing(_) => Outcome::Mismatch,
        };
        let event = NewEvent {
            order_no: Some(order_no),
            source: Source::Callback,
            outcome,
            status_from: Some(row.status),
            status_to: Some(callback.status.code()),
            detail: Some(mismatch.to_string()),
        };
        store.append_event(event, now).await?;
        ctx.log.warn(
            "callback_refused",
            &[
                ("reason", outcome.as_str().into()),
                ("order_no", order_no.into()),
                ("detail", mismatch.to_string().into()),
            ],
        );
        return Err(mismatch.into());
    }

    if row.pay_url.is_none() && row.create_refused.is_none() {
        // We are still creating it (or gave up before TrustPay answered): no shopper of ours
        // has its pay page, so nobody of ours paid it. If TrustPay holds someone else's order
        // under this number, its callback must not pay ours; a retry after our create tells.
        let event = NewEvent {
            order_no: Some(order_no),
            source: Source::Callback,
            outcome: Outcome::NotCreated,
            status_from: Some(row.status),
            status_to: Some(callback.status.code()),
            detail: None,
        };
        store.append_event(event, now).await?;
        ctx.log.warn(
            "callback_refused",
            &[
                ("reason", Outcome::NotCreated.as_str().into()),
                ("order_no", order_no.into()),
            ],
        );
        return Err(EdgeError::OrderInProgress);
    }

    let incoming = Incoming::from_callback(&verified);
    let applied = transition::apply_to_attempts(
        ctx,
        &store,
        order_no,
        attempts,
        &incoming,
        Source::Callback,
        now,
    )
    .await?;
    stored(ctx, order_no, callback.status, applied)
}

/// The answer to a stored callback (and its log line).
fn stored(
    ctx: &Ctx,
    order_no: &str,
    status: OrderStatus,
    applied: Applied,
) -> Result<Response, EdgeError> {
    ctx.log.info(
        "callback_stored",
        &[
            ("order_no", order_no.into()),
            ("status", status.code().into()),
            ("outcome", applied.outcome.as_str().into()),
        ],
    );
    http::raw_json(200, CALLBACK_ACK_BODY.as_bytes().to_vec())
}

async fn record_refusal(
    store: &Store,
    order_no: Option<&str>,
    outcome: Outcome,
    status_to: Option<i64>,
    now: i64,
) -> Result<(), EdgeError> {
    let event = NewEvent {
        order_no,
        source: Source::Callback,
        outcome,
        status_from: None,
        status_to,
        detail: None,
    };
    store.append_event(event, now).await
}
