//! Live order state: one Durable Object per order ([`OrderEvents`], binding `ORDER_EVENTS`)
//! fans each state change out to the order's open Server-Sent Events streams.
//!
//! * **Subscribe**: `GET /v1/orders/{order_no}/events?token=<events_token>` (the token is
//!   [`checkout_core::events_token`], minted by create and status, because `EventSource`
//!   can't send `X-Client-Secret`). The Worker checks the token, notes the stream on the
//!   order and reads it from D1 (one batch) and hands that snapshot to the order's object, which answers with a `text/event-stream`.
//! * **Stream**: `id: <status_seq>` + `data: <OrderView JSON>` events. The first is the current
//!   state (the newer of the Worker's snapshot and what the object last saw, by
//!   `status_seq`), then one per change; a comment line (`:`) every `EVENTS_HEARTBEAT_SECONDS`
//!   (15); the stream ends after a final state (the widget closes its `EventSource` then).
//! * **Notify** ([`notify`], called by [`crate::transition::apply`] right after a status
//!   change won its conditional D1 update, before the merchant notification is queued): the
//!   order view after the change goes to the object, which keeps it (for the next subscriber)
//!   and writes it to every open stream. Only while a stream may be open: subscribing notes
//!   the token's expiry on the order (`live_until`, in the same round trip as its snapshot
//!   read), and a change of an order nobody can be streaming (redirect mode, polling, later
//!   refund and settlement callbacks) makes no object call. A change of one attempt of a
//!   merchant order with several is always pushed. Changes older than what it has (lower `status_seq`)
//!   are ignored, so each subscriber sees every state at most once and in order.
//! * **Attempts**: the object is keyed by the merchant order number, and what it gets is the
//!   merchant view (core's `attempt::merchant_state` over every attempt); a change of any
//!   attempt is pushed to it, its `seq` summed over the attempts.
//!
//! Why SSE and not WebSocket with hibernation: the channel is one-way and short-lived (a
//! checkout lasts minutes and the stream ends at a final state), `EventSource` is built into
//! browsers (reconnects by itself, plain HTTP + CORS, a few hundred bytes of widget code), and
//! the object keeps nothing that must survive eviction (D1 is the truth; a subscriber always
//! gets the D1 snapshot first). The price: an object with open streams stays in memory while
//! they are open, which hibernation would avoid for long idle connections; ours aren't.
//!
//! Delivery is best effort: a notification that fails is logged, and the widget's fallback
//! (polling) and the reconnect snapshot cover it.

use std::cell::RefCell;
use std::pin::pin;
use std::time::Duration;

use checkout_core::events_token;
use checkout_core::order_no::OrderNo;
use checkout_core::state::OrderState;
use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures_util::StreamExt as _;
use futures_util::future::{Either, select};
use serde::{Deserialize, Serialize};
use worker::{
    Date, Delay, DurableObject, Env, Headers, Method, Request, RequestInit, Response, ResponseBody,
    State, durable_object,
};

use crate::ctx::Ctx;
use crate::error::EdgeError;
use crate::store::OrderRow;
use crate::view::shopper_view_of;

/// The Durable Object namespace binding.
pub const BINDING: &str = "ORDER_EVENTS";

/// What the Worker sends the object: a state and its `status_seq`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Snapshot {
    seq: i64,
    /// The `OrderView` JSON.
    data: String,
    /// A final state: the stream ends after it.
    #[serde(rename = "final")]
    is_final: bool,
    /// Heartbeat period (subscribe only), milliseconds.
    #[serde(default)]
    heartbeat_ms: u64,
    /// When the subscriber's events token expires (subscribe only), Unix milliseconds: its
    /// stream ends then. 0 = no end (notifications).
    #[serde(default)]
    until_ms: i64,
}

