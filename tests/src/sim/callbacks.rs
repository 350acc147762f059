//! Payment callbacks: building the signed body (fields and which amounts are present:
//! `docs/protocol.md`, §Callbacks) with `checkout-core`'s [`SignFields`], and delivering it to
//! `notify_url` with retries.
//!
//! Delivery: the first attempt goes out at once; each entry of the retry schedule is the
//! wait before one more attempt. An attempt succeeds on any 2xx answer and fails on any other
//! status, a connection error or the timeout. The order's `notify_status` is 1 while its
//! newest callback is being delivered, then 2 (delivered) or 3 (every attempt failed), and
//! `notify_time` is the time of the latest attempt.

use std::sync::Arc;
use std::time::Duration;

use checkout_core::codes::OrderStatus;
use checkout_core::money::{Amount, AmountRendering};
use checkout_core::secret::Secret;
use checkout_core::sign::SignFields;
use reqwest::header::CONTENT_TYPE;

use super::Sim;
use super::clock;
use super::faults::CallbackFaultKind;
use super::log::{CallbackRecord, DeliveryOutcome};
use super::store::Order;

/// The most of a receiver's answer kept in the callback log.
const RESPONSE_LOG_LIMIT: usize = 1024;

/// One callback to deliver: an order's status change, with its body fixed at that moment.
#[derive(Debug, Clone)]
pub(crate) struct CallbackEvent {
    /// Global event number; the order's newest decides its `notify_status`.
    pub(crate) seq: u64,
    /// The state epoch it belongs to (a reset abandons older events).
    pub(crate) epoch: u64,
    /// Merchant order number.
    pub(crate) order_no: String,
    /// The status announced.
    pub(crate) status: OrderStatus,
    /// The order's `notify_url`.
    pub(crate) url: String,
    /// The signed JSON body.
    pub(crate) body: String,
}

/// The callback fields of an order in its current status (`docs/protocol.md`, §Callback fields
/// and §Amount fields by situation):
///
/// * every callback: `type` 0, `merchant_id`, `order_no`, `status`, `reason`, `order_amount`;
/// * 5 (paid): `paid_amount`, `balance_amount` = paid − fee, `fee`, `pay_time` (UTC);
/// * 9, 7, 8 (refunding, refunded, partially refunded): `merchant_refund_no[]` (every refund
///   of the order, oldest first) and `refund_amount` (their total, including one in progress);
/// * 3, 4 (failed, timed out): nothing more.
pub(crate) fn callback_fields(order: &Order, rendering: AmountRendering) -> SignFields {
    let fields = SignFields::new()
        .int("type", order.callback_type)
        .int("merchant_id", order.merchant_id)
        .str("order_no", order.order_no.clone())
        .int("status", order.status.code())
        .str("reason", order.reason.clone())
        .amount("order_amount", order.order_amount, rendering);
    match order.status {
        OrderStatus::Paid => {
            let balance = order
                .paid_amount
                .checked_sub(order.fee)
                .unwrap_or(Amount::ZERO);
            let fields = fields
                .amount("paid_amount", order.paid_amount, rendering)
                .amount("balance_amount", balance, rendering)
                .amount("fee", order.fee, rendering);
            match order.pay_time {
                Some(t) => fields.str("pay_time", clock::pay_time(t)),
                None => fields,
            }
        }
        OrderStatus::Refunding | OrderStatus::Refunded | OrderStatus::PartiallyRefunded => fields
            .list(
                "merchant_refund_no",
                order
                    .refunds
                    .iter()
                    .map(|r| r.merchant_refund_no.clone())
                    .collect(),
            )
            .amount("refund_amount", order.refunded_total(), rendering),
        OrderStatus::Failed
        | OrderStatus::TimedOut
        | OrderStatus::Pending
        | OrderStatus::PayoutPaid
        | OrderStatus::Settled
        | OrderStatus::Unknown(_) => fields,
    }
}

/// The signed callback body of an order in its current status.
pub(crate) fn callback_body(order: &Order, rendering: AmountRendering, secret: &Secret) -> String {
    callback_fields(order, rendering).signed_body(secret)
}

/// The result of one attempt (or a drop / hold marker), before it gets a log number.
#[derive(Debug, Clone)]
pub(crate) struct AttemptResult {
    attempt: u32,
    copy: u32,
    outcome: DeliveryOutcome,
    response_status: Option<u16>,
    response_body: Option<String>,
    error: Option<String>,
}

