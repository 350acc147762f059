//! End-to-end tests of the merchant integrations against the Worker (local D1 and local
//! Queues), `trustpay-sim` and a local webhook receiver:
//!
//! * signed client results (`result_token` on final orders): verify, tampered, expired;
//! * the risk-control hook: allow / deny per rule with its event-log entries, and through the
//!   simulator's payment flow (`risk_control` set: the simulator asks the edge before paying);
//! * merchant notifications: signed with both secrets during a rotation, retried after a
//!   failing receiver, delivered once an endpoint that was down for a while is back, dead after
//!   the last try of the retry schedule (listed and replayed through the admin routes), sent by
//!   the cron when its outbox row never got a queue message, one id per state change.
//!
//! Stage `edge-merchant`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use checkout_core::client_result::{ClientResult, ClientResultError};
use checkout_core::secret::Secret;
use checkout_core::webhook::{self, WebhookError, WebhookSecret};
use serde_json::{Value, json};
use tests::forge::now_secs;
use tests::webhook_receiver::Delivery;

use crate::support::{Answer, INTENT_KEY, Stack, TOKEN, cases, risk_hook_path, secret};

const RESULT_KEY: &str = "merchant-e2e-result-secret-0123456789";
/// `whsec_` + base64("merchant-e2e-webhook-key-current").
const HOOK_SECRET: &str = "whsec_bWVyY2hhbnQtZTJlLXdlYmhvb2sta2V5LWN1cnJlbnQ=";
const HOOK_SECRET_PREVIOUS: &str = "merchant-e2e-webhook-raw-previous";
/// This suite's `MERCHANT_WEBHOOK_RETRY_SCHEDULE`: five retries a second apart (the default
/// spreads twelve attempts over ~3 days; the suite compresses the same path into seconds).
const RETRY_SCHEDULE: &str = "1s,1s,1s,1s,1s";
/// Attempts in [`RETRY_SCHEDULE`]: the first and one per retry.
const MAX_DELIVERIES: usize = 6;