/// The snapshot of a merchant order from all its attempts (`rows`). Its `seq` is the sum of
/// the attempts' `status_seq` plus one per attempt after the first: it grows with every change
/// of any attempt and with every new attempt, so the object orders them like one row's.
fn snapshot(
    ctx: &Ctx,
    rows: &[OrderRow],
    heartbeat_ms: u64,
    until_ms: i64,
) -> Result<Snapshot, EdgeError> {
    let order = shopper_view_of(ctx, rows)?;
    let data = serde_json::to_string(&order)
        .map_err(|e| EdgeError::Storage(format!("order view: {e}")))?;
    let attempts = i64::try_from(rows.len()).unwrap_or(1).max(1);
    Ok(Snapshot {
        seq: rows.iter().map(|r| r.status_seq).sum::<i64>() + attempts - 1,
        data,
        is_final: OrderState::parse(&order.state).is_final(),
        heartbeat_ms,
        until_ms,
    })
}

fn stub(ctx: &Ctx, order_no: &str) -> worker::Result<worker::Stub> {
    ctx.env()
        .durable_object(BINDING)?
        .id_from_name(order_no)?
        .get_stub()
}

async fn send(ctx: &Ctx, order_no: &str, path: &str, body: &Snapshot) -> worker::Result<Response> {
    ctx.trips.count_durable_object();
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(serde_json::to_string(body)?.into()));
    let request = Request::new_with_init(&format!("https://order-events{path}"), &init)?;
    stub(ctx, order_no)?.fetch_with_request(request).await
}

/// Tells the order's object about a status change that just won (`row` = the order as the
/// change left it). Failures are logged, never raised: the change itself is stored.
pub async fn notify(ctx: &Ctx, row: &OrderRow) {
    if row.live_until < ctx.now_ms {
        // No stream was opened, or every one has ended (events token expired): nobody to
        // tell, so no object is woken. `row` is what the change's own statement returned, so
        // a stream opened at the same time either got this change in its first snapshot or
        // is seen here.
        return;
    }
    notify_attempts(ctx, std::slice::from_ref(row)).await;
}

/// [`notify`] for a merchant order with several attempts (`rows` = every attempt, the changed
/// one as the change left it): the merchant order's object gets the merchant view.
pub async fn notify_attempts(ctx: &Ctx, rows: &[OrderRow]) {
    let Some(first) = rows.first() else {
        return;
    };
    let order_no = first.merchant_no();
    let sent = match snapshot(ctx, rows, 0, 0) {
        Ok(snap) => send(ctx, order_no, "/notify", &snap)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = sent {
        ctx.log.warn(
            "live_notify_failed",
            &[("order_no", order_no.into()), ("detail", e.into())],
        );
    }
}

/// `GET /v1/orders/{order_no}/events?token=...`: the order's event stream.
pub async fn events(req: Request, ctx: &Ctx, order_no: &str) -> Result<Response, EdgeError> {
    let order_no = OrderNo::parse(order_no)?;
    let config = ctx.config()?;
    let token = req
        .url()
        .ok()
        .and_then(|url| {
            url.query_pairs()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
        })
        .ok_or(EdgeError::ClientSecretInvalid)?;
    let exp = events_token::verify(&token, &order_no, &config.intent_secret, ctx.now_secs())
        .map_err(|_| EdgeError::ClientSecretInvalid)?;
    let store = ctx.store()?;
    let rows = store
        .attempts_for_stream(order_no.as_str(), exp.saturating_mul(1000))
        .await?;
    if rows.is_empty() {
        return Err(EdgeError::OrderNotFound);
    }
    let snap = snapshot(
        ctx,
        &rows,
        u64::from(config.events_heartbeat_seconds) * 1000,
        exp.saturating_mul(1000),
    )?;
    let answer = send(ctx, order_no.as_str(), "/subscribe", &snap)
        .await
        .map_err(|e| EdgeError::Storage(format!("order events object: {e}")))?;
    // The object's response headers are immutable: answer with our own around its stream.
    let ResponseBody::Stream(stream) = answer.body() else {
        return Err(EdgeError::Storage(
            "order events object answered no stream".into(),
        ));
    };
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "text/event-stream; charset=utf-8");
    let _ = headers.set("Cache-Control", "no-store");
    let _ = headers.set("X-Accel-Buffering", "no");
    Ok(Response::builder()
        .with_status(200)
        .with_headers(headers)
        .body(ResponseBody::Stream(stream.clone())))
}

