//! Merchant notifications: one signed event per order state change, delivered at least once
//! over days, through a D1 outbox and a Cloudflare Queue.
//!
//! * **Outbox** ([`outbox_entry`], written by [`crate::transition`] in the same D1 batch as the
//!   status change, so a stored change always has its notification): a `webhook_outbox` row
//!   keyed by the event id, [`webhook::event_id`] of (order_no, new status, the order's new
//!   `status_seq`), so one state change has one id; the body (`data` = the order view after the
//!   change) is fixed at this point. Event `webhook`/`enqueued`, in the same batch.
//! * **Dispatch** ([`dispatch`], right after the batch): a queue message naming the row. If the
//!   Worker dies before sending it, or the send fails, the row is still there: the cron
//!   ([`sweep`]) sends a message for every pending row whose attempt has been due for
//!   [`STUCK_AFTER_MS`] without a consumer claiming it.
//! * **Deliver** ([`consume`], queue `trustpay-merchant-webhooks`): the consumer claims the
//!   attempt on the row first (a conditional update: only a pending row whose attempt is due,
//!   so a duplicate message never posts twice at once), then POSTs to `MERCHANT_WEBHOOK_URL`
//!   with `webhook-id`, `webhook-timestamp` (the attempt's time) and `webhook-signature` (one
//!   `v1,` signature per configured secret). 2xx: `delivered`. Anything else: `failed`, and the
//!   next attempt is due after the next delay of `MERCHANT_WEBHOOK_RETRY_SCHEDULE` (default 12
//!   attempts over ~3.2 days); the message is retried with that delay, in hops of at most 12 h
//!   (the most one queue message can wait). A message that arrives before its row's attempt is
//!   due waits again; one for a delivered or dead row is dropped.
//! * **Dead**: when the last attempt of the schedule fails, the row is `dead` (event
//!   `dead_lettered`). `GET /v1/admin/webhooks?state=dead` lists dead rows and
//!   `POST /v1/admin/webhooks/{id}/replay` makes one pending again.
//!
//! Every attempt is an `order_events` row (`source = webhook`, `detail` starting with the event
//! id). Receivers deduplicate on `webhook-id`: at-least-once means a crash after a 2xx but
//! before it was recorded sends that event again.

use std::pin::pin;
use std::time::Duration;

use checkout_core::webhook;
use futures_util::future::{Either, select};
use serde::{Deserialize, Serialize};
use worker::{
    AbortController, Context, Delay, Env, Fetch, Headers, Message, MessageBatch, MessageBuilder,
    MessageExt, Method, QueueRetryOptionsBuilder, Request, RequestInit, event,
};

use crate::config::WebhookConfig;
use crate::ctx::Ctx;
use crate::error::EdgeError;
use crate::event::{Outcome, Source};
use crate::http;
use crate::log::Log;
use crate::store::{Finished, NewEvent, NewOutbox, OrderRow, Store};
use crate::view::view;

/// The producer binding.
pub const QUEUE_BINDING: &str = "MERCHANT_WEBHOOKS";
/// How long a pending row's attempt may be overdue, unclaimed, before the cron assumes its
/// queue message is lost and sends another.
pub const STUCK_AFTER_MS: i64 = 5 * 60 * 1000;
/// A message may claim an attempt due this much later (clocks and delays are not exact).
const CLAIM_SLACK_MS: i64 = 1_000;
/// Stuck rows the cron re-sends per run.
const SWEEP_BATCH: u32 = 100;

/// One queued notification: the outbox row to deliver.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    /// The event id (`webhook-id`), the outbox row's key.
    pub id: String,
    /// The order.
    pub order_no: String,
}

/// The outbox row announcing the state `after` (the order as the change leaves it); `None`
/// when notifications are off.
pub fn outbox_entry(ctx: &Ctx, after: &OrderRow, now: i64) -> Option<NewOutbox> {
    ctx.config().ok()?.webhook.as_ref()?;
    let order = view(after).ok()?;
    let id = webhook::event_id(&after.order_no, order.status.code(), after.status_seq);
    Some(NewOutbox {
        kind: webhook::event_type(&order.state),
        body: webhook::event_body(&id, now / 1000, &order),
        id,
    })
}

