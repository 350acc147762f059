//! Merchant notifications: one signed event per order state change, delivered through a
//! Cloudflare Queue (at-least-once).
//!
//! * **Enqueue** ([`enqueue`], called by [`crate::transition`] right after a status change won
//!   its conditional update): the event id is [`webhook::event_id`] of (order_no, new status,
//!   the order's `status_seq`), so one state change has one id; the body (`data` = the order
//!   view after the change) is fixed at this point. Event `webhook`/`enqueued`.
//! * **Deliver** ([`consume`], queue `trustpay-merchant-webhooks`): POST to
//!   `MERCHANT_WEBHOOK_URL` with `webhook-id`, `webhook-timestamp` (the attempt's time) and
//!   `webhook-signature` (one `v1,` signature per configured secret). 2xx acks
//!   (`delivered`); anything else is `failed` and retried after
//!   [`webhook::retry_delay_secs`]`(MERCHANT_WEBHOOK_RETRY_BASE_SECONDS, attempt)`.
//! * **Dead letter**: after `max_retries` (wrangler.toml) the runtime moves the message to
//!   `trustpay-merchant-webhooks-dlq`, whose consumer (this Worker too) records
//!   `dead_lettered` and acks.
//!
//! Every attempt is an `order_events` row (`source = webhook`, `detail` starting with the
//! event id). Not transactional with the status change: if the Worker dies between the
//! update and the enqueue, that notification is lost (logged as `enqueue_failed` when the
//! send itself fails). A D1 outbox would close that gap; see the README.

use std::pin::pin;
use std::time::Duration;

use checkout_core::webhook;
use futures_util::future::{Either, select};
use serde::{Deserialize, Serialize};
use worker::{
    AbortController, Context, Delay, Env, Fetch, Headers, MessageBatch, MessageExt, Method,
    QueueRetryOptionsBuilder, Request, RequestInit, event,
};

use crate::config::WebhookConfig;
use crate::ctx::Ctx;
use crate::event::{Outcome, Source};
use crate::http;
use crate::log::Log;
use crate::store::{NewEvent, OrderRow, Store};
use crate::view::view;

/// The producer binding.
pub const QUEUE_BINDING: &str = "MERCHANT_WEBHOOKS";
/// Queue names end with this for the dead-letter queue.
pub const DEAD_LETTER_SUFFIX: &str = "-dlq";

/// One queued notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    /// The event id (`webhook-id`).
    pub id: String,
    /// The order.
    pub order_no: String,
    /// `order.<state>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The exact JSON body to sign and send.
    pub body: String,
}

async fn record(
    store: &Store,
    order_no: &str,
    outcome: Outcome,
    status: Option<i64>,
    detail: String,
    now: i64,
    log: &Log,
) {
    let event = NewEvent {
        order_no: Some(order_no),
        source: Source::Webhook,
        outcome,
        status_from: None,
        status_to: status,
        detail: Some(detail),
    };
    if let Err(e) = store.append_event(event, now).await {
        log.error("webhook_event_lost", &[("detail", e.to_string().into())]);
    }
}

/// Queues the notification of a status change that just won (`seq` = the new `status_seq`).
/// Failures are logged and recorded, never raised: the change itself is already stored.
pub async fn enqueue(ctx: &Ctx, store: &Store, order_no: &str, seq: i64, now: i64) {
    let Ok(config) = ctx.config() else { return };
    if config.webhook.is_none() {
        return;
    }
    let row: OrderRow = match store.order(order_no).await {
        Ok(Some(row)) => row,
        Ok(None) | Err(_) => {
            ctx.log.error(
                "webhook_enqueue_failed",
                &[
                    ("order_no", order_no.into()),
                    ("detail", "order not readable".into()),
                ],
            );
            return;
        }
    };
    let Ok(order) = view(&row) else { return };
    let id = webhook::event_id(order_no, order.status.code(), seq);
    let notification = Notification {
        id: id.clone(),
        order_no: order_no.to_owned(),
        kind: webhook::event_type(&order.state),
        body: webhook::event_body(&id, now / 1000, &order),
    };
    let sent = match ctx.env().queue(QUEUE_BINDING) {
        Ok(queue) => queue.send(&notification).await.map_err(|e| e.to_string()),
        Err(e) => Err(format!("no queue binding {QUEUE_BINDING}: {e}")),
    };
    let status = Some(order.status.code());
    match sent {
        Ok(()) => {
            record(
                store,
                order_no,
                Outcome::Enqueued,
                status,
                format!("{id} {}", notification.kind),
                now,
                &ctx.log,
            )
            .await
        }
        Err(e) => {
            ctx.log.error(
                "webhook_enqueue_failed",
                &[("order_no", order_no.into()), ("detail", e.into())],
            );
            record(
                store,
                order_no,
                Outcome::EnqueueFailed,
                status,
                format!("{id} {}", notification.kind),
                now,
                &ctx.log,
            )
            .await;
        }
    }
}