/// One SSE event.
fn frame(snap: &Snapshot) -> Vec<u8> {
    format!("id: {}\ndata: {}\n\n", snap.seq, snap.data).into_bytes()
}

pub use object::OrderEvents;

/// The object; the `durable_object` macro's generated glue has no docs, hence the `allow`.
#[allow(missing_docs, missing_debug_implementations)]
mod object {
    use super::*;

    #[derive(Debug, Default)]
    struct Inner {
        latest: Option<Snapshot>,
        clients: Vec<UnboundedSender<Vec<u8>>>,
    }

    /// The per-order fan-out object (see the module docs).
    #[durable_object]
    pub struct OrderEvents {
        inner: std::panic::AssertUnwindSafe<RefCell<Inner>>,
    }

    impl DurableObject for OrderEvents {
        fn new(_state: State, _env: Env) -> Self {
            Self {
                inner: std::panic::AssertUnwindSafe(RefCell::new(Inner::default())),
            }
        }

        async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
            let path = req.path();
            let incoming: Snapshot = req.json().await?;
            let mut inner = self.inner.borrow_mut();
            let newer = inner.latest.as_ref().is_none_or(|l| incoming.seq > l.seq);
            match path.as_str() {
                "/notify" => {
                    if newer {
                        let bytes = frame(&incoming);
                        inner
                            .clients
                            .retain(|c| c.unbounded_send(bytes.clone()).is_ok());
                        if incoming.is_final {
                            // Dropping the senders ends every stream after this event.
                            inner.clients.clear();
                        }
                        inner.latest = Some(incoming);
                    }
                    Response::empty().map(|r| r.with_status(204))
                }
                "/subscribe" => {
                    let heartbeat = Duration::from_millis(incoming.heartbeat_ms.max(1000));
                    let until_ms = incoming.until_ms;
                    // The same state read just now carries fresher tokens than the cached one.
                    let as_new = inner.latest.as_ref().is_none_or(|l| incoming.seq >= l.seq);
                    if as_new {
                        inner.latest = Some(incoming);
                    }
                    let current = inner
                        .latest
                        .clone()
                        .unwrap_or_else(|| unreachable!("set above"));
                    // Forget streams whose client went away since the last change.
                    inner.clients.retain(|c| !c.is_closed());
                    let (tx, rx) = unbounded();
                    let _ = tx.unbounded_send(frame(&current));
                    if !current.is_final {
                        inner.clients.push(tx);
                    }
                    drop(inner);
                    Response::from_stream(stream(rx, heartbeat, until_ms))
                }
                _ => Response::error("not found", 404),
            }
        }
    }

    /// The client's byte stream: its events, and a comment line after each quiet `heartbeat`.
    /// Ends when the object drops the sender (after a final state), or at `until_ms` (the
    /// events token's expiry; 0 = never): a client holding an expired token reconnects with a
    /// fresh one or not at all.
    fn stream(
        rx: UnboundedReceiver<Vec<u8>>,
        heartbeat: Duration,
        until_ms: i64,
    ) -> impl futures_util::Stream<Item = worker::Result<Vec<u8>>> {
        futures_util::stream::unfold(rx, move |mut rx| async move {
            let wait = match until_ms {
                0 => heartbeat,
                until => {
                    let now = i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX);
                    let left = u64::try_from(until.saturating_sub(now)).unwrap_or(0);
                    if left == 0 {
                        return None;
                    }
                    heartbeat.min(Duration::from_millis(left))
                }
            };
            let next = {
                let timer = Delay::from(wait);
                match select(pin!(rx.next()), pin!(timer)).await {
                    Either::Left((Some(bytes), _)) => Some(bytes),
                    Either::Left((None, _)) => None,
                    Either::Right(((), _)) => Some(b":\n\n".to_vec()),
                }
            };
            next.map(|bytes| (Ok(bytes), rx))
        })
    }
}