/// [`outbox_entry`] for a change of one attempt of a merchant order with several (`before` /
/// `after`: every attempt, the changed one before and after the change). The notification is
/// about the merchant order: `data` is the merchant view (`order_no` = the merchant number,
/// the derived state) plus `attempt` (the attempt that decides it) and `duplicate_payment`.
/// Its type is `order.duplicate_payment` when this change paid a second attempt, else
/// `order.<state>`; `None` when the merchant order's state and deciding attempt stay the same
/// and the change was to another attempt (e.g. an extra attempt refunded), or notifications
/// are off. A change of the deciding attempt is always told (a second partial refund leaves
/// the state `partially_refunded` but changes the refunded amount), as for a single attempt. The id is that of the
/// attempt's change (its TrustPay number, status and `status_seq`).
pub fn attempt_outbox_entry(
    ctx: &Ctx,
    changed: &OrderRow,
    before: &[OrderRow],
    after: &[OrderRow],
    now: i64,
) -> Option<NewOutbox> {
    ctx.config().ok()?.webhook.as_ref()?;
    let (_, was) = crate::view::merchant(before).ok()?;
    let (_, is) = crate::view::merchant(after).ok()?;
    let kind = if is.duplicate_payment && !was.duplicate_payment {
        "order.duplicate_payment".to_owned()
    } else if (was.state, was.attempt) == (is.state, is.attempt)
        && changed.attempt_no() != is.attempt
    {
        // Another attempt changed (e.g. an extra one refunded): the merchant order didn't.
        return None;
    } else {
        webhook::event_type(is.state.as_str())
    };
    let order = crate::view::merchant_view(after).ok()?;
    let id = webhook::event_id(&changed.order_no, changed.status, changed.status_seq);
    let mut body: serde_json::Value =
        serde_json::from_str(&webhook::event_body(&id, now / 1000, &order)).ok()?;
    body["type"] = kind.clone().into();
    body["data"]["attempt"] = is.attempt.into();
    body["data"]["duplicate_payment"] = is.duplicate_payment.into();
    Some(NewOutbox {
        kind,
        body: body.to_string(),
        id,
    })
}

async fn send(ctx: &Ctx, notes: &[Notification]) -> Result<(), String> {
    let queue = ctx
        .env()
        .queue(QUEUE_BINDING)
        .map_err(|e| format!("no queue binding {QUEUE_BINDING}: {e}"))?;
    match notes {
        [one] => queue.send(one).await.map_err(|e| e.to_string()),
        many => queue
            .send_batch(many.to_vec())
            .await
            .map_err(|e| e.to_string()),
    }
}

/// Sends the queue message of an outbox row that was just written. A failure is logged and
/// recorded, never raised: the row is stored, and the cron sends it later.
pub async fn dispatch(ctx: &Ctx, store: &Store, order_no: &str, entry: &NewOutbox) {
    let note = Notification {
        id: entry.id.clone(),
        order_no: order_no.to_owned(),
    };
    let Err(e) = send(ctx, std::slice::from_ref(&note)).await else {
        return;
    };
    ctx.log.error(
        "webhook_enqueue_failed",
        &[("order_no", order_no.into()), ("detail", e.into())],
    );
    let event = NewEvent {
        order_no: Some(order_no),
        source: Source::Webhook,
        outcome: Outcome::EnqueueFailed,
        status_from: None,
        status_to: None,
        detail: Some(format!("{} {} (the cron sends it)", entry.id, entry.kind)),
    };
    if let Err(e) = store.append_event(event, ctx.now_ms).await {
        ctx.log
            .error("webhook_event_lost", &[("detail", e.to_string().into())]);
    }
}

/// Sends the queue message of an outbox row again (an admin's replay).
pub async fn resend(ctx: &Ctx, id: &str, order_no: &str) -> Result<(), EdgeError> {
    let note = Notification {
        id: id.to_owned(),
        order_no: order_no.to_owned(),
    };
    send(ctx, &[note])
        .await
        .map_err(|e| EdgeError::Storage(format!("queue send: {e}")))
}