impl AttemptResult {
    fn marker(outcome: DeliveryOutcome) -> Self {
        Self {
            attempt: 0,
            copy: 1,
            outcome,
            response_status: None,
            response_body: None,
            error: None,
        }
    }

    /// The log entry for `event`.
    pub(crate) fn into_record(self, seq: u64, event: &CallbackEvent) -> CallbackRecord {
        CallbackRecord {
            seq,
            time: clock::rfc3339(std::time::SystemTime::now()),
            event: event.seq,
            order_no: event.order_no.clone(),
            status: event.status.code(),
            url: event.url.clone(),
            body: event.body.clone(),
            attempt: self.attempt,
            copy: self.copy,
            outcome: self.outcome,
            response_status: self.response_status,
            response_body: self.response_body,
            error: self.error,
        }
    }
}

/// Sends a callback now, or holds it if its order's callbacks are held.
pub(crate) fn dispatch(sim: &Arc<Sim>, event: CallbackEvent) {
    {
        let mut state = sim.lock();
        if state.epoch != event.epoch {
            return;
        }
        if state.faults.is_held(&event.order_no) {
            state.log_callback(&event, AttemptResult::marker(DeliveryOutcome::Held));
            state.faults.keep(event);
            return;
        }
    }
    let sim = Arc::clone(sim);
    tokio::spawn(async move { deliver(&sim, event).await });
}

/// Stops holding `scope` (one order, or all) and delivers its held callbacks one after the
/// other, oldest first or, with `reverse`, newest first; with `together`, all at the same
/// time (two callbacks racing at the receiver). Returns how many were released.
pub(crate) fn release(
    sim: &Arc<Sim>,
    scope: Option<&str>,
    reverse: bool,
    order: Option<&[usize]>,
    together: bool,
) -> usize {
    let mut events = sim.lock().faults.release(scope);
    if let Some(order) = order {
        events = order
            .iter()
            .filter_map(|&i| events.get(i).cloned())
            .collect();
    } else if reverse {
        events.reverse();
    }
    let count = events.len();
    if together {
        for event in events {
            let sim = Arc::clone(sim);
            tokio::spawn(async move { deliver(&sim, event).await });
        }
        return count;
    }
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        for event in events {
            deliver(&sim, event).await;
        }
    });
    count
}

/// Delivers one event, applying the first matching callback fault.
async fn deliver(sim: &Sim, event: CallbackEvent) {
    let fault = {
        let mut state = sim.lock();
        if state.epoch != event.epoch {
            return;
        }
        state.faults.take_callback(&event.order_no)
    };
    let copies = match fault {
        Some(CallbackFaultKind::Drop) => {
            let mut state = sim.lock();
            if state.epoch == event.epoch {
                state.log_callback(&event, AttemptResult::marker(DeliveryOutcome::Dropped));
                state.notify_finished(&event.order_no, event.seq, false);
            }
            sim.say(format_args!(
                "callback {} status {} for {}: dropped (fault)",
                event.seq,
                event.status.code(),
                event.order_no
            ));
            return;
        }
        Some(CallbackFaultKind::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            1
        }
        Some(CallbackFaultKind::Duplicate) => 2,
        None => 1,
    };
    let mut delivered = false;
    for copy in 1..=copies {
        delivered |= deliver_with_retries(sim, &event, copy).await;
    }
    let mut state = sim.lock();
    if state.epoch == event.epoch {
        state.notify_finished(&event.order_no, event.seq, delivered);
    }
}

/// Tries one copy of a callback until it is delivered or the schedule is exhausted.
async fn deliver_with_retries(sim: &Sim, event: &CallbackEvent, copy: u32) -> bool {
    let waits = std::iter::once(Duration::ZERO).chain(sim.config.callback_retries.iter().copied());
    for (attempt, wait) in (1u32..).zip(waits) {
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        if sim.lock().epoch != event.epoch {
            return false;
        }
        let mut result = post(&sim.http, event).await;
        result.attempt = attempt;
        result.copy = copy;
        let delivered = result.outcome == DeliveryOutcome::Delivered;
        sim.say(format_args!(
            "callback {} status {} for {} attempt {attempt}{}: {}",
            event.seq,
            event.status.code(),
            event.order_no,
            if copy > 1 { " (duplicate)" } else { "" },
            match (&result.response_status, &result.error) {
                (Some(status), _) => format!("HTTP {status}"),
                (None, Some(error)) => error.clone(),
                (None, None) => "no answer".to_owned(),
            }
        ));
        {
            let mut state = sim.lock();
            if state.epoch != event.epoch {
                return false;
            }
            state.notify_attempted(&event.order_no);
            state.log_callback(event, result);
        }
        if delivered {
            return true;
        }
    }
    false
}

