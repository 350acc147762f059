//! Payment-state integrity, end to end: an order reads "paid" only when TrustPay paid *our*
//! order *in full*, and refunds add up in any order. Each case drives `trustpay-sim` into a
//! situation where the state we show could disagree with the money that moved, and checks the
//! shopper's view, the merchant's admin view and the merchant notifications. Stage
//! `edge-merchant` (it needs the webhook receiver).

use std::time::Duration;

use serde_json::{Value, json};
use tests::wait::eventually;

use crate::support::{API_KEY, POLL, SECRET, Stack, TOKEN, cases, refund_auth};

/// The signed client result's key.
const RESULT_KEY: &str = "rkey-CANARY-integrity-0123456789abcdef";
/// The merchant notifications' secret (Standard Webhooks `whsec_` + base64 of 32 bytes).
const HOOK_SECRET: &str = "whsec_aW50ZWdyaXR5LWNhbmFyeS0wMTIzNDU2Nzg5YWJjZGVm";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-merchant`"]
async fn edge_integrity() {
    let env = Stack::start_with_merchant_hooks(|vars| {
        vars.set("CLIENT_RESULT_SECRET", RESULT_KEY)
            .set("MERCHANT_WEBHOOK_SECRET", HOOK_SECRET)
            .set("MERCHANT_WEBHOOK_RETRY_SCHEDULE", "0,0,0,0,0")
    })
    .await;
    let ran = cases!(&env =>
        short_payment_is_underpaid_never_paid,
        short_payment_by_query_is_underpaid,
        over_payment_is_paid_and_flagged,
        payout_event_is_refused,
        order_number_taken_on_the_first_attempt_is_never_adopted,
        a_payment_during_our_create_is_not_ours,
        refunds_add_up_in_any_order,
        refunds_add_up_with_lost_callbacks,
        concurrent_refunds_never_exceed_the_payment,
        refund_retries_are_idempotent,
    );
    eprintln!("{ran} integrity cases passed");
    env.assert_not_logged(
        &[SECRET, API_KEY, TOKEN, RESULT_KEY, HOOK_SECRET],
        "a secret",
    );
}

/// The notification types the merchant received for `order_no`, oldest first.
fn notified(env: &Stack, order_no: &str) -> Vec<String> {
    env.receiver()
        .deliveries()
        .iter()
        .filter_map(|d| serde_json::from_slice::<Value>(&d.body).ok())
        .filter(|event| event["data"]["order_no"] == order_no)
        .filter_map(|event| event["type"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until the merchant was notified of `kind` for `order_no`.
async fn wait_notified(env: &Stack, order_no: &str, kind: &str) {
    let seen = eventually(Duration::from_secs(20), POLL, || async {
        notified(env, order_no)
            .iter()
            .any(|k| k == kind)
            .then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "{order_no}: no {kind} notification, got {:?}",
        notified(env, order_no)
    );
}

fn flags(admin: &Value) -> Vec<String> {
    admin["state_detail"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A signed `status: 5` with `paid_amount` 0.01 on a 30.00 order: underpaid for the shopper
/// (status route and signed result), the merchant (notification, admin flags), never paid.
async fn short_payment_is_underpaid_never_paid(env: &Stack) {
    let secret = env.new_order("int-short", "30.00").await;
    let paid = env
        .sim_post("/_sim/orders/int-short/pay", json!({"paid_amount": "0.01"}))
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    env.wait_state("int-short", "underpaid").await;
    let status = env.status("int-short", &secret).await;
    assert_eq!(
        (
            status.body["state"].as_str(),
            status.body["status"].as_i64(),
            status.body["paid_amount"].as_str()
        ),
        (Some("underpaid"), Some(5), Some("0.01")),
        "{}",
        status.text
    );
    let admin = env.admin_order("int-short").await;
    assert_eq!(flags(&admin.body), ["underpaid"], "{}", admin.text);
    assert_eq!(env.outcomes("int-short", "callback").await, ["underpaid"]);
    wait_notified(env, "int-short", "order.underpaid").await;
    assert!(
        !notified(env, "int-short").iter().any(|k| k == "order.paid"),
        "{:?}",
        notified(env, "int-short")
    );
}

/// The same short payment learnt from an order query (callback lost): underpaid too.
async fn short_payment_by_query_is_underpaid(env: &Stack) {
    let secret = env.new_order("int-short-q", "30.00").await;
    env.sim_post(
        "/_sim/faults/callbacks",
        json!({"kind": "drop", "order_no": "int-short-q", "count": 10}),
    )
    .await;
    env.sim_post(
        "/_sim/orders/int-short-q/pay",
        json!({"paid_amount": "29.99"}),
    )
    .await;
    let underpaid = eventually(Duration::from_secs(10), POLL, || async {
        (env.status("int-short-q", &secret).await.body["state"] == "underpaid").then_some(())
    })
    .await;
    assert!(
        underpaid.is_some(),
        "{}",
        env.admin_order("int-short-q").await.text
    );
    assert_eq!(env.outcomes("int-short-q", "query").await, ["underpaid"]);
}

/// More than the order amount arrived: paid, and flagged for the merchant.
async fn over_payment_is_paid_and_flagged(env: &Stack) {
    env.new_order("int-over", "10.00").await;
    env.sim_post("/_sim/orders/int-over/pay", json!({"paid_amount": "10.50"}))
        .await;
    env.wait_state("int-over", "paid").await;
    let admin = env.admin_order("int-over").await;
    assert_eq!(flags(&admin.body), ["overpaid"], "{}", admin.text);
    assert_eq!(env.outcomes("int-over", "callback").await, ["overpaid"]);
    wait_notified(env, "int-over", "order.paid").await;
}

/// A correctly signed `type: 1` (payout) `status: 2` callback about a pay-in order: refused
/// with a stable code, logged, no state change, no notification.
async fn payout_event_is_refused(env: &Stack) {
    env.new_order("int-payout", "12.00").await;
    env.sim_post("/_sim/orders/int-payout/pay", json!({"payout": true}))
        .await;
    let refused = eventually(Duration::from_secs(10), POLL, || async {
        let outcomes = env.outcomes("int-payout", "callback").await;
        (!outcomes.is_empty()).then_some(outcomes)
    })
    .await
    .unwrap_or_default();
    assert!(
        !refused.is_empty() && refused.iter().all(|o| o == "not_payin"),
        "{refused:?}"
    );
    let log = env.sim_get("/_sim/callbacks?order_no=int-payout").await;
    let answered = log.body.as_array().and_then(|entries| {
        entries
            .iter()
            .find_map(|e| e["response_body"].as_str().map(str::to_owned))
    });
    assert!(
        answered
            .as_deref()
            .is_some_and(|b| b.contains("callback_order_mismatch")),
        "{}",
        log.text
    );
    let admin = env.admin_order("int-payout").await;
    assert_eq!(
        (admin.body["state"].as_str(), admin.body["status"].as_i64()),
        (Some("pending"), Some(1)),
        "{}",
        admin.text
    );
    assert!(notified(env, "int-payout").is_empty());
}

/// TrustPay already holds a *different* order under our number (created by someone else,
/// even with our callback URL, and paid). Our first create gets 880012: the order fails with
/// `order_number_taken`, TrustPay is never queried about it, and that foreign order's paid
/// callbacks never make ours paid.
async fn order_number_taken_on_the_first_attempt_is_never_adopted(env: &Stack) {
    let order_no = "int-taken";
    env.create_at_trustpay(order_no, 2_000).await;

    let intent = env.mint(order_no, "20.00").await;
    env.create(&intent)
        .await
        .expect(409, "order_number_taken", "first attempt");
    env.create(&intent)
        .await
        .expect(409, "order_number_taken", "the same intent again");
    assert_eq!(
        env.sim_requests("/v4/query/order", order_no).await,
        0,
        "the foreign order was queried"
    );

    // The foreign order is paid; its callbacks reach us (same order number, our URL).
    env.sim_post(&format!("/_sim/orders/{order_no}/pay"), json!({}))
        .await;
    let seen = eventually(Duration::from_secs(10), POLL, || async {
        let outcomes = env.outcomes(order_no, "callback").await;
        (!outcomes.is_empty()).then_some(outcomes)
    })
    .await
    .unwrap_or_default();
    assert!(
        !seen.is_empty() && seen.iter().all(|o| o == "order_number_taken"),
        "{seen:?}"
    );
    let admin = env.admin_order(order_no).await;
    assert_eq!(admin.body["state"], "pending", "{}", admin.text);
    assert_eq!(flags(&admin.body), ["order_number_taken"], "{}", admin.text);
    assert_eq!(
        env.outcomes(order_no, "create").await,
        ["inserted", "order_number_taken"]
    );
    assert!(
        notified(env, order_no).is_empty(),
        "{:?}",
        notified(env, order_no)
    );
}

/// TrustPay holds someone else's order under our number, and its paid callback reaches us
/// while our own create is still waiting for TrustPay's answer (880012, 0.9 s later): the
/// callback is refused (409 `order_in_progress`, event `not_created`), never applied, and once
/// the create is refused its retries change nothing either. Without the guard the foreign
/// payment paid our order before we knew the number was taken.
async fn a_payment_during_our_create_is_not_ours(env: &Stack) {
    let order_no = "int-early";
    env.create_at_trustpay(order_no, 2_000).await;
    env.sim_post("/_sim/callbacks/hold", json!({"order_no": order_no}))
        .await;
    env.sim_post(&format!("/_sim/orders/{order_no}/pay"), json!({}))
        .await;
    env.sim_post(
        "/_sim/faults/requests",
        json!({"kind": "delay", "ms": 900, "count": 1, "path": "/v4/payin/create/order"}),
    )
    .await;
    let intent = env.mint(order_no, "20.00").await;
    let (created, released) = tokio::join!(env.create(&intent), async {
        // Our row exists (creating) long before TrustPay answers.
        tokio::time::sleep(Duration::from_millis(300)).await;
        env.sim_post("/_sim/callbacks/release", json!({"order_no": order_no}))
            .await
    });
    assert_eq!(released.body["released"], 1, "{}", released.text);
    created.expect(409, "order_number_taken", "first attempt");
    let outcomes = env.outcomes(order_no, "callback").await;
    assert_eq!(
        outcomes.first().map(String::as_str),
        Some("not_created"),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| o == "not_created" || o == "order_number_taken"),
        "{outcomes:?}"
    );
    let admin = env.admin_order(order_no).await;
    assert_eq!(
        (admin.body["state"].as_str(), admin.body.get("paid_amount")),
        (Some("pending"), None),
        "{}",
        admin.text
    );
    assert!(
        notified(env, order_no).is_empty(),
        "{:?}",
        notified(env, order_no)
    );
}

async fn admin_refund(env: &Stack, order_no: &str, amount: &str, key: &str) -> tests::http::Answer {
    env.edge_post(
        "/v1/admin/refunds",
        &[("Authorization", &refund_auth()), ("Idempotency-Key", key)],
        &json!({"order_no": order_no, "refund_amount": amount, "reason": "integrity"}),
    )
    .await
}

/// Waits until the simulator's own order has `status` (a refund completes after its delay).
async fn wait_sim_status(env: &Stack, order_no: &str, status: i64) {
    let reached = eventually(Duration::from_secs(10), POLL, || async {
        (env.sim_get(&format!("/_sim/orders/{order_no}")).await.body["status"] == status)
            .then_some(())
    })
    .await;
    assert!(
        reached.is_some(),
        "{order_no} never reached {status} at the simulator"
    );
}

/// Pays `order_no`, then makes two partial refunds (10.00, then 5.00) with every callback
/// held: four callbacks, 9 and 8 for each refund, oldest first.
async fn paid_with_two_held_refunds(env: &Stack, order_no: &str) {
    env.new_order(order_no, "30.00").await;
    env.sim_post(&format!("/_sim/orders/{order_no}/pay"), json!({}))
        .await;
    env.wait_state(order_no, "paid").await;
    env.sim_post("/_sim/callbacks/hold", json!({"order_no": order_no}))
        .await;
    let first = admin_refund(env, order_no, "10.00", &format!("{order_no}-1")).await;
    assert_eq!(first.status, 201, "{}", first.text);
    wait_sim_status(env, order_no, 8).await;
    // Our side still says paid (the callbacks are held): the second refund is allowed.
    let second = admin_refund(env, order_no, "5.00", &format!("{order_no}-2")).await;
    assert_eq!(second.status, 201, "{}", second.text);
    wait_sim_status(env, order_no, 8).await;
}

async fn release(env: &Stack, order_no: &str, order: &[usize]) {
    let released = env
        .sim_post(
            "/_sim/callbacks/release",
            json!({"order_no": order_no, "order": order}),
        )
        .await;
    assert_eq!(
        released.body["released"].as_u64(),
        Some(order.len() as u64),
        "{}",
        released.text
    );
}

/// The second refund's `refunding` arrives last (9, 8, 8, 9): the order ends partially
/// refunded with the true total, not stuck in refunding.
async fn refunds_add_up_in_any_order(env: &Stack) {
    let order_no = "int-refund-order";
    paid_with_two_held_refunds(env, order_no).await;
    release(env, order_no, &[0, 1, 3, 2]).await;
    let done = eventually(Duration::from_secs(10), POLL, || async {
        (env.outcomes(order_no, "callback").await.len() >= 5).then_some(())
    })
    .await;
    assert!(done.is_some(), "{}", env.admin_order(order_no).await.text);
    let admin = env.admin_order(order_no).await;
    // Independent model: 10.00 + 5.00 refunded of 30.00, the last refund completed.
    assert_eq!(
        (
            admin.body["state"].as_str(),
            admin.body["refund_amount"].as_str()
        ),
        (Some("partially_refunded"), Some("15.00")),
        "{}",
        admin.text
    );
    assert_eq!(
        env.outcomes(order_no, "callback").await,
        ["accepted", "accepted", "accepted", "accepted", "stale"]
    );
}

/// Only the second refund's completion and the first refund's start arrive (newest first):
/// the rest are lost. The order still ends at the true total.
async fn refunds_add_up_with_lost_callbacks(env: &Stack) {
    let order_no = "int-refund-lost";
    paid_with_two_held_refunds(env, order_no).await;
    release(env, order_no, &[3, 0]).await;
    let done = eventually(Duration::from_secs(10), POLL, || async {
        (env.outcomes(order_no, "callback").await.len() >= 3).then_some(())
    })
    .await;
    assert!(done.is_some(), "{}", env.admin_order(order_no).await.text);
    let admin = env.admin_order(order_no).await;
    assert_eq!(
        (
            admin.body["state"].as_str(),
            admin.body["refund_amount"].as_str()
        ),
        (Some("partially_refunded"), Some("15.00")),
        "{}",
        admin.text
    );
}

/// Five concurrent refunds of 15.00 on a 20.00 order: the reservation is one conditional
/// statement, so exactly one reaches TrustPay; the others are refused by us.
async fn concurrent_refunds_never_exceed_the_payment(env: &Stack) {
    let order_no = "int-refund-race";
    env.new_order(order_no, "20.00").await;
    env.sim_post(&format!("/_sim/orders/{order_no}/pay"), json!({}))
        .await;
    env.wait_state(order_no, "paid").await;
    let (a, b, c, d, e) = tokio::join!(
        admin_refund(env, order_no, "15.00", "race-0"),
        admin_refund(env, order_no, "15.00", "race-1"),
        admin_refund(env, order_no, "15.00", "race-2"),
        admin_refund(env, order_no, "15.00", "race-3"),
        admin_refund(env, order_no, "15.00", "race-4"),
    );
    let answers = [a, b, c, d, e];
    let created = answers.iter().filter(|a| a.status == 201).count();
    let refused = answers
        .iter()
        .filter(|a| a.status == 409 && a.code() == "refund_not_allowed")
        .count();
    assert_eq!(
        (created, refused),
        (1, 4),
        "{:?}",
        answers.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
    assert_eq!(env.sim_requests("/v4/order/refund", order_no).await, 1);
}

/// A retried refund with the same `Idempotency-Key` gets the first answer, not a second
/// refund; a partial refund with neither key nor number is refused.
async fn refund_retries_are_idempotent(env: &Stack) {
    let order_no = "int-refund-retry";
    env.new_order(order_no, "20.00").await;
    env.sim_post(&format!("/_sim/orders/{order_no}/pay"), json!({}))
        .await;
    env.wait_state(order_no, "paid").await;
    let keyless = env
        .edge_post(
            "/v1/admin/refunds",
            &[("Authorization", &refund_auth())],
            &json!({"order_no": order_no, "refund_amount": "1.00", "reason": "no key"}),
        )
        .await;
    keyless.expect(
        400,
        "idempotency_key_required",
        "partial refund without a key",
    );
    let first = admin_refund(env, order_no, "4.00", "retry-key").await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = admin_refund(env, order_no, "4.00", "retry-key").await;
    assert_eq!(
        (again.status, again.header("idempotent-replayed")),
        (201, Some("true")),
        "{}",
        again.text
    );
    assert_eq!(
        again.body["merchant_refund_no"],
        first.body["merchant_refund_no"]
    );
    assert_eq!(env.sim_requests("/v4/order/refund", order_no).await, 1);
}