/// `(outcome, detail)` of the order's events from `source`, oldest first.
async fn events(env: &Stack, order_no: &str, source: &str) -> Vec<(String, String)> {
    env.events(order_no)
        .await
        .iter()
        .filter(|e| e["source"] == source)
        .map(|e| {
            (
                e["outcome"].as_str().unwrap_or_default().to_owned(),
                e["detail"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// TrustPay's order number for one of ours (the edge's admin view, else the simulator's).
async fn platform_order_no(env: &Stack, order_no: &str) -> String {
    let answer = env.admin_order(order_no).await;
    let found = answer.body["order"]["platform_order_no"]
        .as_str()
        .or_else(|| answer.body["platform_order_no"].as_str())
        .map(str::to_owned);
    match found {
        Some(no) => no,
        None => {
            // Ask the simulator instead.
            let orders = env.sim_get("/_sim/orders").await;
            orders
                .body
                .as_array()
                .and_then(|all| all.iter().find(|o| o["order_no"] == order_no))
                .and_then(|o| o["platform_order_no"].as_str())
                .unwrap_or_else(|| panic!("no platform_order_no for {order_no}: {}", answer.text))
                .to_owned()
        }
    }
}

/// TrustPay's risk-control question to the edge.
async fn risk(env: &Stack, order_id: &str, prefix: &str, suffix: &str, holder: &str) -> Answer {
    env.edge_post(
        &risk_hook_path(),
        &[],
        &json!({"orderId": order_id, "cardPrefix": prefix, "cardSuffix": suffix, "cardHolderName": holder}),
    )
    .await
}

/// The answer's `Content-Type` (empty when absent).
fn content_type(answer: &Answer) -> &str {
    answer.header("content-type").unwrap_or_default()
}

/// The receiver's deliveries of one event id.
fn deliveries_of(env: &Stack, id: &str) -> Vec<Delivery> {
    env.receiver()
        .deliveries()
        .into_iter()
        .filter(|d| d.id == id)
        .collect()
}

/// The `webhook` events of the order, once `done` holds for them.
async fn wait_webhook_events(
    env: &Stack,
    order_no: &str,
    done: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let events = events(env, order_no, "webhook").await;
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{order_no}: webhook events never settled: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn secrets() -> (WebhookSecret, WebhookSecret) {
    (
        WebhookSecret::parse(HOOK_SECRET).unwrap_or_else(|e| panic!("{e}")),
        WebhookSecret::parse(HOOK_SECRET_PREVIOUS).unwrap_or_else(|e| panic!("{e}")),
    )
}

fn result_key() -> Secret {
    secret(RESULT_KEY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-merchant`"]
async fn edge_merchant_integrations() {
    let env = Stack::start_with_merchant_hooks(|vars| {
        vars.unset("OPEN_AMOUNT")
            .set("GATEWAY_TIMEOUT_MS", "3000")
            .set("STATUS_REFRESH_SECONDS", "60")
            .set("CLIENT_RESULT_SECRET", RESULT_KEY)
            .set("RISK_BIN_ALLOW", "4,5500")
            .set("RISK_BIN_DENY", "411111,400000")
            .set("RISK_MAX_ATTEMPTS", "3")
            .set("MERCHANT_WEBHOOK_SECRET", HOOK_SECRET)
            .set("MERCHANT_WEBHOOK_SECRET_PREVIOUS", HOOK_SECRET_PREVIOUS)
            .set("MERCHANT_WEBHOOK_RETRY_SCHEDULE", RETRY_SCHEDULE)
    })
    .await;
    let ran = cases!(&env =>
        paid_through_simulator_with_risk_allow,
        client_result_token,
        risk_denied_through_simulator,
        risk_rules_direct,
        notification_signed_with_both_secrets,
        notification_no_duplicate_id,
        notification_retried_after_failures,
        notification_dead_lettered,
        notification_survives_endpoint_outage,
        notification_outbox_row_sent_by_cron,
    );
    eprintln!("{ran} merchant e2e cases passed");

    env.assert_not_logged(
        &[
            HOOK_SECRET,
            HOOK_SECRET_PREVIOUS,
            RESULT_KEY,
            TOKEN,
            INTENT_KEY,
            "Test Shopper",
        ],
        "a secret or PII",
    );
}

/// The simulator asks the risk hook (default card 424242…4242, "Test Shopper": allowed) and pays.
async fn paid_through_simulator_with_risk_allow(env: &Stack) {
    env.new_order("M-PAY-1", "5.00").await;
    let paid = env.sim_post("/_sim/orders/M-PAY-1/pay", json!({})).await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    env.wait_state("M-PAY-1", "paid").await;
    let risk = events(env, "M-PAY-1", "risk").await;
    assert_eq!(risk.len(), 1, "{risk:?}");
    assert_eq!(risk[0].0, "allow");
    assert!(
        risk[0].1.starts_with("ok bin=424242 last4=4242"),
        "{risk:?}"
    );
}

async fn client_result_token(env: &Stack) {
    let secret = env.new_order("M-RES-1", "12.34").await;
    // Pending: no token.
    let pending = env.status("M-RES-1", &secret).await;
    assert_eq!(pending.status, 200, "{}", pending.text);
    assert!(
        pending.body.get("result_token").is_none(),
        "{}",
        pending.text
    );

    env.sim_post("/_sim/orders/M-RES-1/pay", json!({})).await;
    env.wait_state("M-RES-1", "paid").await;
    let done = env.status("M-RES-1", &secret).await;
    let token = done.body["result_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no result_token: {}", done.text))
        .to_owned();
    let now = now_secs();
    let result =
        ClientResult::verify(&token, &result_key(), now).unwrap_or_else(|e| panic!("{e}: {token}"));
    assert_eq!(result.order_no.as_str(), "M-RES-1");
    assert_eq!(result.state, "paid");
    assert_eq!(result.amount.to_string(), "12.34");
    assert_eq!(result.currency.code(), "USD");
    assert!(
        result.exp > now && result.exp <= now + 601,
        "exp {} now {now}",
        result.exp
    );

    // Tampered: another state / amount under the old MAC, a flipped MAC, another key.
    let parts: Vec<&str> = token.split('.').collect();
    let forged = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = b64.decode(parts[1]).unwrap_or_default();
        let text = String::from_utf8(payload)
            .unwrap_or_default()
            .replace("12.34", "0.01");
        format!("v1.{}.{}", b64.encode(text), parts[2])
    };
    assert_eq!(
        ClientResult::verify(&forged, &result_key(), now),
        Err(ClientResultError::BadSignature)
    );
    let mut flipped = token.clone();
    let last = flipped.pop().unwrap_or('A');
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    assert!(ClientResult::verify(&flipped, &result_key(), now).is_err());
    let other = crate::support::secret("not-the-result-key");
    assert_eq!(
        ClientResult::verify(&token, &other, now),
        Err(ClientResultError::BadSignature)
    );
    // Expired: ten minutes later.
    assert!(matches!(
        ClientResult::verify(&token, &result_key(), result.exp),
        Err(ClientResultError::Expired { .. })
    ));
}

/// A deny-listed card: the simulator declines the order (status 3) instead of paying it.
async fn risk_denied_through_simulator(env: &Stack) {
    env.new_order("M-DENY-1", "5.00").await;
    let card = json!({"card": {"prefix": "411111", "suffix": "1111", "holder": "Mallory Smith"}});
    let answer = env.sim_post("/_sim/orders/M-DENY-1/pay", card).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.body["status"], 3,
        "the simulator declines: {}",
        answer.text
    );
    env.wait_state("M-DENY-1", "failed").await;
    let risk = events(env, "M-DENY-1", "risk").await;
    assert_eq!(risk.len(), 1, "{risk:?}");
    assert_eq!(risk[0].0, "deny");
    assert!(
        risk[0].1.starts_with("bin_denied bin=411111 last4=1111"),
        "{risk:?}"
    );
    assert!(
        !risk[0].1.contains("Mallory"),
        "the holder name is not logged: {risk:?}"
    );
}

async fn risk_rules_direct(env: &Stack) {
    // Allowed, matched on TrustPay's platform_order_no as well as on our order_no.
    env.new_order("M-RISK-1", "5.00").await;
    let platform = platform_order_no(env, "M-RISK-1").await;
    let allowed = risk(env, &platform, "424242", "4242", "John Doe").await;
    assert_eq!((allowed.status, allowed.text.as_str()), (200, "allow"));
    assert!(
        content_type(&allowed).starts_with("text/plain"),
        "{}",
        content_type(&allowed)
    );
    let allowed = risk(env, "M-RISK-1", "550012", "0004", "Ana María Pérez-Núñez").await;
    assert_eq!((allowed.status, allowed.text.as_str()), (200, "allow"));

    // One rule per request on a fresh order; the fourth decision hits the attempt limit.
    env.new_order("M-RISK-2", "5.00").await;
    for (prefix, holder, reason) in [
        ("400000", "John Doe", "bin_denied"),
        ("510510", "John Doe", "bin_not_allowed"),
        ("424242", "  ", "holder_missing"),
    ] {
        let denied = risk(env, "M-RISK-2", prefix, "4242", holder).await;
        assert_eq!(
            (denied.status, denied.text.as_str()),
            (403, "deny"),
            "{reason}"
        );
        assert!(
            content_type(&denied).starts_with("text/plain"),
            "{}",
            content_type(&denied)
        );
    }
    let limited = risk(env, "M-RISK-2", "424242", "4242", "John Doe").await;
    assert_eq!(limited.status, 403, "attempt limit");
    let reasons: Vec<String> = events(env, "M-RISK-2", "risk")
        .await
        .into_iter()
        .map(|(outcome, detail)| {
            format!("{outcome} {}", detail.split(' ').next().unwrap_or_default())
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "deny bin_denied",
            "deny bin_not_allowed",
            "deny holder_missing",
            "deny too_many_attempts"
        ]
    );

    env.new_order("M-RISK-3", "5.00").await;
    let implausible = risk(env, "M-RISK-3", "424242", "4242", "J0hn D0e").await;
    assert_eq!(implausible.status, 403);
    let malformed = risk(env, "M-RISK-3", "4242", "42", "John Doe").await;
    assert_eq!(malformed.status, 403);
    let reasons: Vec<String> = events(env, "M-RISK-3", "risk")
        .await
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert!(reasons[0].starts_with("holder_implausible"), "{reasons:?}");
    assert!(
        reasons[1].starts_with("malformed bin=4242 last4=42"),
        "{reasons:?}"
    );

    // Not pending (paid earlier), unknown, garbage.
    let paid = risk(env, "M-PAY-1", "424242", "4242", "John Doe").await;
    assert_eq!(paid.status, 403);
    let last = events(env, "M-PAY-1", "risk").await;
    assert!(
        last.last()
            .is_some_and(|(o, d)| o == "deny" && d.starts_with("order_not_pending")),
        "{last:?}"
    );
    let unknown = risk(env, "NO-SUCH-ORDER", "424242", "4242", "John Doe").await;
    assert_eq!((unknown.status, unknown.text.as_str()), (403, "deny"));
    let garbage = env
        .send(
            reqwest::Method::POST,
            &env.edge.url(&risk_hook_path()),
            &[("Content-Type", "application/json")],
            Some("not json".into()),
        )
        .await;
    assert_eq!((garbage.status, garbage.text.as_str()), (403, "deny"));
    let get = env
        .send(
            reqwest::Method::GET,
            &env.edge.url(&risk_hook_path()),
            &[],
            None,
        )
        .await;
    assert_eq!(get.status, 405);
}

/// The deliveries of M-PAY-1's paid event: both signatures, each verifying with its secret.
async fn notification_signed_with_both_secrets(env: &Stack) {
    let id = webhook::event_id("M-PAY-1", 5, 1);
    wait_webhook_events(env, "M-PAY-1", |events| {
        events
            .iter()
            .any(|(o, d)| o == "delivered" && d.starts_with(&id))
    })
    .await;
    let deliveries = deliveries_of(env, &id);
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    let delivery = &deliveries[0];
    let signatures: Vec<&str> = delivery.signature.split(' ').collect();
    assert_eq!(
        signatures.len(),
        2,
        "two secrets, two signatures: {}",
        delivery.signature
    );
    let (current, previous) = secrets();
    let now = now_secs();
    let check = |secrets: &[WebhookSecret], signature: &str| {
        webhook::verify(
            &delivery.id,
            &delivery.timestamp,
            signature,
            &delivery.body,
            secrets,
            now,
        )
    };
    // A receiver on the new secret, one still on the old one, one holding both.
    assert_eq!(
        check(std::slice::from_ref(&current), &delivery.signature),
        Ok(())
    );
    assert_eq!(
        check(std::slice::from_ref(&previous), &delivery.signature),
        Ok(())
    );
    assert_eq!(
        check(&[current.clone(), previous.clone()], &delivery.signature),
        Ok(())
    );
    assert_eq!(check(std::slice::from_ref(&current), signatures[0]), Ok(()));
    assert_eq!(
        check(std::slice::from_ref(&previous), signatures[1]),
        Ok(())
    );
    assert_eq!(
        check(std::slice::from_ref(&current), signatures[1]),
        Err(WebhookError::BadSignature)
    );
    // Tampered body, replayed later.
    let mut tampered = delivery.body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(
        webhook::verify(
            &delivery.id,
            &delivery.timestamp,
            &delivery.signature,
            &tampered,
            std::slice::from_ref(&current),
            now
        ),
        Err(WebhookError::BadSignature)
    );
    assert_eq!(
        webhook::verify(
            &delivery.id,
            &delivery.timestamp,
            &delivery.signature,
            &delivery.body,
            &[current],
            now + 301
        ),
        Err(WebhookError::Expired)
    );

    let event: Value = serde_json::from_slice(&delivery.body).unwrap_or(Value::Null);
    assert_eq!(event["id"], id.as_str());
    assert_eq!(event["type"], "order.paid");
    assert_eq!(event["data"]["order_no"], "M-PAY-1");
    assert_eq!(event["data"]["status"], 5);
    assert_eq!(event["data"]["amount"], "5.00");
    assert!(
        event["created_at"]
            .as_i64()
            .is_some_and(|t| (now - t).abs() < 120),
        "{event}"
    );
    let outcomes: Vec<String> = events(env, "M-PAY-1", "webhook")
        .await
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    assert_eq!(outcomes, ["enqueued", "delivered"]);
}

/// One state change, one id: a repeated callback and a refresh change nothing; the next
/// change (refund) gets its own id.
async fn notification_no_duplicate_id(env: &Stack) {
    let secret = env.new_order("M-DUP-1", "5.00").await;
    // The simulator sends every callback twice for this order.
    env.sim_post(
        "/_sim/faults/callbacks",
        json!({"kind": "duplicate", "order_no": "M-DUP-1"}),
    )
    .await;
    env.sim_post("/_sim/orders/M-DUP-1/pay", json!({})).await;
    env.wait_state("M-DUP-1", "paid").await;
    let _ = env.status("M-DUP-1", &secret).await;
    let paid_id = webhook::event_id("M-DUP-1", 5, 1);
    wait_webhook_events(env, "M-DUP-1", |e| e.iter().any(|(o, _)| o == "delivered")).await;
    // Give a second (wrong) notification time to show up.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let callbacks: Vec<String> = events(env, "M-DUP-1", "callback")
        .await
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    assert!(
        callbacks.iter().filter(|o| *o == "accepted").count() == 1
            && callbacks.iter().any(|o| o == "duplicate"),
        "{callbacks:?}"
    );
    let events = events(env, "M-DUP-1", "webhook").await;
    let enqueued: Vec<&(String, String)> = events.iter().filter(|(o, _)| o == "enqueued").collect();
    assert_eq!(enqueued.len(), 1, "{events:?}");
    assert!(enqueued[0].1.starts_with(&paid_id), "{events:?}");
    assert_eq!(deliveries_of(env, &paid_id).len(), 1);
    let ids: BTreeSet<String> = env
        .receiver()
        .deliveries()
        .into_iter()
        .filter(|d| String::from_utf8_lossy(&d.body).contains("\"order_no\":\"M-DUP-1\""))
        .map(|d| d.id)
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

/// The receiver fails twice: the same event is delivered on the third attempt.
async fn notification_retried_after_failures(env: &Stack) {
    env.new_order("M-RETRY-1", "5.00").await;
    env.receiver().fail_next(2);
    env.sim_post("/_sim/orders/M-RETRY-1/pay", json!({})).await;
    let id = webhook::event_id("M-RETRY-1", 5, 1);
    let events = wait_webhook_events(env, "M-RETRY-1", |e| {
        e.iter().any(|(o, _)| o == "delivered")
    })
    .await;
    let outcomes: Vec<&str> = events.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(
        outcomes,
        ["enqueued", "failed", "failed", "delivered"],
        "{events:?}"
    );
    assert!(
        events[1].1.starts_with(&format!("{id} attempt=1 http=500")),
        "{events:?}"
    );
    assert!(
        events[2].1.starts_with(&format!("{id} attempt=2 http=500")),
        "{events:?}"
    );
    assert!(
        events[3].1.starts_with(&format!("{id} attempt=3 http=204")),
        "{events:?}"
    );
    let deliveries = deliveries_of(env, &id);
    let answered: Vec<u16> = deliveries.iter().map(|d| d.answered).collect();
    assert_eq!(answered, [500, 500, 204]);
    // Every attempt is signed afresh (its own timestamp) over the same body.
    let (current, _) = secrets();
    for d in &deliveries {
        assert_eq!(
            webhook::verify(
                &d.id,
                &d.timestamp,
                &d.signature,
                &d.body,
                std::slice::from_ref(&current),
                now_secs()
            ),
            Ok(())
        );
        assert_eq!(d.body, deliveries[0].body);
    }
}

/// The receiver always fails: after the last try of the schedule the notification is dead
/// (the outbox row's state; there is no dead-letter queue any more), the event log says so, the
/// admin route lists it, and a replay delivers it once the receiver is back.
async fn notification_dead_lettered(env: &Stack) {
    env.new_order("M-DLQ-1", "5.00").await;
    env.receiver().fail_always(true);
    env.sim_post("/_sim/orders/M-DLQ-1/pay", json!({})).await;
    let id = webhook::event_id("M-DLQ-1", 5, 1);
    let events = wait_webhook_events(env, "M-DLQ-1", |e| {
        e.iter().any(|(o, _)| o == "dead_lettered")
    })
    .await;
    env.receiver().fail_always(false);
    let failed = events.iter().filter(|(o, _)| o == "failed").count();
    assert_eq!(failed, MAX_DELIVERIES, "{events:?}");
    assert!(!events.iter().any(|(o, _)| o == "delivered"), "{events:?}");
    let dead = events
        .iter()
        .find(|(o, _)| o == "dead_lettered")
        .map(|(_, d)| d.clone())
        .unwrap_or_default();
    assert_eq!(dead, format!("{id} after {MAX_DELIVERIES} attempts"));
    assert_eq!(deliveries_of(env, &id).len(), MAX_DELIVERIES);

    let listed = env.admin_webhooks("dead").await;
    let row = listed
        .iter()
        .find(|w| w["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not listed as dead: {listed:?}"));
    assert_eq!(row["order_no"], "M-DLQ-1");
    assert_eq!(row["type"], "order.paid");
    assert_eq!(row["attempts"], MAX_DELIVERIES as u64);
    assert_eq!(row["last_result"], "http=500");
    let bad_state = env
        .edge_get(
            "/v1/admin/webhooks?state=lost",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        )
        .await;
    assert_eq!(bad_state.status, 400, "{}", bad_state.text);
    let anonymous = env.edge_get("/v1/admin/webhooks?state=dead", &[]).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    let unknown = replay(env, "evt_00000000000000000000000000000000").await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);

    let replayed = replay(env, &id).await;
    assert_eq!(replayed.status, 202, "{}", replayed.text);
    assert_eq!(replayed.body["state"], "pending");
    let events =
        wait_webhook_events(env, "M-DLQ-1", |e| e.iter().any(|(o, _)| o == "delivered")).await;
    assert!(
        events
            .iter()
            .any(|(o, d)| o == "enqueued" && *d == format!("{id} order.paid replay")),
        "{events:?}"
    );
    let answered: Vec<u16> = deliveries_of(env, &id).iter().map(|d| d.answered).collect();
    assert_eq!(answered.len(), MAX_DELIVERIES + 1, "{answered:?}");
    assert_eq!(answered.last(), Some(&204), "{answered:?}");
    assert!(
        !env.admin_webhooks("dead")
            .await
            .iter()
            .any(|w| w["id"] == id.as_str())
    );
}

/// `POST /v1/admin/webhooks/{id}/replay`.
async fn replay(env: &Stack, id: &str) -> Answer {
    env.edge_post(
        &format!("/v1/admin/webhooks/{id}/replay"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        &json!({}),
    )
    .await
}

/// The order's paid events the receiver accepted (2xx), one per webhook id.
fn accepted_paid_ids(env: &Stack, order_no: &str) -> BTreeSet<String> {
    env.receiver()
        .deliveries()
        .into_iter()
        .filter(|d| (200..300).contains(&d.answered))
        .filter(|d| {
            let event: Value = serde_json::from_slice(&d.body).unwrap_or(Value::Null);
            event["type"] == "order.paid" && event["data"]["order_no"] == order_no
        })
        .map(|d| d.id)
        .collect()
}

/// The endpoint is down while three orders are paid (their first attempts and some retries
/// fail) and comes back before the schedule runs out: each order's `order.paid` arrives, once
/// per order after de-duplication by webhook id.
async fn notification_survives_endpoint_outage(env: &Stack) {
    let orders = ["M-DOWN-1", "M-DOWN-2", "M-DOWN-3"];
    env.receiver().fail_always(true);
    for order_no in orders {
        env.new_order(order_no, "5.00").await;
        env.sim_post(&format!("/_sim/orders/{order_no}/pay"), json!({}))
            .await;
    }
    for order_no in orders {
        wait_webhook_events(env, order_no, |e| {
            e.iter().filter(|(o, _)| o == "failed").count() >= 2
        })
        .await;
    }
    env.receiver().fail_always(false);
    for order_no in orders {
        let events =
            wait_webhook_events(env, order_no, |e| e.iter().any(|(o, _)| o == "delivered")).await;
        assert!(
            !events.iter().any(|(o, _)| o == "dead_lettered"),
            "{events:?}"
        );
        let ids = accepted_paid_ids(env, order_no);
        assert_eq!(
            ids,
            BTreeSet::from([webhook::event_id(order_no, 5, 1)]),
            "{order_no}"
        );
        let failed = deliveries_of(env, &webhook::event_id(order_no, 5, 1))
            .iter()
            .filter(|d| d.answered == 500)
            .count();
        assert!(failed >= 2, "{order_no}: {failed} failed attempts");
    }
}

/// A state change whose outbox row was written but whose queue message never went out (the
/// Worker stopped between the two steps; staged by writing the row straight into D1): nothing
/// is delivered until the cron runs, which sends it, once.
async fn notification_outbox_row_sent_by_cron(env: &Stack) {
    env.new_order("M-CRON-1", "5.00").await;
    let id = webhook::event_id("M-CRON-1", 5, 1);
    let body = json!({"id": id, "type": "order.paid", "created_at": now_secs(), "data": {"order_no": "M-CRON-1"}});
    let sql = format!(
        "INSERT INTO webhook_outbox (id, order_no, kind, body, state, attempts, next_attempt_at, created_at, updated_at) \
         VALUES ('{id}', 'M-CRON-1', 'order.paid', '{body}', 'pending', 0, 0, 0, 0)"
    );
    env.d1_execute_for("M-CRON-1", &sql, "staging the outbox row");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(deliveries_of(env, &id).is_empty(), "sent without the cron");
    assert!(
        env.admin_webhooks("pending")
            .await
            .iter()
            .any(|w| w["id"] == id.as_str())
    );

    let cron = env
        .send(reqwest::Method::GET, &env.edge.scheduled_url(), &[], None)
        .await;
    assert_eq!(cron.status, 200, "/__scheduled: {}", cron.text);
    let events =
        wait_webhook_events(env, "M-CRON-1", |e| e.iter().any(|(o, _)| o == "delivered")).await;
    assert!(
        events[0].1.starts_with(&format!("{id} attempt=1 http=204")),
        "{events:?}"
    );
    // Delivered rows are left alone by later runs.
    let again = env
        .send(reqwest::Method::GET, &env.edge.scheduled_url(), &[], None)
        .await;
    assert_eq!(again.status, 200, "/__scheduled: {}", again.text);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deliveries = deliveries_of(env, &id);
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].body, body.to_string().into_bytes());
    assert!(
        env.admin_webhooks("delivered")
            .await
            .iter()
            .any(|w| w["id"] == id.as_str())
    );
}