/// One HTTP attempt.
async fn post(http: &reqwest::Client, event: &CallbackEvent) -> AttemptResult {
    let sent = http
        .post(&event.url)
        .header(CONTENT_TYPE, "application/json")
        .body(event.body.clone())
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            let outcome = if status.is_success() {
                DeliveryOutcome::Delivered
            } else {
                DeliveryOutcome::Failed
            };
            AttemptResult {
                attempt: 0,
                copy: 1,
                outcome,
                response_status: Some(status.as_u16()),
                response_body: Some(body.chars().take(RESPONSE_LOG_LIMIT).collect()),
                error: None,
            }
        }
        Err(error) => AttemptResult {
            attempt: 0,
            copy: 1,
            outcome: DeliveryOutcome::Failed,
            response_status: None,
            response_body: None,
            error: Some(describe(&error)),
        },
    }
}

/// `timeout`, or the error with its causes (`error sending request: connection refused`).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timeout".to_owned();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use checkout_core::callback::verify_callback;
    use checkout_core::codes::{NotifyStatus, TransactionType};
    use checkout_core::money::Currency;

    use super::super::store::Refund;
    use super::*;

    fn order(status: OrderStatus) -> Order {
        let amount = |minor| Amount::from_minor(minor).expect("non-negative");
        Order {
            order_no: "A-1".into(),
            platform_order_no: "x".repeat(24),
            merchant_id: 7,
            currency: Currency::Usd,
            order_amount: amount(10_600),
            fee: amount(600),
            notify_url: "http://127.0.0.1:1/cb".into(),
            status,
            reason: "r".into(),
            paid_amount: if status == OrderStatus::Failed {
                Amount::ZERO
            } else {
                amount(10_600)
            },
            pay_time: Some(UNIX_EPOCH + Duration::from_secs(1_754_412_235)),
            refunds: vec![
                Refund {
                    merchant_refund_no: "R1".into(),
                    amount: amount(100),
                    reason: String::new(),
                    done: true,
                },
                Refund {
                    merchant_refund_no: "R2".into(),
                    amount: amount(250),
                    reason: String::new(),
                    done: false,
                },
            ],
            notify_status: NotifyStatus::Pending,
            notify_time: None,
            create_time: SystemTime::now(),
            latest_event: 0,
            callback_type: TransactionType::Payin.code(),
        }
    }

    fn keys(body: &str) -> Vec<String> {
        let value: serde_json::Value = serde_json::from_str(body).expect("json");
        let mut keys: Vec<String> = value.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn field_presence_follows_the_docs() {
        let secret = Secret::new("s").expect("non-empty");
        let paid = callback_body(
            &order(OrderStatus::Paid),
            AmountRendering::TwoDecimals,
            &secret,
        );
        assert_eq!(
            keys(&paid),
            [
                "balance_amount",
                "fee",
                "merchant_id",
                "order_amount",
                "order_no",
                "paid_amount",
                "pay_time",
                "reason",
                "sign",
                "status",
                "type"
            ]
        );
        assert!(
            paid.contains(r#""balance_amount":100.00"#)
                && paid.contains(r#""pay_time":"2025-08-05 16:43:55""#),
            "{paid}"
        );
        let failed = callback_body(
            &order(OrderStatus::Failed),
            AmountRendering::TwoDecimals,
            &secret,
        );
        assert_eq!(
            keys(&failed),
            [
                "merchant_id",
                "order_amount",
                "order_no",
                "reason",
                "sign",
                "status",
                "type"
            ]
        );
        for status in [
            OrderStatus::Refunding,
            OrderStatus::PartiallyRefunded,
            OrderStatus::Refunded,
        ] {
            let body = callback_body(&order(status), AmountRendering::Trimmed, &secret);
            assert_eq!(
                keys(&body),
                [
                    "merchant_id",
                    "merchant_refund_no",
                    "order_amount",
                    "order_no",
                    "reason",
                    "refund_amount",
                    "sign",
                    "status",
                    "type"
                ]
            );
            assert!(
                body.contains(r#""merchant_refund_no":["R1","R2"]"#)
                    && body.contains(r#""refund_amount":3.5"#),
                "{body}"
            );
            let verified = verify_callback(body.as_bytes(), &secret).expect("verifies");
            assert_eq!(verified.callback.status, status);
        }
    }
}