/// One delivery attempt: `Ok(status)` for an HTTP answer, `Err` for no answer.
async fn post(config: &WebhookConfig, note: &Notification, timestamp: i64) -> Result<u16, String> {
    let headers = Headers::new();
    let set = |name: &str, value: &str| headers.set(name, value).map_err(|e| e.to_string());
    set("Content-Type", "application/json")?;
    set(
        "User-Agent",
        concat!("trustpay-checkout-edge/", env!("CARGO_PKG_VERSION")),
    )?;
    for (name, value) in
        webhook::headers(&note.id, timestamp, note.body.as_bytes(), &config.secrets)
    {
        set(name, &value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(note.body.clone().into()));
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

/// The queue consumer: deliveries, and the dead-letter queue.
#[event(queue)]
pub async fn consume(
    batch: MessageBatch<Notification>,
    env: Env,
    _context: Context,
) -> worker::Result<()> {
    let ctx = Ctx::new(env, Log::new(http::new_request_id()));
    let dead_letter = batch.queue().ends_with(DEAD_LETTER_SUFFIX);
    let store = match ctx.store() {
        Ok(store) => store,
        Err(_) => {
            batch.retry_all();
            return Ok(());
        }
    };
    for message in batch.messages()? {
        let note = message.body();
        let now = ctx.now_ms;
        let attempts = store
            .count_events(
                &note.order_no,
                Source::Webhook,
                Some(&format!("{} attempt=", note.id)),
            )
            .await
            .unwrap_or(0);
        if dead_letter {
            record(
                &store,
                &note.order_no,
                Outcome::DeadLettered,
                None,
                format!("{} after {attempts} attempts", note.id),
                now,
                &ctx.log,
            )
            .await;
            ctx.log.error(
                "webhook_dead_lettered",
                &[
                    ("order_no", note.order_no.as_str().into()),
                    ("id", note.id.as_str().into()),
                ],
            );
            message.ack();
            continue;
        }
        let config = match ctx.config() {
            Ok(config) => config,
            Err(_) => {
                message.retry();
                continue;
            }
        };
        let Some(hook) = &config.webhook else {
            record(
                &store,
                &note.order_no,
                Outcome::Dropped,
                None,
                format!("{} MERCHANT_WEBHOOK_URL unset", note.id),
                now,
                &ctx.log,
            )
            .await;
            message.ack();
            continue;
        };
        let attempt = u32::try_from(attempts)
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let outcome = post(hook, note, ctx.now_secs()).await;
        let (delivered, what) = match &outcome {
            Ok(status) => ((200..300).contains(status), format!("http={status}")),
            Err(e) => (false, format!("error={e}")),
        };
        let detail = format!("{} attempt={attempt} {what}", note.id);
        ctx.log.info(
            "webhook_attempt",
            &[
                ("order_no", note.order_no.as_str().into()),
                ("id", note.id.as_str().into()),
                ("attempt", attempt.into()),
                ("delivered", delivered.into()),
                ("result", what.clone().into()),
            ],
        );
        if delivered {
            record(
                &store,
                &note.order_no,
                Outcome::Delivered,
                None,
                detail,
                now,
                &ctx.log,
            )
            .await;
            message.ack();
        } else {
            record(
                &store,
                &note.order_no,
                Outcome::Failed,
                None,
                detail,
                now,
                &ctx.log,
            )
            .await;
            let delay = webhook::retry_delay_secs(hook.retry_base_seconds, attempt);
            message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(delay)
                    .build(),
            );
        }
    }
    Ok(())
}