/// The cron's part: sends a message for every pending row whose attempt has been due for
/// [`STUCK_AFTER_MS`] with no consumer claiming it (its message was never sent, or was lost);
/// the number of rows re-sent. Each row picked is marked due now, so the next run leaves it
/// alone for as long again.
pub async fn sweep(ctx: &Ctx, store: &Store) -> Result<usize, EdgeError> {
    if ctx.config()?.webhook.is_none() {
        return Ok(0);
    }
    let now = ctx.now_ms;
    let stuck = store
        .take_stuck_outbox(now - STUCK_AFTER_MS, now, SWEEP_BATCH)
        .await?;
    if stuck.is_empty() {
        return Ok(0);
    }
    let notes: Vec<Notification> = stuck
        .into_iter()
        .map(|(id, order_no)| Notification { id, order_no })
        .collect();
    send(ctx, &notes)
        .await
        .map_err(|e| EdgeError::Storage(format!("queue send: {e}")))?;
    for note in &notes {
        ctx.log.warn(
            "webhook_resent",
            &[
                ("order_no", note.order_no.as_str().into()),
                ("id", note.id.as_str().into()),
            ],
        );
    }
    Ok(notes.len())
}

/// One delivery attempt: `Ok(status)` for an HTTP answer, `Err` for no answer.
async fn post(config: &WebhookConfig, id: &str, body: &str, timestamp: i64) -> Result<u16, String> {
    let headers = Headers::new();
    let set = |name: &str, value: &str| headers.set(name, value).map_err(|e| e.to_string());
    set("Content-Type", "application/json")?;
    set(
        "User-Agent",
        concat!("trustpay-checkout-edge/", env!("CARGO_PKG_VERSION")),
    )?;
    for (name, value) in webhook::headers(id, timestamp, body.as_bytes(), &config.secrets) {
        set(name, &value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.to_owned().into()));
    let request = Request::new_with_init(&config.url, &init).map_err(|e| e.to_string())?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let mut response = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(|e| e.to_string())?;
        let _ = response.bytes().await;
        Ok::<_, String>(response.status_code())
    };
    let timeout = Delay::from(Duration::from_millis(u64::from(config.timeout_ms)));
    match select(pin!(exchange), pin!(timeout)).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(((), _)) => {
            controller.abort();
            Err(format!("timeout after {} ms", config.timeout_ms))
        }
    }
}

/// What to do with a message after [`deliver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Acknowledge it: delivered, dead, or a duplicate of a row that needs no message.
    Ack,
    /// Deliver it again after this many seconds.
    RetryIn(u32),
}

fn webhook_event(order_no: &str, outcome: Outcome, detail: String) -> NewEvent<'_> {
    NewEvent {
        order_no: Some(order_no),
        source: Source::Webhook,
        outcome,
        status_from: None,
        status_to: None,
        detail: Some(detail),
    }
}

/// One message: claim the row's attempt, post, record the result.
async fn deliver(
    ctx: &Ctx,
    store: &Store,
    hook: Option<&WebhookConfig>,
    note: &Notification,
) -> Result<Next, EdgeError> {
    // This message's own time, not the batch's: a batch of slow deliveries must neither claim
    // with an expired lease nor sign with a stale `webhook-timestamp`.
    let now = i64::try_from(worker::Date::now().as_millis()).unwrap_or(i64::MAX);
    let lease = hook.map_or(0, |h| i64::from(h.timeout_ms));
    let Some(claim) = store
        .claim_delivery(
            &note.order_no,
            &note.id,
            now + CLAIM_SLACK_MS,
            now + lease,
            now,
        )
        .await?
    else {
        // Not due yet (a long delay taken in hops, or a duplicate message), or nothing to do.
        return Ok(match store.outbox_row(&note.order_no, &note.id).await? {
            Some(row) if row.state == crate::store::OutboxState::Pending => Next::RetryIn(
                webhook::queue_delay_secs((row.next_attempt_at - now + 999) / 1000),
            ),
            Some(_) | None => Next::Ack,
        });
    };
    let order_no = claim.order_no.as_str();
    let Some(hook) = hook else {
        let detail = format!("{} MERCHANT_WEBHOOK_URL unset", note.id);
        let events = [webhook_event(order_no, Outcome::Dropped, detail)];
        store
            .finish_delivery(
                &note.order_no,
                &note.id,
                Finished::Dead,
                "no endpoint",
                &events,
                now,
            )
            .await?;
        return Ok(Next::Ack);
    };
    let attempt = u32::try_from(claim.attempts).unwrap_or(u32::MAX);
    let outcome = post(hook, &note.id, &claim.body, now / 1000).await;
    let (delivered, result) = match &outcome {
        Ok(status) => ((200..300).contains(status), format!("http={status}")),
        Err(e) => (false, format!("error={e}")),
    };
    ctx.log.info(
        "webhook_attempt",
        &[
            ("order_no", order_no.into()),
            ("id", note.id.as_str().into()),
            ("attempt", attempt.into()),
            ("delivered", delivered.into()),
            ("result", result.clone().into()),
        ],
    );
    let detail = format!("{} attempt={attempt} {result}", note.id);
    if delivered {
        let events = [webhook_event(order_no, Outcome::Delivered, detail)];
        store
            .finish_delivery(
                &note.order_no,
                &note.id,
                Finished::Delivered,
                &result,
                &events,
                now,
            )
            .await?;
        return Ok(Next::Ack);
    }
    let failed = webhook_event(order_no, Outcome::Failed, detail);
    match hook.retry_schedule.delay_after(attempt) {
        Some(delay) => {
            let at = now + i64::from(delay) * 1000;
            store
                .finish_delivery(
                    &note.order_no,
                    &note.id,
                    Finished::RetryAt(at),
                    &result,
                    &[failed],
                    now,
                )
                .await?;
            Ok(Next::RetryIn(webhook::queue_delay_secs(i64::from(delay))))
        }
        None => {
            let dead = webhook_event(
                order_no,
                Outcome::DeadLettered,
                format!("{} after {attempt} attempts", note.id),
            );
            store
                .finish_delivery(
                    &note.order_no,
                    &note.id,
                    Finished::Dead,
                    &result,
                    &[failed, dead],
                    now,
                )
                .await?;
            ctx.log.error(
                "webhook_dead",
                &[
                    ("order_no", order_no.into()),
                    ("id", note.id.as_str().into()),
                ],
            );
            Ok(Next::Ack)
        }
    }
}

/// Hands a message on to its next attempt `secs` from now: a new message with that delay (so
/// a schedule of any length never meets the queue's own retry limit), then this one is acked;
/// if the send fails, this one is retried with the delay instead.
async fn later(ctx: &Ctx, message: &Message<Notification>, secs: u32) {
    let next = MessageBuilder::new(message.body().clone())
        .delay_seconds(secs)
        .build();
    let sent = match ctx.env().queue(QUEUE_BINDING) {
        Ok(queue) => queue.send(next).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match sent {
        Ok(()) => message.ack(),
        Err(_) => message.retry_with_options(
            &QueueRetryOptionsBuilder::new()
                .with_delay_seconds(secs)
                .build(),
        ),
    }
}

/// The queue consumer. Each message is settled by [`deliver`]; a storage failure retries it
/// with the queue's default delay (the row, not the message, holds the state: a message the
/// queue gives up on leaves its row pending, and the cron sends another).
#[event(queue)]
pub async fn consume(
    batch: MessageBatch<Notification>,
    env: Env,
    _context: Context,
) -> worker::Result<()> {
    let ctx = Ctx::new(env, Log::new(http::new_request_id()));
    let (store, config) = match (ctx.store(), ctx.config()) {
        (Ok(store), Ok(config)) => (store, config),
        (Err(_), _) | (_, Err(_)) => {
            batch.retry_all();
            return Ok(());
        }
    };
    for message in batch.messages()? {
        let note = message.body();
        match deliver(&ctx, &store, config.webhook.as_ref(), note).await {
            Ok(Next::Ack) => message.ack(),
            Ok(Next::RetryIn(secs)) => later(&ctx, &message, secs).await,
            Err(e) => {
                ctx.log.error(
                    "webhook_delivery_failed",
                    &[
                        ("order_no", note.order_no.as_str().into()),
                        ("id", note.id.as_str().into()),
                        ("detail", e.to_string().into()),
                    ],
                );
                message.retry();
            }
        }
    }
    Ok(())
}
